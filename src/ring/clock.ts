/**
 * The rings' clock: wall-clock milliseconds since the Unix epoch. A ring's producer reads it now and then and
 * keeps it in the ring's CLOCK word (see "Timestamps" in TelemetryRing.ts); samples carry that word, modulo
 * 2^32, and the reader unwraps it against its own reading. No thread ticks it.
 */

/** Wall-clock milliseconds since the epoch, comparable across threads (timeOrigin differs per thread). */
export const wallClockMs = (): number => Math.floor(performance.timeOrigin + performance.now())
