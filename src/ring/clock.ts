/**
 * The ring clock: one `Int32` word per ring holding wall-clock milliseconds since the Unix epoch,
 * modulo 2^32, refreshed about once a millisecond by a ticker thread.
 *
 * Why: reading `performance.now()` costs ~31 ns here, more than the rest of `record()`. A producer
 * instead reads this word with one `Atomics.load` (a plain load on x86). Resolution: 1 ms (the
 * ticker sleeps 1 ms between refreshes with `Atomics.wait`, so a timestamp is at most ~1–2 ms old
 * while the machine is not overloaded). The ticker is its own thread so that neither a busy core nor
 * a stalled control plane can stop the clock.
 *
 * One ticker per thread that allocates rings (normally the control plane), started lazily, unref'd
 * so it never keeps a process alive. A ring whose buffer is garbage-collected in the allocating
 * thread is unregistered. Allocate rings in a long-lived thread: if the allocating thread exits,
 * its ticker ends with it and the clocks of its rings stop.
 */
import { MessageChannel, type MessagePort, Worker } from "node:worker_threads"

/** Wall-clock milliseconds since the epoch, comparable across threads (timeOrigin differs per thread). */
export const wallClockMs = (): number => Math.floor(performance.timeOrigin + performance.now())

// Plain JavaScript (CommonJS) so that the ticker needs no type stripping and no module resolution.
const tickerSource = `
const { workerData, receiveMessageOnPort } = require("node:worker_threads")
const { port, clockIndex, started } = workerData
const sleep = new Int32Array(new SharedArrayBuffer(4))
Atomics.store(started, 0, 1)
Atomics.notify(started, 0)
const clocks = new Map()
for (;;) {
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
    const { id, buffer } = m.message
    if (buffer === undefined) clocks.delete(id)
    else clocks.set(id, new Int32Array(buffer, 0, clockIndex + 1))
  }
  const now = Math.floor(performance.timeOrigin + performance.now())
  for (const words of clocks.values()) Atomics.store(words, clockIndex, now)
  Atomics.wait(sleep, 0, 0, 1)
}
`

interface Ticker {
  readonly port: MessagePort
  nextId: number
  readonly registry: FinalizationRegistry<number>
}

let ticker: Ticker | undefined

/** How long the first `allocate()` waits for the ticker thread to run, so clocks tick from the start. */
const TICKER_START_WAIT_MS = 2000

const startTicker = (clockIndex: number): Ticker => {
  const { port1, port2 } = new MessageChannel()
  const started = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(tickerSource, {
    eval: true,
    workerData: { port: port2, clockIndex, started },
    transferList: [port2],
    name: "percore-ring-clock"
  })
  // Thread start-up needs nothing from this thread, so waiting cannot deadlock; it is bounded anyway.
  Atomics.wait(started, 0, 0, TICKER_START_WAIT_MS)
  worker.unref()
  port1.unref()
  // The ticker only ends with the process; if it ever dies, clocks stop advancing but nothing breaks.
  worker.on("error", () => {
    ticker = undefined
  })
  const port = port1
  return {
    port,
    nextId: 0,
    registry: new FinalizationRegistry((id: number) => port.postMessage({ id }))
  }
}

/** Keeps `words[clockIndex]` of this ring buffer fresh for as long as the buffer is alive here. */
export const registerClock = (buffer: SharedArrayBuffer, words: Int32Array, clockIndex: number): void => {
  ticker ??= startTicker(clockIndex)
  Atomics.store(words, clockIndex, wallClockMs()) // fresh until the ticker takes over, within ~1 ms
  const id = ticker.nextId++
  ticker.port.postMessage({ id, buffer })
  ticker.registry.register(buffer, id)
}
