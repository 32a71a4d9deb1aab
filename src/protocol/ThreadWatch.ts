/**
 * ThreadWatch: reports the start and end of every `Worker` this thread creates on the attach channel (see
 * Attach.ts, "Liveness"). Installed once per thread, by `percore/core` and by the control plane; the channel
 * is unref'd, so watching never keeps a thread alive.
 */
import diagnostics from "node:diagnostics_channel"
import { threadId, type Worker } from "node:worker_threads"
import { ATTACH_CHANNEL, type AttachMessage } from "./Attach.ts"

const installed = Symbol.for("percore/protocol/ThreadWatch")

const isWorker = (u: unknown): u is Worker =>
  typeof u === "object" && u !== null && "threadId" in u && typeof u.threadId === "number" && "on" in u && typeof u.on === "function"

/** Starts watching this thread's `new Worker`s (idempotent, also across copies of this module). */
export const watchThreads = (): void => {
  const holder: Record<symbol, unknown> = globalThis
  if (holder[installed] === true) return
  holder[installed] = true
  const channel = new BroadcastChannel(ATTACH_CHANNEL)
  channel.unref()
  const post = (message: AttachMessage) => channel.postMessage(message)
  diagnostics.subscribe("worker_threads", (message) => {
    const worker = typeof message === "object" && message !== null && "worker" in message ? message.worker : undefined
    if (!isWorker(worker)) return
    const thread = worker.threadId // -1 once the worker exited: read it now
    post({ percore: "spawned", creator: threadId, thread })
    // `exit` is emitted after the thread was joined: everything it wrote happens-before this report.
    worker.on("exit", (code: number) => post({ percore: "ended", thread, code }))
  })
}
