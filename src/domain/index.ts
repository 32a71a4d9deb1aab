export * from "./errors.ts"
export * from "./MetricKind.ts"
export * from "./names.ts"
export * from "./series.ts"
