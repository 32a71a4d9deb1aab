/**
 * Metric kinds as small integer constants.
 *
 * They travel through the ring in 8 bits of a slot word, so they are plain numbers usable on the hot
 * path (no TypeScript `enum`, no strings). `0..2` are the public kinds; later kinds (≥ 16) are
 * reserved for percore's own control records and are never produced by `record()` callers.
 */
export const MetricKind = {
  Counter: 0,
  Gauge: 1,
  Histogram: 2
} as const

export type MetricKind = typeof MetricKind[keyof typeof MetricKind]

/** Human-readable kind names, indexed by kind value. */
export const metricKindName = (kind: number): string =>
  kind === MetricKind.Counter ? "counter" : kind === MetricKind.Gauge ? "gauge" : kind === MetricKind.Histogram ? "histogram" : `kind(${kind})`

/**
 * What a ring sample means, as written by percore's core runtime (`percore/core`). Handles coalesce
 * on their core and publish one sample per changed component per flush:
 * - `CounterDelta`: value added to a counter since the last flush (same number as `MetricKind.Counter`).
 * - `GaugeValue`: the core's current value of a gauge (same number as `MetricKind.Gauge`).
 * - `Observation`: one raw histogram observation (same number as `MetricKind.Histogram`; raw ring users).
 * - `BucketDelta`: observations added to one histogram bucket since the last flush.
 * - `SumDelta`: amount added to a histogram's sum since the last flush.
 */
export const WireKind = {
  CounterDelta: 0,
  GaugeValue: 1,
  Observation: 2,
  BucketDelta: 3,
  SumDelta: 4
} as const

export type WireKind = typeof WireKind[keyof typeof WireKind]

/** How a gauge family combines the values of several cores into what is exported. */
export type GaugeAggregation = "sum" | "max" | "min" | "latest" | "perCore"
