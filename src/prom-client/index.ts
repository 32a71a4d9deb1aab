/**
 * `percore/prom-client`: prom-client's API on percore. Change the import and keep the code:
 *
 * ```ts
 * import { Counter, Histogram, register, collectDefaultMetrics } from "percore/prom-client"
 * const requests = new Counter({ name: "http_requests_total", help: "Requests", labelNames: ["route", "code"] })
 * requests.labels("/a", "200").inc(); requests.inc({ route: "/b", code: "500" }, 2)
 * ```
 * Recording goes through this thread's `core` (`percore/core`), so it works in any thread percore reaches, and
 * values of every thread add up in the control plane. `register.metrics()` is the aggregated page, on the main
 * thread. What differs from prom-client (Summary, `get()`, `reset()`/`remove()` of counters) is in the README.
 */
export { collectDefaultMetrics, type DefaultMetricsCollectorConfiguration, defaultMetricNames } from "./defaultMetrics.ts"
export { NoControlPlane, SummaryNotSupported, UnsupportedAggregator } from "./errors.ts"
export {
  type Aggregator,
  Counter,
  CounterChild,
  type CounterConfiguration,
  exponentialBuckets,
  Gauge,
  GaugeChild,
  type GaugeConfiguration,
  Histogram,
  HistogramChild,
  type HistogramConfiguration,
  type LabelValue,
  type LabelValues,
  linearBuckets,
  type MetricConfiguration,
  type MetricObjectWithValues,
  type MetricValue,
  type MetricValueWithName,
  type SomeLabels,
  Summary
} from "./metrics.ts"
export { register, Registry, type RegistryContentType } from "./registry.ts"

import { Registry } from "./registry.ts"
/** prom-client's content-type constants; `contentType` is the global registry's default. */
export const contentType = Registry.PROMETHEUS_CONTENT_TYPE
export const validateMetricName = (name: string): boolean => /^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)
export const prometheusContentType = Registry.PROMETHEUS_CONTENT_TYPE
export const openMetricsContentType = Registry.OPENMETRICS_CONTENT_TYPE
