/**
 * The protocol between a data-plane core and the control plane: the buffers they share, the control block
 * (both sides), the intern log (both sides), what ring samples mean and how a series' ids are laid out, and
 * the names percore reserves. Plain TypeScript and `Atomics`; no Effect. `src/core` and the control plane
 * both import this module; neither imports the other.
 */
export {
  allocateCoreBuffers,
  type CoreBuffers,
  type CoreBufferSizes,
  type CoreSettings,
  defaultBufferSizes,
  defaultCoreSettings,
  isCoreBuffers
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
export { bucketIndex, seriesLayout, WireKind } from "./wire.ts"
