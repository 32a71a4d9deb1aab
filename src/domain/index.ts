export {
  ConflictingDefinition,
  DefinitionTooLarge,
  InvalidBuckets,
  InvalidLabelName,
  InvalidMetricName,
  isDefinitionError,
  SeriesLimitExceeded
} from "./errors.ts"
export * from "./MetricKind.ts"
export * from "./names.ts"
export * from "./schemas.ts"
export * from "./series.ts"
// Reserved by the protocol; re-exported here for the control plane, which imports the domain from this barrel.
export { SelfMetric } from "../protocol/reserved.ts"
