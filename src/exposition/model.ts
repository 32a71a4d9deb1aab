/**
 * The exposition model: what the Aggregate builds (once per family / series) and mutates in place between
 * scrapes, and what the renderer reads.
 *
 * Identity matters: the renderer caches each family's header lines and bound labels and each series' escaped
 * `name{labels` line prefixes, as UTF-8 bytes, on first sight, keyed by the object. Names, help, buckets, quantiles
 * and label sets are therefore treated as immutable for the lifetime of the object; only the numeric fields
 * (`value`, `bucketCounts` contents, `sum`, `count`, `quantileValues` contents) may change between scrapes.
 * To change a label set, create a new `Series` object.
 *
 * Fast path (`ArenaSeries`): a series that is rendered in one family for its whole life, as the Aggregate's are,
 * can keep the renderer's cache in numeric fields of its own instead of an attached object: its line prefixes go
 * into its family's `PrefixArena` and the series keeps their offset. The renderer recognises such a series by its
 * `prefixAt` field (plain objects have none and keep the attached cache) and never re-reads its `labels`.
 */
import type { PrefixArena } from "./bytes.ts"

export type FamilyType = "counter" | "gauge" | "histogram" | "summary" | "unknown"

export interface Family {
  /** Family name `[a-zA-Z_:][a-zA-Z0-9_:]*`; for counters without the `_total` suffix (one is stripped if given). */
  readonly name: string
  /**
   * Counters: `name` is already the family name, so nothing is stripped (counter `x_total_total` is family
   * `x_total`, sample `x_total_total`). The Aggregate's families set it; without it one `_total` is stripped.
   */
  readonly exactName?: boolean
  /** Free text; escaped by the renderer. An empty help prints no HELP line. */
  readonly help: string
  readonly type: FamilyType
  /** Histogram upper bounds: sorted ascending, finite, unique. No `+Inf`: the renderer adds it. */
  readonly buckets?: ReadonlyArray<number>
  /** Summary quantiles in [0, 1], e.g. `[0.5, 0.9, 0.99]`. */
  readonly quantiles?: ReadonlyArray<number>
  readonly series: ReadonlyArray<Series> | Iterable<Series>
}

export interface Series {
  /** Label pairs in output order; names `[a-zA-Z_][a-zA-Z0-9_]*`, values any string (escaped by the renderer). */
  readonly labels: ReadonlyArray<readonly [name: string, value: string]>
  /** Counter / gauge / unknown value. */
  value: number
  /**
   * Histogram: NON-cumulative counts per bound, length `buckets.length + 1` (the last one counts observations above
   * the highest bound). The renderer accumulates them; `le="+Inf"` and `_count` are their total.
   */
  bucketCounts?: Float64Array | undefined
  /** Histogram / summary sum of observations. */
  sum: number
  /**
   * Histogram: true once the series saw a negative observation. OpenMetrics 1.0 then exposes no `_sum` (it would
   * not be a counter); neither does it when the family has a negative bound or the sum is negative.
   */
  negativeObservations?: boolean
  /** Summary count of observations (histograms derive `_count` from `bucketCounts` when present). */
  count: number
  /** Summary: one value per family quantile, in the same order. */
  quantileValues?: Float64Array
}

/** A family whose series are `ArenaSeries`; all of them share its `prefixArena` (which may be shared by families). */
export interface ArenaFamily extends Family {
  readonly prefixArena: PrefixArena
}

/**
 * A series that holds the renderer's cache itself (see the module comment). It belongs to `family` and is rendered
 * only as part of it (its prefixes are built once, with that family's names). Only the renderer writes `prefixAt`.
 */
export interface ArenaSeries extends Series {
  readonly family: ArenaFamily
  /**
   * Arena offset of its line prefix (histograms: of the bound lines' lead, followed by its `_sum` and `_count`
   * prefixes); -1 until its first render.
   */
  prefixAt: number
}

/**
 * A histogram `ArenaSeries`. Its numbers live in `rows` from `rowAt`: the sum, the count, then the non-cumulative
 * bucket counts (`bucketCounts` is a view of those).
 */
export interface ArenaHistogramSeries extends ArenaSeries {
  negativeObservations: boolean
  readonly rows: Float64Array
  readonly rowAt: number
}

export type Format = "openmetrics" | "text"
