/**
 * Dashboard — a live page at `/`, served by the control plane (cores never serve HTTP): per-core ring fill
 * and delivered/dropped rates, drain duration, control-plane health, the busiest series with their rates,
 * histogram quantiles, and small charts of the last minutes.
 *
 * - `GET /` — the page (`src/dashboard/index.html`), `GET /assets/*` — its script and stylesheet, and the
 *   uPlot charting library served from the `uplot` package on disk (nothing is fetched from the internet).
 * - `GET /api/snapshot[?top=N&points=M]` — everything the page shows, computed here as JSON: the page only
 *   draws. `top` (default 20, at most 100) bounds the busiest-series list, `points` (default and at most 300)
 *   the history returned.
 *
 * A fiber samples the Aggregate once a second (`Schedule.spaced`) into a bounded ring of history points
 * (5 minutes). Each sample visits every user counter and histogram series once to turn totals into rates
 * (O(series): ~1 ms at 10k series) and keeps the K busiest with a bounded heap (O(series · log K)), so a
 * snapshot request costs O(N + cores + history), not O(series).
 *
 * Quantiles are estimated from cumulative bucket counts by linear interpolation within the bucket, like
 * Prometheus' `histogram_quantile`: histogram families merged over their series (`sum by (le)`), over the
 * last 10 seconds; drain duration from `percore_drain_duration_seconds`, likewise.
 *
 * Protected like /metrics when `PERCORE_AUTH_TOKEN` or basic-auth credentials are set (a browser prompts for
 * basic auth; a bearer-only deployment needs a client that sends the header).
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { promisify } from "node:util"
import { gzip as gzipCallback } from "node:zlib"
import { Clock, Config, Context, Effect, Layer, Schedule } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { SelfMetric } from "../domain/index.ts"
import { acceptsGzip, escapeLabelValue } from "../exposition/index.ts"
import { Aggregate } from "./Aggregate.ts"
import type { AggregateFamily, AggregateSeries } from "../engine/AggregateState.ts"
import { DataPlane } from "./DataPlane.ts"
import { Drainer } from "./Drainer.ts"
import { makeAuthenticator, SecurityConfig } from "./HttpSecurity.ts"
import { HttpConfig } from "./MetricsHttp.ts"

const gzip = promisify(gzipCallback)

/** History kept: one point per sample, 5 minutes at one a second. */
export const HISTORY_POINTS = 300
/** Series ranked (and kept in each history point) per sample; a snapshot's `top` is at most this. */
export const TOP_KEEP = 100
export const DEFAULT_TOP = 20
/** Quantiles and rates of histograms and drains are taken over this many sample intervals. */
const WINDOW = 10
/** Histogram families kept per history point (the busiest). */
const HISTOGRAM_KEEP = 50
const SAMPLE_INTERVAL_MS = 1000
const LOOP_RESOLUTION_MS = 10

// ---------------------------------------------------------------------------------------------------------
// Pure helpers (exported for tests)

/**
 * The `q`-quantile of a histogram from its CUMULATIVE bucket counts (`cumulative[i]` observations ≤
 * `bounds[i]`, the last entry being `+Inf`, so `cumulative.length === bounds.length + 1`), with Prometheus'
 * `histogram_quantile` rules: linear interpolation inside the bucket holding the rank, the first bucket
 * starting at 0 (or its bound if that is ≤ 0), a rank in the `+Inf` bucket giving the highest finite bound,
 * non-monotonic counts evened out, `NaN` without observations, `±Inf` for q outside [0, 1].
 */
export const histogramQuantile = (q: number, bounds: ReadonlyArray<number>, cumulative: ArrayLike<number>): number => {
  if (Number.isNaN(q)) return Number.NaN
  if (q < 0) return Number.NEGATIVE_INFINITY
  if (q > 1) return Number.POSITIVE_INFINITY
  const n = cumulative.length
  if (n < 2 || n !== bounds.length + 1) return Number.NaN
  let total = 0
  for (let i = 0; i < n; i++) total = Math.max(total, cumulative[i]!)
  if (!(total > 0)) return Number.NaN
  const rank = q * total
  let previous = 0
  let running = 0
  for (let b = 0; b < n; b++) {
    running = Math.max(running, cumulative[b]!)
    if (running >= rank) {
      if (b === n - 1) return bounds[n - 2]!
      const end = bounds[b]!
      if (b === 0 && end <= 0) return end
      const start = b === 0 ? 0 : bounds[b - 1]!
      const inBucket = running - previous
      return inBucket > 0 ? start + (end - start) * ((rank - previous) / inBucket) : start
    }
    previous = running
  }
  return bounds[n - 2]!
}

/** Running sums of per-bucket counts: what `histogramQuantile` takes. */
export const cumulate = (counts: ArrayLike<number>): Float64Array => {
  const out = new Float64Array(counts.length)
  let sum = 0
  for (let i = 0; i < counts.length; i++) out[i] = sum += counts[i]!
  return out
}

/**
 * The first `n` items in `compare` order (as `[...items].sort(compare).slice(0, n)` gives them), in
 * O(items · log n) time and O(n) memory: a max-heap of the kept ones, its root the one that sorts last.
 */
export const topN = <T>(items: Iterable<T>, n: number, compare: (a: T, b: T) => number): Array<T> => {
  const heap: Array<T> = []
  if (n <= 0) return heap
  const swap = (i: number, j: number) => {
    const t = heap[i]!
    heap[i] = heap[j]!
    heap[j] = t
  }
  for (const item of items) {
    if (heap.length < n) {
      heap.push(item)
      let i = heap.length - 1
      while (i > 0) {
        const parent = (i - 1) >> 1
        if (compare(heap[i]!, heap[parent]!) <= 0) break
        swap(i, parent)
        i = parent
      }
    } else if (compare(item, heap[0]!) < 0) {
      heap[0] = item
      let i = 0
      while (true) {
        const left = 2 * i + 1
        const right = left + 1
        let last = i
        if (left < n && compare(heap[left]!, heap[last]!) > 0) last = left
        if (right < n && compare(heap[right]!, heap[last]!) > 0) last = right
        if (last === i) break
        swap(i, last)
        i = last
      }
    }
  }
  return heap.sort(compare)
}

// ---------------------------------------------------------------------------------------------------------
// The snapshot's JSON shape

export interface Quantiles {
  readonly p50: number | null
  readonly p90: number | null
  readonly p99: number | null
}

export interface CoreView {
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

// ---------------------------------------------------------------------------------------------------------
// Sampler state

interface Tracked {
  readonly key: string
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly type: "counter" | "histogram"
  readonly family: AggregateFamily
  readonly series: AggregateSeries
  last: number
  rate: number
}

interface FamilyTrack {
  readonly family: AggregateFamily
  readonly bounds: ReadonlyArray<number>
  /** Merged per-bucket counts of every series, at each of the last WINDOW + 1 samples. */
  readonly past: Array<{ readonly t: number; readonly counts: Float64Array; readonly count: number }>
  series: number
  count: number
  rate: number
  window: readonly [number, number, number]
  lifetime: readonly [number, number, number]
}

interface CorePoint {
  readonly delivered: number
  readonly dropped: number
  readonly deliveredRate: number
  readonly droppedRate: number
  readonly fill: number
}

interface Point {
  readonly t: number
  readonly cores: ReadonlyMap<number, CorePoint>
  readonly deliveredRate: number
  readonly droppedRate: number
  /** Drain-duration histogram, lifetime per-bucket counts. */
  readonly drainCounts: Float64Array
  readonly drainSum: number
  readonly drains: number
  readonly drainP99: number
  readonly loop: { readonly p50: number; readonly p99: number; readonly max: number }
  readonly heapUsed: number
  readonly resident: number
  readonly series: number
  readonly userSeries: number
  /** Rates of the TOP_KEEP busiest series at this sample, by key. */
  readonly top: ReadonlyMap<string, number>
  /** Window quantiles of the busiest histogram families at this sample. */
  readonly histograms: ReadonlyMap<string, readonly [number, number, number]>
}

const QS = [0.5, 0.9, 0.99] as const
const quantilesOf = (bounds: ReadonlyArray<number>, counts: ArrayLike<number>): readonly [number, number, number] => {
  const cumulative = cumulate(counts)
  return [histogramQuantile(QS[0], bounds, cumulative), histogramQuantile(QS[1], bounds, cumulative), histogramQuantile(QS[2], bounds, cumulative)]
}
const orNull = (x: number): number | null => (Number.isFinite(x) ? x : null)
const asQuantiles = (q: readonly [number, number, number]): Quantiles => ({ p50: orNull(q[0]), p90: orNull(q[1]), p99: orNull(q[2]) })

const rankSeries = (a: Tracked, b: Tracked): number =>
  b.rate - a.rate || b.last - a.last || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
const rankFamilies = (a: FamilyTrack, b: FamilyTrack): number =>
  b.rate - a.rate || b.count - a.count || (a.family.name < b.family.name ? -1 : a.family.name > b.family.name ? 1 : 0)

const displayName = (family: AggregateFamily): string =>
  family.type === "counter" && !family.name.endsWith("_total") ? `${family.name}_total` : family.name

const SELF = "percore_"
const DRAIN = SelfMetric.drainDuration.name

export class Dashboard extends Context.Service<Dashboard, {
  /** What `/api/snapshot` returns. */
  readonly snapshot: (options?: SnapshotOptions) => Effect.Effect<DashboardSnapshot>
  /** Takes one history sample now (the layer's fiber does so every second). */
  readonly sample: Effect.Effect<void>
}>()("percore/services/Dashboard") {
  static readonly layer = Layer.effect(
    Dashboard,
    Effect.gen(function*() {
      const aggregate = yield* Aggregate
      const dataPlane = yield* DataPlane
      const drainer = yield* Drainer
      const loopDelay = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const histogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
          histogram.enable()
          return histogram
        }),
        (histogram) => Effect.sync(() => histogram.disable())
      )
      const startedAt = yield* Clock.currentTimeMillis
      const tracked = new Map<AggregateSeries, Tracked>()
      const families = new Map<AggregateFamily, FamilyTrack>()
      const history: Array<Point> = []
      let busiest: Array<Tracked> = []
      let busiestFamilies: Array<FamilyTrack> = []

      const track = (family: AggregateFamily, series: AggregateSeries, type: "counter" | "histogram", initial: number): Tracked => {
        const name = displayName(family)
        const labels: Record<string, string> = {}
        for (const [k, v] of series.labels) labels[k] = v
        const rendered = series.labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")
        const entry: Tracked = {
          key: rendered === "" ? name : `${name}{${rendered}}`,
          name,
          labels,
          type,
          family,
          series,
          last: initial,
          rate: 0
        }
        tracked.set(series, entry)
        return entry
      }

      const self = (name: string, core: number) => aggregate.find(name, { core: String(core) })?.value ?? 0
      const channelsByCore = () => {
        const byCore = new Map<number, { backlog: number; size: number }>()
        for (const channel of drainer.channels()) byCore.set(channel.coreId, { backlog: channel.reader.lastBacklog, size: channel.reader.size })
        return byCore
      }

      const takeSample = (now: number): void => {
        const previous = history[history.length - 1]
        const dt = previous === undefined ? 0 : (now - previous.t) / 1000
        const rate = (current: number, before: number | undefined) => (dt > 0 && before !== undefined ? Math.max(0, current - before) / dt : 0)

        // User series: totals → rates, one pass.
        let userSeries = 0
        for (const family of aggregate.families.values()) {
          if (family.name.startsWith(SELF)) continue
          userSeries += family.series.length
          if (family.type === "counter") {
            for (const series of family.series) {
              // A series first seen after the first sample started from 0 within the interval.
              const t = tracked.get(series) ?? track(family, series, "counter", previous === undefined ? series.value : 0)
              t.rate = rate(series.value, t.last)
              t.last = series.value
            }
          } else if (family.type === "histogram" && family.buckets !== undefined) {
            let ft = families.get(family)
            if (ft === undefined) {
              ft = { family, bounds: family.buckets, past: [], series: 0, count: 0, rate: 0, window: [NaN, NaN, NaN], lifetime: [NaN, NaN, NaN] }
              families.set(family, ft)
            }
            const merged = new Float64Array(family.buckets.length + 1)
            let count = 0
            for (const series of family.series) {
              const counts = series.bucketCounts
              if (counts !== undefined) for (let i = 0; i < merged.length; i++) merged[i] = merged[i]! + counts[i]!
              count += series.count
              const t = tracked.get(series) ?? track(family, series, "histogram", previous === undefined ? series.count : 0)
              t.rate = rate(series.count, t.last)
              t.last = series.count
            }
            ft.series = family.series.length
            ft.count = count
            ft.past.push({ t: now, counts: merged, count })
            if (ft.past.length > WINDOW + 1) ft.past.shift()
            const oldest = ft.past[0]!
            const delta = new Float64Array(merged.length)
            for (let i = 0; i < delta.length; i++) delta[i] = merged[i]! - oldest.counts[i]!
            const span = (now - oldest.t) / 1000
            ft.rate = span > 0 ? (count - oldest.count) / span : 0
            ft.window = ft.past.length > 1 ? quantilesOf(ft.bounds, delta) : quantilesOf(ft.bounds, merged)
            ft.lifetime = quantilesOf(ft.bounds, merged)
          }
        }
        busiest = topN(tracked.values(), TOP_KEEP, rankSeries)
        busiestFamilies = topN(families.values(), HISTOGRAM_KEEP, rankFamilies)

        // Cores.
        const channels = channelsByCore()
        const cores = new Map<number, CorePoint>()
        let deliveredRate = 0
        let droppedRate = 0
        for (const { core } of dataPlane.cores()) {
          const delivered = self(SelfMetric.ringDelivered.name, core)
          const dropped = self(SelfMetric.ringDropped.name, core)
          const before = previous?.cores.get(core)
          const channel = channels.get(core)
          const point: CorePoint = {
            delivered,
            dropped,
            deliveredRate: rate(delivered, before?.delivered),
            droppedRate: rate(dropped, before?.dropped),
            fill: channel === undefined ? 0 : Math.min(1, channel.backlog / channel.size)
          }
          deliveredRate += point.deliveredRate
          droppedRate += point.droppedRate
          cores.set(core, point)
        }

        // Control plane.
        const drain = aggregate.find(DRAIN)
        const drainBounds = aggregate.families.get(DRAIN)?.buckets ?? []
        const drainCounts = drain?.bucketCounts === undefined ? new Float64Array(drainBounds.length + 1) : Float64Array.from(drain.bucketCounts)
        const drainDelta = previous === undefined
          ? drainCounts
          : drainCounts.map((c, i) => c - (previous.drainCounts[i] ?? 0))
        const memory = process.memoryUsage()
        // The monitor records whole timer intervals: the delay is what exceeds its resolution.
        const delayMs = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS)
        const loop = { p50: delayMs(loopDelay.percentile(50)), p99: delayMs(loopDelay.percentile(99)), max: delayMs(loopDelay.max) }
        loopDelay.reset()

        history.push({
          t: now,
          cores,
          deliveredRate,
          droppedRate,
          drainCounts,
          drainSum: drain?.sum ?? 0,
          drains: drainer.drains(),
          drainP99: quantilesOf(drainBounds, drainDelta)[2],
          loop,
          heapUsed: memory.heapUsed,
          resident: memory.rss,
          series: aggregate.seriesCount,
          userSeries,
          top: new Map(busiest.map((t) => [t.key, t.rate])),
          histograms: new Map(busiestFamilies.map((f) => [f.family.name, f.window]))
        })
        if (history.length > HISTORY_POINTS) history.shift()
      }

      const sample = Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => takeSample(now)))

      const snapshot = Effect.fnUntraced(function*(options: SnapshotOptions = {}) {
        const now = yield* Clock.currentTimeMillis
        const top = Math.max(0, Math.min(TOP_KEEP, Math.floor(options.top ?? DEFAULT_TOP)))
        const points = Math.max(1, Math.min(HISTORY_POINTS, Math.floor(options.points ?? HISTORY_POINTS)))
        const latest = history[history.length - 1]
        const windowStart = history[Math.max(0, history.length - 1 - WINDOW)]

        // Cores: live totals, rates from the last sample interval.
        const channels = channelsByCore()
        const cores: Array<CoreView> = dataPlane.cores().map(({ core, state, restarts }) => {
          const channel = channels.get(core)
          const backlog = channel?.backlog ?? 0
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
            droppedPerSecond: point?.droppedRate ?? 0
          }
        })

        // Drains over the window.
        const drainBounds = aggregate.families.get(DRAIN)?.buckets ?? []
        let drainQuantiles: readonly [number, number, number] = [NaN, NaN, NaN]
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
        const coreHistory: Record<string, { deliveredPerSecond: Array<number | null>; droppedPerSecond: Array<number | null>; fill: Array<number | null> }> = {}
        for (const { core } of cores) {
          coreHistory[String(core)] = {
            deliveredPerSecond: window.map((p) => p.cores.get(core)?.deliveredRate ?? null),
            droppedPerSecond: window.map((p) => p.cores.get(core)?.droppedRate ?? null),
            fill: window.map((p) => p.cores.get(core)?.fill ?? null)
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

        const result: DashboardSnapshot = {
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
        return result
      })

      yield* sample.pipe(
        Effect.catchCause((cause) => Effect.logError("percore: dashboard sample failed", cause)),
        Effect.repeat(Schedule.spaced(SAMPLE_INTERVAL_MS)),
        Effect.forkScoped
      )

      return Dashboard.of({ snapshot, sample })
    })
  )

  /** The routes (`/`, `/assets/*`, `/api/snapshot`), as a Layer to merge into an `HttpRouter` app. */
  static readonly routes = Layer.unwrap(Effect.gen(function*() {
    // Host apps that already serve `/` turn the dashboard off with PERCORE_DASHBOARD=false.
    if (!(yield* Config.Boolean("PERCORE_DASHBOARD").pipe(Config.withDefault(true)))) return Layer.empty
    const security = yield* SecurityConfig
    const dashboard = yield* Dashboard
    const auth = makeAuthenticator(security)
    const { metricsPath } = yield* HttpConfig
    const assets = yield* Effect.sync(() => loadAssets(metricsPath))
    const unauthorized = HttpServerResponse.text("unauthorized\n", { status: 401, headers: { "www-authenticate": auth.challenge } })
    const methodNotAllowed = HttpServerResponse.text("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } })

    /** GET and HEAD only, authenticated like /metrics. */
    const guarded = <E, R>(handler: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        if (request.method !== "GET" && request.method !== "HEAD") return Effect.succeed(methodNotAllowed)
        if (!auth.check(request.headers["authorization"])) return Effect.succeed(unauthorized)
        return handler(request)
      })

    const serve = (asset: Asset, request: HttpServerRequest.HttpServerRequest, cacheControl: string) => {
      const headers = { ...asset.headers, "cache-control": cacheControl, etag: asset.etag }
      if (request.headers["if-none-match"] === asset.etag) return HttpServerResponse.empty({ status: 304, headers })
      return HttpServerResponse.uint8Array(asset.body, { contentType: asset.contentType, headers })
    }

    // The page names its assets with their content hash (`?v=`), so those may be cached for good.
    const page = guarded((request) => Effect.succeed(serve(assets.page, request, "no-cache")))
    const asset = guarded((request) =>
      Effect.map(HttpRouter.params, (params) => {
        const found = assets.files.get(params["*"] ?? "")
        if (found === undefined) return HttpServerResponse.text("not found\n", { status: 404 })
        const versioned = new URL(request.url, "http://localhost").searchParams.get("v") === found.hash
        return serve(found, request, versioned ? "private, max-age=31536000, immutable" : "no-cache")
      })
    )
    const snapshot = guarded((request) =>
      Effect.gen(function*() {
        const query = new URL(request.url, "http://localhost").searchParams
        const number = (name: string): { readonly [k: string]: number } => {
          const raw = query.get(name)
          const n = raw === null ? NaN : Number(raw)
          return Number.isFinite(n) ? { [name]: n } : {}
        }
        const result = yield* dashboard.snapshot({ ...number("top"), ...number("points") })
        const bytes = new TextEncoder().encode(JSON.stringify(result))
        const compress = bytes.length > 1024 && acceptsGzip(request.headers["accept-encoding"])
        const body = compress ? yield* Effect.promise(() => gzip(bytes)) : bytes
        return HttpServerResponse.uint8Array(body, {
          contentType: "application/json; charset=utf-8",
          headers: {
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
            vary: "Accept-Encoding",
            ...(compress ? { "content-encoding": "gzip" } : {})
          }
        })
      })
    )

    return HttpRouter.addAll([
      HttpRouter.route("*", "/", page),
      HttpRouter.route("*", "/assets/*", asset),
      HttpRouter.route("*", "/api/snapshot", snapshot)
    ])
  }))
}

// ---------------------------------------------------------------------------------------------------------
// Static assets: read once from disk (the page and its script/stylesheet from src/dashboard/, uPlot from the
// installed `uplot` package), served from memory.

interface Asset {
  readonly body: Uint8Array
  readonly contentType: string
  readonly hash: string
  readonly etag: string
  readonly headers: Readonly<Record<string, string>>
}

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

const makeAsset = (body: Uint8Array, contentType: string, headers: Readonly<Record<string, string>> = {}): Asset => {
  const hash = createHash("sha256").update(body).digest("base64url").slice(0, 16)
  return { body, contentType, hash, etag: `"${hash}"`, headers: { "x-content-type-options": "nosniff", ...headers } }
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;"))

const loadAssets = (metricsPath: string): { readonly page: Asset; readonly files: ReadonlyMap<string, Asset> } => {
  const require = createRequire(import.meta.url)
  const local = (name: string) => readFileSync(new URL(`../dashboard/${name}`, import.meta.url))
  const files = new Map<string, Asset>([
    ["app.js", makeAsset(local("app.js"), "text/javascript; charset=utf-8")],
    ["app.css", makeAsset(local("app.css"), "text/css; charset=utf-8")],
    ["uPlot.iife.min.js", makeAsset(readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js")), "text/javascript; charset=utf-8")],
    ["uPlot.min.css", makeAsset(readFileSync(require.resolve("uplot/dist/uPlot.min.css")), "text/css; charset=utf-8")]
  ])
  // `{{asset:NAME}}` in the page becomes `assets/NAME?v=HASH` (relative: works behind a path prefix too).
  const html = local("index.html").toString("utf8").replace(/\{\{asset:([^}]+)\}\}/g, (_, name: string) => {
    const file = files.get(name)
    if (file === undefined) throw new Error(`dashboard: index.html names an unknown asset ${name}`)
    return `assets/${name}?v=${file.hash}`
  }).replaceAll("{{metricsPath}}", escapeHtml(metricsPath))
  const page = makeAsset(new TextEncoder().encode(html), "text/html; charset=utf-8", {
    "content-security-policy": CSP,
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY"
  })
  return { page, files }
}
