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
  InvalidBuckets,
  InvalidLabelName,
  InvalidMetricName
} from "./errors.ts"
import { type GaugeAggregation, MetricKind, metricKindName } from "./MetricKind.ts"
import { familyBaseName, labelNameProblem } from "./names.ts"

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
export const validateBuckets = (metric: string, buckets: ReadonlyArray<number>): ReadonlyArray<number> | InvalidBuckets => {
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
