/**
 * RuntimeMetrics — the control plane's own runtime figures (`core="control"`), from the same collector every
 * core runs, written straight into the Aggregate; and the process-wide figures, once, under prom-client's names
 * (`process_cpu_*`, `process_resident_memory_bytes`, `process_start_time_seconds`, `process_open_fds`,
 * `process_max_fds`, `nodejs_version_info`).
 *
 * Read every `PERCORE_RUNTIME_METRICS_INTERVAL` on a `Schedule`; nothing at all when `PERCORE_RUNTIME_METRICS`
 * is off (the cores' collectors follow the same switch through their settings).
 */
import { readdirSync, readFileSync } from "node:fs"
import process from "node:process"
import { Context, Duration, Effect, Layer, Schedule, Scope } from "effect"
import { startRuntimeCollector, type RuntimeSink } from "../core/runtimeMetrics.ts"
import { MetricKind } from "../domain/index.ts"
import { addObservations, type AggregateState, observe } from "../engine/AggregateState.ts"
import { installRuntimeMetricsSwitch } from "../http/renderHooks.ts"
import { ProcessMetric } from "../protocol/index.ts"
import { Aggregate } from "./Aggregate.ts"
import { PercoreConfig } from "./PercoreConfig.ts"

/** The `core` label of the control-plane thread's runtime series. */
export const CONTROL_CORE = "control"

/** The aggregate as a collector's sink: percore's own series, updated in place. */
export const aggregateSink = (aggregate: AggregateState): RuntimeSink => ({
  counter: (metric, labels) => {
    const series = aggregate.own(metric.name, MetricKind.Counter, metric.help, labels)
    return { inc: (amount) => void (series.value += amount) }
  },
  gauge: (metric, labels) => {
    const series = aggregate.own(metric.name, MetricKind.Gauge, metric.help, labels)
    return { set: (value) => void (series.value = value) }
  },
  histogram: (metric, labels, buckets) => {
    const series = aggregate.own(metric.name, MetricKind.Histogram, metric.help, labels, { buckets })
    return {
      observe: (value) => observe(series, buckets, value),
      add: (counts, sum) => addObservations(series, counts, sum)
    }
  }
})

/** Open file descriptors, where the system lists them (Linux); undefined elsewhere. */
const openFds = (): number | undefined => {
  try {
    return readdirSync("/proc/self/fd").length - 1 // the directory read holds one itself
  } catch {
    return undefined
  }
}

/** The soft limit on open file descriptors (Linux); undefined elsewhere or when unlimited. */
const maxFds = (): number | undefined => {
  try {
    const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"))
    const soft = line === undefined ? NaN : Number(line.slice("Max open files".length).trim().split(/\s+/)[0])
    return Number.isFinite(soft) ? soft : undefined
  } catch {
    return undefined
  }
}

/** Defines the process-wide series; returns the reading that updates them. */
export const processCollector = (aggregate: AggregateState): () => void => {
  const counter = (metric: { readonly name: string; readonly help: string }) => aggregate.own(metric.name, MetricKind.Counter, metric.help, {})
  const gauge = (metric: { readonly name: string; readonly help: string }, labels: Record<string, string> = {}) =>
    aggregate.own(metric.name, MetricKind.Gauge, metric.help, labels)
  const cpuUser = counter(ProcessMetric.cpuUser)
  const cpuSystem = counter(ProcessMetric.cpuSystem)
  const cpu = counter(ProcessMetric.cpu)
  const resident = gauge(ProcessMetric.residentMemory)
  gauge(ProcessMetric.startTime).value = Math.round(Date.now() / 1000 - process.uptime())
  const [major = "", minor = "", patch = ""] = process.versions.node.split(".")
  gauge(ProcessMetric.versionInfo, { version: process.version, major, minor, patch }).value = 1
  const fds = openFds() === undefined ? undefined : gauge(ProcessMetric.openFds)
  const limit = maxFds()
  if (limit !== undefined) gauge(ProcessMetric.maxFds).value = limit
  return () => {
    // Cumulative figures: a counter's value is set, not added to.
    const usage = process.cpuUsage()
    cpuUser.value = usage.user / 1e6
    cpuSystem.value = usage.system / 1e6
    cpu.value = (usage.user + usage.system) / 1e6
    resident.value = process.memoryUsage.rss()
    if (fds !== undefined) fds.value = openFds() ?? fds.value
  }
}

export class RuntimeMetrics extends Context.Service<RuntimeMetrics, {
  /** Whether runtime metrics are published (now: `collectDefaultMetrics()` turns them on at run time). */
  readonly enabled: () => boolean
  /** Reads the control plane's and the process's figures now (the schedule does it every interval). */
  readonly collect: Effect.Effect<void>
}>()("percore/services/RuntimeMetrics") {
  static readonly layer = Layer.effect(
    RuntimeMetrics,
    Effect.gen(function*() {
      const { runtimeMetrics, runtimeMetricsInterval } = yield* PercoreConfig
      const aggregate = yield* Aggregate
      const scope = yield* Effect.scope
      let started = false
      let collect: Effect.Effect<void> = Effect.void
      // Starts reading in the layer's scope (at most once): the thread's collector, the process figures, a schedule.
      const start = Effect.gen(function*() {
        started = true
        const readProcess = processCollector(aggregate)
        // No timer of the collector's own: the schedule below reads it, in the layer's scope.
        const thread = yield* Effect.acquireRelease(
          Effect.sync(() => startRuntimeCollector(aggregateSink(aggregate), CONTROL_CORE, undefined)),
          (collector) => Effect.sync(() => collector.close())
        )
        collect = Effect.sync(() => {
          thread.collect()
          readProcess()
        })
        yield* collect
        yield* collect.pipe(Effect.repeat(Schedule.spaced(Duration.fromInputUnsafe(runtimeMetricsInterval))), Effect.forkScoped)
      }).pipe(Effect.provideService(Scope.Scope, scope))
      if (runtimeMetrics) yield* start
      else {
        // Off by configuration: prom-client's collectDefaultMetrics() (percore/prom-client) may still turn them on.
        const services = yield* Effect.context<never>()
        const uninstall = installRuntimeMetricsSwitch(() => {
          if (!started) Effect.runForkWith(services)(start)
        })
        yield* Effect.addFinalizer(() => Effect.sync(uninstall))
      }
      return RuntimeMetrics.of({
        enabled: () => started,
        collect: Effect.suspend(() => collect).pipe(Effect.withSpan("RuntimeMetrics.collect"))
      })
    })
  )
}
