/**
 * The off-thread benchmarks' competitors (what each one is, how often the control plane ticks for it), their
 * shared settings, and what one trial measures. The lab (`offthread-lab.ts`) runs trials; `offthread-report.ts`
 * turns them into rows.
 */
import type { ProducerKind } from "./offthread-producer.ts"

export type CompetitorId = "handles" | "ring10" | "ring1" | "ringBatch" | "message" | "batched"

interface CompetitorInfo {
  readonly label: string
  readonly kind: ProducerKind
  /** The main thread's tick: drain interval (percore), snapshot granularity (postMessage). */
  readonly intervalMs: number
  readonly percore: boolean
}

export const COMPETITORS: { readonly [K in CompetitorId]: CompetitorInfo } = {
  handles: { label: "percore handles (10 ms drains)", kind: "handles", intervalMs: 10, percore: true },
  ring10: { label: "percore raw ring, 10 ms drains", kind: "ring", intervalMs: 10, percore: true },
  ring1: { label: "percore raw ring, 1 ms drains", kind: "ring", intervalMs: 1, percore: true },
  ringBatch: { label: "percore raw ring, 1000-sample publishes", kind: "ringBatch", intervalMs: 10, percore: true },
  message: { label: "postMessage per sample", kind: "message", intervalMs: 10, percore: false },
  batched: { label: "postMessage, 1000-sample batches", kind: "batched", intervalMs: 10, percore: false }
}

/** Ring capacity of every percore ring here: the default (`PERCORE_RING_CAPACITY`). */
export const RING_CAPACITY = 65_536
/** postMessage producers sleep while more than this many of their samples are queued (memory bound). */
export const BACKLOG_CAP: { readonly [K in ProducerKind]: number } = { handles: 0, ring: 0, ringBatch: 0, message: 200_000, batched: 2_000_000 }

export interface Timing {
  readonly warmupMs: number
  readonly windowMs: number
}

/** One measured window. Rates are samples per second over all producers. */
export interface Trial {
  readonly competitor: CompetitorId
  readonly cores: number
  /** Per producer, samples/s; 0 = full speed. */
  readonly rate: number
  readonly seconds: number
  readonly delivered: number
  readonly offered: number
  /** percore: ring samples dropped / recorded in the window, %. postMessage: 0 (nothing is dropped; see backlog). */
  readonly dropPct: number
  /** percore: ring samples/s that crossed threads (handles: coalesced, ≤ one per changed series per flush). */
  readonly ringSamples: number
  /** Control-plane (main) thread CPU time / wall time, %. */
  readonly cpuPct: number
  /** Control-plane event-loop utilization, %. */
  readonly eluPct: number
  /** Data samples produced in the trial but not in the aggregate at the window's end (postMessage: still queued). */
  readonly backlog: number
  readonly latencyP50Ms: number
  readonly latencyP99Ms: number
  readonly markers: number
  /** Times a postMessage producer slept because its queue reached the cap. */
  readonly capped: number
  /** Longest time between two consecutive ticks (drains) of this thread inside the window, ms. */
  readonly maxGapMs: number
  /**
   * After the producers stopped and everything they published was drained: data samples produced in the trial
   * that never reached the aggregate. handles: must be 0 (the books are exact: no ring drops, final flush);
   * raw ring: the data samples dropped; postMessage: still queued when the producers were terminated.
   */
  readonly unaccounted: number
}
