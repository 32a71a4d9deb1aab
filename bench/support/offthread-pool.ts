/**
 * The off-thread benchmarks' producer workers seen from the control plane: spawning one (a slot: its worker and
 * its shared control block), starting and stopping runs through the control block, reading what it produced,
 * and settling this thread between trials. The producers' own side is `offthread-producer.ts`.
 */
import { performance } from "node:perf_hooks"
import { Worker } from "node:worker_threads"
import type { CoreBuffers } from "../../src/protocol/index.ts"
import { BACKLOG_CAP } from "./offthread-competitors.ts"
import { Ctl, Op, type ProducerData, type ProducerKind, STAMP_SLOTS } from "./offthread-producer.ts"

export interface Slot {
  readonly worker: Worker
  readonly ctl: Int32Array
  readonly stamps: Float64Array
  seq: number
  failure: unknown
}

export const spawnProducer = async (workerUrl: URL, data: ProducerData): Promise<Slot> => {
  const worker = new Worker(workerUrl, { workerData: data, name: `percore-bench-${data.kind}-${data.index}` })
  const slot: Slot = { worker, ctl: new Int32Array(data.control), stamps: new Float64Array(data.stamps), seq: 0, failure: undefined }
  worker.on("error", (error) => {
    slot.failure = error
  })
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`offthread bench: ${data.kind} producer ${data.index} exited (${code}) before it was ready: ${String(slot.failure)}`))
    worker.once("exit", onExit)
    worker.once("message", () => {
      worker.off("exit", onExit)
      resolve()
    })
  })
  return slot
}

export const producerData = (kind: ProducerKind, index: number, extra: { ring?: SharedArrayBuffer; core?: CoreBuffers }): ProducerData => ({
  offthreadProducer: 1,
  kind,
  index,
  control: new SharedArrayBuffer(Ctl.WORDS * 4),
  stamps: new SharedArrayBuffer(STAMP_SLOTS * 8),
  backlogCap: BACKLOG_CAP[kind],
  ...(extra.ring === undefined ? {} : { ring: extra.ring }),
  ...(extra.core === undefined ? {} : { core: extra.core })
})

export const startRun = (slot: Slot, rate: number): void => {
  const ctl = slot.ctl
  Atomics.store(ctl, Ctl.PRODUCED, 0)
  Atomics.store(ctl, Ctl.RECEIVED, 0)
  Atomics.store(ctl, Ctl.RATE, rate)
  Atomics.store(ctl, Ctl.OP, Op.Run)
  slot.seq = Atomics.add(ctl, Ctl.CMD, 1) + 1
  Atomics.notify(ctl, Ctl.CMD)
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Between trials (untimed): a full GC where `gc` is exposed, then wait (≤ 1 s) until this thread's event loop is
 * quiet — a postMessage overload leaves messages and transferred buffers behind that the next trial must not pay.
 */
export const settle = async (): Promise<void> => {
  const gc: unknown = Reflect.get(globalThis, "gc")
  if (typeof gc === "function") gc()
  const deadline = performance.now() + 1000
  for (;;) {
    const from = performance.eventLoopUtilization()
    await sleep(20)
    if (performance.eventLoopUtilization(from).utilization < 0.05 || performance.now() > deadline) return
  }
}

/** Signals every slot to stop its run and waits (event loop turning) until each acknowledged. */
export const stopRuns = async (slots: ReadonlyArray<Slot>): Promise<void> => {
  for (const slot of slots) Atomics.store(slot.ctl, Ctl.STOP, slot.seq)
  const deadline = performance.now() + 10_000
  while (!slots.every((s) => Atomics.load(s.ctl, Ctl.ACK) === s.seq)) {
    const failed = slots.find((s) => s.failure !== undefined)
    if (failed !== undefined) throw new Error(`offthread bench: a producer failed: ${String(failed.failure)}`)
    if (performance.now() > deadline) {
      const state = slots.map((s) => `seq ${s.seq} ack ${Atomics.load(s.ctl, Ctl.ACK)} cmd ${Atomics.load(s.ctl, Ctl.CMD)} produced ${Atomics.load(s.ctl, Ctl.PRODUCED)}`)
      throw new Error(`offthread bench: producers did not stop within 10 s (${state.join("; ")})`)
    }
    await sleep(1)
  }
}

export const exitProducer = async (slot: Slot): Promise<void> => {
  Atomics.store(slot.ctl, Ctl.OP, Op.Exit)
  Atomics.add(slot.ctl, Ctl.CMD, 1)
  Atomics.notify(slot.ctl, Ctl.CMD)
  await slot.worker.terminate()
}

/** Data samples the first `active` producers produced in their current (or last) run. Idle ones keep a stale count. */
export const produced = (slots: ReadonlyArray<Slot>, active: number): number => {
  let total = 0
  for (let i = 0; i < active; i++) total += Atomics.load(slots[i]!.ctl, Ctl.PRODUCED) >>> 0
  return total
}

/** Times the producers slept because their postMessage queue reached the cap. */
export const cappedOf = (slots: ReadonlyArray<Slot>): number => slots.reduce((n, s) => n + Atomics.load(s.ctl, Ctl.CAPPED), 0)
