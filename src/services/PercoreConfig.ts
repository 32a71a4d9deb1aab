/**
 * percore's settings, read through Effect `Config` (environment variables by default).
 *
 * | variable | default | why |
 * |---|---|---|
 * | PERCORE_CORES | availableParallelism() - 1, at least 1 | one core per spare CPU; the control plane keeps one |
 * | PERCORE_WORKER | the built-in demo | path of the core module each core runs |
 * | PERCORE_RING_CAPACITY | 65536 samples (1 MiB) | cores publish coalesced updates, ≤ one sample per changed series per flush; 65536 absorbs a drain stalled for seconds with thousands of busy series |
 * | PERCORE_DRAIN_INTERVAL | 10 millis | a value reaches /metrics within ~2 intervals; a drain of idle rings costs microseconds |
 * | PERCORE_FLUSH_INTERVAL | 10 millis | how often a core publishes coalesced updates |
 * | PERCORE_STOP_GRACE | 5 seconds | how long stopping cores get before they are terminated |
 * | PERCORE_MAX_SERIES | 100000 | series the aggregate holds in all |
 * | PERCORE_MAX_SERIES_PER_CORE | 10000 | series one core may define |
 * | PERCORE_MAX_SERIES_PER_FAMILY | 2000 | series one core may define in one family |
 * | PERCORE_INTERN_LOG_BYTES | 4194304 | shared memory for one core's series definitions |
 * | PERCORE_CONTROL_PLANE_NICE | 10 | Linux nice value of the control-plane thread (0–19; 0 leaves it alone), so cores win when CPUs are short (see CoreThreads.ts) |
 */
import { availableParallelism } from "node:os"
import { Config, Duration, Schema } from "effect"

export const PercoreConfig = Config.all({
  cores: Config.Int("PERCORE_CORES").pipe(Config.withDefault(Math.max(1, availableParallelism() - 1))),
  worker: Config.String("PERCORE_WORKER").pipe(Config.withDefault("")),
  ringCapacity: Config.Int("PERCORE_RING_CAPACITY").pipe(Config.withDefault(65_536)),
  drainInterval: Config.Duration("PERCORE_DRAIN_INTERVAL").pipe(Config.withDefault(Duration.millis(10))),
  flushInterval: Config.Duration("PERCORE_FLUSH_INTERVAL").pipe(Config.withDefault(Duration.millis(10))),
  stopGrace: Config.Duration("PERCORE_STOP_GRACE").pipe(Config.withDefault(Duration.seconds(5))),
  maxSeries: Config.Int("PERCORE_MAX_SERIES").pipe(Config.withDefault(100_000)),
  maxSeriesPerCore: Config.Int("PERCORE_MAX_SERIES_PER_CORE").pipe(Config.withDefault(10_000)),
  maxSeriesPerFamily: Config.Int("PERCORE_MAX_SERIES_PER_FAMILY").pipe(Config.withDefault(2_000)),
  internLogBytes: Config.Int("PERCORE_INTERN_LOG_BYTES").pipe(Config.withDefault(4 * 1024 * 1024)),
  controlPlaneNice: Config.schema(
    Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 19 }, { expected: "a nice value from 0 to 19" })),
    "PERCORE_CONTROL_PLANE_NICE"
  ).pipe(Config.withDefault(10))
})

export type PercoreSettings = typeof PercoreConfig extends Config.Config<infer A> ? A : never
