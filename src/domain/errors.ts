/**
 * Typed definition errors.
 *
 * Plain `Error` subclasses with a readonly `_tag`, no Effect: cores construct and throw them synchronously
 * (`percore/core` loads nothing from Effect), and Effect code fails with them (`Effect.fail`) and matches on
 * `_tag` (`Effect.catchTag`). The `message` is derived from the fields so it always names the offending input;
 * an error's `name` is its tag (except `InvalidMetricName`, whose `name` field is the offending name), so
 * `String(error)` and the first line of its stack read `SeriesLimitExceeded: series limit exceeded …`.
 * `errorSchemas.ts` revives them from plain data on the control plane.
 */

/** JSON quoting shows empty names and odd characters unambiguously in messages. */
const q = (s: string): string => JSON.stringify(s)

export class InvalidMetricName extends Error {
  static {
    Object.defineProperty(this.prototype, "name", { value: "InvalidMetricName", writable: true, configurable: true })
  }
  readonly _tag = "InvalidMetricName" as const
  /** The offending metric name (it shadows `Error.name`, as the field always did). */
  declare readonly name: string
  readonly reason: string
  constructor(fields: { readonly name: string; readonly reason: string }) {
    super(`invalid metric name ${q(fields.name)}: ${fields.reason}`)
    Object.defineProperty(this, "name", { value: fields.name, enumerable: true, writable: false, configurable: true })
    this.reason = fields.reason
  }
}

export class InvalidLabelName extends Error {
  static {
    this.prototype.name = "InvalidLabelName"
  }
  readonly _tag = "InvalidLabelName" as const
  readonly metric: string
  readonly label: string
  readonly reason: string
  constructor(fields: { readonly metric: string; readonly label: string; readonly reason: string }) {
    super(`invalid label name ${q(fields.label)} on metric ${q(fields.metric)}: ${fields.reason}`)
    this.metric = fields.metric
    this.label = fields.label
    this.reason = fields.reason
  }
}

export type InvalidBucketsReason = "empty" | "unsorted" | "duplicated" | "non-finite"

const bucketsReasonText: Record<InvalidBucketsReason, string> = {
  empty: "no finite bucket bounds were given",
  unsorted: "bucket bounds must be strictly increasing",
  duplicated: "bucket bounds must not repeat",
  "non-finite": "bucket bounds must be finite (only a final +Inf is allowed, and it is implied)"
}

export class InvalidBuckets extends Error {
  static {
    this.prototype.name = "InvalidBuckets"
  }
  readonly _tag = "InvalidBuckets" as const
  readonly metric: string
  /** The offending bounds; they may be NaN or ±Infinity. */
  readonly buckets: ReadonlyArray<number>
  readonly reason: InvalidBucketsReason
  constructor(fields: { readonly metric: string; readonly buckets: ReadonlyArray<number>; readonly reason: InvalidBucketsReason }) {
    // String() rather than JSON: JSON would print NaN/Infinity as null.
    super(`invalid histogram buckets [${fields.buckets.map(String).join(", ")}] for metric ${q(fields.metric)}: ${
      bucketsReasonText[fields.reason]
    }`)
    this.metric = fields.metric
    this.buckets = fields.buckets
    this.reason = fields.reason
  }
}

/** `samples`: the two families' sample names collide (e.g. counter `x` and counter `x_total_total` both render `x_total`). */
export type DefinitionField = "kind" | "help" | "buckets" | "labelNames" | "samples"

export class ConflictingDefinition extends Error {
  static {
    this.prototype.name = "ConflictingDefinition"
  }
  readonly _tag = "ConflictingDefinition" as const
  readonly metric: string
  readonly field: DefinitionField
  readonly existing: string
  readonly requested: string
  constructor(fields: { readonly metric: string; readonly field: DefinitionField; readonly existing: string; readonly requested: string }) {
    super(`conflicting definition of metric ${q(fields.metric)}: ${fields.field} is ${fields.existing} but ${fields.requested} was requested`)
    this.metric = fields.metric
    this.field = fields.field
    this.existing = fields.existing
    this.requested = fields.requested
  }
}

export type LimitScope = "family" | "core" | "global"

export class SeriesLimitExceeded extends Error {
  static {
    this.prototype.name = "SeriesLimitExceeded"
  }
  readonly _tag = "SeriesLimitExceeded" as const
  readonly metric: string
  readonly scope: LimitScope
  readonly limit: number
  constructor(fields: { readonly metric: string; readonly scope: LimitScope; readonly limit: number }) {
    super(`series limit exceeded for metric ${q(fields.metric)}: the ${fields.scope} limit of ${fields.limit} series is reached`)
    this.metric = fields.metric
    this.scope = fields.scope
    this.limit = fields.limit
  }
}

/** What a size cap measures: bytes of UTF-8 text, or (for `buckets`) bounds of one histogram. */
export type SizeLimited = "metricName" | "labelValue" | "labels" | "help" | "buckets"

const sizeLimitedText: Record<SizeLimited, string> = {
  metricName: "metric name bytes",
  labelValue: "label value bytes",
  labels: "label bytes (names and values) of one series",
  help: "help text bytes",
  buckets: "buckets of one histogram"
}

/**
 * A definition over one of the size caps (`PERCORE_MAX_*`). The caps bound what one series can cost a scrape:
 * every bucket line repeats the series' labels, so an unbounded label or bucket count multiplies into the page.
 */
export class DefinitionTooLarge extends Error {
  static {
    this.prototype.name = "DefinitionTooLarge"
  }
  readonly _tag = "DefinitionTooLarge" as const
  readonly metric: string
  readonly what: SizeLimited
  readonly size: number
  readonly limit: number
  constructor(fields: { readonly metric: string; readonly what: SizeLimited; readonly size: number; readonly limit: number }) {
    super(`definition of metric ${q(fields.metric)} too large: ${fields.size} ${sizeLimitedText[fields.what]}, the limit is ${fields.limit}`)
    this.metric = fields.metric
    this.what = fields.what
    this.size = fields.size
    this.limit = fields.limit
  }
}

export type DefinitionError =
  | InvalidMetricName
  | InvalidLabelName
  | InvalidBuckets
  | ConflictingDefinition
  | SeriesLimitExceeded
  | DefinitionTooLarge

/** Synchronous guard, for code that gets `T | DefinitionError` back. */
export const isDefinitionError = (u: unknown): u is DefinitionError =>
  u instanceof InvalidMetricName ||
  u instanceof InvalidLabelName ||
  u instanceof InvalidBuckets ||
  u instanceof ConflictingDefinition ||
  u instanceof SeriesLimitExceeded ||
  u instanceof DefinitionTooLarge
