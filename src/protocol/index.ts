/**
 * The protocol between a data-plane core and the control plane: the buffers they share, the control block
 * (both sides), the intern log (both sides), what ring samples mean and how a series' ids are laid out, and
 * the names percore reserves. Plain TypeScript and `Atomics`; no Effect. `src/core` and the control plane
 * both import this module; neither imports the other.
 *
 * How a thread and the control plane meet:
 * - handed buffers (`workerData.percore`: percore's own cores, `allocateCore()`), or
 * - by itself (Attach.ts): any other thread allocates its own `CoreBuffers` and offers them on the
 *   `BroadcastChannel` `ATTACH_CHANNEL` ("hello"); the control plane claims them (Control.PLANE, compare-exchange)
 *   and answers with a `core` slot and its settings ("attached"); it announces itself when it starts ("plane")
 *   so threads that waited offer again. `ThreadWatch` reports, from each thread that loaded percore, the start
 *   and end of the workers it creates ("spawned", "ended"): the control plane learns that a thread ended only
 *   from its creator, after Node joined it, and then reconciles what the thread coalesced but never flushed.
 * What a thread shares: its ring (TelemetryRing), its intern log, its control block (flush / stop handshakes,
 * the flush-in-progress words, the answer lag that tells busy cores apart) and its coalescing state
 * (CoreBuffers' `coalesce`, read by the control plane only after the thread ended; see CoreChannel.reconcile).
 */
export { ATTACH_CHANNEL, type AttachMessage, decodeAttachMessage } from "./Attach.ts"
export { watchThreads } from "./ThreadWatch.ts"
export {
  allocateCoalesce,
  allocateCoreBuffers,
  type CoalesceBuffers,
  type CoreBuffers,
  type CoreBufferSizes,
  type CoreSettings,
  defaultBufferSizes,
  defaultCoreSettings,
  INITIAL_COALESCE_IDS,
  isCoreBuffers,
  MAX_COALESCE_IDS
} from "./CoreBuffers.ts"
export {
  allocateControl,
  Control,
  CoreControl,
  InvalidReason,
  invalidReasonLabels,
  PlaneControl,
  RefusalScope,
  refusalScopeLabels
} from "./Control.ts"
export { type InternEntry, InternLog, InternLogFull, InternLogReader, InternLogWriter } from "./InternLog.ts"
export { SELF_PREFIX, SelfMetric } from "./reserved.ts"
export { isReservedFamily, ProcessMetric, RuntimeMetric } from "./runtimeNames.ts"
export { bucketIndex, seriesLayout, WireKind } from "./wire.ts"
