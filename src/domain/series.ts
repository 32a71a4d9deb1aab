/**
 * The series definition model.
 *
 * `validateDefinition` is synchronous and Effect-free: it runs inside worker threads when a series
 * is first defined (never on the record hot path) and returns the error instead of throwing, so the
 * caller decides whether to throw, fail an Effect, or report it.
 */
import {
  ConflictingDefinition,
  type DefinitionError,
  type DefinitionField,
  DefinitionTooLarge,
  InvalidBuckets,
  InvalidLabelName,
  InvalidMetricName
} from "./errors.ts"
import { familyTypeOf, type GaugeAggregation, MetricKind, metricKindName } from "./MetricKind.ts"
import { familyBaseName, labelNameProblem, sampleNames } from "./names.ts"

export type LabelPair = readonly [name: string, value: string]

export interface SeriesDefinition {
  /**
   * Family name. For counters this is the name without `_total` (the sample name is
   * `${name}_total`), so that counters defined as `x` and `x_total` are the same series.
   */
  readonly name: string
  readonly kind: MetricKind
  readonly help: string
  /** Sorted by label name (UTF-16 code unit order), names unique. */
  readonly labels: ReadonlyArray<LabelPair>
  /** Histograms only: finite, strictly increasing upper bounds; `+Inf` is implied, not stored. */
  readonly buckets?: ReadonlyArray<number>
}

export interface DefinitionInput {
  readonly name: string
  readonly kind: MetricKind
  readonly help?: string | undefined
  /** A record, or pairs in any order (pairs can express duplicates, which are rejected). */
  readonly labels?: Readonly<Record<string, string>> | ReadonlyArray<LabelPair> | undefined
  /** Histograms only (ignored for other kinds); `defaultBuckets` when absent. */
  readonly buckets?: ReadonlyArray<number> | undefined
}

/** Prometheus' default histogram buckets. */
export const defaultBuckets: ReadonlyArray<number> = Object.freeze([
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10
])

// Code-unit order: deterministic across locales, unlike localeCompare.
const byLabelName = (a: LabelPair, b: LabelPair): number => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0

/** Validated histogram bounds (trailing `+Inf` dropped), or why they are invalid. */
const validateBuckets = (metric: string, buckets: ReadonlyArray<number>): ReadonlyArray<number> | InvalidBuckets => {
  const bounds = buckets.length > 0 && buckets[buckets.length - 1] === Infinity ? buckets.slice(0, -1) : buckets
  const fail = (reason: InvalidBuckets["reason"]) => new InvalidBuckets({ metric, buckets: [...buckets], reason })
  if (bounds.length === 0) return fail("empty")
  for (const b of bounds) {
    if (!Number.isFinite(b)) return fail("non-finite")
  }
  // Duplicates are reported before ordering: "duplicated" is the more precise diagnosis.
  if (new Set(bounds).size !== bounds.length) return fail("duplicated")
  for (let i = 1; i < bounds.length; i++) {
    if (!(bounds[i - 1]! < bounds[i]!)) return fail("unsorted")
  }
  return Object.freeze([...bounds])
}

/** Checks a definition; returns the normalized model or the first problem found. */
export const validateDefinition = (input: DefinitionInput): SeriesDefinition | DefinitionError => {
  const names = familyBaseName(input.name, input.kind)
  if (names instanceof InvalidMetricName) return names
  const metric = names.family

  const raw = input.labels
  const pairs: Array<LabelPair> = raw === undefined
    ? []
    : isPairArray(raw)
    ? raw.map(([k, v]) => [k, String(v).toWellFormed()] as const)
    : Object.entries(raw).map(([k, v]) => [k, String(v).toWellFormed()] as const)
  pairs.sort(byLabelName)
  for (let i = 0; i < pairs.length; i++) {
    const label = pairs[i]![0]
    const problem = labelNameProblem(label)
    if (problem !== undefined) return new InvalidLabelName({ metric, label, reason: problem })
    if (i > 0 && pairs[i - 1]![0] === label) {
      return new InvalidLabelName({ metric, label, reason: "duplicate label name" })
    }
  }
  const labels = Object.freeze(pairs)
  const help = input.help ?? ""

  if (input.kind === MetricKind.Histogram) {
    const buckets = validateBuckets(metric, input.buckets ?? defaultBuckets)
    if (buckets instanceof InvalidBuckets) return buckets
    return { name: metric, kind: input.kind, help, labels, buckets }
  }
  return { name: metric, kind: input.kind, help, labels }
}

const isPairArray = (
  labels: Readonly<Record<string, string>> | ReadonlyArray<LabelPair>
): labels is ReadonlyArray<LabelPair> => Array.isArray(labels)

/**
 * Identifies name + label set. JSON of `[name, labels]` is injective, so no label value can make
 * two different label sets collide (a plain `k=v,k=v` join could).
 */
export const seriesKey = (def: Pick<SeriesDefinition, "name" | "labels">): string =>
  JSON.stringify([def.name, def.labels])

const labelNamesOf = (def: SeriesDefinition): ReadonlyArray<string> => def.labels.map(([k]) => k)

/** Everything that must agree between two series of one family: kind, help, label names, buckets. */
export const familySignature = (def: SeriesDefinition): string =>
  JSON.stringify([def.kind, def.help, labelNamesOf(def), def.buckets ?? null])

const describeBuckets = (buckets: ReadonlyArray<number> | undefined): string =>
  buckets === undefined ? "none" : `[${buckets.join(", ")}]`

/**
 * The first field in which `requested` differs from the `existing` definition of the same family,
 * as a `ConflictingDefinition`, or `undefined` when their signatures agree.
 */
export const findConflict = (
  existing: SeriesDefinition,
  requested: SeriesDefinition
): ConflictingDefinition | undefined => {
  const conflict = (field: DefinitionField, a: string, b: string) =>
    new ConflictingDefinition({ metric: requested.name, field, existing: a, requested: b })
  if (existing.kind !== requested.kind) {
    return conflict("kind", metricKindName(existing.kind), metricKindName(requested.kind))
  }
  if (existing.help !== requested.help) {
    return conflict("help", JSON.stringify(existing.help), JSON.stringify(requested.help))
  }
  const a = JSON.stringify(labelNamesOf(existing))
  const b = JSON.stringify(labelNamesOf(requested))
  if (a !== b) return conflict("labelNames", a, b)
  const ba = describeBuckets(existing.buckets)
  const bb = describeBuckets(requested.buckets)
  if (ba !== bb) return conflict("buckets", ba, bb)
  return undefined
}

/**
 * `findConflict` for a whole family, where gauges also say how their cores' values combine: a second core (or
 * definition) asking for another aggregation conflicts too. Cores check this for their own definitions, the
 * control plane across cores.
 */
export const findFamilyConflict = (
  existing: SeriesDefinition,
  existingAggregate: GaugeAggregation | undefined,
  requested: SeriesDefinition,
  requestedAggregate: GaugeAggregation | undefined
): ConflictingDefinition | undefined =>
  findConflict(existing, requested) ??
    (existingAggregate === requestedAggregate ? undefined : new ConflictingDefinition({
      metric: requested.name,
      field: "kind",
      existing: `gauge(aggregate: ${existingAggregate})`,
      requested: `gauge(aggregate: ${requestedAggregate})`
    }))

/**
 * Caps on what one series definition may cost a scrape (each bucket line repeats the series' labels). Defaults
 * follow what Prometheus' remote storages accept by default (Cortex / Mimir: label names 1024 bytes, label values
 * 2048 bytes, metadata such as help 1024 bytes); bucket counts and label bytes per series are far beyond what
 * client libraries use (tens of buckets, a few short labels) yet bound a series' page to about a megabyte.
 */
export interface SizeLimits {
  /** Bytes of a metric name (as given, counters with `_total`). */
  readonly maxNameBytes: number
  /** Bytes of one label value (UTF-8). */
  readonly maxLabelValueBytes: number
  /** Bytes of a series' label names and values together (UTF-8). */
  readonly maxLabelsBytes: number
  /** Bytes of a help text (UTF-8). */
  readonly maxHelpBytes: number
  /** Finite bounds of one histogram (the implied `+Inf` not counted). */
  readonly maxHistogramBuckets: number
}

export const defaultSizeLimits: SizeLimits = {
  maxNameBytes: 1024,
  maxLabelValueBytes: 2048,
  maxLabelsBytes: 8192,
  maxHelpBytes: 1024,
  maxHistogramBuckets: 256
}

/** UTF-8 length of a well-formed string, without encoding it (a surrogate pair is 2 + 2). */
export const utf8Length = (s: string): number => {
  let bytes = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    bytes += c < 0x80 ? 1 : c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 2 : 3
  }
  return bytes
}

/** The first size cap `definition` (named `given` by its user) exceeds, or `undefined`. */
export const findSizeProblem = (given: string, definition: SeriesDefinition, limits: SizeLimits): DefinitionTooLarge | undefined => {
  const metric = definition.name
  const over = (what: DefinitionTooLarge["what"], size: number, limit: number) =>
    size > limit ? new DefinitionTooLarge({ metric, what, size, limit }) : undefined
  const name = over("metricName", given.length, limits.maxNameBytes)
  if (name !== undefined) return name
  const help = over("help", utf8Length(definition.help), limits.maxHelpBytes)
  if (help !== undefined) return help
  let labels = 0
  for (const [label, value] of definition.labels) {
    const valueBytes = utf8Length(value)
    const tooLong = over("labelValue", valueBytes, limits.maxLabelValueBytes)
    if (tooLong !== undefined) return tooLong
    labels += label.length + valueBytes
  }
  return over("labels", labels, limits.maxLabelsBytes) ??
    over("buckets", definition.buckets?.length ?? 0, limits.maxHistogramBuckets)
}

/**
 * The name another family already occupies that `definition`'s family would render too (counter `x` renders
 * `x_total`, the family name of counter `x_total_total`), as a `ConflictingDefinition`. `occupied` maps every
 * sample name of the families defined so far to their definition.
 */
export const findSampleClash = (
  occupied: ReadonlyMap<string, SeriesDefinition>,
  definition: SeriesDefinition
): ConflictingDefinition | undefined => {
  for (const sample of familySampleNames(definition)) {
    const other = occupied.get(sample)
    if (other !== undefined && other.name !== definition.name) {
      return new ConflictingDefinition({
        metric: definition.name,
        field: "samples",
        existing: `${metricKindName(other.kind)} family ${JSON.stringify(other.name)} renders ${JSON.stringify(sample)}`,
        requested: `${metricKindName(definition.kind)} family ${JSON.stringify(definition.name)}, which renders it too,`
      })
    }
  }
  return undefined
}

/** Every sample name `definition`'s family renders (see `sampleNames`). */
export const familySampleNames = (definition: SeriesDefinition): ReadonlyArray<string> =>
  sampleNames(definition.name, familyTypeOf(definition.kind))
