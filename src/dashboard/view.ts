/**
 * The dashboard's view: the JSON `/api/snapshot` returns, built from the samples and the live figures (cores,
 * drains, series). Everything the page shows is computed here; the page only draws.
 */
import { SelfMetric } from "../domain/index.ts"
import { quantilesOf, type QuantileTriple } from "./quantile.ts"
import {
  coreValue,
  DRAIN_DURATION,
  HISTORY_POINTS,
  ringsByCore,
  SAMPLE_INTERVAL_MS,
  type Point,
  type Samples,
  type Sources,
  type ThreadPoint,
  TOP_KEEP,
  WINDOW
} from "./sampler.ts"

/** Busiest series and histogram families in a snapshot unless `top` asks otherwise. */
export const DEFAULT_TOP = 20
/** A thread is saturated when its event-loop utilization stayed at or above this … */
export const SATURATED_UTILIZATION = 0.9
/** … for this long (the same rule as the `PercoreCoreSaturated` alert). */
export const SATURATED_FOR_MS = 60_000

/**
 * True when every sample of the last SATURATED_FOR_MS shows the thread's utilization at or above
 * SATURATED_UTILIZATION (and the history spans that long).
 */
export const saturatedOver = (history: ReadonlyArray<Point>, threadOf: (point: Point) => ThreadPoint | undefined): boolean => {
  const last = history[history.length - 1]
  if (last === undefined) return false
  for (let i = history.length - 1; i >= 0; i--) {
    const point = history[i]!
    const utilization = threadOf(point)?.utilization
    if (utilization === undefined || utilization === null || utilization < SATURATED_UTILIZATION) return false
    if (last.t - point.t >= SATURATED_FOR_MS) return true
  }
  return false
}

/** A thread's runtime figures in a snapshot; nulls where it publishes none (runtime metrics off, or not yet). */
export interface ThreadView {
  /** Share of the event loop's time spent running callbacks, over the last reading (0–1). */
  readonly eventLoopUtilization: number | null
  /** CPU seconds per second of this thread (null where Node has no per-thread CPU clock). */
  readonly cpu: number | null
  readonly heapUsedBytes: number | null
  /** GC pause seconds per second. */
  readonly gcSecondsPerSecond: number | null
  /** Utilization ≥ 0.9 for a minute. */
  readonly saturated: boolean
}

const threadView = (history: ReadonlyArray<Point>, threadOf: (point: Point) => ThreadPoint | undefined): ThreadView => {
  const latest = history.length === 0 ? undefined : threadOf(history[history.length - 1]!)
  return {
    eventLoopUtilization: latest?.utilization ?? null,
    cpu: latest?.cpuRate ?? null,
    heapUsedBytes: latest?.heapUsed ?? null,
    gcSecondsPerSecond: latest?.gcRate ?? null,
    saturated: saturatedOver(history, threadOf)
  }
}

export interface Quantiles {
  readonly p50: number | null
  readonly p90: number | null
  readonly p99: number | null
}

export interface CoreView extends ThreadView {
  readonly core: number
  readonly state: string
  readonly up: boolean
  readonly restarts: number
  readonly ringCapacity: number
  /** Samples waiting in the ring when it was last drained, and that over the capacity. */
  readonly backlog: number
  readonly fill: number
  readonly highWater: number
  readonly delivered: number
  readonly dropped: number
  readonly recorded: number
  /** Over the last sample interval. */
  readonly deliveredPerSecond: number
  readonly droppedPerSecond: number
}

export interface SeriesView {
  /** `name{label="value",...}` as in the exposition (counters with `_total`). */
  readonly key: string
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly type: "counter" | "histogram"
  /** Counter total, or a histogram's observation count. */
  readonly value: number
  /** Increase per second over the last sample interval (observations per second for a histogram). */
  readonly rate: number
  /** Histograms only, over the series' lifetime. */
  readonly quantiles?: Quantiles
}

export interface HistogramView {
  readonly name: string
  readonly series: number
  readonly count: number
  /** Observations per second over the window. */
  readonly rate: number
  /** The family's series merged (`sum by (le)`), over the last `windowSeconds`; nulls when nothing was observed. */
  readonly quantiles: Quantiles
  /** The same over the family's lifetime. */
  readonly lifetime: Quantiles
}

export interface DashboardSnapshot {
  /** Wall-clock milliseconds since the epoch. */
  readonly time: number
  readonly startedAt: number
  readonly sampleIntervalMs: number
  readonly windowSeconds: number
  readonly controlPlane: {
    readonly ready: boolean
    readonly drains: number
    readonly drainsPerSecond: number
    /** Drain duration over the window. */
    readonly drainSeconds: Quantiles & { readonly mean: number | null }
    readonly series: number
    readonly userSeries: number
    readonly heapUsedBytes: number
    readonly residentBytes: number
    /** The control-plane thread's runtime figures (`core="control"`). */
    readonly thread: ThreadView
    /** Control-plane event-loop delay over the last sample interval, milliseconds. */
    readonly eventLoopDelayMs: { readonly p50: number | null; readonly p99: number | null; readonly max: number | null }
  }
  readonly cores: ReadonlyArray<CoreView>
  readonly top: ReadonlyArray<SeriesView>
  readonly histograms: ReadonlyArray<HistogramView>
  /** One entry per sample, oldest first; every array is aligned with `t`. */
  readonly history: {
    readonly t: ReadonlyArray<number>
    readonly deliveredPerSecond: ReadonlyArray<number>
    readonly droppedPerSecond: ReadonlyArray<number>
    readonly drainP99Seconds: ReadonlyArray<number | null>
    readonly eventLoopP99Ms: ReadonlyArray<number | null>
    readonly heapUsedBytes: ReadonlyArray<number>
    readonly cores: Readonly<Record<string, {
      readonly deliveredPerSecond: ReadonlyArray<number | null>
      readonly droppedPerSecond: ReadonlyArray<number | null>
      readonly fill: ReadonlyArray<number | null>
      readonly eventLoopUtilization: ReadonlyArray<number | null>
      readonly cpu: ReadonlyArray<number | null>
      readonly heapUsedBytes: ReadonlyArray<number | null>
      readonly gcSecondsPerSecond: ReadonlyArray<number | null>
    }>>
    /** Rates of the series in `top`, null where a series was not among the busiest. */
    readonly series: Readonly<Record<string, ReadonlyArray<number | null>>>
    /** Window quantiles of the families in `histograms`. */
    readonly histograms: Readonly<Record<string, { readonly p50: ReadonlyArray<number | null>; readonly p90: ReadonlyArray<number | null>; readonly p99: ReadonlyArray<number | null> }>>
  }
}

export interface SnapshotOptions {
  readonly top?: number
  readonly points?: number
}

const orNull = (x: number): number | null => (Number.isFinite(x) ? x : null)
const asQuantiles = (q: QuantileTriple): Quantiles => ({ p50: orNull(q[0]), p90: orNull(q[1]), p99: orNull(q[2]) })

/**
 * The snapshot at `now` (epoch milliseconds): live totals of the cores and the control plane, rates and quantiles
 * from the samples. O(top + cores + history), whatever the number of series.
 */
export const buildSnapshot = (
  samples: Samples,
  sources: Sources,
  time: { readonly now: number; readonly startedAt: number },
  options: SnapshotOptions = {}
): DashboardSnapshot => {
  const { aggregate, dataPlane, drainer } = sources
  const { history, busiest, busiestFamilies } = samples
  const { now, startedAt } = time
  const self = (name: string, core: number) => coreValue(aggregate, name, core)
  const top = Math.max(0, Math.min(TOP_KEEP, Math.floor(options.top ?? DEFAULT_TOP)))
  const points = Math.max(1, Math.min(HISTORY_POINTS, Math.floor(options.points ?? HISTORY_POINTS)))
  const latest = history[history.length - 1]
  const windowStart = history[Math.max(0, history.length - 1 - WINDOW)]

  // Cores: live totals, rates from the last sample interval.
  const rings = ringsByCore(drainer)
  const cores: Array<CoreView> = dataPlane.cores().map(({ core, state, restarts }) => {
    const backlog = rings.get(core)?.backlog ?? 0
    const capacity = self(SelfMetric.ringCapacity.name, core)
    const point = latest?.cores.get(core)
    return {
      core,
      state,
      up: self(SelfMetric.coreUp.name, core) === 1,
      restarts,
      ringCapacity: capacity,
      backlog,
      fill: capacity > 0 ? Math.min(1, backlog / capacity) : 0,
      highWater: self(SelfMetric.ringHighWater.name, core),
      delivered: self(SelfMetric.ringDelivered.name, core),
      dropped: self(SelfMetric.ringDropped.name, core),
      recorded: self(SelfMetric.ringRecorded.name, core),
      deliveredPerSecond: point?.deliveredRate ?? 0,
      droppedPerSecond: point?.droppedRate ?? 0,
      ...threadView(history, (p) => p.cores.get(core)?.thread)
    }
  })

  // Drains over the window.
  const drainBounds = aggregate.families.get(DRAIN_DURATION)?.buckets ?? []
  let drainQuantiles: QuantileTriple = [NaN, NaN, NaN]
  let drainMean = NaN
  let drainsPerSecond = 0
  if (latest !== undefined && windowStart !== undefined) {
    const counts = latest === windowStart
      ? latest.drainCounts
      : latest.drainCounts.map((c, i) => c - (windowStart.drainCounts[i] ?? 0))
    drainQuantiles = quantilesOf(drainBounds, counts)
    let n = 0
    for (const c of counts) n += c
    drainMean = n > 0 ? (latest.drainSum - (latest === windowStart ? 0 : windowStart.drainSum)) / n : NaN
    const span = (latest.t - windowStart.t) / 1000
    drainsPerSecond = span > 0 ? (latest.drains - windowStart.drains) / span : 0
  }

  const topSeries: Array<SeriesView> = busiest.slice(0, top).map((t) => {
    const live = t.type === "counter" ? t.series.value : t.series.count
    const view = { key: t.key, name: t.name, labels: t.labels, type: t.type, value: live, rate: t.rate }
    const bounds = t.family.buckets
    const counts = t.series.bucketCounts
    return t.type === "histogram" && bounds !== undefined && counts !== undefined
      ? { ...view, quantiles: asQuantiles(quantilesOf(bounds, counts)) }
      : view
  })
  const histograms: Array<HistogramView> = busiestFamilies.slice(0, top).map((f) => ({
    name: f.family.name,
    series: f.series,
    count: f.count,
    rate: f.rate,
    quantiles: asQuantiles(f.window),
    lifetime: asQuantiles(f.lifetime)
  }))

  const window = history.slice(-points)
  const coreHistory: Record<string, DashboardSnapshot["history"]["cores"][string]> = {}
  for (const { core } of cores) {
    const thread = window.map((p) => p.cores.get(core)?.thread)
    coreHistory[String(core)] = {
      deliveredPerSecond: window.map((p) => p.cores.get(core)?.deliveredRate ?? null),
      droppedPerSecond: window.map((p) => p.cores.get(core)?.droppedRate ?? null),
      fill: window.map((p) => p.cores.get(core)?.fill ?? null),
      eventLoopUtilization: thread.map((t) => t?.utilization ?? null),
      cpu: thread.map((t) => t?.cpuRate ?? null),
      heapUsedBytes: thread.map((t) => t?.heapUsed ?? null),
      gcSecondsPerSecond: thread.map((t) => t?.gcRate ?? null)
    }
  }
  const seriesHistory: Record<string, Array<number | null>> = {}
  for (const s of topSeries) seriesHistory[s.key] = window.map((p) => p.top.get(s.key) ?? null)
  const histogramHistory: Record<string, { p50: Array<number | null>; p90: Array<number | null>; p99: Array<number | null> }> = {}
  for (const h of histograms) {
    const qs = window.map((p) => p.histograms.get(h.name))
    histogramHistory[h.name] = {
      p50: qs.map((q) => (q === undefined ? null : orNull(q[0]))),
      p90: qs.map((q) => (q === undefined ? null : orNull(q[1]))),
      p99: qs.map((q) => (q === undefined ? null : orNull(q[2])))
    }
  }

  return {
    time: now,
    startedAt,
    sampleIntervalMs: SAMPLE_INTERVAL_MS,
    windowSeconds: WINDOW * SAMPLE_INTERVAL_MS / 1000,
    controlPlane: {
      ready: dataPlane.ready(),
      drains: drainer.drains(),
      drainsPerSecond,
      drainSeconds: { ...asQuantiles(drainQuantiles), mean: orNull(drainMean) },
      series: aggregate.seriesCount,
      userSeries: latest?.userSeries ?? 0,
      heapUsedBytes: latest?.heapUsed ?? 0,
      residentBytes: latest?.resident ?? 0,
      thread: threadView(history, (p) => p.controlThread),
      eventLoopDelayMs: latest === undefined
        ? { p50: null, p99: null, max: null }
        : { p50: orNull(latest.loop.p50), p99: orNull(latest.loop.p99), max: orNull(latest.loop.max) }
    },
    cores,
    top: topSeries,
    histograms,
    history: {
      t: window.map((p) => p.t),
      deliveredPerSecond: window.map((p) => p.deliveredRate),
      droppedPerSecond: window.map((p) => p.droppedRate),
      drainP99Seconds: window.map((p) => orNull(p.drainP99)),
      eventLoopP99Ms: window.map((p) => orNull(p.loop.p99)),
      heapUsedBytes: window.map((p) => p.heapUsed),
      cores: coreHistory,
      series: seriesHistory,
      histograms: histogramHistory
    }
  }
}
