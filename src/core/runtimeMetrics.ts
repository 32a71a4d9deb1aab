/**
 * Runtime metrics of one thread: which thread is hot, and why. Each percore core, and the control plane, runs
 * one `RuntimeCollector` in its own thread; it reads that thread's figures on a slow unref'd timer (never on
 * the hot path) and writes them through a `RuntimeSink`: a core's own series (so they travel the ring like
 * user metrics) or, on the control plane, the aggregate directly.
 *
 * - `nodejs_eventloop_time_seconds_total{state}`: `performance.eventLoopUtilization()` deltas, clamped at 0
 *   (the figures can step back, nodejs/node#40525).
 * - `nodejs_thread_cpu_seconds_total{mode}`: `process.threadCpuUsage()` deltas (Node ≥ 23.9 / 22.19); where
 *   Node lacks it these series are not defined (the process-wide CPU is still published by the control plane).
 * - `nodejs_heap_size_used_bytes`, `nodejs_heap_size_total_bytes`, `nodejs_external_memory_bytes`:
 *   `v8.getHeapStatistics()` of this thread's isolate.
 * - `nodejs_gc_duration_seconds{kind}`: a `PerformanceObserver` for `gc` entries, reading every entry of a batch.
 * - `nodejs_eventloop_delay_seconds`: `monitorEventLoopDelay`, turned into Prometheus buckets at each reading.
 *
 * Plain TypeScript: `percore/core` loads no Effect.
 */
import { getHeapStatistics } from "node:v8"
import { constants, type Histogram as NodeHistogram, monitorEventLoopDelay, performance, PerformanceObserver } from "node:perf_hooks"
import process from "node:process"
import { MetricKind } from "../domain/MetricKind.ts"
import { RuntimeMetric } from "../protocol/runtimeNames.ts"
// Types only: CoreRuntime starts this module, not the other way round.
import type { CoreRuntime, Counter, Gauge, Histogram, Labels } from "./CoreRuntime.ts"

/** GC pause buckets, seconds (prom-client's). */
const GC_BUCKETS: ReadonlyArray<number> = [0.001, 0.01, 0.1, 1, 2, 5]
/** Event-loop delay buckets, seconds. */
const LOOP_DELAY_BUCKETS: ReadonlyArray<number> = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
/**
 * Sampling resolution of the event-loop delay monitor. Its timer is a large part of the collector's cost on an
 * idle thread (bench/runtime.ts): alone it took ~0.6 % of a CPU at prom-client's 10 ms, ~0.2 % at 100 ms, on a
 * loaded 2-CPU machine. Each sample is still exact; a stall shorter than this can fall between two samples, which
 * the event-loop utilization still shows.
 */
export const LOOP_RESOLUTION_MS = 100
/** Default reading interval (README's PERCORE_RUNTIME_METRICS_INTERVAL). */
export const DEFAULT_RUNTIME_INTERVAL_MS = 1000

/** GC kinds by `PerformanceEntry.detail.kind`. */
const gcKinds: ReadonlyArray<readonly [number, string]> = [
  [constants.NODE_PERFORMANCE_GC_MAJOR, "major"],
  [constants.NODE_PERFORMANCE_GC_MINOR, "minor"],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, "incremental"],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, "weakcb"]
]

export interface CounterSink {
  readonly inc: (amount: number) => void
}
export interface GaugeSink {
  readonly set: (value: number) => void
}
export interface HistogramSink {
  readonly observe: (value: number) => void
  /** Adds whole buckets at once: `counts[i]` observations in bucket i (the last one is +Inf), summing to `sum`. */
  readonly add: (counts: ArrayLike<number>, sum: number) => void
}

/** Where a collector's series live. */
export interface RuntimeSink {
  readonly counter: (metric: { readonly name: string; readonly help: string }, labels: Labels) => CounterSink
  readonly gauge: (metric: { readonly name: string; readonly help: string }, labels: Labels) => GaugeSink
  readonly histogram: (metric: { readonly name: string; readonly help: string }, labels: Labels, buckets: ReadonlyArray<number>) => HistogramSink
}

/** A running collector. */
export interface RuntimeMetrics {
  /** Reads every figure now. */
  readonly collect: () => void
  /** A last reading, then stops the timer, the GC observer and the delay monitor. */
  readonly close: () => void
}

/** Where Node has a per-thread CPU clock (Node ≥ 23.9 / 22.19). */
const readThreadCpu: (() => { readonly user: number; readonly system: number }) | undefined =
  typeof process.threadCpuUsage === "function" ? () => process.threadCpuUsage() : undefined

/** True where this Node publishes `nodejs_thread_cpu_seconds_total`. */
export const hasThreadCpu = readThreadCpu !== undefined

/**
 * Cumulative counts of `histogram`'s samples at most `limitNs`, from its percentiles (bisection; the monitor
 * keeps no buckets of its own). Exact at the ends, within 0.01 % of the count in between.
 */
const countAtMost = (histogram: NodeHistogram, count: number, limitNs: number): number => {
  if (histogram.max <= limitNs) return count
  if (histogram.min > limitNs) return 0
  let low = 0
  let high = 100
  for (let i = 0; i < 14; i++) {
    const mid = (low + high) / 2
    if (histogram.percentile(mid) <= limitNs) low = mid
    else high = mid
  }
  return Math.round(count * low / 100)
}

/**
 * Starts collecting this thread's runtime figures into `sink` under `core`: deltas start now, and a reading is
 * taken every `intervalMs` on an unref'd timer, or only when `collect` is called if `intervalMs` is undefined.
 */
export const startRuntimeCollector = (sink: RuntimeSink, core: string, intervalMs: number | undefined): RuntimeMetrics => {
  const active = sink.counter(RuntimeMetric.eventLoopTime, { core, state: "active" })
  const idle = sink.counter(RuntimeMetric.eventLoopTime, { core, state: "idle" })
  const cpuUser = readThreadCpu === undefined ? undefined : sink.counter(RuntimeMetric.threadCpu, { core, mode: "user" })
  const cpuSystem = readThreadCpu === undefined ? undefined : sink.counter(RuntimeMetric.threadCpu, { core, mode: "system" })
  const heapUsed = sink.gauge(RuntimeMetric.heapUsed, { core })
  const heapTotal = sink.gauge(RuntimeMetric.heapTotal, { core })
  const external = sink.gauge(RuntimeMetric.externalMemory, { core })
  const gcByKind = new Map<number, HistogramSink>()
  for (const [kind, label] of gcKinds) gcByKind.set(kind, sink.histogram(RuntimeMetric.gcDuration, { core, kind: label }, GC_BUCKETS))
  const delay = sink.histogram(RuntimeMetric.eventLoopDelay, { core }, LOOP_DELAY_BUCKETS)

  let lastLoop = performance.eventLoopUtilization()
  let lastCpu = readThreadCpu?.()
  const monitor = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
  monitor.enable()
  const delayCounts = new Float64Array(LOOP_DELAY_BUCKETS.length + 1)
  const resolutionNs = LOOP_RESOLUTION_MS * 1e6

  const observer = new PerformanceObserver((list) => {
    // Every entry of the batch: a busy thread delivers several GCs at once.
    for (const entry of list.getEntries()) {
      const detail: unknown = "detail" in entry ? entry.detail : undefined
      const kind = typeof detail === "object" && detail !== null && "kind" in detail && typeof detail.kind === "number" ? detail.kind : undefined
      if (kind !== undefined) gcByKind.get(kind)?.observe(entry.duration / 1000)
    }
  })
  observer.observe({ entryTypes: ["gc"] })

  const collect = (): void => {
    const loop = performance.eventLoopUtilization()
    // Deltas, clamped: the utilization figures can step back by a little (nodejs/node#40525).
    active.inc(Math.max(0, loop.active - lastLoop.active) / 1000)
    idle.inc(Math.max(0, loop.idle - lastLoop.idle) / 1000)
    lastLoop = loop
    if (readThreadCpu !== undefined && lastCpu !== undefined) {
      const cpu = readThreadCpu()
      cpuUser?.inc(Math.max(0, cpu.user - lastCpu.user) / 1e6)
      cpuSystem?.inc(Math.max(0, cpu.system - lastCpu.system) / 1e6)
      lastCpu = cpu
    }
    const heap = getHeapStatistics()
    heapUsed.set(heap.used_heap_size)
    heapTotal.set(heap.total_heap_size)
    external.set(heap.external_memory)
    // The monitor records whole timer intervals: the delay is what exceeds its resolution.
    const count = monitor.count
    if (count > 0) {
      let below = 0
      for (let i = 0; i < LOOP_DELAY_BUCKETS.length; i++) {
        const atMost = countAtMost(monitor, count, LOOP_DELAY_BUCKETS[i]! * 1e9 + resolutionNs)
        delayCounts[i] = Math.max(0, atMost - below)
        below = Math.max(below, atMost)
      }
      delayCounts[LOOP_DELAY_BUCKETS.length] = count - below
      delay.add(delayCounts, Math.max(0, monitor.mean - resolutionNs) * count / 1e9)
      monitor.reset()
    }
  }

  const timer = intervalMs === undefined ? undefined : setInterval(collect, Math.max(1, intervalMs))
  timer?.unref()
  let closed = false
  return {
    collect,
    close: () => {
      if (closed) return
      closed = true
      clearInterval(timer)
      collect()
      observer.disconnect()
      monitor.disable()
    }
  }
}

/** A core's own series as a sink: the runtime's internal definition path (reserved names, no limits). */
export const coreSink = (runtime: CoreRuntime): RuntimeSink => ({
  counter: (metric, labels) => {
    const handle = runtime.defineOwn({ name: metric.name, kind: MetricKind.Counter, help: metric.help, labels }, undefined) as Counter
    return { inc: (amount) => handle.inc(amount) }
  },
  gauge: (metric, labels) => {
    const handle = runtime.defineOwn({ name: metric.name, kind: MetricKind.Gauge, help: metric.help, labels }, "sum") as Gauge
    return { set: (value) => handle.set(value) }
  },
  histogram: (metric, labels, buckets) => {
    const histogram = runtime.defineOwn({ name: metric.name, kind: MetricKind.Histogram, help: metric.help, labels, buckets }, undefined) as Histogram
    return {
      observe: (value) => histogram.observe(value),
      add: (counts, sum) => addToHistogram(runtime, histogram.id, counts, sum)
    }
  }
})

/** Adds whole buckets to a core's histogram series (ids laid out as `seriesLayout` says: buckets, then the sum). */
const addToHistogram = (runtime: CoreRuntime, firstId: number, counts: ArrayLike<number>, sum: number): void => {
  for (let i = 0; i <= counts.length; i++) {
    const value = i < counts.length ? counts[i]! : sum
    if (value === 0) continue
    const id = firstId + i
    runtime.pending[id] = runtime.pending[id]! + value
    if (runtime.dirty[id] === 0) runtime.markDirty(id)
  }
}

/**
 * Starts a core's collector when its settings ask for one. A core whose intern log cannot hold the runtime
 * series (a very small `PERCORE_INTERN_LOG_BYTES`) runs without them rather than failing.
 */
export const startCoreRuntimeMetrics = (runtime: CoreRuntime): RuntimeMetrics | undefined => {
  const intervalMs = runtime.settings.runtimeMetricsIntervalMs ?? 0
  if (!(intervalMs > 0)) return undefined
  try {
    return startRuntimeCollector(coreSink(runtime), String(runtime.id), intervalMs)
  } catch {
    return undefined
  }
}
