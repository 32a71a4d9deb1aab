/**
 * Schemas of the domain's names and errors, for Effect code on the control plane: validating names where
 * they arrive as data, arbitraries in tests, and reviving definition errors that crossed a thread boundary
 * as plain objects. Cores never load this module (it needs Effect); the rules themselves live in names.ts
 * and errors.ts.
 */
import { Schema, SchemaTransformation } from "effect"
import * as Errors from "./errors.ts"
import { labelNamePattern, metricNamePattern } from "./names.ts"

const notReservedName = Schema.makeFilter<string>(
  (s) => s.startsWith("__") ? "names beginning with \"__\" are reserved" : undefined,
  { expected: "a name not beginning with \"__\"" }
)

/** A user metric name (kind-independent rules). Checked `string`, not branded, for easy interop. */
export const MetricName = Schema.String.check(
  Schema.isPattern(metricNamePattern, { expected: "a Prometheus metric name [a-zA-Z_:][a-zA-Z0-9_:]*" }),
  notReservedName
)
export type MetricName = typeof MetricName.Type

/** A user label name. Checked `string`, not branded. */
export const LabelName = Schema.String.check(
  Schema.isPattern(labelNamePattern, { expected: "a Prometheus label name [a-zA-Z_][a-zA-Z0-9_]*" }),
  notReservedName,
  Schema.makeFilter<string>(
    (s) => s === "le" || s === "quantile" ? `label name "${s}" is reserved for percore's renderer` : undefined,
    { expected: "a label name other than \"le\" and \"quantile\"" }
  )
)
export type LabelName = typeof LabelName.Type

export const InvalidBucketsReason = Schema.Literals(["empty", "unsorted", "duplicated", "non-finite"])
export type InvalidBucketsReason = Errors.InvalidBucketsReason
export const DefinitionField = Schema.Literals(["kind", "help", "buckets", "labelNames", "samples"])
export type DefinitionField = Errors.DefinitionField
export const LimitScope = Schema.Literals(["family", "core", "global"])
export type LimitScope = Errors.LimitScope
export const SizeLimited = Schema.Literals(["metricName", "labelValue", "labels", "help", "buckets"])
export type SizeLimited = Errors.SizeLimited

/** An error class from its tagged plain-data form (`_tag` + fields), and back to it. */
const revive = <F extends Schema.Top, E extends Error>(
  fields: F,
  ErrorClass: new(fields: F["Type"]) => E,
  toFields: (error: E) => F["Type"]
) =>
  fields.pipe(
    Schema.decodeTo(
      Schema.instanceOf(ErrorClass),
      SchemaTransformation.transform({ decode: (data: F["Type"]) => new ErrorClass(data), encode: toFields })
    )
  )

/** Schema of the union, e.g. to revive errors that crossed a thread boundary as plain objects. */
export const DefinitionError = Schema.Union([
  revive(
    Schema.Struct({ _tag: Schema.tag("InvalidMetricName"), name: Schema.String, reason: Schema.String }),
    Errors.InvalidMetricName,
    (e) => ({ _tag: e._tag, name: e.name, reason: e.reason })
  ),
  revive(
    Schema.Struct({ _tag: Schema.tag("InvalidLabelName"), metric: Schema.String, label: Schema.String, reason: Schema.String }),
    Errors.InvalidLabelName,
    (e) => ({ _tag: e._tag, metric: e.metric, label: e.label, reason: e.reason })
  ),
  revive(
    // Schema.Number (not Finite): the offending bounds may be NaN or ±Infinity.
    Schema.Struct({ _tag: Schema.tag("InvalidBuckets"), metric: Schema.String, buckets: Schema.Array(Schema.Number), reason: InvalidBucketsReason }),
    Errors.InvalidBuckets,
    (e) => ({ _tag: e._tag, metric: e.metric, buckets: e.buckets, reason: e.reason })
  ),
  revive(
    Schema.Struct({
      _tag: Schema.tag("ConflictingDefinition"),
      metric: Schema.String,
      field: DefinitionField,
      existing: Schema.String,
      requested: Schema.String
    }),
    Errors.ConflictingDefinition,
    (e) => ({ _tag: e._tag, metric: e.metric, field: e.field, existing: e.existing, requested: e.requested })
  ),
  revive(
    Schema.Struct({ _tag: Schema.tag("SeriesLimitExceeded"), metric: Schema.String, scope: LimitScope, limit: Schema.Number }),
    Errors.SeriesLimitExceeded,
    (e) => ({ _tag: e._tag, metric: e.metric, scope: e.scope, limit: e.limit })
  ),
  revive(
    Schema.Struct({ _tag: Schema.tag("DefinitionTooLarge"), metric: Schema.String, what: SizeLimited, size: Schema.Number, limit: Schema.Number }),
    Errors.DefinitionTooLarge,
    (e) => ({ _tag: e._tag, metric: e.metric, what: e.what, size: e.size, limit: e.limit })
  )
])
export type DefinitionError = Errors.DefinitionError
