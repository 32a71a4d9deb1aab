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

/** Each public kind's exposition type (its `# TYPE`), indexed by kind value. */
const familyTypes = ["counter", "gauge", "histogram"] as const

/** The exposition type of a family of this kind (its `# TYPE`). */
export const familyTypeOf = (kind: MetricKind): "counter" | "gauge" | "histogram" => familyTypes[kind]

/** Human-readable kind names, indexed by kind value. */
export const metricKindName = (kind: number): string => familyTypes[kind] ?? `kind(${kind})`

/** How a gauge family combines the values of several cores into what is exported. */
export type GaugeAggregation = "sum" | "max" | "min" | "latest" | "perCore"
