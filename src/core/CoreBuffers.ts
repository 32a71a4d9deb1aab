/**
 * Everything one data-plane core shares with the control plane: its ring, its intern log and a small
 * control block. All three are `SharedArrayBuffer`s inside a plain object, so the whole thing travels
 * in `workerData` (percore's own workers, or workers a host app creates itself).
 */
import { Predicate } from "effect"
import { TelemetryRing } from "../ring/index.ts"
import { InternLog } from "./InternLog.ts"

/** Words of the control block, each on its own 64-byte line. */
export const Control = {
  /** control plane → core: 1 once the core should stop (`core.stopping`). */
  STOP: 0,
  /** control plane → core: bumped to ask the core to flush its coalesced updates now. */
  FLUSH_REQUEST: 16,
  /** core → control plane: the last FLUSH_REQUEST value the core has flushed for. */
  FLUSH_DONE: 32,
  /** core → control plane: bumped after every flush (any reason). */
  FLUSHES: 48,
  /** core → control plane: samples the core's ring writer has recorded, mod 2^32 (for the books). */
  RECORDED: 64,
  WORDS: 80
} as const

export interface CoreSettings {
  /** Coalesced updates are published at least this often while the core records or its event loop turns. */
  readonly flushIntervalMs: number
  /** Series this core may define in all (self-metrics included). */
  readonly maxSeriesPerCore: number
  /** Series this core may define in one family. */
  readonly maxSeriesPerFamily: number
}

export const defaultCoreSettings: CoreSettings = {
  flushIntervalMs: 10,
  maxSeriesPerCore: 10_000,
  maxSeriesPerFamily: 2_000
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
  control: new SharedArrayBuffer(Control.WORDS * 4),
  settings
})

export const isCoreBuffers = (u: unknown): u is CoreBuffers =>
  Predicate.hasProperty(u, "percore") && u.percore === 1 &&
  Predicate.hasProperty(u, "ring") && u.ring instanceof SharedArrayBuffer &&
  Predicate.hasProperty(u, "log") && u.log instanceof SharedArrayBuffer &&
  Predicate.hasProperty(u, "control") && u.control instanceof SharedArrayBuffer
