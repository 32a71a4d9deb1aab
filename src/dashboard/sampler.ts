/**
 * The dashboard's sampler: once a second (`Schedule.spaced`) it samples the Aggregate, the cores' rings and the
 * control plane into a bounded history (HISTORY_POINTS points, 5 minutes).
 *
 * Each sample visits every user counter and histogram series once to turn totals into rates (O(series): ~1 ms at
 * 10k series) and keeps the K busiest with a bounded heap (O(series · log K)), so a snapshot built from the samples
 * costs O(N + cores + history), not O(series). Histogram families are merged over their series (`sum by (le)`) and
 * their quantiles taken over the last WINDOW samples; the drain duration (`percore_drain_duration_seconds`)
 * likewise.
 *
 * Each core's runtime metrics (`nodejs_*{core}`, published by the core itself) become its event-loop utilization,
 * CPU rate, heap and GC time per second; the control plane's (`core="control"`) likewise.
 */
import { type ELDHistogram, monitorEventLoopDelay } from "node:perf_hooks"
import { Clock, type Context, Effect, Schedule } from "effect"
import { counterSampleName, SelfMetric } from "../domain/index.ts"
import { isReservedFamily, RuntimeMetric } from "../protocol/index.ts"
import { escapeLabelValue } from "../exposition/index.ts"
import type { AggregateFamily, AggregateSeries, AggregateState } from "../engine/AggregateState.ts"
import type { DataPlane } from "../services/DataPlane.ts"
import type { Drainer, RingFigures } from "../services/Drainer.ts"
import { quantilesOf, type QuantileTriple } from "./quantile.ts"

/** History kept: one point per sample, 5 minutes at one a second. */
export const HISTORY_POINTS = 300
/** Series ranked (and kept in each history point) per sample; a snapshot's `top` is at most this. */
export const TOP_KEEP = 100
/** Quantiles and rates of histograms and drains are taken over this many sample intervals. */
export const WINDOW = 10
/** Histogram families kept per history point (the busiest). */
const HISTOGRAM_KEEP = 50
export const SAMPLE_INTERVAL_MS = 1000
const LOOP_RESOLUTION_MS = 10

export const DRAIN_DURATION = SelfMetric.drainDuration.name

/** What the sampler and the snapshot read. */
export interface Sources {
  readonly aggregate: AggregateState
  readonly dataPlane: Context.Service.Shape<typeof DataPlane>
  readonly drainer: Context.Service.Shape<typeof Drainer>
}

/** A user series being ranked: its total at the last sample and its rate over the last interval. */
export interface Tracked {
  readonly key: string
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly type: "counter" | "histogram"
  readonly family: AggregateFamily
  readonly series: AggregateSeries
  last: number
  rate: number
}

/** A histogram family, its series merged. */
export interface FamilyTrack {
  readonly family: AggregateFamily
  readonly bounds: ReadonlyArray<number>
  /** Merged per-bucket counts of every series, at each of the last WINDOW + 1 samples. */
  readonly past: Array<{ readonly t: number; readonly counts: Float64Array; readonly count: number }>
  series: number
  count: number
  rate: number
  window: QuantileTriple
  lifetime: QuantileTriple
}

/** A thread's runtime figures at one sample: cumulative totals, and what they mean over the last interval. */
export interface ThreadPoint {
  /** Cumulative seconds, as published. */
  readonly active: number
  readonly idle: number
  readonly cpu: number
  readonly gc: number
  /** Share of the event loop's time spent running (0–1); null until a thread reported twice. */
  readonly utilization: number | null
  /** CPU seconds per second; null where Node has no thread CPU clock. */
  readonly cpuRate: number | null
  /** GC pause seconds per second. */
  readonly gcRate: number | null
  readonly heapUsed: number | null
}

export interface CorePoint {
  readonly delivered: number
  readonly dropped: number
  readonly deliveredRate: number
  readonly droppedRate: number
  readonly fill: number
  /** Undefined while the core publishes no runtime metrics (turned off, or not yet). */
  readonly thread: ThreadPoint | undefined
}

/** One history point. */
export interface Point {
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
  /** The control plane's own runtime figures (`core="control"`). */
  readonly controlThread: ThreadPoint | undefined
  readonly heapUsed: number
  readonly resident: number
  readonly series: number
  readonly userSeries: number
  /** Rates of the TOP_KEEP busiest series at this sample, by key. */
  readonly top: ReadonlyMap<string, number>
  /** Window quantiles of the busiest histogram families at this sample. */
  readonly histograms: ReadonlyMap<string, QuantileTriple>
}

/** What the samples taken so far hold. */
export interface Samples {
  /** Oldest first, at most HISTORY_POINTS. */
  readonly history: ReadonlyArray<Point>
  /** The TOP_KEEP busiest series at the last sample, busiest first. */
  readonly busiest: ReadonlyArray<Tracked>
  /** The busiest histogram families at the last sample, busiest first. */
  readonly busiestFamilies: ReadonlyArray<FamilyTrack>
}

/** No samples: what a dashboard shows before its first sample, and always when it is turned off. */
export const noSamples: Samples = { history: [], busiest: [], busiestFamilies: [] }

/** A per-core self-metric's value (0 while the core has none). */
export const coreValue = (aggregate: AggregateState, name: string, core: number): number =>
  aggregate.find(name, { core: String(core) })?.value ?? 0

const GC_KINDS = ["major", "minor", "incremental", "weakcb"] as const

/**
 * A thread's runtime figures now, turned into rates against `before`. Threads publish every runtime-metrics
 * interval, not every sample: while nothing new arrived the previous rates carry over.
 */
export const threadPoint = (aggregate: AggregateState, core: string, before: ThreadPoint | undefined): ThreadPoint | undefined => {
  const loop = (state: string) => aggregate.find(RuntimeMetric.eventLoopTime.name, { core, state })
  const activeSeries = loop("active")
  const idleSeries = loop("idle")
  if (activeSeries === undefined || idleSeries === undefined) return undefined
  const user = aggregate.find(RuntimeMetric.threadCpu.name, { core, mode: "user" })
  const system = aggregate.find(RuntimeMetric.threadCpu.name, { core, mode: "system" })
  let gc = 0
  for (const kind of GC_KINDS) gc += aggregate.find(RuntimeMetric.gcDuration.name, { core, kind })?.sum ?? 0
  const active = activeSeries.value
  const idle = idleSeries.value
  const cpu = (user?.value ?? 0) + (system?.value ?? 0)
  const heapUsed = aggregate.find(RuntimeMetric.heapUsed.name, { core })?.value ?? null
  const span = before === undefined ? 0 : active + idle - before.active - before.idle
  if (before === undefined || span <= 0) {
    return { active, idle, cpu, gc, utilization: before?.utilization ?? null, cpuRate: before?.cpuRate ?? null, gcRate: before?.gcRate ?? null, heapUsed }
  }
  const per = (now: number, then: number) => Math.max(0, now - then) / span
  return {
    active,
    idle,
    cpu,
    gc,
    utilization: Math.min(1, per(active, before.active)),
    cpuRate: user === undefined ? null : per(cpu, before.cpu),
    gcRate: per(gc, before.gc),
    heapUsed
  }
}

/** The drained rings by core (a restarted core's newest ring). */
export const ringsByCore = (drainer: Sources["drainer"]): ReadonlyMap<number, RingFigures> =>
  new Map(drainer.ringFigures().map((ring) => [ring.core, ring]))

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

const rankSeries = (a: Tracked, b: Tracked): number =>
  b.rate - a.rate || b.last - a.last || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
const rankFamilies = (a: FamilyTrack, b: FamilyTrack): number =>
  b.rate - a.rate || b.count - a.count || (a.family.name < b.family.name ? -1 : a.family.name > b.family.name ? 1 : 0)

/** The name a family is exposed under (counters with `_total`). */
const displayName = (family: AggregateFamily): string =>
  family.type === "counter" ? counterSampleName(family.name) : family.name

/** The samples and what ranking them needs between samples. `take` is called once per interval. */
class Sampler implements Samples {
  readonly history: Array<Point> = []
  busiest: ReadonlyArray<Tracked> = []
  busiestFamilies: ReadonlyArray<FamilyTrack> = []
  private readonly tracked = new Map<AggregateSeries, Tracked>()
  private readonly families = new Map<AggregateFamily, FamilyTrack>()
  private readonly sources: Sources
  private readonly loopDelay: ELDHistogram

  /** `loopDelay` is the control plane's event-loop delay monitor, read and reset by each sample. */
  constructor(sources: Sources, loopDelay: ELDHistogram) {
    this.sources = sources
    this.loopDelay = loopDelay
  }

  private track(family: AggregateFamily, series: AggregateSeries, type: "counter" | "histogram", initial: number): Tracked {
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
    this.tracked.set(series, entry)
    return entry
  }

  /** Takes one sample at `now` (epoch milliseconds). */
  take(now: number): void {
    const { aggregate, dataPlane, drainer } = this.sources
    const { history, tracked, families, loopDelay } = this
    const previous = history[history.length - 1]
    const dt = previous === undefined ? 0 : (now - previous.t) / 1000
    const rate = (current: number, before: number | undefined) => (dt > 0 && before !== undefined ? Math.max(0, current - before) / dt : 0)

    // User series: totals → rates, one pass.
    let userSeries = 0
    for (const family of aggregate.families.values()) {
      if (isReservedFamily(family.name)) continue
      userSeries += family.series.length
      if (family.type === "counter") {
        for (const series of family.series) {
          // A series first seen after the first sample started from 0 within the interval.
          const t = tracked.get(series) ?? this.track(family, series, "counter", previous === undefined ? series.value : 0)
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
          series.addBucketCountsTo(merged)
          count += series.count
          const t = tracked.get(series) ?? this.track(family, series, "histogram", previous === undefined ? series.count : 0)
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
    this.busiest = topN(tracked.values(), TOP_KEEP, rankSeries)
    this.busiestFamilies = topN(families.values(), HISTOGRAM_KEEP, rankFamilies)

    // Cores.
    const rings = ringsByCore(drainer)
    const cores = new Map<number, CorePoint>()
    let deliveredRate = 0
    let droppedRate = 0
    for (const { core } of dataPlane.cores()) {
      const delivered = coreValue(aggregate, SelfMetric.ringDelivered.name, core)
      const dropped = coreValue(aggregate, SelfMetric.ringDropped.name, core)
      const before = previous?.cores.get(core)
      const ring = rings.get(core)
      const point: CorePoint = {
        delivered,
        dropped,
        deliveredRate: rate(delivered, before?.delivered),
        droppedRate: rate(dropped, before?.dropped),
        fill: ring === undefined ? 0 : Math.min(1, ring.backlog / ring.capacity),
        thread: threadPoint(aggregate, String(core), before?.thread)
      }
      deliveredRate += point.deliveredRate
      droppedRate += point.droppedRate
      cores.set(core, point)
    }

    // Control plane.
    const drain = aggregate.find(DRAIN_DURATION)
    const drainBounds = aggregate.families.get(DRAIN_DURATION)?.buckets ?? []
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
      controlThread: threadPoint(aggregate, "control", previous?.controlThread),
      heapUsed: memory.heapUsed,
      resident: memory.rss,
      series: aggregate.seriesCount,
      userSeries,
      top: new Map(this.busiest.map((t) => [t.key, t.rate])),
      histograms: new Map(this.busiestFamilies.map((f) => [f.family.name, f.window]))
    })
    if (history.length > HISTORY_POINTS) history.shift()
  }
}

/**
 * Starts sampling in the current scope: one sample now, then one every SAMPLE_INTERVAL_MS, until the scope
 * closes (the event-loop delay monitor with it). Returns the samples and an effect that takes one more now.
 */
export const startSampler = Effect.fnUntraced(function*(sources: Sources) {
  const loopDelay = yield* Effect.acquireRelease(
    Effect.sync(() => {
      const histogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
      histogram.enable()
      return histogram
    }),
    (histogram) => Effect.sync(() => histogram.disable())
  )
  const sampler = new Sampler(sources, loopDelay)
  const sample = Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => sampler.take(now)))
  yield* sample.pipe(
    Effect.catchCause((cause) => Effect.logError("percore: dashboard sample failed", cause)),
    Effect.repeat(Schedule.spaced(SAMPLE_INTERVAL_MS)),
    Effect.forkScoped
  )
  const samples: Samples = sampler
  return { samples, sample }
})
