/**
 * `percore/ring`: the lock-free per-core sample ring. Plain TypeScript and `Atomics`; no Effect.
 */
export { MAX_CAPACITY, MAX_METRIC_ID, RingReader, RingWriter, type SampleSink, TelemetryRing } from "./TelemetryRing.ts"
export { wallClockMs } from "./clock.ts"
export { MetricKind } from "../domain/MetricKind.ts"
