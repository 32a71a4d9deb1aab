/**
 * The protocol between a data-plane core and the control plane: the buffers they share, the control block
 * (both sides), the intern log (both sides), what ring samples mean and how a series' ids are laid out, and
 * the names percore reserves. Plain TypeScript and `Atomics`; no Effect. `src/core` and the control plane
 * both import this module; neither imports the other.
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
export { allocateControl, Control, CoreControl, PlaneControl } from "./Control.ts"
export { type InternEntry, InternLog, InternLogFull, InternLogReader, InternLogWriter } from "./InternLog.ts"
export { SELF_PREFIX, SelfMetric } from "./reserved.ts"
export { bucketIndex, seriesLayout, WireKind } from "./wire.ts"
