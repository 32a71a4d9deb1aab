/**
 * Typed definition errors.
 *
 * They are plain `Error` subclasses (via `Schema.TaggedError`), so worker threads can construct,
 * return or throw them synchronously with `new`, and Effect code can `yield*` them. The `message`
 * is derived from the fields so it always names the offending input.
 */
import { Schema } from "effect"

/** JSON quoting shows empty names and odd characters unambiguously in messages. */
const q = (s: string): string => JSON.stringify(s)

export class InvalidMetricName extends Schema.TaggedError<InvalidMetricName>()("InvalidMetricName", {
  name: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid metric name ${q(this.name)}: ${this.reason}`
  }
}

export class InvalidLabelName extends Schema.TaggedError<InvalidLabelName>()("InvalidLabelName", {
  metric: Schema.String,
  label: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid label name ${q(this.label)} on metric ${q(this.metric)}: ${this.reason}`
  }
}

export const InvalidBucketsReason = Schema.Literals(["empty", "unsorted", "duplicated", "non-finite"])
export type InvalidBucketsReason = typeof InvalidBucketsReason.Type

const bucketsReasonText: Record<InvalidBucketsReason, string> = {
  empty: "no finite bucket bounds were given",
  unsorted: "bucket bounds must be strictly increasing",
  duplicated: "bucket bounds must not repeat",
  "non-finite": "bucket bounds must be finite (only a final +Inf is allowed, and it is implied)"
}

export class InvalidBuckets extends Schema.TaggedError<InvalidBuckets>()("InvalidBuckets", {
  metric: Schema.String,
  // Schema.Number (not Finite): the offending bounds may be NaN or ±Infinity.
  buckets: Schema.Array(Schema.Number),
  reason: InvalidBucketsReason
}) {
  override get message(): string {
    // String() rather than JSON: JSON would print NaN/Infinity as null.
    return `invalid histogram buckets [${this.buckets.map(String).join(", ")}] for metric ${q(this.metric)}: ${
      bucketsReasonText[this.reason]
    }`
  }
}

export const DefinitionField = Schema.Literals(["kind", "help", "buckets", "labelNames"])
export type DefinitionField = typeof DefinitionField.Type

export class ConflictingDefinition extends Schema.TaggedError<ConflictingDefinition>()("ConflictingDefinition", {
  metric: Schema.String,
  field: DefinitionField,
  existing: Schema.String,
  requested: Schema.String
}) {
  override get message(): string {
    return `conflicting definition of metric ${q(this.metric)}: ${this.field} is ${this.existing} but ${this.requested} was requested`
  }
}

export const LimitScope = Schema.Literals(["family", "core", "global"])
export type LimitScope = typeof LimitScope.Type

export class SeriesLimitExceeded extends Schema.TaggedError<SeriesLimitExceeded>()("SeriesLimitExceeded", {
  metric: Schema.String,
  scope: LimitScope,
  limit: Schema.Number
}) {
  override get message(): string {
    return `series limit exceeded for metric ${q(this.metric)}: the ${this.scope} limit of ${this.limit} series is reached`
  }
}

/** Schema of the union, e.g. to revive errors that crossed a thread boundary as plain objects. */
export const DefinitionError = Schema.Union([
  InvalidMetricName,
  InvalidLabelName,
  InvalidBuckets,
  ConflictingDefinition,
  SeriesLimitExceeded
])
export type DefinitionError =
  | InvalidMetricName
  | InvalidLabelName
  | InvalidBuckets
  | ConflictingDefinition
  | SeriesLimitExceeded

/** Synchronous guard, for code that gets `T | DefinitionError` back. */
export const isDefinitionError = (u: unknown): u is DefinitionError =>
  u instanceof InvalidMetricName ||
  u instanceof InvalidLabelName ||
  u instanceof InvalidBuckets ||
  u instanceof ConflictingDefinition ||
  u instanceof SeriesLimitExceeded
