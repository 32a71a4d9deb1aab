/**
 * Attach: how a thread that was handed no buffers finds the control plane, and how the control plane learns
 * that such a thread ended. Plain TypeScript over a `BroadcastChannel` (no wiring: every thread of the process
 * can open it) and `diagnostics_channel`; no Effect.
 *
 * ## Messages on `ATTACH_CHANNEL`
 * - `plane` (control plane → all): a control plane started. Threads that are not attached announce themselves again.
 * - `hello` (thread → control plane): a thread allocated its own `CoreBuffers` (ring, intern log, control block
 *   and coalescing state, all `SharedArrayBuffer`s, which travel over the channel as shared memory) and offers
 *   them. The thread sends it on its first use of `core` and again after every `plane`.
 * - `attached` (control plane → thread): the control plane claimed the buffers (Control.PLANE, compare-exchange,
 *   so exactly one control plane drains a ring) and gave the thread a `core` slot and its settings.
 * - `spawned` / `ended` (any thread → control plane): a thread that loaded percore saw a `Worker` it created
 *   start, or end (`exit`, which Node emits after the thread was joined).
 *
 * ## Liveness: who says a thread ended
 * `diagnostics_channel` "worker_threads" hands the creating thread every `Worker` it creates; `ThreadWatch`
 * subscribes in every thread that imports `percore/core` or runs the control plane, reads `threadId` at
 * creation and reports `spawned` and `ended` (with the creator's id). So:
 * - a worker created by the control plane's thread (the main thread, usually) is always seen;
 * - a worker created by another worker is seen when its creator loaded `percore/core` (a pool's own worker
 *   scripts import it, so pool threads nested in a worker are seen); when a creator ends, Node has already
 *   terminated and joined the workers it created, so the control plane ends them with it;
 * - a worker whose creator never loaded percore (or that was created before its creator loaded it) is
 *   attached and drained like any other, but its end is never seen: its slot stays taken and its coalesced,
 *   unflushed updates are not reconciled (a final flush request at stop still collects them).
 * Web Locks are no liveness signal (a dead worker's locks are never released); timers are none either (a
 * busy thread looks dead).
 */
import { type CoreBuffers, type CoreSettings, isCoreBuffers, isCoreSettings } from "./CoreBuffers.ts"

/** The channel's name; the version changes with the messages' shape. */
export const ATTACH_CHANNEL = "percore/attach/1"

export type AttachMessage =
  | { readonly percore: "plane" }
  | { readonly percore: "hello"; readonly thread: number; readonly buffers: CoreBuffers }
  | {
    readonly percore: "attached"
    readonly thread: number
    readonly slot: number
    /** The control plane's settings for its cores (flush interval, limits, caps, runtime metrics). */
    readonly settings: CoreSettings
  }
  | { readonly percore: "spawned"; readonly creator: number; readonly thread: number }
  | { readonly percore: "ended"; readonly thread: number; readonly code: number }

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null
const isInt = (u: unknown): u is number => typeof u === "number" && Number.isInteger(u)

/** Decodes a message from the channel; anything else (another version, another library) is `undefined`. */
export const decodeAttachMessage = (u: unknown): AttachMessage | undefined => {
  if (!isRecord(u)) return undefined
  switch (u["percore"]) {
    case "plane":
      return { percore: "plane" }
    case "hello":
      return isInt(u["thread"]) && isCoreBuffers(u["buffers"]) ? { percore: "hello", thread: u["thread"], buffers: u["buffers"] } : undefined
    case "attached": {
      const { thread, slot, settings } = u
      return isInt(thread) && isInt(slot) && isCoreSettings(settings) ? { percore: "attached", thread, slot, settings } : undefined
    }
    case "spawned":
      return isInt(u["creator"]) && isInt(u["thread"]) ? { percore: "spawned", creator: u["creator"], thread: u["thread"] } : undefined
    case "ended":
      return isInt(u["thread"]) && isInt(u["code"]) ? { percore: "ended", thread: u["thread"], code: u["code"] } : undefined
    default:
      return undefined
  }
}
