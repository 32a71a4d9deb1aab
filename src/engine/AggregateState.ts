/**
 * The control plane's in-memory state: every family and series, built from the cores' intern logs and
 * updated by drains. Its objects *are* the exposition model (`Family`, `Series`), mutated in place, so
 * rendering reads them directly with no copy.
 *
 * Consistency: drains and renders are synchronous JavaScript on the control-plane thread, so a render
 * never sees half of a drain; every snapshot is a state between two drains.
 *
 * Merging across cores, per series:
 * - counters: the sum of every core's increments;
 * - histograms: bucket counts, sum and count merged over cores;
 * - gauges: each core's value is kept; the family exports `sum` (default), `max`, `min`, `latest` (the most
 *   recently published value) or `perCore` (one series per core, with a `core` label). A core's last value
 *   stays until that core (or its restart) publishes a new one.
 */
import { type DefinitionError, SeriesLimitExceeded } from "../domain/errors.ts"
import { familyTypeOf, type GaugeAggregation, MetricKind } from "../domain/MetricKind.ts"
import { counterFamilyName } from "../domain/names.ts"
import { familySampleNames, findFamilyConflict, findSampleClash, type LabelPair, type SeriesDefinition, validateDefinition } from "../domain/series.ts"
import { PrefixArena } from "../exposition/bytes.ts"
import type { ArenaFamily, ArenaHistogramSeries, ArenaSeries, FamilyType } from "../exposition/model.ts"
import { bucketIndex } from "../protocol/wire.ts"

/**
 * One series of the aggregate. Kept small (the aggregate may hold hundreds of thousands): its labels are its
 * `key` (the label values) with its family's label names, rebuilt on demand; the renderer's cache is one offset
 * into the aggregate's prefix arena (`ArenaSeries`); each kind has its own shape (`CounterSeries`, `GaugeSeries`,
 * `HistogramSeries`), with the fields only it uses.
 */
export abstract class AggregateSeries implements ArenaSeries {
  readonly family: AggregateFamily
  /** Its label values, each length-prefixed (`labelValuesKey`): its key within its family. */
  readonly key: string
  prefixAt = -1
  abstract value: number
  abstract sum: number
  abstract count: number
  /** Histograms only (`HistogramSeries`). */
  get bucketCounts(): Float64Array | undefined {
    return undefined
  }

  constructor(family: AggregateFamily, key: string) {
    this.family = family
    this.key = key
  }

  /** The label pairs, built anew on each read (the renderer reads them once; no scrape or drain reads them). */
  get labels(): ReadonlyArray<LabelPair> {
    return labelsOfKey(this.family.labelNames, this.key)
  }

  /** Adds its non-cumulative bucket counts into `target` (histograms; nothing for other kinds). */
  addBucketCountsTo(_target: Float64Array): void {}
}

/** A counter series: one value, the sum of every core's increments. */
export class CounterSeries extends AggregateSeries {
  value = 0
  get sum(): number {
    return 0
  }
  get count(): number {
    return 0
  }
}

/** No core has written the gauge yet. */
const NO_CORE = -2

/** A gauge series combining several cores' values. */
export class GaugeSeries extends CounterSeries {
  private readonly mode: GaugeAggregation
  private latestAt = Number.NEGATIVE_INFINITY
  /** The one core that has written it, while only one has (its value is then `value`). */
  private soleCore = NO_CORE
  /** Each core's value, once a second core wrote the series (`sum`, `max` and `min` combine them). */
  private perCore: Map<number, number> | undefined = undefined
  constructor(family: AggregateFamily, key: string, mode: GaugeAggregation) {
    super(family, key)
    this.mode = mode
  }
  update(coreId: number, value: number, timestampMs: number): void {
    switch (this.mode) {
      case "latest":
        if (timestampMs >= this.latestAt) {
          this.latestAt = timestampMs
          this.value = value
        }
        return
      case "perCore":
        this.value = value
        return
    }
    let perCore = this.perCore
    if (perCore === undefined) {
      if (this.soleCore === NO_CORE || this.soleCore === coreId) {
        // One core: the maximum and minimum of one value are that value, its sum too (from +0, as below).
        this.soleCore = coreId
        this.value = this.mode === "sum" ? 0 + value : value
        return
      }
      perCore = this.perCore = new Map([[this.soleCore, this.value]])
    }
    perCore.set(coreId, value)
    switch (this.mode) {
      case "sum": {
        let total = 0
        for (const v of perCore.values()) total += v
        this.value = total
        return
      }
      case "max": {
        let best = Number.NEGATIVE_INFINITY
        for (const v of perCore.values()) best = v > best || Number.isNaN(v) ? v : best
        this.value = best
        return
      }
      case "min": {
        let best = Number.POSITIVE_INFINITY
        for (const v of perCore.values()) best = v < best || Number.isNaN(v) ? v : best
        this.value = best
        return
      }
    }
  }
}

/** Where a histogram row's numbers are (`ArenaHistogramSeries`): the sum, the count, then the bucket counts. */
const ROW_SUM = 0
const ROW_COUNT = 1
const ROW_BUCKETS = 2

/** A histogram series: bucket counts, sum and count merged over cores, in a row of the aggregate's `RowStore`. */
export class HistogramSeries extends AggregateSeries implements ArenaHistogramSeries {
  readonly rows: Float64Array
  readonly rowAt: number
  /** Set once a flush's sum went down (OpenMetrics then exposes no `_sum`). */
  negativeObservations = false
  constructor(family: AggregateFamily, key: string, store: RowStore) {
    super(family, key)
    this.rowAt = store.take(ROW_BUCKETS + family.bucketSlots)
    this.rows = store.chunk
  }
  get value(): number {
    return 0
  }
  get sum(): number {
    return this.rows[this.rowAt + ROW_SUM]!
  }
  set sum(sum: number) {
    this.rows[this.rowAt + ROW_SUM] = sum
  }
  get count(): number {
    return this.rows[this.rowAt + ROW_COUNT]!
  }
  set count(count: number) {
    this.rows[this.rowAt + ROW_COUNT] = count
  }
  /** The non-cumulative bucket counts: a view of its row (a new view on each read; writes go to the row). */
  override get bucketCounts(): Float64Array {
    const first = this.rowAt + ROW_BUCKETS
    return this.rows.subarray(first, first + this.family.bucketSlots)
  }
  /** Adds `n` observations in bucket `bucket` (their count too). */
  addToBucket(bucket: number, n: number): void {
    const rows = this.rows
    const at = this.rowAt
    rows[at + ROW_BUCKETS + bucket] = rows[at + ROW_BUCKETS + bucket]! + n
    rows[at + ROW_COUNT] = rows[at + ROW_COUNT]! + n
  }
  /** Adds to the sum (a flush's coalesced observations). */
  addToSum(delta: number): void {
    this.rows[this.rowAt + ROW_SUM] = this.rows[this.rowAt + ROW_SUM]! + delta
  }
  override addBucketCountsTo(target: Float64Array): void {
    const first = this.rowAt + ROW_BUCKETS
    const n = Math.min(target.length, this.family.bucketSlots)
    for (let i = 0; i < n; i++) target[i] = target[i]! + this.rows[first + i]!
  }
}

/** Doubles per `RowStore` chunk: the first 4 KiB, doubling up to 64 KiB. */
const FIRST_ROW_CHUNK = 512
const ROW_CHUNK = 8192

/**
 * Histogram rows of many series in shared chunks: a `Float64Array` per series would cost an `ArrayBuffer` (and its
 * backing store) each. Rows are never freed (series never are).
 */
export class RowStore {
  /** The chunk the last row was taken from. */
  chunk = new Float64Array(0)
  private used = 0
  private nextChunk = FIRST_ROW_CHUNK
  /** Takes `width` doubles (zeroed) in `chunk`, in a new chunk when this one has no room; returns where they start. */
  take(width: number): number {
    if (this.used + width > this.chunk.length) {
      this.chunk = new Float64Array(Math.max(this.nextChunk, width))
      this.nextChunk = Math.min(ROW_CHUNK, 2 * this.nextChunk)
      this.used = 0
    }
    const at = this.used
    this.used += width
    return at
  }
}

export class AggregateFamily implements ArenaFamily {
  readonly name: string
  readonly help: string
  readonly type: FamilyType
  readonly buckets?: ReadonlyArray<number>
  readonly series: Array<AggregateSeries> = []
  readonly definition: SeriesDefinition
  readonly aggregate: GaugeAggregation | undefined
  /** `series` by key (every series of a family has the same label names, in the same order). */
  private readonly index = new SeriesIndex()
  /** perCore gauges: the series in the order they were created (`series` is in core order); else `series` itself. */
  private readonly created: Array<AggregateSeries>
  /** Every series' label names, in order (perCore gauges: with `core`). */
  readonly labelNames: ReadonlyArray<string>
  /** Histograms: bucket counts per series (bounds and `+Inf`); 0 otherwise. */
  readonly bucketSlots: number
  readonly prefixArena: PrefixArena
  /** The name is the definition's family name (`x_total_total` → `x_total`): the renderer strips nothing. */
  readonly exactName = true
  constructor(
    definition: SeriesDefinition,
    aggregate: GaugeAggregation | undefined,
    labelNames: ReadonlyArray<string>,
    prefixArena: PrefixArena
  ) {
    this.definition = definition
    this.aggregate = aggregate
    this.name = definition.name
    this.help = definition.help
    this.type = familyTypeOf(definition.kind)
    this.labelNames = labelNames
    this.prefixArena = prefixArena
    this.bucketSlots = definition.buckets === undefined ? 0 : definition.buckets.length + 1
    if (definition.buckets !== undefined) this.buckets = definition.buckets
    this.created = aggregate === "perCore" ? [] : this.series
  }

  /** The series whose labels have this `labelValuesKey`, if any. */
  seriesByKey(key: string): AggregateSeries | undefined {
    return this.index.get(key, this.created)
  }

  /** Adds a new series (perCore gauges: placed by core number). */
  add(series: AggregateSeries): void {
    if (this.created !== this.series) {
      insertByCore(this.series, series)
      this.created.push(series)
    } else {
      this.series.push(series)
    }
    this.index.add(series.key, this.created.length - 1, this.created)
  }
}

/**
 * One family's series by key: an open-addressing hash table (linear probing, at most 3/4 full) of their indexes in
 * creation order, 4 bytes a slot; a `Map` entry costs 28 to 46 bytes. Only resolving a definition looks series up
 * (never a drain or a scrape), so a few more probes cost nothing that matters. Series are never removed.
 */
class SeriesIndex {
  private slots = new Int32Array(8).fill(-1)
  private size = 0

  get(key: string, created: ReadonlyArray<AggregateSeries>): AggregateSeries | undefined {
    const slots = this.slots
    const mask = slots.length - 1
    for (let i = hashOf(key) & mask; ; i = (i + 1) & mask) {
      const at = slots[i]!
      if (at < 0) return undefined
      const series = created[at]!
      if (series.key === key) return series
    }
  }

  /** Adds `created[at]` under `key` (not present yet). */
  add(key: string, at: number, created: ReadonlyArray<AggregateSeries>): void {
    if (4 * (this.size + 1) > 3 * this.slots.length) {
      const old = this.slots
      this.slots = new Int32Array(2 * old.length).fill(-1)
      for (const other of old) if (other >= 0) this.place(created[other]!.key, other)
    }
    this.place(key, at)
    this.size++
  }

  private place(key: string, at: number): void {
    const slots = this.slots
    const mask = slots.length - 1
    let i = hashOf(key) & mask
    while (slots[i]! >= 0) i = (i + 1) & mask
    slots[i] = at
  }
}

/** FNV-1a over the UTF-16 code units of a string (`SeriesIndex`'s hash; keys are hashed only when series are resolved). */
const hashOf = (s: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < s.length; i++) hash = Math.imul(hash ^ s.charCodeAt(i), 0x01000193)
  return hash >>> 0
}

export interface AggregateLimits {
  /** Series the whole aggregate may hold (user series; percore's own are not counted). */
  readonly maxSeries: number
}

/** Where a resolved definition lives. */
export interface Resolved {
  readonly family: AggregateFamily
  readonly series: AggregateSeries
}

export class AggregateState {
  readonly families = new Map<string, AggregateFamily>()
  /** Every sample name the families render, so two cores cannot define families that render one name. */
  private readonly samples = new Map<string, SeriesDefinition>()

  /** Every sample name the families render (`sampleNames` of each), kept as families are created. */
  sampleNamesInUse(): Iterable<string> {
    return this.samples.keys()
  }
  private userSeries = 0
  private allSeries = 0
  readonly limits: AggregateLimits
  /** Every series' line prefixes, once rendered. */
  private readonly prefixArena = new PrefixArena()
  /** Every histogram series' numbers. */
  private readonly rows = new RowStore()

  constructor(limits: AggregateLimits) {
    this.limits = limits
  }

  /** Number of series held (percore's own included). */
  get seriesCount(): number {
    return this.allSeries
  }

  /**
   * Finds or creates the series a core defined. `coreId` is used by `perCore` gauges. Fails with the typed
   * error a core could not see by itself: a conflict with another core's definition, or the global limit.
   */
  resolve(
    definition: SeriesDefinition,
    aggregate: GaugeAggregation | undefined,
    coreId: number,
    own = false
  ): Resolved | DefinitionError {
    let family = this.families.get(definition.name)
    if (family !== undefined) {
      const conflict = findFamilyConflict(family.definition, family.aggregate, definition, aggregate)
      if (conflict !== undefined) return conflict
    }
    const labels: ReadonlyArray<LabelPair> = aggregate === "perCore"
      ? sortLabels([...definition.labels.filter(([k]) => k !== "core"), ["core", String(coreId)] as const])
      : definition.labels
    const key = labelValuesKey(labels)
    const existing = family?.seriesByKey(key)
    if (existing !== undefined && family !== undefined) return { family, series: existing }
    if (!own && this.userSeries >= this.limits.maxSeries) {
      return new SeriesLimitExceeded({ metric: definition.name, scope: "global", limit: this.limits.maxSeries })
    }
    if (family === undefined) {
      const clash = findSampleClash(this.samples, definition)
      if (clash !== undefined) return clash
      family = new AggregateFamily(definition, aggregate, labels.map(([name]) => name), this.prefixArena)
      this.families.set(definition.name, family)
      for (const sample of familySampleNames(definition)) this.samples.set(sample, definition)
    }
    const series = definition.kind === MetricKind.Gauge
      ? new GaugeSeries(family, key, aggregate ?? "sum")
      : definition.kind === MetricKind.Histogram
      ? new HistogramSeries(family, key, this.rows)
      : new CounterSeries(family, key)
    family.add(series)
    this.allSeries++
    if (!own) this.userSeries++
    return { family, series }
  }

  /** Defines one of percore's own series (control-plane self-metrics); throws on a programming error. */
  own(
    name: string,
    kind: MetricKind,
    help: string,
    labels: Readonly<Record<string, string>>,
    options: { readonly buckets?: ReadonlyArray<number>; readonly aggregate?: GaugeAggregation } = {}
  ): AggregateSeries {
    const definition = validateDefinition({ name, kind, help, labels, buckets: options.buckets })
    if (definition instanceof Error) throw definition
    const aggregate = kind === MetricKind.Gauge ? options.aggregate ?? "sum" : undefined
    const resolved = this.resolve(definition, aggregate, -1, true)
    if (resolved instanceof Error) throw resolved
    return resolved.series
  }

  /** Test and tooling helper: the series with exactly these labels (counters by either name), if any. */
  find(name: string, labels: Readonly<Record<string, string>> = {}): AggregateSeries | undefined {
    const pairs = sortLabels(Object.entries(labels))
    const counterName = counterFamilyName(name)
    for (const candidate of [name, counterName]) {
      const family = this.families.get(candidate)
      const series = family?.seriesByKey(labelValuesKey(pairs))
      if (family !== undefined && series !== undefined && sameLabelNames(family.labelNames, pairs)) return series
    }
    return undefined
  }
}

/** A perCore series' core number, and its other labels as one key. */
const coreOf = (series: AggregateSeries): number => Number(series.labels.find(([k]) => k === "core")?.[1] ?? -1)
const othersKey = (series: AggregateSeries): string =>
  series.labels.filter(([k]) => k !== "core").map(([k, v]) => `${k}\u0000${v}`).join("\u0001")

/**
 * Places a perCore gauge's new series in its family by core number (numerically), after the other series with the
 * same other labels: cores start in any order, a scrape lists `core="0"`, `"1"`, `"2"`, …. Label sets keep the order
 * they were first seen in. (A perCore family holds one series per core and label set: a linear scan is enough.)
 */
const insertByCore = (list: Array<AggregateSeries>, series: AggregateSeries): void => {
  const group = othersKey(series)
  const core = coreOf(series)
  let at = -1
  for (let i = 0; i < list.length; i++) {
    const other = list[i]!
    if (othersKey(other) !== group) continue
    if (coreOf(other) > core) {
      list.splice(i, 0, series)
      return
    }
    at = i + 1
  }
  if (at === -1) list.push(series)
  else list.splice(at, 0, series)
}

/**
 * Lengths below this are written in a key as one character (one byte in a V8 one-byte string); longer ones as this
 * character, their decimal digits and a colon.
 */
const LONG_VALUE = 0xf0

/**
 * A series' key within its family: its label values, each prefixed by its length (unambiguous for any values; see
 * `LONG_VALUE`). The family fixes the label names, so they are left out: the key is kept per series (it is also
 * where its labels are rebuilt from), and a shorter one is fewer bytes retained. Built with `join`, which returns a
 * flat string (a `+` chain would keep a rope of cons cells).
 */
const labelValuesKey = (labels: ReadonlyArray<LabelPair>): string => {
  const parts: Array<string> = []
  for (const [, value] of labels) {
    const length = value.length
    parts.push(length < LONG_VALUE ? String.fromCharCode(length) : `${String.fromCharCode(LONG_VALUE)}${length}:`, value)
  }
  return parts.join("")
}

/** The label pairs a `labelValuesKey` was built from, given their names. */
const labelsOfKey = (names: ReadonlyArray<string>, key: string): ReadonlyArray<LabelPair> => {
  const pairs: Array<LabelPair> = []
  let at = 0
  for (const name of names) {
    let length = key.charCodeAt(at++)
    if (length === LONG_VALUE) {
      const colon = key.indexOf(":", at)
      length = Number(key.slice(at, colon))
      at = colon + 1
    }
    pairs.push([name, key.slice(at, at + length)])
    at += length
  }
  return pairs
}

const sameLabelNames = (names: ReadonlyArray<string>, pairs: ReadonlyArray<LabelPair>): boolean =>
  names.length === pairs.length && names.every((name, i) => name === pairs[i]![0])

const sortLabels = (pairs: Array<LabelPair>): ReadonlyArray<LabelPair> =>
  pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

const histogramOf = (series: AggregateSeries, what: string): HistogramSeries => {
  if (!(series instanceof HistogramSeries)) throw new TypeError(`${what}: ${series.family.name} is not a histogram`)
  return series
}

/** Adds one observation to a histogram series of the aggregate (control-plane self-metrics). */
export const observe = (series: AggregateSeries, bounds: ReadonlyArray<number>, value: number): void => {
  const histogram = histogramOf(series, "observe")
  histogram.addToBucket(bucketIndex(bounds, value), 1)
  histogram.addToSum(value)
}

/** Adds observations counted elsewhere (non-cumulative counts per bucket, and their sum) to a histogram series. */
export const addObservations = (series: AggregateSeries, counts: ArrayLike<number>, sum: number): void => {
  const histogram = histogramOf(series, "addObservations")
  const n = Math.min(counts.length, histogram.family.bucketSlots)
  for (let i = 0; i < n; i++) if (counts[i]! !== 0) histogram.addToBucket(i, counts[i]!)
  histogram.addToSum(sum)
}
