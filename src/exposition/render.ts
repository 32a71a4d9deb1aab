/**
 * Prometheus text 0.0.4 and OpenMetrics 1.0.0 rendering of the exposition model, straight into UTF-8 bytes.
 *
 * Everything that depends only on names, help, bounds and label sets is computed once per `Family` / `Series`
 * object, encoded to UTF-8 and cached on it (a WeakMap for families, a private symbol field on series, with a
 * WeakMap fallback for frozen objects; the Aggregate's series, `ArenaSeries`, keep offsets into their family's
 * `PrefixArena` in fields of their own), so a scrape only copies cached bytes and writes numbers as ASCII into one
 * growing buffer: no page-sized string is built, flattened or encoded.
 */
import { counterFamilyName, counterSampleName, sampleNames } from "../domain/names.ts"
import { arenaStringLength, ByteWriter, MAX_NUMBER_LINE, nextArenaString, type PageBuffers, putArenaBytes, putBytes, putNumberLine, utf8, Utf8Arena } from "./bytes.ts"
import {
  escapeHelp,
  escapeLabelValue,
  formatCanonicalFloat,
  formatGoFloat,
  labelNamePattern,
  metricNamePattern
} from "./format.ts"
import type { ArenaHistogramSeries, ArenaSeries, Family, Format, Series } from "./model.ts"

/** Thrown when a family or series breaks the model's invariants (bad names, unsorted buckets, name clashes). */
export class ExpositionError extends Error {
  override readonly name = "ExpositionError"
}

/** Thrown by `renderSteps` once the page has grown past its `maxBytes`: the render stops there. */
export class PageLimitExceeded extends Error {
  static {
    this.prototype.name = "PageLimitExceeded"
  }
  readonly _tag = "PageLimitExceeded" as const
  /** Bytes rendered when the render stopped (more than `limit`; the whole page would be larger still). */
  readonly rendered: number
  readonly limit: number
  constructor(fields: { readonly rendered: number; readonly limit: number }) {
    super(`the page passed ${fields.limit} bytes (${fields.rendered} rendered when it stopped)`)
    this.rendered = fields.rendered
    this.limit = fields.limit
  }
}

export interface RenderLimits {
  /** The render throws `PageLimitExceeded` once the page passes this many bytes (checked after each series). */
  readonly maxBytes: number
  /** `renderSteps` yields after each stretch of about this many bytes (checked after each series). */
  readonly stepBytes: number
}

export interface RenderOptions extends RenderLimits {
  /**
   * Render into these reused buffers: the page returned is then a view of a pooled buffer, which the caller gives back
   * (`buffers.give(page)`) once nothing reads it. Without: a new buffer the caller owns.
   */
  readonly buffers?: PageBuffers
  /**
   * The caller guarantees that no two families claim one sample name (the aggregate refuses such families when they
   * are created; the Effect-metric bridge skips them), so the render does not check again.
   */
  readonly namesChecked?: boolean
}

const unlimited: RenderLimits = { maxBytes: Infinity, stepBytes: Infinity }

const KIND_COUNTER = 0
const KIND_GAUGE = 1
const KIND_HISTOGRAM = 2
const KIND_SUMMARY = 3
const KIND_UNKNOWN = 4
type Kind = 0 | 1 | 2 | 3 | 4

interface FamilyState {
  readonly kind: Kind
  /** Everything a series' cached bytes depend on; lets series caches survive a re-created (equal) Family. */
  readonly signature: string
  /** Sample name of counter / gauge / unknown samples and of summary quantile samples. */
  readonly sampleName: string
  /** Every sample / metadata name this family occupies, for clash detection. */
  readonly occupies: ReadonlyArray<string>
  /** HELP (unless the help is empty) and TYPE lines, per format. */
  readonly textHeader: Uint8Array
  readonly openMetricsHeader: Uint8Array
  /** Histogram / summary bound lines, per format (formats write bounds differently). */
  readonly textBounds: FamilyBounds
  readonly openMetricsBounds: FamilyBounds
  readonly boundName: string
  /** Histogram with a negative bound: OpenMetrics exposes no `_sum` for its series. */
  readonly negativeBound: boolean
}

interface FamilyBounds {
  /**
   * Histogram: `le="…"} ` per bound then `le="+Inf"} `; summary: `quantile="…"} ` per quantile: the rest of a bound
   * line's prefix after the series' `name{labels,` lead.
   */
  readonly parts: ReadonlyArray<Uint8Array>
  /** The longest part's length. */
  readonly longest: number
}

interface SeriesState {
  family: FamilyState
  readonly labels: Series["labels"]
  /**
   * Line prefixes, UTF-8, identical in both formats. Counter / gauge / unknown: `name{labels} ` (`name ` without
   * labels). Histogram / summary: the bound lines' lead `name_bucket{labels,` (summaries: `name{labels,`; `…{`
   * without labels), which the family's bound part completes.
   */
  readonly prefix: Uint8Array
  /** Histogram / summary: `name_sum{labels} ` and `name_count{labels} ` (empty otherwise). */
  readonly sum: Uint8Array
  readonly count: Uint8Array
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

const header = (name: string, help: string, type: string, openMetrics: boolean): Uint8Array =>
  utf8((help === "" ? "" : `# HELP ${name} ${escapeHelp(help, openMetrics)}\n`) + `# TYPE ${name} ${type}\n`)

const familyBounds = (label: string, formatted: ReadonlyArray<string>): FamilyBounds => {
  const parts = formatted.map((b) => utf8(`${label}="${b}"} `))
  return { parts, longest: parts.reduce((longest, p) => Math.max(longest, p.length), 0) }
}

const noBounds: FamilyBounds = { parts: [], longest: 0 }

const buildFamilyState = (family: Family): FamilyState => {
  const kind: Kind | undefined = Object.hasOwn(typeNames, family.type) ? typeNames[family.type] : undefined
  if (kind === undefined) return fail(`${family.name}: unknown family type ${String(family.type)}`)
  const given = family.name
  if (!metricNamePattern.test(given)) fail(`invalid metric name ${JSON.stringify(given)}`)
  if (given.startsWith("__")) fail(`metric name ${given} is reserved (starts with __)`)
  // A counter named `_total` alone keeps that name as its family (an empty family name is not a name).
  const stripped = kind === KIND_COUNTER && family.exactName !== true ? counterFamilyName(given) : given
  const name = stripped === "" ? given : stripped
  const help = family.help
  let textBounds = noBounds
  let openMetricsBounds = noBounds
  let boundName = ""
  let negativeBound = false
  let textHeader: Uint8Array
  let openMetricsHeader: Uint8Array
  let sampleName = name
  switch (kind) {
    case KIND_COUNTER: {
      sampleName = counterSampleName(name)
      textHeader = header(sampleName, help, "counter", false)
      openMetricsHeader = header(name, help, "counter", true)
      break
    }
    case KIND_GAUGE:
    case KIND_UNKNOWN: {
      textHeader = header(name, help, kind === KIND_GAUGE ? "gauge" : "untyped", false)
      openMetricsHeader = header(name, help, kind === KIND_GAUGE ? "gauge" : "unknown", true)
      break
    }
    case KIND_HISTOGRAM: {
      const buckets = family.buckets ?? []
      checkBounds(name, buckets, "buckets")
      negativeBound = buckets.length > 0 && buckets[0]! < 0
      boundName = "le"
      textBounds = familyBounds(boundName, [...buckets.map(formatGoFloat), "+Inf"])
      openMetricsBounds = familyBounds(boundName, [...buckets.map(formatCanonicalFloat), "+Inf"])
      textHeader = header(name, help, "histogram", false)
      openMetricsHeader = header(name, help, "histogram", true)
      break
    }
    case KIND_SUMMARY: {
      const quantiles = family.quantiles ?? []
      checkBounds(name, [...quantiles].sort((a, b) => a - b), "quantiles")
      boundName = "quantile"
      textBounds = familyBounds(boundName, quantiles.map(formatGoFloat))
      openMetricsBounds = familyBounds(boundName, quantiles.map(formatCanonicalFloat))
      textHeader = header(name, help, "summary", false)
      openMetricsHeader = header(name, help, "summary", true)
      break
    }
  }
  return {
    kind,
    // a series' bytes depend on the sample names (kind and name) and on which label name is reserved (kind)
    signature: `${kind} ${sampleName}`,
    sampleName,
    occupies: sampleNames(name, family.type),
    textHeader,
    openMetricsHeader,
    textBounds,
    openMetricsBounds,
    boundName,
    negativeBound
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

/** Validated, escaped `a="x",b="y"` (no braces). */
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

const noBytes: Uint8Array = new Uint8Array(0)
/** Every series' line prefixes live in this arena's shared chunks. */
const prefixArena = new Utf8Arena()

/**
 * A series' line prefixes as text, identical in both formats: counter / gauge / unknown `[name{labels} ]`; histogram
 * / summary `[lead, name_sum{labels} , name_count{labels} ]`, the lead (`name_bucket{labels,`, summaries `name{labels,`)
 * completed by the family's bound parts.
 */
const linePrefixes = (family: FamilyState, labels: Series["labels"]): readonly [string] | readonly [string, string, string] => {
  const labelText = buildLabelText(family, labels)
  const braced = labelText === "" ? " " : "{" + labelText + "} "
  const base = family.sampleName
  if (family.kind !== KIND_HISTOGRAM && family.kind !== KIND_SUMMARY) return [base + braced]
  return [
    (family.kind === KIND_HISTOGRAM ? base + "_bucket{" : base + "{") + (labelText === "" ? "" : labelText + ","),
    base + "_sum" + braced,
    base + "_count" + braced
  ]
}

/** OpenMetrics 1.0 exposes no `_sum` for a histogram with negative observations (or bounds); text 0.0.4 always does. */
const exposesSum = (family: FamilyState, openMetrics: boolean, negativeObservations: boolean, sum: number): boolean =>
  !openMetrics || !(family.negativeBound || negativeObservations || sum < 0)

const buildSeriesState = (family: FamilyState, series: Series): SeriesState => {
  const texts = linePrefixes(family, series.labels)
  const [prefix, sum, count] = texts.length === 3 ? prefixArena.encode(texts) : [prefixArena.encode(texts)[0], noBytes, noBytes]
  const state: SeriesState = { family, labels: series.labels, prefix, sum, count }
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

/** Room for a histogram's / summary's lines: per bound the series' lead, the longest bound part, a value; `_sum`, `_count`. */
const boundedRoom = (state: SeriesState, bounds: FamilyBounds): number =>
  bounds.parts.length * (state.prefix.length + bounds.longest + MAX_NUMBER_LINE) + state.sum.length + state.count.length +
  2 * MAX_NUMBER_LINE

const writeHistogram = (w: ByteWriter, state: SeriesState, bounds: FamilyBounds, series: Series, withSum: boolean): void => {
  const lead = state.prefix
  const parts = bounds.parts
  const n = parts.length
  w.reserve(boundedRoom(state, bounds))
  const buf = w.buf
  let pos = w.pos
  const counts = series.bucketCounts
  let acc = 0
  if (counts === undefined) {
    for (let i = 0; i < n - 1; i++) {
      pos = putBytes(buf, putBytes(buf, pos, lead), parts[i]!)
      pos = putNumberLine(buf, pos, 0)
    }
    acc = series.count
  } else {
    const len = counts.length < n ? counts.length : n
    let i = 0
    for (; i < n - 1; i++) {
      if (i < len) acc += counts[i]!
      pos = putBytes(buf, putBytes(buf, pos, lead), parts[i]!)
      pos = putNumberLine(buf, pos, acc)
    }
    if (i < len) acc += counts[i]!
  }
  pos = putBytes(buf, putBytes(buf, pos, lead), parts[n - 1]!)
  pos = putNumberLine(buf, pos, acc)
  if (withSum) pos = putNumberLine(buf, putBytes(buf, pos, state.sum), series.sum)
  w.pos = putNumberLine(buf, putBytes(buf, pos, state.count), acc)
}

const writeSummary = (w: ByteWriter, state: SeriesState, bounds: FamilyBounds, series: Series): void => {
  const lead = state.prefix
  const parts = bounds.parts
  const n = parts.length
  w.reserve(boundedRoom(state, bounds))
  const buf = w.buf
  let pos = w.pos
  const values = series.quantileValues
  for (let i = 0; i < n; i++) {
    pos = putBytes(buf, putBytes(buf, pos, lead), parts[i]!)
    pos = putNumberLine(buf, pos, values !== undefined && i < values.length ? values[i]! : NaN)
  }
  pos = putNumberLine(buf, putBytes(buf, pos, state.sum), series.sum)
  w.pos = putNumberLine(buf, putBytes(buf, pos, state.count), series.count)
}

// ─── the fast path: `ArenaSeries` (model.ts), which keep their prefixes' offset themselves ──────────────────────

const isArenaSeries = (series: Series): series is ArenaSeries => (series as Partial<ArenaSeries>).prefixAt !== undefined

const isArenaHistogram = (series: ArenaSeries): series is ArenaHistogramSeries =>
  (series as Partial<ArenaHistogramSeries>).rows !== undefined

/** Encodes a series' line prefixes into its family's arena (once: its labels and family never change). */
const buildArenaPrefixes = (family: FamilyState, series: ArenaSeries): void => {
  const texts = linePrefixes(family, series.labels)
  const arena = series.family.prefixArena
  let length = 0
  for (const text of texts) length += text.length
  arena.reserve(length, texts.length)
  const at = arena.put(texts[0])
  for (let i = 1; i < texts.length; i++) arena.put(texts[i]!)
  series.prefixAt = at
}

/** The page being written, as a `DataView` for `putArenaBytes`; dropped once the current task ends (not retained). */
let viewedPage: Uint8Array | undefined
const noPage: DataView = new DataView(new ArrayBuffer(0))
let pageView = noPage
const forgetPageView = (): void => {
  viewedPage = undefined
  pageView = noPage
}
const pageViewOf = (buf: Uint8Array): DataView => {
  if (buf !== viewedPage) {
    if (viewedPage === undefined) queueMicrotask(forgetPageView)
    viewedPage = buf
    pageView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }
  return pageView
}

/** Room for the padding `putArenaBytes` may write past a prefix. */
const ARENA_PADDING = 8

const writeArenaValue = (w: ByteWriter, family: FamilyState, series: ArenaSeries): void => {
  if (series.prefixAt < 0) buildArenaPrefixes(family, series)
  const arena = series.family.prefixArena
  const at = series.prefixAt
  w.reserve(arenaStringLength(arena, at) + ARENA_PADDING + MAX_NUMBER_LINE)
  const buf = w.buf
  w.pos = putNumberLine(buf, putArenaBytes(pageViewOf(buf), w.pos, arena, at), series.value)
}

/** `writeHistogram` for an `ArenaHistogramSeries`: the same lines, from its arena prefixes and its row. */
const writeArenaHistogram = (w: ByteWriter, family: FamilyState, series: ArenaHistogramSeries, openMetrics: boolean): void => {
  if (series.prefixAt < 0) buildArenaPrefixes(family, series)
  const rows = series.rows
  const sum = rows[series.rowAt]! // the row: sum, count, then the bucket counts (model.ts)
  const first = series.rowAt + 2
  const withSum = exposesSum(family, openMetrics, series.negativeObservations, sum)
  const bounds = openMetrics ? family.openMetricsBounds : family.textBounds
  const arena = series.family.prefixArena
  const leadAt = series.prefixAt
  const sumAt = nextArenaString(arena, leadAt)
  const countAt = nextArenaString(arena, sumAt)
  const parts = bounds.parts
  const n = parts.length
  w.reserve(
    n * (arenaStringLength(arena, leadAt) + ARENA_PADDING + bounds.longest + MAX_NUMBER_LINE) + arenaStringLength(arena, sumAt) +
      arenaStringLength(arena, countAt) + 2 * (ARENA_PADDING + MAX_NUMBER_LINE)
  )
  const buf = w.buf
  const out = pageViewOf(buf)
  let pos = w.pos
  let acc = 0
  for (let i = 0; i < n; i++) {
    acc += rows[first + i]!
    pos = putBytes(buf, putArenaBytes(out, pos, arena, leadAt), parts[i]!)
    pos = putNumberLine(buf, pos, acc)
  }
  if (withSum) pos = putNumberLine(buf, putArenaBytes(out, pos, arena, sumAt), sum)
  w.pos = putNumberLine(buf, putArenaBytes(out, pos, arena, countAt), acc)
}

const writeSeries = (w: ByteWriter, family: FamilyState, series: Series, openMetrics: boolean): void => {
  const kind = family.kind
  if (isArenaSeries(series)) {
    if (kind === KIND_HISTOGRAM && isArenaHistogram(series)) {
      return writeArenaHistogram(w, family, series, openMetrics)
    }
    if (kind !== KIND_HISTOGRAM && kind !== KIND_SUMMARY) return writeArenaValue(w, family, series)
  }
  const state = seriesState(family, series)
  if (kind === KIND_HISTOGRAM) {
    const withSum = exposesSum(family, openMetrics, series.negativeObservations === true, series.sum)
    writeHistogram(w, state, openMetrics ? family.openMetricsBounds : family.textBounds, series, withSum)
  } else if (kind === KIND_SUMMARY) {
    writeSummary(w, state, openMetrics ? family.openMetricsBounds : family.textBounds, series)
  } else {
    const prefix = state.prefix
    w.reserve(prefix.length + MAX_NUMBER_LINE)
    const buf = w.buf
    w.pos = putNumberLine(buf, putBytes(buf, w.pos, prefix), series.value)
  }
}

const EOF = utf8("# EOF\n")
const MIN_CAPACITY = 4096
/**
 * The size of the last page rendered: the next one starts from a buffer a little larger, so a steady-state scrape
 * allocates its page once and never regrows it.
 */
let lastSize = 0

/**
 * Renders families in the given format as UTF-8 bytes: per family one HELP (omitted when the help is empty) and one
 * TYPE line, then its samples; families in iteration order, never interleaved. Text 0.0.4 ends with a line feed (an
 * empty exposition is empty); OpenMetrics ends with `# EOF\n`.
 *
 * Each call returns a new buffer (a view of one allocated for this page; later renders never write to it), which
 * the caller owns.
 *
 * Throws `ExpositionError` when a family breaks the model's invariants, or when two families claim the same
 * name (including suffix clashes such as a gauge `x_count` next to a histogram `x`).
 */
export const renderBytes = (families: Iterable<Family>, format: Format): Uint8Array => {
  const steps = renderSteps(families, format, unlimited)
  for (;;) {
    const step = steps.next()
    if (step.done === true) return step.value
  }
}

/** Where a stepped render next stops: the end of a step (it yields) or the size cap (it throws). */
class Steps {
  /** One compare per series: the next step's end or the cap, whichever comes first. */
  checkAt: number
  private nextStep: number
  private readonly stepBytes: number
  private readonly maxBytes: number
  constructor({ maxBytes, stepBytes }: RenderLimits) {
    this.stepBytes = stepBytes
    this.maxBytes = maxBytes
    this.nextStep = stepBytes
    this.checkAt = Math.min(stepBytes, maxBytes + 1)
  }
  /** Once the page reaches `checkAt`: throws past the cap; true when a step has ended at `pos`. */
  ended(pos: number): boolean {
    if (pos > this.maxBytes) throw new PageLimitExceeded({ rendered: pos, limit: this.maxBytes })
    const ended = pos >= this.nextStep
    if (ended) this.nextStep = pos + this.stepBytes
    this.checkAt = Math.min(this.nextStep, this.maxBytes + 1)
    return ended
  }
}

/**
 * `renderBytes` in steps, so a caller can let other work run during a big render: the generator yields (the bytes
 * rendered so far) after each stretch of about `limits.stepBytes`, and returns the page. A step ends between two
 * series, so each series is written whole; the families may change between steps (a drain), and the page then
 * shows each series as it was when its step ran. Throws `PageLimitExceeded` as soon as the page passes
 * `limits.maxBytes`, so an oversized page costs about `maxBytes` of memory, not its full size.
 */
export function* renderSteps(families: Iterable<Family>, format: Format, options: RenderOptions): Generator<number, Uint8Array, void> {
  const openMetrics = format === "openmetrics"
  const { maxBytes } = options
  const steps = new Steps(options)
  const names = options.namesChecked === true ? undefined : new Set<string>()
  const w = new ByteWriter(Math.max(MIN_CAPACITY, lastSize + (lastSize >>> 4)), options.buffers)
  let finished = false
  // An index loop: a `for … of` in a generator allocates an iterator result per family
  const list: ReadonlyArray<Family> = Array.isArray(families) ? families : Array.from(families)
  try {
    for (let f = 0; f < list.length; f++) {
      const family = list[f]!
      const state = familyState(family)
      if (names !== undefined) {
        for (const name of state.occupies) {
          if (names.has(name)) fail(`metric name ${name} is used by two families`)
          names.add(name)
        }
      }
      w.bytes(openMetrics ? state.openMetricsHeader : state.textHeader)
      const series = family.series
      if (Array.isArray(series)) {
        const all: ReadonlyArray<Series> = series
        for (let i = 0; i < all.length; i++) {
          writeSeries(w, state, all[i]!, openMetrics)
          if (w.pos >= steps.checkAt && steps.ended(w.pos)) yield w.pos
        }
      } else {
        for (const s of series) {
          writeSeries(w, state, s, openMetrics)
          if (w.pos >= steps.checkAt && steps.ended(w.pos)) yield w.pos
        }
      }
      if (w.pos > maxBytes) throw new PageLimitExceeded({ rendered: w.pos, limit: maxBytes })
    }
    if (openMetrics) w.bytes(EOF)
    if (w.pos > maxBytes) throw new PageLimitExceeded({ rendered: w.pos, limit: maxBytes })
    lastSize = w.pos
    finished = true
    return w.finish()
  } finally {
    // a render that threw (or was abandoned by its caller) gives its pooled buffer back
    if (!finished) w.abandon()
  }
}

const decoder = new TextDecoder("utf-8", { ignoreBOM: true })

/** `renderBytes` as a string (the same page, decoded). */
export const render = (families: Iterable<Family>, format: Format): string =>
  decoder.decode(renderBytes(families, format))
