/**
 * Prometheus naming rules.
 *
 * - metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`; label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
 * - Names starting with `__` are reserved for Prometheus' internal use (metric and label).
 * - Label names `le` and `quantile` are reserved: percore's renderer emits them itself.
 * - Suffixes that OpenMetrics appends to sample names are rejected where they would make a family
 *   ambiguous (see {@link familyBaseName}).
 *
 * The plain predicates are char-code loops so that non-Effect code (worker threads) can use them
 * without Schema machinery; the Schemas in schemas.ts carry the same rules for Effect code and for arbitraries.
 */
import type { FamilyType } from "../exposition/model.ts"
import { InvalidMetricName } from "./errors.ts"
import { MetricKind } from "./MetricKind.ts"

export const metricNamePattern: RegExp = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
export const labelNamePattern: RegExp = /^[a-zA-Z_][a-zA-Z0-9_]*$/

// [a-zA-Z_], plus ':' when `colon` (metric names only).
const isNameStart = (c: number, colon: boolean): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || (colon && c === 58)

const isNameChar = (c: number, colon: boolean): boolean => isNameStart(c, colon) || (c >= 48 && c <= 57)

const matchesSyntax = (s: string, colon: boolean): boolean => {
  const n = s.length
  if (n === 0 || !isNameStart(s.charCodeAt(0), colon)) return false
  for (let i = 1; i < n; i++) {
    if (!isNameChar(s.charCodeAt(i), colon)) return false
  }
  return true
}

/** Syntax only: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
export const isMetricNameSyntax = (name: string): boolean => matchesSyntax(name, true)

/** Syntax only: `[a-zA-Z_][a-zA-Z0-9_]*`. */
export const isLabelNameSyntax = (name: string): boolean => matchesSyntax(name, false)

const isDoubleUnderscore = (s: string): boolean => s.charCodeAt(0) === 95 && s.charCodeAt(1) === 95

/** Why `name` cannot be a metric name (kind-independent rules), or `undefined` if it can. */
export const metricNameProblem = (name: string): string | undefined =>
  name.length === 0
    ? "must not be empty"
    : !isMetricNameSyntax(name)
    ? "must match [a-zA-Z_:][a-zA-Z0-9_:]*"
    : isDoubleUnderscore(name)
    ? "names beginning with \"__\" are reserved"
    : undefined

/** Why `label` cannot be a user label name, or `undefined` if it can. */
export const labelNameProblem = (label: string): string | undefined =>
  label.length === 0
    ? "must not be empty"
    : !isLabelNameSyntax(label)
    ? "must match [a-zA-Z_][a-zA-Z0-9_]*"
    : isDoubleUnderscore(label)
    ? "label names beginning with \"__\" are reserved"
    : label === "le" || label === "quantile"
    ? `label name "${label}" is reserved for percore's renderer`
    : undefined

/** Valid syntax and not reserved (kind-specific suffix rules are in {@link familyBaseName}). */
export const isValidMetricName = (name: string): boolean => isMetricNameSyntax(name) && !isDoubleUnderscore(name)

/** Valid syntax and not reserved (`__*`, `le`, `quantile`). */
export const isValidLabelName = (label: string): boolean =>
  isLabelNameSyntax(label) && !isDoubleUnderscore(label) && label !== "le" && label !== "quantile"

const TOTAL = "_total"

/**
 * The one `_total` rule, family side: a counter's family name is its name without one trailing `_total`
 * (`x_total` → `x`, `x` → `x`). `"_total"` alone gives `""`; callers decide what an empty family means.
 */
export const counterFamilyName = (name: string): string => name.endsWith(TOTAL) ? name.slice(0, -TOTAL.length) : name

/** The one `_total` rule, sample side: the sample name of a counter family (`x` → `x_total`). */
export const counterSampleName = (family: string): string => family + TOTAL

/**
 * Every sample and metadata name a family of this name and type occupies in either format (OpenMetrics
 * adds `_created` to counters, histograms and summaries). Two families may never share one of these; the
 * renderer and the Effect-metric bridge both check collisions against this list. `name` is the family
 * name (counters without `_total`).
 */
export const sampleNames = (name: string, type: FamilyType): ReadonlyArray<string> => {
  switch (type) {
    case "counter":
      return [name, counterSampleName(name), `${name}_created`]
    case "histogram":
      return [name, `${name}_bucket`, `${name}_sum`, `${name}_count`, `${name}_created`]
    case "summary":
      return [name, `${name}_sum`, `${name}_count`, `${name}_created`]
    case "gauge":
    case "unknown":
      return [name]
  }
}

/**
 * Family name (OpenMetrics `# TYPE` name) and sample name (text 0.0.4 name, OpenMetrics
 * counter sample) of a metric.
 */
export interface FamilyNames {
  readonly family: string
  readonly sample: string
}

const counterForbiddenSuffixes = ["_bucket", "_count", "_sum", "_created", "_info"] as const
const otherForbiddenSuffixes = ["_total", "_bucket", "_count", "_sum", "_created"] as const

const forbiddenSuffix = (name: string, suffixes: ReadonlyArray<string>): string | undefined => {
  for (const suffix of suffixes) {
    if (name.endsWith(suffix)) return suffix
  }
  return undefined
}

/**
 * Validates `name` for `kind` and splits it into family and sample names.
 *
 * Counters: `x` and `x_total` both give `{ family: "x", sample: "x_total" }` (text 0.0.4 treats
 * `_total` as part of the name, OpenMetrics wants it off the family). Gauges and histograms keep
 * their name as both. Suffixes OpenMetrics appends to samples are rejected so that two families
 * can never render the same sample name.
 */
export const familyBaseName = (name: string, kind: MetricKind): FamilyNames | InvalidMetricName => {
  const problem = metricNameProblem(name)
  if (problem !== undefined) return new InvalidMetricName({ name, reason: problem })
  if (kind === MetricKind.Counter) {
    const family = counterFamilyName(name)
    // Checked on the family so that `x_sum_total` is rejected like `x_sum`.
    const suffix = forbiddenSuffix(family, counterForbiddenSuffixes)
    if (suffix !== undefined) {
      return new InvalidMetricName({ name, reason: `counter names must not end in "${suffix}"` })
    }
    // e.g. "_total" alone leaves an empty family.
    const familyProblem = metricNameProblem(family)
    if (familyProblem !== undefined) {
      return new InvalidMetricName({ name, reason: `family name ${JSON.stringify(family)} ${familyProblem}` })
    }
    return { family, sample: counterSampleName(family) }
  }
  if (kind === MetricKind.Gauge || kind === MetricKind.Histogram) {
    const suffix = forbiddenSuffix(name, otherForbiddenSuffixes)
    if (suffix !== undefined) {
      const kindName = kind === MetricKind.Gauge ? "gauge" : "histogram"
      return new InvalidMetricName({ name, reason: `${kindName} names must not end in "${suffix}"` })
    }
    return { family: name, sample: name }
  }
  // Only reachable from untyped callers (e.g. a kind number that came through a message).
  return new InvalidMetricName({ name, reason: `unknown metric kind ${String(kind)}` })
}
