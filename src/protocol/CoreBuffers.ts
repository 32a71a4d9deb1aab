/**
 * Everything one data-plane core shares with the control plane: its ring, its intern log and a small
 * control block. All three are `SharedArrayBuffer`s inside a plain object, so the whole thing travels
 * in `workerData` (percore's own workers, or workers a host app creates itself).
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
  readonly settings: CoreSettings
}

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
  settings
})

/** True for an object shaped like `allocateCoreBuffers`' result (e.g. after it crossed a thread in `workerData`). */
export const isCoreBuffers = (u: unknown): u is CoreBuffers =>
  typeof u === "object" && u !== null &&
  "percore" in u && u.percore === 1 &&
  "ring" in u && u.ring instanceof SharedArrayBuffer &&
  "log" in u && u.log instanceof SharedArrayBuffer &&
  "control" in u && u.control instanceof SharedArrayBuffer
