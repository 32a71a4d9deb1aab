/**
 * `percore`: the control plane's services and ready-made Layers. Inside a core use `percore/core`;
 * the raw ring is `percore/ring`.
 */
export { Percore } from "./Percore.ts"
export { Aggregate } from "./services/Aggregate.ts"
export { AggregateState } from "./engine/AggregateState.ts"
export { CoreCrashed, type CoreState, type CoreStatus, DataPlane } from "./services/DataPlane.ts"
export { type DrainReport, Drainer } from "./services/Drainer.ts"
export { Freshness, type Refreshed } from "./services/Freshness.ts"
export { HttpConfig, MetricsHttp } from "./http/MetricsHttp.ts"
export { type PercoreOptions, PercoreConfig, type PercoreSettings } from "./services/PercoreConfig.ts"
export type { CoreBuffers, CoreSettings } from "./protocol/index.ts"
export { WireKind } from "./protocol/index.ts"
export * from "./domain/index.ts"
export { PercoreConfigError, PercoreStartError, type RunningPercore, startPercore, type StartOptions } from "./start.ts"
