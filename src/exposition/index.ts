/**
 * Prometheus exposition: the model the Aggregate fills, the text 0.0.4 / OpenMetrics 1.0.0 renderer, and
 * content negotiation for /metrics.
 */
export type { Family, FamilyType, Format, Series } from "./model.ts"
export { ExpositionError, PageLimitExceeded, render, renderBytes, type RenderLimits, type RenderOptions, renderSteps } from "./render.ts"
export { acceptsGzip, contentType, negotiate } from "./negotiate.ts"
export { PageBuffers } from "./bytes.ts"
export { escapeHelp, escapeLabelValue, formatCanonicalFloat, formatGoFloat, formatValue } from "./format.ts"
