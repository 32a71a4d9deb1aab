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
import type { Family, FamilyType, Series } from "../exposition/model.ts"
import { bucketIndex } from "../protocol/wire.ts"

export class AggregateSeries implements Series {
  readonly labels: ReadonlyArray<LabelPair>
  value = 0
  bucketCounts?: Float64Array
  sum = 0
  count = 0
  /** Histograms: set once a flush's sum went down (OpenMetrics then exposes no `_sum`). */
  negativeObservations = false
  constructor(labels: ReadonlyArray<LabelPair>, buckets: number | undefined) {
    this.labels = labels
    if (buckets !== undefined) this.bucketCounts = new Float64Array(buckets + 1)
  }
}

/** A gauge series combining several cores' values. */
export class GaugeSeries extends AggregateSeries {
  private readonly mode: GaugeAggregation
  private readonly perCore = new Map<number, number>()
  private latestAt = Number.NEGATIVE_INFINITY
  constructor(labels: ReadonlyArray<LabelPair>, mode: GaugeAggregation) {
    super(labels, undefined)
    this.mode = mode
  }
  update(coreId: number, value: number, timestampMs: number): void {
    this.perCore.set(coreId, value)
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
      case "sum": {
        let total = 0
        for (const v of this.perCore.values()) total += v
        this.value = total
        return
      }
      case "max": {
        let best = Number.NEGATIVE_INFINITY
        for (const v of this.perCore.values()) best = v > best || Number.isNaN(v) ? v : best
        this.value = best
        return
      }
      case "min": {
        let best = Number.POSITIVE_INFINITY
        for (const v of this.perCore.values()) best = v < best || Number.isNaN(v) ? v : best
        this.value = best
        return
      }
    }
  }
}

export class AggregateFamily implements Family {
  readonly name: string
  readonly help: string
  readonly type: FamilyType
  readonly buckets?: ReadonlyArray<number>
  readonly series: Array<AggregateSeries> = []
  readonly definition: SeriesDefinition
  readonly aggregate: GaugeAggregation | undefined
  /** Series by `labelValuesKey` (every series of a family has the same label names, in the same order). */
  readonly byKey = new Map<string, AggregateSeries>()
  /** The name is the definition's family name (`x_total_total` → `x_total`): the renderer strips nothing. */
  readonly exactName = true
  constructor(definition: SeriesDefinition, aggregate: GaugeAggregation | undefined) {
    this.definition = definition
    this.aggregate = aggregate
    this.name = definition.name
    this.help = definition.help
    this.type = familyTypeOf(definition.kind)
    if (definition.buckets !== undefined) this.buckets = definition.buckets
  }
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
    const existing = family?.byKey.get(key)
    if (existing !== undefined && family !== undefined) return { family, series: existing }
    if (!own && this.userSeries >= this.limits.maxSeries) {
      return new SeriesLimitExceeded({ metric: definition.name, scope: "global", limit: this.limits.maxSeries })
    }
    if (family === undefined) {
      const clash = findSampleClash(this.samples, definition)
      if (clash !== undefined) return clash
      family = new AggregateFamily(definition, aggregate)
      this.families.set(definition.name, family)
      for (const sample of familySampleNames(definition)) this.samples.set(sample, definition)
    }
    const series = definition.kind === MetricKind.Gauge
      ? new GaugeSeries(labels, aggregate ?? "sum")
      : new AggregateSeries(labels, definition.buckets?.length)
    if (aggregate === "perCore") insertByCore(family.series, series)
    else family.series.push(series)
    family.byKey.set(key, series)
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
      const series = this.families.get(candidate)?.byKey.get(labelValuesKey(pairs))
      if (series !== undefined && sameLabelNames(series.labels, pairs)) return series
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
 * A series' key within its family: its label values, each length-prefixed (unambiguous for any values). The family
 * fixes the label names, so they are left out: the key is kept per series, and a shorter one is fewer bytes
 * retained. Built with `join`, which returns a flat string (a `+` chain would keep a rope of cons cells).
 */
const labelValuesKey = (labels: ReadonlyArray<LabelPair>): string => {
  const parts: Array<string | number> = []
  for (const [, value] of labels) parts.push(value.length, ":", value)
  return parts.join("")
}

const sameLabelNames = (a: ReadonlyArray<LabelPair>, b: ReadonlyArray<LabelPair>): boolean =>
  a.length === b.length && a.every(([name], i) => name === b[i]![0])

const sortLabels = (pairs: Array<LabelPair>): ReadonlyArray<LabelPair> =>
  pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

/** Adds one observation to a histogram series of the aggregate (control-plane self-metrics). */
export const observe = (series: AggregateSeries, bounds: ReadonlyArray<number>, value: number): void => {
  const bucket = bucketIndex(bounds, value)
  const counts = series.bucketCounts!
  counts[bucket] = counts[bucket]! + 1
  series.count++
  series.sum += value
}
