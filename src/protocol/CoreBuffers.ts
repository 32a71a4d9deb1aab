/**
 * Everything one data-plane core shares with the control plane: its ring, its intern log, a small control
 * block and its coalescing state (what handles accumulated since the last flush). All are `SharedArrayBuffer`s
 * inside a plain object, so the whole thing travels in `workerData` (percore's own workers, workers a host app
 * creates itself) or over the attach channel (a thread that allocated its own, see Attach.ts).
 *
 * The coalescing state is shared so that nothing is lost when a thread ends without flushing (terminated,
 * stuck, out of memory): after the thread was joined, the control plane reads it (`CoreChannel.reconcile`).
 * Its buffers are growable; the core uses fixed-length views over them (a length-tracking view costs ~35×
 * more on the hot path) and recreates them after each `grow()` (definition time only).
 */
import { defaultSizeLimits, type SizeLimits } from "../domain/series.ts"
import { TelemetryRing } from "../ring/TelemetryRing.ts"
import { allocateControl } from "./Control.ts"
import { InternLog } from "./InternLog.ts"

/** What a core needs to know of percore's settings; the size caps are checked when a series is defined. */
export interface CoreSettings extends SizeLimits {
  /** Coalesced updates are published at least this often while the core records or its event loop turns. */
  readonly flushIntervalMs: number
  /** Series this core may define in all. */
  readonly maxSeriesPerCore: number
  /** Series this core may define in one family. */
  readonly maxSeriesPerFamily: number
  /** How often the core publishes its runtime metrics (event loop, CPU, heap); absent or 0: it does not. */
  readonly runtimeMetricsIntervalMs?: number
}

export const defaultCoreSettings: CoreSettings = {
  flushIntervalMs: 10,
  maxSeriesPerCore: 10_000,
  maxSeriesPerFamily: 2_000,
  ...defaultSizeLimits
}

export interface CoreBuffers {
  readonly percore: 1
  readonly coreId: number
  readonly ring: SharedArrayBuffer
  readonly log: SharedArrayBuffer
  readonly control: SharedArrayBuffer
  readonly coalesce: CoalesceBuffers
  readonly settings: CoreSettings
}

/**
 * Coalescing state, indexed by ring id (growable; the core's views cover `ids` entries):
 * - `pending` (float64): a delta kind's sum since its last flush, or a gauge's current value;
 * - `dirty` (uint8): 1 while the id changed since its last flush;
 * - `flushIds` (int32): the ids the current (or last) flush appends, in ring order (see Control's FLUSHING).
 */
export interface CoalesceBuffers {
  readonly pending: SharedArrayBuffer
  readonly dirty: SharedArrayBuffer
  readonly flushIds: SharedArrayBuffer
}

/** Ring ids a core starts with room for; the coalescing buffers grow (doubling) up to `MAX_COALESCE_IDS`. */
export const INITIAL_COALESCE_IDS = 1024
/** Every ring id a core can use (ids are 24-bit). Only address space is reserved for it. */
export const MAX_COALESCE_IDS = 1 << 24

export const allocateCoalesce = (): CoalesceBuffers => ({
  pending: new SharedArrayBuffer(INITIAL_COALESCE_IDS * 8, { maxByteLength: MAX_COALESCE_IDS * 8 }),
  dirty: new SharedArrayBuffer(INITIAL_COALESCE_IDS, { maxByteLength: MAX_COALESCE_IDS }),
  flushIds: new SharedArrayBuffer(INITIAL_COALESCE_IDS * 4, { maxByteLength: MAX_COALESCE_IDS * 4 })
})

export interface CoreBufferSizes {
  readonly ringCapacity: number
  readonly logBytes: number
}

export const defaultBufferSizes: CoreBufferSizes = { ringCapacity: 65_536, logBytes: 4 * 1024 * 1024 }

export const allocateCoreBuffers = (
  coreId: number,
  sizes: CoreBufferSizes = defaultBufferSizes,
  settings: CoreSettings = defaultCoreSettings
): CoreBuffers => ({
  percore: 1,
  coreId,
  ring: TelemetryRing.allocate(sizes.ringCapacity),
  log: InternLog.allocate(sizes.logBytes),
  control: allocateControl(),
  coalesce: allocateCoalesce(),
  settings
})

/** True for an object shaped like `allocateCoreBuffers`' result (e.g. after it crossed a thread in `workerData`). */
/** The numbers every `CoreSettings` holds (the runtime metrics interval is optional). */
const requiredSettings = [
  "flushIntervalMs",
  "maxSeriesPerCore",
  "maxSeriesPerFamily",
  "maxNameBytes",
  "maxLabelValueBytes",
  "maxLabelsBytes",
  "maxHelpBytes",
  "maxHistogramBuckets"
] as const satisfies ReadonlyArray<keyof CoreSettings>

/** Settings as they arrive from another thread (structured clone): every limit a number. */
export const isCoreSettings = (u: unknown): u is CoreSettings => {
  if (typeof u !== "object" || u === null) return false
  const interval: unknown = Reflect.get(u, "runtimeMetricsIntervalMs")
  return requiredSettings.every((key) => typeof Reflect.get(u, key) === "number") &&
    (interval === undefined || typeof interval === "number")
}

export const isCoreBuffers = (u: unknown): u is CoreBuffers =>
  typeof u === "object" && u !== null &&
  "percore" in u && u.percore === 1 &&
  "ring" in u && u.ring instanceof SharedArrayBuffer &&
  "log" in u && u.log instanceof SharedArrayBuffer &&
  "control" in u && u.control instanceof SharedArrayBuffer &&
  "coalesce" in u && typeof u.coalesce === "object" && u.coalesce !== null &&
  "pending" in u.coalesce && u.coalesce.pending instanceof SharedArrayBuffer &&
  "dirty" in u.coalesce && u.coalesce.dirty instanceof SharedArrayBuffer &&
  "flushIds" in u.coalesce && u.coalesce.flushIds instanceof SharedArrayBuffer
