/**
 * prom-client's `collectDefaultMetrics()` on percore. percore publishes the same figures itself, under
 * prom-client's names, and more of them: the process-wide ones once (`process_cpu_*`, `process_resident_memory_bytes`,
 * `process_start_time_seconds`, `process_open_fds`, `process_max_fds`, `nodejs_version_info`) and, per thread
 * (`core` label), event-loop time, thread CPU, heap, GC pauses and event-loop delay. They are on by default
 * (`PERCORE_RUNTIME_METRICS`); this call turns them on when the control plane running in this process has them off.
 * So calling it from any thread, once or many times, never defines a series twice. prom-client's `prefix`,
 * `labels` and `gcDurationBuckets` options are not supported: the names are fixed so dashboards built for
 * prom-client keep working when summed.
 */
import { isMainThread } from "node:worker_threads"
import { turnOnRuntimeMetrics } from "../http/renderHooks.ts"
import type { Registry } from "./registry.ts"

export interface DefaultMetricsCollectorConfiguration {
  /** Accepted for compatibility; percore's runtime metrics live in the control plane's aggregate. */
  readonly register?: Registry
}

/** The process-wide names, as prom-client's `collectDefaultMetrics()` exports them. */
export const defaultMetricNames: ReadonlyArray<string> = [
  "process_cpu_user_seconds_total",
  "process_cpu_system_seconds_total",
  "process_cpu_seconds_total",
  "process_resident_memory_bytes",
  "process_start_time_seconds",
  "process_open_fds",
  "process_max_fds",
  "nodejs_version_info"
]

/** Makes sure percore's runtime metrics are on (see the module comment); from a worker thread it does nothing. */
export const collectDefaultMetrics = (_config: DefaultMetricsCollectorConfiguration = {}): void => {
  if (isMainThread) turnOnRuntimeMetrics()
}
