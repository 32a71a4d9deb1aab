/**
 * Prometheus text 0.0.4 and OpenMetrics 1.0.0 rendering of the exposition model.
 *
 * Everything that depends only on names, help, bounds and label sets is computed once per `Family` / `Series`
 * object and cached on it (a WeakMap for families, a private symbol field on series, with a WeakMap fallback for
 * frozen objects), so a scrape only formats numbers and concatenates strings.
 */
import {
  escapeHelp,
  escapeLabelValue,
  formatCanonicalFloat,
  formatGoFloat,
  formatValueLine,
  labelNamePattern,
  metricNamePattern
} from "./format.ts"
import type { Family, Format, Series } from "./model.ts"

/** Thrown when a family or series breaks the model's invariants (bad names, unsorted buckets, name clashes). */
export class ExpositionError extends Error {
  override readonly name = "ExpositionError"
}

const KIND_COUNTER = 0
const KIND_GAUGE = 1
const KIND_HISTOGRAM = 2
const KIND_SUMMARY = 3
const KIND_UNKNOWN = 4
type Kind = 0 | 1 | 2 | 3 | 4

interface FamilyState {
  readonly kind: Kind
  /** Everything a series' cached prefixes depend on; lets series caches survive a re-created (equal) Family. */
  readonly signature: string
  /** Sample name of counter / gauge / unknown samples and of summary quantile samples. */
  readonly sampleName: string
  /** Every sample / metadata name this family occupies, for clash detection. */
  readonly occupies: ReadonlyArray<string>
  readonly textHeader: string
  readonly openMetricsHeader: string
  /** Histogram: `le="…"` per bound then `le="+Inf"`; summary: `quantile="…"` per quantile. Per format. */
  readonly textBounds: ReadonlyArray<string>
  readonly openMetricsBounds: ReadonlyArray<string>
  readonly boundCount: number
  readonly boundName: string
}

interface SeriesState {
  family: FamilyState
  readonly labels: Series["labels"]
  /** Counter / gauge / unknown: `name{labels} ` (identical in both formats). */
  readonly prefix: string
  /** Escaped `a="x",b="y"` without braces. */
  readonly labelText: string
  /** Histogram / summary: one prefix per line (bound lines, then `_sum`, `_count`), per format, built lazily. */
  text: ReadonlyArray<string> | undefined
  openMetrics: ReadonlyArray<string> | undefined
}

const seriesCache: unique symbol = Symbol("percore/exposition/SeriesState")

interface CachedSeries extends Series {
  [seriesCache]?: SeriesState
}

const familyStates = new WeakMap<Family, FamilyState>()
const frozenSeriesStates = new WeakMap<Series, SeriesState>()

const typeNames = {
  counter: KIND_COUNTER,
  gauge: KIND_GAUGE,
  histogram: KIND_HISTOGRAM,
  summary: KIND_SUMMARY,
  unknown: KIND_UNKNOWN
} as const

const fail = (message: string): never => {
  throw new ExpositionError(message)
}

const checkBounds = (name: string, bounds: ReadonlyArray<number>, what: "buckets" | "quantiles"): void => {
  for (let i = 0; i < bounds.length; i++) {
    const b = bounds[i]!
    if (!Number.isFinite(b)) fail(`${name}: ${what} must be finite, got ${b}`)
    if (what === "quantiles" && (b < 0 || b > 1)) fail(`${name}: quantile ${b} is outside [0, 1]`)
    if (i > 0 && !(b > bounds[i - 1]!)) {
      fail(`${name}: ${what} must be ${what === "buckets" ? "sorted ascending and unique" : "unique"}`)
    }
  }
}

const header = (name: string, help: string, type: string, openMetrics: boolean): string =>
  (help === "" ? "" : `# HELP ${name} ${escapeHelp(help, openMetrics)}\n`) + `# TYPE ${name} ${type}\n`

const buildFamilyState = (family: Family): FamilyState => {
  const kind: Kind | undefined = Object.hasOwn(typeNames, family.type) ? typeNames[family.type] : undefined
  if (kind === undefined) return fail(`${family.name}: unknown family type ${String(family.type)}`)
  let name = family.name
  if (!metricNamePattern.test(name)) fail(`invalid metric name ${JSON.stringify(name)}`)
  if (name.startsWith("__")) fail(`metric name ${name} is reserved (starts with __)`)
  if (kind === KIND_COUNTER && name.endsWith("_total") && name.length > 6) name = name.slice(0, -6)
  const help = family.help
  let textBounds: Array<string> = []
  let openMetricsBounds: Array<string> = []
  let boundName = ""
  let textHeader: string
  let openMetricsHeader: string
  let sampleName = name
  let occupies: Array<string>
  switch (kind) {
    case KIND_COUNTER: {
      sampleName = `${name}_total`
      textHeader = header(sampleName, help, "counter", false)
      openMetricsHeader = header(name, help, "counter", true)
      occupies = [name, sampleName, `${name}_created`]
      break
    }
    case KIND_GAUGE:
    case KIND_UNKNOWN: {
      textHeader = header(name, help, kind === KIND_GAUGE ? "gauge" : "untyped", false)
      openMetricsHeader = header(name, help, kind === KIND_GAUGE ? "gauge" : "unknown", true)
      occupies = [name]
      break
    }
    case KIND_HISTOGRAM: {
      const buckets = family.buckets ?? []
      checkBounds(name, buckets, "buckets")
      boundName = "le"
      textBounds = buckets.map((b) => `le="${formatGoFloat(b)}"`)
      openMetricsBounds = buckets.map((b) => `le="${formatCanonicalFloat(b)}"`)
      textBounds.push(`le="+Inf"`)
      openMetricsBounds.push(`le="+Inf"`)
      textHeader = header(name, help, "histogram", false)
      openMetricsHeader = header(name, help, "histogram", true)
      occupies = [name, `${name}_bucket`, `${name}_sum`, `${name}_count`, `${name}_created`]
      break
    }
    case KIND_SUMMARY: {
      const quantiles = family.quantiles ?? []
      checkBounds(name, [...quantiles].sort((a, b) => a - b), "quantiles")
      boundName = "quantile"
      textBounds = quantiles.map((q) => `quantile="${formatGoFloat(q)}"`)
      openMetricsBounds = quantiles.map((q) => `quantile="${formatCanonicalFloat(q)}"`)
      textHeader = header(name, help, "summary", false)
      openMetricsHeader = header(name, help, "summary", true)
      occupies = [name, `${name}_sum`, `${name}_count`, `${name}_created`]
      break
    }
  }
  return {
    kind,
    signature: `${kind} ${sampleName} ${openMetricsBounds.join(",")}`,
    sampleName,
    occupies,
    textHeader,
    openMetricsHeader,
    textBounds,
    openMetricsBounds,
    boundCount: textBounds.length,
    boundName
  }
}

const familyState = (family: Family): FamilyState => {
  let state = familyStates.get(family)
  if (state === undefined) {
    state = buildFamilyState(family)
    familyStates.set(family, state)
  }
  return state
}

const buildLabelText = (family: FamilyState, labels: Series["labels"]): string => {
  let text = ""
  for (let i = 0; i < labels.length; i++) {
    const [name, value] = labels[i]!
    if (!labelNamePattern.test(name)) fail(`${family.sampleName}: invalid label name ${JSON.stringify(name)}`)
    if (name.startsWith("__")) fail(`${family.sampleName}: label name ${name} is reserved (starts with __)`)
    if (family.boundName !== "" && name === family.boundName) {
      fail(`${family.sampleName}: label name ${name} is reserved for this family type`)
    }
    for (let j = 0; j < i; j++) {
      if (labels[j]![0] === name) fail(`${family.sampleName}: duplicate label name ${name}`)
    }
    text += (i === 0 ? "" : ",") + name + "=\"" + escapeLabelValue(value) + "\""
  }
  return text
}

const buildSeriesState = (family: FamilyState, series: Series): SeriesState => {
  const labelText = buildLabelText(family, series.labels)
  const state: SeriesState = {
    family,
    labels: series.labels,
    prefix: labelText === "" ? family.sampleName + " " : family.sampleName + "{" + labelText + "} ",
    labelText,
    text: undefined,
    openMetrics: undefined
  }
  const cached = series as CachedSeries
  if (cached[seriesCache] !== undefined) {
    cached[seriesCache] = state
  } else if (Object.isExtensible(series)) {
    // non-enumerable: invisible to spreads, deep-equality checks and Object.assign
    Object.defineProperty(series, seriesCache, { value: state, writable: true, configurable: true, enumerable: false })
  } else {
    frozenSeriesStates.set(series, state)
  }
  return state
}

const seriesState = (family: FamilyState, series: Series): SeriesState => {
  const state = (series as CachedSeries)[seriesCache] ?? frozenSeriesStates.get(series)
  if (state === undefined || state.labels !== series.labels) return buildSeriesState(family, series)
  if (state.family === family) return state
  if (state.family.signature !== family.signature) return buildSeriesState(family, series)
  state.family = family
  return state
}

/** Line prefixes of a histogram / summary series: one per bound, then `_sum`, `_count`. */
const buildLinePrefixes = (
  family: FamilyState,
  state: SeriesState,
  bounds: ReadonlyArray<string>
): ReadonlyArray<string> => {
  const base = family.sampleName
  const boundSample = family.kind === KIND_HISTOGRAM ? base + "_bucket" : base
  const lead = state.labelText === "" ? "{" : "{" + state.labelText + ","
  const out: Array<string> = []
  for (const bound of bounds) out.push(boundSample + lead + bound + "} ")
  const plain = state.labelText === "" ? " " : "{" + state.labelText + "} "
  out.push(base + "_sum" + plain, base + "_count" + plain)
  return out
}

const renderHistogram = (out: string, p: ReadonlyArray<string>, n: number, series: Series): string => {
  const counts = series.bucketCounts
  let acc = 0
  if (counts === undefined) {
    for (let i = 0; i < n - 1; i++) out += p[i]! + "0\n"
    acc = series.count
  } else {
    const len = counts.length < n ? counts.length : n
    let i = 0
    for (; i < n - 1; i++) {
      if (i < len) acc += counts[i]!
      out += p[i]! + formatValueLine(acc)
    }
    if (i < len) acc += counts[i]!
  }
  const total = formatValueLine(acc)
  return out + p[n - 1]! + total + p[n]! + formatValueLine(series.sum) + p[n + 1]! + total
}

const renderSummary = (out: string, p: ReadonlyArray<string>, n: number, series: Series): string => {
  const values = series.quantileValues
  for (let i = 0; i < n; i++) {
    out += p[i]! + (values !== undefined && i < values.length ? formatValueLine(values[i]!) : "NaN\n")
  }
  return out + p[n]! + formatValueLine(series.sum) + p[n + 1]! + formatValueLine(series.count)
}

const renderSeries = (out: string, family: FamilyState, series: Series, openMetrics: boolean): string => {
  const state = seriesState(family, series)
  if (family.kind === KIND_COUNTER || family.kind === KIND_GAUGE || family.kind === KIND_UNKNOWN) {
    return out + state.prefix + formatValueLine(series.value)
  }
  let p = openMetrics ? state.openMetrics : state.text
  if (p === undefined) {
    p = buildLinePrefixes(family, state, openMetrics ? family.openMetricsBounds : family.textBounds)
    if (openMetrics) state.openMetrics = p
    else state.text = p
  }
  return family.kind === KIND_HISTOGRAM
    ? renderHistogram(out, p, family.boundCount, series)
    : renderSummary(out, p, family.boundCount, series)
}

/**
 * Renders families in the given format: per family one HELP (omitted when the help is empty) and one TYPE line,
 * then its samples; families in iteration order, never interleaved. Text 0.0.4 ends with a line feed (an empty
 * exposition is the empty string); OpenMetrics ends with `# EOF\n`.
 *
 * Throws `ExpositionError` when a family breaks the model's invariants, or when two families claim the same
 * name (including suffix clashes such as a gauge `x_count` next to a histogram `x`).
 */
export const render = (families: Iterable<Family>, format: Format): string => {
  const openMetrics = format === "openmetrics"
  const names = new Set<string>()
  let out = ""
  for (const family of families) {
    const state = familyState(family)
    for (const name of state.occupies) {
      if (names.has(name)) fail(`metric name ${name} is used by two families`)
      names.add(name)
    }
    out += openMetrics ? state.openMetricsHeader : state.textHeader
    const series = family.series
    if (Array.isArray(series)) {
      const list: ReadonlyArray<Series> = series
      for (let i = 0; i < list.length; i++) out = renderSeries(out, state, list[i]!, openMetrics)
    } else {
      for (const s of series) out = renderSeries(out, state, s, openMetrics)
    }
  }
  return openMetrics ? out + "# EOF\n" : out
}
