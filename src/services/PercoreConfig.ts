/**
 * PercoreConfig — every setting of percore in one typed service, validated at start.
 *
 * The settings, their variables, defaults and the reasons for those defaults are listed once, in README's
 * "Settings" table; each option of `PercoreConfig.layerWith` is named after its variable in camelCase
 * (`PERCORE_DRAIN_INTERVAL` → `drainInterval`).
 *
 * - `PercoreConfig.layer` reads the settings through Effect `Config` (the environment by default, or
 *   whatever `ConfigProvider` the app installs).
 * - `PercoreConfig.layerWith(options)` takes typed options; what they leave out is read as `layer` does.
 *
 * A value that cannot work fails the layer with a `ConfigError` naming the variable (and the option), the
 * expected range and the value given, so percore refuses to start rather than misbehave later. Durations
 * accept `10ms`, `5s`, `1.5s`, `1m`, `2h` as well as Effect's `10 millis`. A relative worker or final
 * snapshot path is resolved against the directory the user started from (`INIT_CWD` when run through npm,
 * which moves to the package root, else the working directory).
 */
import { availableParallelism } from "node:os"
import { isAbsolute, resolve } from "node:path"
import { Config, ConfigProvider, Context, Duration, Effect, Layer, Option, Redacted, Result, Runtime, Schema } from "effect"
import { MAX_CAPACITY } from "../ring/index.ts"

/** Every setting, typed and validated. */
export interface PercoreSettings {
  readonly cores: number
  /** Absolute path of the core module; "" runs the built-in demo. */
  readonly worker: string
  readonly ringCapacity: number
  readonly drainInterval: Duration.Duration
  readonly flushInterval: Duration.Duration
  readonly stopGrace: Duration.Duration
  readonly maxSeries: number
  readonly maxSeriesPerCore: number
  readonly maxSeriesPerFamily: number
  readonly internLogBytes: number
  readonly controlPlaneNice: number
  readonly host: string
  readonly port: number
  readonly metricsPath: string
  readonly scrapeFlushWait: Duration.Duration
  readonly maxScrapesInFlight: number
  readonly authToken: Option.Option<Redacted.Redacted<string>>
  readonly authUser: Option.Option<Redacted.Redacted<string>>
  readonly authPassword: Option.Option<Redacted.Redacted<string>>
  readonly headersTimeout: Duration.Duration
  readonly requestTimeout: Duration.Duration
  readonly keepAliveTimeout: Duration.Duration
  readonly maxHeaderSize: number
  /** Size caps checked when a core defines a series (see `SizeLimits`). */
  readonly maxNameBytes: number
  readonly maxLabelValueBytes: number
  readonly maxLabelsBytes: number
  readonly maxHelpBytes: number
  readonly maxHistogramBuckets: number
  /** A scrape whose page would exceed this many bytes (before gzip) gets 503 instead. */
  readonly maxPageBytes: number
  /** A response that makes no progress for this long is abandoned and its connection closed. */
  readonly sendStallTimeout: Duration.Duration
  /** Absolute path the final OpenMetrics exposition is written to on shutdown, if any. */
  readonly finalSnapshot: Option.Option<string>
  readonly dashboard: boolean
  /** Every thread publishes its runtime metrics (event loop, CPU, heap, GC), and the control plane the process's. */
  readonly runtimeMetrics: boolean
  readonly runtimeMetricsInterval: Duration.Duration
}

/** A duration as `layerWith` takes it: a `Duration`, milliseconds, or a string such as `10ms` or `"5 seconds"`. */
export type DurationOption = Duration.Input | string

/** Typed options for `layerWith`; each one left out is read from the `ConfigProvider`, then defaulted. */
export interface PercoreOptions {
  readonly cores?: number
  readonly worker?: string
  readonly ringCapacity?: number
  readonly drainInterval?: DurationOption
  readonly flushInterval?: DurationOption
  readonly stopGrace?: DurationOption
  readonly maxSeries?: number
  readonly maxSeriesPerCore?: number
  readonly maxSeriesPerFamily?: number
  readonly internLogBytes?: number
  readonly controlPlaneNice?: number
  readonly host?: string
  readonly port?: number
  readonly metricsPath?: string
  readonly scrapeFlushWait?: DurationOption
  readonly maxScrapesInFlight?: number
  readonly authToken?: string | Redacted.Redacted<string>
  readonly authUser?: string | Redacted.Redacted<string>
  readonly authPassword?: string | Redacted.Redacted<string>
  readonly headersTimeout?: DurationOption
  readonly requestTimeout?: DurationOption
  readonly keepAliveTimeout?: DurationOption
  readonly maxHeaderSize?: number
  readonly maxNameBytes?: number
  readonly maxLabelValueBytes?: number
  readonly maxLabelsBytes?: number
  readonly maxHelpBytes?: number
  readonly maxHistogramBuckets?: number
  readonly maxPageBytes?: number
  readonly sendStallTimeout?: DurationOption
  readonly finalSnapshot?: string
  readonly dashboard?: boolean
  readonly runtimeMetrics?: boolean
  readonly runtimeMetricsInterval?: DurationOption
}

/**
 * The least intern log a core can start with: room for a few definitions (percore's own per-core counts live in
 * the control block, not in the log). Below this a core could define next to nothing.
 */
export const MIN_INTERN_LOG_BYTES = 1024
/** Intern log offsets are 32-bit words; 1 GiB is far beyond any sane series count. */
export const MAX_INTERN_LOG_BYTES = 1 << 30
/** The ring's bounds (`TelemetryRing.allocate` rounds a capacity up to a power of two). */
const MIN_RING_CAPACITY = 2

// ---------------------------------------------------------------------------------------------------------
// Values: how one setting is parsed from a string and checked as a typed option

/** Parses or checks a value; a failure is what was expected, e.g. "an integer from 0 to 65535". */
interface Value<A, I> {
  readonly fromString: (raw: string) => Result.Result<A, string>
  readonly fromOption: (input: I) => Result.Result<A, string>
}

const integer = (minimum: number, maximum: number, expected: string): Value<number, number> => {
  const check = (n: number) => Number.isSafeInteger(n) && n >= minimum && n <= maximum ? Result.succeed(n) : Result.fail(expected)
  return {
    fromString: (raw) => /^\s*[+-]?\d+\s*$/.test(raw) ? check(Number(raw)) : Result.fail(expected),
    fromOption: check
  }
}

const NANOS_PER_UNIT: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9, d: 86_400e9 }
const SHORT_DURATION = /^(\d+(?:\.\d+)?|\.\d+)\s*(ns|us|µs|ms|s|m|h|d)$/
const decodeEffectDuration = Schema.decodeUnknownOption(Schema.DurationFromString)

/**
 * A duration as people type it (`10ms`, `250ms`, `1.5s`, `1m`, `2h`) or in Effect's syntax (`10 millis`,
 * `5 seconds`). None for anything else.
 */
export const parseDuration = (raw: string): Option.Option<Duration.Duration> => {
  const text = raw.trim()
  const short = SHORT_DURATION.exec(text)
  if (short !== null) {
    const nanos = Number(short[1]) * NANOS_PER_UNIT[short[2]!]!
    // Whole milliseconds as millis, so the value reads back as people wrote it ("10 millis", not "10000000 nanos").
    return Option.some(nanos % 1e6 === 0 ? Duration.millis(nanos / 1e6) : Duration.nanos(BigInt(Math.round(nanos))))
  }
  return decodeEffectDuration(text)
}

const DURATION_EXAMPLE = `a duration such as 10ms, 5s or "10 millis"`

const duration = (allowZero: boolean): Value<Duration.Duration, DurationOption> => {
  const expected = allowZero ? DURATION_EXAMPLE : `${DURATION_EXAMPLE}, above zero`
  const check = (d: Duration.Duration) => {
    const millis = Duration.toMillis(d)
    return Number.isFinite(millis) && (allowZero ? millis >= 0 : millis > 0) ? Result.succeed(d) : Result.fail(expected)
  }
  const fromString = (raw: string) =>
    Option.match(parseDuration(raw), { onNone: () => Result.fail(DURATION_EXAMPLE), onSome: check })
  return {
    fromString,
    fromOption: (input) =>
      typeof input === "string"
        ? fromString(input)
        : Option.match(Duration.fromInput(input), { onNone: () => Result.fail(DURATION_EXAMPLE), onSome: check })
  }
}

const text = (accepts: (s: string) => boolean, expected: string): Value<string, string> => {
  const check = (s: string) => accepts(s) ? Result.succeed(s) : Result.fail(expected)
  return { fromString: check, fromOption: check }
}

const TRUE = ["true", "yes", "on", "1", "y"]
const FALSE = ["false", "no", "off", "0", "n"]
const flag: Value<boolean, boolean> = {
  fromString: (raw) => {
    const word = raw.trim().toLowerCase()
    return TRUE.includes(word) ? Result.succeed(true) : FALSE.includes(word) ? Result.succeed(false) : Result.fail("true or false")
  },
  fromOption: Result.succeed
}

const secret: Value<Redacted.Redacted<string>, string | Redacted.Redacted<string>> = {
  // Blank counts as empty: a credential of spaces looks set but can never be presented (headers are trimmed).
  fromString: (raw) => raw.trim() === "" ? Result.fail("a non-empty value (unset it to turn this off)") : Result.succeed(Redacted.make(raw)),
  fromOption: (input) => {
    const value = Redacted.isRedacted(input) ? input : Redacted.make(input)
    return Redacted.value(value).trim() === "" ? Result.fail("a non-empty value (leave it out to turn this off)") : Result.succeed(value)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reading: options over the ConfigProvider over defaults

const configError = (message: string) => new Config.ConfigError(new ConfigProvider.SourceError({ message }))

const shown = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (Duration.isDuration(value)) return Duration.format(value)
  return String(value)
}

type OptionName = keyof PercoreOptions

/** How messages name an option: by default its own name; the CLI names its flag (`--drain-interval`). */
export type OptionLabel = (option: OptionName) => string

const ownName: OptionLabel = (option) => option

/** One setting: its variable, how its value is read, its default, and that default as `--help` shows it. */
interface Spec<A, I> {
  readonly variable: string
  readonly value: Value<A, I>
  readonly fallback: () => A
  readonly shownDefault: string
  /** Never shown in messages, and an empty value is refused rather than taken for "unset". */
  readonly secret?: boolean
}

const spec = <A, I>(
  variable: string,
  value: Value<A, I>,
  fallback: () => A,
  shownDefault: string,
  secretValue = false
): Spec<A, I> => ({ variable, value, fallback, shownDefault, secret: secretValue })

/** An optional setting's spec: absent stays None. */
const optional = <A, I>(variable: string, value: Value<A, I>, shownDefault: string, secretValue = false): Spec<Option.Option<A>, I> =>
  spec(
    variable,
    { fromString: (raw) => Result.map(value.fromString(raw), Option.some), fromOption: (input) => Result.map(value.fromOption(input), Option.some) },
    Option.none,
    shownDefault,
    secretValue
  )

const path = text((s) => s.trim() !== "", "a file path")
const seriesCount = integer(1, Number.MAX_SAFE_INTEGER, "a series count of at least 1")

const parsed = <A>(fromString: (raw: string) => Result.Result<A, string>, wrap: (value: A) => PercoreOptions) => (raw: string) =>
  Result.map(fromString(raw), wrap)

type Specs = { readonly [K in OptionName]-?: Spec<PercoreSettings[K], NonNullable<PercoreOptions[K]>> }

/** Every setting, keyed by its option name. */
const specs: Specs = {
  cores: spec("PERCORE_CORES", integer(0, 65_535, "a number of cores, 0 or more"), () => Math.max(1, availableParallelism() - 1), "CPUs - 1, at least 1"),
  worker: spec("PERCORE_WORKER", path, () => "", "the demo"),
  ringCapacity: spec(
    "PERCORE_RING_CAPACITY",
    integer(MIN_RING_CAPACITY, MAX_CAPACITY, `a ring capacity from ${MIN_RING_CAPACITY} to 2^24 (${MAX_CAPACITY}) samples, rounded up to a power of two`),
    () => 65_536,
    "65536"
  ),
  drainInterval: spec("PERCORE_DRAIN_INTERVAL", duration(false), () => Duration.millis(10), "10ms"),
  flushInterval: spec("PERCORE_FLUSH_INTERVAL", duration(false), () => Duration.millis(10), "10ms"),
  stopGrace: spec("PERCORE_STOP_GRACE", duration(true), () => Duration.seconds(5), "5s"),
  maxSeries: spec("PERCORE_MAX_SERIES", seriesCount, () => 100_000, "100000"),
  maxSeriesPerCore: spec("PERCORE_MAX_SERIES_PER_CORE", seriesCount, () => 10_000, "10000"),
  maxSeriesPerFamily: spec("PERCORE_MAX_SERIES_PER_FAMILY", seriesCount, () => 2_000, "2000"),
  internLogBytes: spec(
    "PERCORE_INTERN_LOG_BYTES",
    integer(MIN_INTERN_LOG_BYTES, MAX_INTERN_LOG_BYTES, `at least ${MIN_INTERN_LOG_BYTES} bytes (percore's own per-core definitions need that much) and at most 2^30`),
    () => 4 * 1024 * 1024,
    "4194304"
  ),
  controlPlaneNice: spec("PERCORE_CONTROL_PLANE_NICE", integer(0, 19, "a nice value from 0 to 19"), () => 10, "10"),
  host: spec("PERCORE_HOST", text((s) => s.trim() !== "", "a host name or address"), () => "127.0.0.1", "127.0.0.1"),
  port: spec("PERCORE_PORT", integer(0, 65_535, "a port from 0 to 65535 (0 picks a free one)"), () => 9464, "9464"),
  metricsPath: spec("PERCORE_METRICS_PATH", text((s) => s.startsWith("/"), `a path starting with "/", such as /metrics`), () => "/metrics", "/metrics"),
  scrapeFlushWait: spec("PERCORE_SCRAPE_FLUSH_WAIT", duration(true), () => Duration.millis(100), "100ms"),
  maxScrapesInFlight: spec("PERCORE_MAX_SCRAPES_IN_FLIGHT", integer(1, 1_000_000, "a number of scrapes of at least 1"), () => 8, "8"),
  authToken: optional("PERCORE_AUTH_TOKEN", secret, "none", true),
  authUser: optional("PERCORE_AUTH_USER", secret, "none", true),
  authPassword: optional("PERCORE_AUTH_PASSWORD", secret, "none", true),
  headersTimeout: spec("PERCORE_HEADERS_TIMEOUT", duration(false), () => Duration.seconds(10), "10s"),
  requestTimeout: spec("PERCORE_REQUEST_TIMEOUT", duration(false), () => Duration.seconds(30), "30s"),
  keepAliveTimeout: spec("PERCORE_KEEP_ALIVE_TIMEOUT", duration(false), () => Duration.seconds(30), "30s"),
  // Node takes any size; below 1 KiB ordinary requests get 431, above 16 MiB one request could pin that much.
  maxHeaderSize: spec("PERCORE_MAX_HEADER_SIZE", integer(1024, 1 << 24, "a size from 1024 to 16777216 bytes"), () => 16 * 1024, "16384"),
  // Defaults: see `defaultSizeLimits` (what Cortex / Mimir accept by default); the minimums leave room for
  // ordinary names, labels and help texts, the maximums keep one series' page (labels × buckets) bounded.
  maxNameBytes: spec("PERCORE_MAX_NAME_BYTES", integer(64, 65_536, "a number of bytes from 64 to 65536"), () => 1024, "1024"),
  maxLabelValueBytes: spec("PERCORE_MAX_LABEL_VALUE_BYTES", integer(64, 1 << 20, "a number of bytes from 64 to 1048576"), () => 2048, "2048"),
  maxLabelsBytes: spec("PERCORE_MAX_LABELS_BYTES", integer(64, 1 << 20, "a number of bytes from 64 to 1048576"), () => 8192, "8192"),
  maxHelpBytes: spec("PERCORE_MAX_HELP_BYTES", integer(0, 1 << 20, "a number of bytes from 0 to 1048576"), () => 1024, "1024"),
  maxHistogramBuckets: spec("PERCORE_MAX_HISTOGRAM_BUCKETS", integer(1, 65_536, "a number of buckets from 1 to 65536"), () => 256, "256"),
  // Below 64 KiB percore's own metrics alone would not fit; 2 GiB is the most one buffer may hold.
  maxPageBytes: spec("PERCORE_MAX_PAGE_BYTES", integer(1 << 16, 2 ** 31 - 1, "a number of bytes from 65536 to 2147483647"), () => 256 * 1024 * 1024, "268435456"),
  sendStallTimeout: spec("PERCORE_SEND_STALL_TIMEOUT", duration(false), () => Duration.seconds(5), "5s"),
  finalSnapshot: optional("PERCORE_FINAL_SNAPSHOT", path, "none"),
  dashboard: spec("PERCORE_DASHBOARD", flag, () => true, "true"),
  runtimeMetrics: spec("PERCORE_RUNTIME_METRICS", flag, () => true, "true"),
  runtimeMetricsInterval: spec("PERCORE_RUNTIME_METRICS_INTERVAL", duration(false), () => Duration.seconds(1), "1s")
}

/** A setting's variable and its default as `--help` shows it. */
export const describeSetting = (option: OptionName): { readonly variable: string; readonly shownDefault: string } => specs[option]

/**
 * A setting's value from text (a command-line flag), as options for `layerWith` (`{ port: 9464 }`), or what
 * was expected. `layerWith` checks it again, like any option.
 */
export const optionsFromString: { readonly [K in OptionName]-?: (raw: string) => Result.Result<PercoreOptions, string> } = {
  cores: parsed(specs.cores.value.fromString, (cores) => ({ cores })),
  worker: parsed(specs.worker.value.fromString, (worker) => ({ worker })),
  ringCapacity: parsed(specs.ringCapacity.value.fromString, (ringCapacity) => ({ ringCapacity })),
  drainInterval: parsed(specs.drainInterval.value.fromString, (drainInterval) => ({ drainInterval })),
  flushInterval: parsed(specs.flushInterval.value.fromString, (flushInterval) => ({ flushInterval })),
  stopGrace: parsed(specs.stopGrace.value.fromString, (stopGrace) => ({ stopGrace })),
  maxSeries: parsed(specs.maxSeries.value.fromString, (maxSeries) => ({ maxSeries })),
  maxSeriesPerCore: parsed(specs.maxSeriesPerCore.value.fromString, (maxSeriesPerCore) => ({ maxSeriesPerCore })),
  maxSeriesPerFamily: parsed(specs.maxSeriesPerFamily.value.fromString, (maxSeriesPerFamily) => ({ maxSeriesPerFamily })),
  internLogBytes: parsed(specs.internLogBytes.value.fromString, (internLogBytes) => ({ internLogBytes })),
  controlPlaneNice: parsed(specs.controlPlaneNice.value.fromString, (controlPlaneNice) => ({ controlPlaneNice })),
  host: parsed(specs.host.value.fromString, (host) => ({ host })),
  port: parsed(specs.port.value.fromString, (port) => ({ port })),
  metricsPath: parsed(specs.metricsPath.value.fromString, (metricsPath) => ({ metricsPath })),
  scrapeFlushWait: parsed(specs.scrapeFlushWait.value.fromString, (scrapeFlushWait) => ({ scrapeFlushWait })),
  maxScrapesInFlight: parsed(specs.maxScrapesInFlight.value.fromString, (maxScrapesInFlight) => ({ maxScrapesInFlight })),
  authToken: parsed(secret.fromString, (authToken) => ({ authToken })),
  authUser: parsed(secret.fromString, (authUser) => ({ authUser })),
  authPassword: parsed(secret.fromString, (authPassword) => ({ authPassword })),
  headersTimeout: parsed(specs.headersTimeout.value.fromString, (headersTimeout) => ({ headersTimeout })),
  requestTimeout: parsed(specs.requestTimeout.value.fromString, (requestTimeout) => ({ requestTimeout })),
  keepAliveTimeout: parsed(specs.keepAliveTimeout.value.fromString, (keepAliveTimeout) => ({ keepAliveTimeout })),
  maxHeaderSize: parsed(specs.maxHeaderSize.value.fromString, (maxHeaderSize) => ({ maxHeaderSize })),
  maxNameBytes: parsed(specs.maxNameBytes.value.fromString, (maxNameBytes) => ({ maxNameBytes })),
  maxLabelValueBytes: parsed(specs.maxLabelValueBytes.value.fromString, (maxLabelValueBytes) => ({ maxLabelValueBytes })),
  maxLabelsBytes: parsed(specs.maxLabelsBytes.value.fromString, (maxLabelsBytes) => ({ maxLabelsBytes })),
  maxHelpBytes: parsed(specs.maxHelpBytes.value.fromString, (maxHelpBytes) => ({ maxHelpBytes })),
  maxHistogramBuckets: parsed(specs.maxHistogramBuckets.value.fromString, (maxHistogramBuckets) => ({ maxHistogramBuckets })),
  maxPageBytes: parsed(specs.maxPageBytes.value.fromString, (maxPageBytes) => ({ maxPageBytes })),
  sendStallTimeout: parsed(specs.sendStallTimeout.value.fromString, (sendStallTimeout) => ({ sendStallTimeout })),
  finalSnapshot: parsed(path.fromString, (finalSnapshot) => ({ finalSnapshot })),
  dashboard: parsed(specs.dashboard.value.fromString, (dashboard) => ({ dashboard })),
  runtimeMetrics: parsed(specs.runtimeMetrics.value.fromString, (runtimeMetrics) => ({ runtimeMetrics })),
  runtimeMetricsInterval: parsed(specs.runtimeMetricsInterval.value.fromString, (runtimeMetricsInterval) => ({ runtimeMetricsInterval }))
}

/**
 * One setting: the option when given, else its variable, else its default. Errors name the variable (and the
 * option), say what was expected and show the value, except for secrets.
 */
const setting = <A, I>(
  label: OptionLabel,
  option: OptionName,
  given: I | undefined,
  { fallback, secret: secretValue, value, variable }: Spec<A, I>
): Config.Config<A> => {
  const got = (raw: unknown) => secretValue === true ? "" : `, got ${shown(raw)}`
  if (given !== undefined) {
    return Result.match(value.fromOption(given), {
      onSuccess: (a) => Config.succeed(a),
      onFailure: (expected) => Config.fail(new ConfigProvider.SourceError({ message: `${label(option)} (${variable}): expected ${expected}${got(given)}` }))
    })
  }
  return Config.String(variable).pipe(
    Config.option,
    Config.mapEffect(Option.match({
      onNone: () =>
        secretValue === true
          ? Effect.flatMap(setButEmpty(variable), (empty) =>
            empty
              ? Effect.fail(configError(`${variable} is set but empty: give it a value, or unset it to turn this off`))
              : Effect.succeed(fallback()))
          : Effect.succeed(fallback()),
      onSome: (raw) =>
        Result.match(value.fromString(raw), {
          onSuccess: Effect.succeed,
          onFailure: (expected) => Effect.fail(configError(`${variable}: expected ${expected}${got(raw)}`))
        })
    }))
  )
}

/**
 * True when `variable` is in the environment with an empty value. The environment provider reports an empty
 * value as missing, but still lists the name among its parent's keys (`PERCORE_AUTH` → `TOKEN`). An empty
 * credential must not pass for "no auth configured".
 */
const setButEmpty = (variable: string): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const provider = yield* ConfigProvider.ConfigProvider
    const segments = variable.split("_")
    const name = segments.pop()!
    const parent = yield* provider.load(segments)
    if (parent?._tag !== "Record" || !parent.keys.has(name)) return false
    // A name that only prefixes other variables (`PERCORE_AUTH_TOKEN_FILE`) loads as a Record, not as nothing.
    return (yield* provider.load([...segments, name])) === undefined
  }).pipe(Effect.orElseSucceed(() => false))

/** Where the user started percore: npm runs scripts from the package root and says where it was called in INIT_CWD. */
const startDirectory = Config.String("INIT_CWD").pipe(Config.option, Config.map(Option.getOrElse(() => process.cwd())))

const read = (options: PercoreOptions, label: OptionLabel): Config.Config<PercoreSettings> =>
  Config.all({
    base: startDirectory,
    settings: Config.all({
      cores: setting(label, "cores", options.cores, specs.cores),
      worker: setting(label, "worker", options.worker, specs.worker),
      ringCapacity: setting(label, "ringCapacity", options.ringCapacity, specs.ringCapacity),
      drainInterval: setting(label, "drainInterval", options.drainInterval, specs.drainInterval),
      flushInterval: setting(label, "flushInterval", options.flushInterval, specs.flushInterval),
      stopGrace: setting(label, "stopGrace", options.stopGrace, specs.stopGrace),
      maxSeries: setting(label, "maxSeries", options.maxSeries, specs.maxSeries),
      maxSeriesPerCore: setting(label, "maxSeriesPerCore", options.maxSeriesPerCore, specs.maxSeriesPerCore),
      maxSeriesPerFamily: setting(label, "maxSeriesPerFamily", options.maxSeriesPerFamily, specs.maxSeriesPerFamily),
      internLogBytes: setting(label, "internLogBytes", options.internLogBytes, specs.internLogBytes),
      controlPlaneNice: setting(label, "controlPlaneNice", options.controlPlaneNice, specs.controlPlaneNice),
      host: setting(label, "host", options.host, specs.host),
      port: setting(label, "port", options.port, specs.port),
      metricsPath: setting(label, "metricsPath", options.metricsPath, specs.metricsPath),
      scrapeFlushWait: setting(label, "scrapeFlushWait", options.scrapeFlushWait, specs.scrapeFlushWait),
      maxScrapesInFlight: setting(label, "maxScrapesInFlight", options.maxScrapesInFlight, specs.maxScrapesInFlight),
      authToken: setting(label, "authToken", options.authToken, specs.authToken),
      authUser: setting(label, "authUser", options.authUser, specs.authUser),
      authPassword: setting(label, "authPassword", options.authPassword, specs.authPassword),
      headersTimeout: setting(label, "headersTimeout", options.headersTimeout, specs.headersTimeout),
      requestTimeout: setting(label, "requestTimeout", options.requestTimeout, specs.requestTimeout),
      keepAliveTimeout: setting(label, "keepAliveTimeout", options.keepAliveTimeout, specs.keepAliveTimeout),
      maxHeaderSize: setting(label, "maxHeaderSize", options.maxHeaderSize, specs.maxHeaderSize),
      maxNameBytes: setting(label, "maxNameBytes", options.maxNameBytes, specs.maxNameBytes),
      maxLabelValueBytes: setting(label, "maxLabelValueBytes", options.maxLabelValueBytes, specs.maxLabelValueBytes),
      maxLabelsBytes: setting(label, "maxLabelsBytes", options.maxLabelsBytes, specs.maxLabelsBytes),
      maxHelpBytes: setting(label, "maxHelpBytes", options.maxHelpBytes, specs.maxHelpBytes),
      maxHistogramBuckets: setting(label, "maxHistogramBuckets", options.maxHistogramBuckets, specs.maxHistogramBuckets),
      maxPageBytes: setting(label, "maxPageBytes", options.maxPageBytes, specs.maxPageBytes),
      sendStallTimeout: setting(label, "sendStallTimeout", options.sendStallTimeout, specs.sendStallTimeout),
      finalSnapshot: setting(label, "finalSnapshot", options.finalSnapshot, specs.finalSnapshot),
      dashboard: setting(label, "dashboard", options.dashboard, specs.dashboard),
      runtimeMetrics: setting(label, "runtimeMetrics", options.runtimeMetrics, specs.runtimeMetrics),
      runtimeMetricsInterval: setting(label, "runtimeMetricsInterval", options.runtimeMetricsInterval, specs.runtimeMetricsInterval)
    })
  }).pipe(Config.mapEffect(({ base, settings }) => checkTogether(options, label, resolvePaths(base, settings))))

const resolvePaths = (base: string, settings: PercoreSettings): PercoreSettings => ({
  ...settings,
  worker: settings.worker === "" || isAbsolute(settings.worker) ? settings.worker : resolve(base, settings.worker),
  finalSnapshot: Option.map(settings.finalSnapshot, (file) => resolve(base, file))
})

/** Checks that involve more than one setting. */
const checkTogether = (options: PercoreOptions, label: OptionLabel, settings: PercoreSettings): Effect.Effect<PercoreSettings, Config.ConfigError> => {
  const name = (option: OptionName, variable: string) => options[option] !== undefined ? `${label(option)} (${variable})` : variable
  const user = name("authUser", "PERCORE_AUTH_USER")
  const password = name("authPassword", "PERCORE_AUTH_PASSWORD")
  // Basic auth with half its credentials would leave the metrics open while the operator believes them closed.
  if (Option.isSome(settings.authUser) !== Option.isSome(settings.authPassword)) {
    const [set, unset] = Option.isSome(settings.authUser) ? [user, password] : [password, user]
    return Effect.fail(configError(`${set} is set but ${unset} is not: set both for basic auth, or neither`))
  }
  // Node refuses a headers timeout above the request timeout.
  if (Duration.isGreaterThan(settings.headersTimeout, settings.requestTimeout)) {
    const headers = name("headersTimeout", "PERCORE_HEADERS_TIMEOUT")
    const request = name("requestTimeout", "PERCORE_REQUEST_TIMEOUT")
    const values = `${Duration.format(settings.headersTimeout)} and ${Duration.format(settings.requestTimeout)}`
    return Effect.fail(configError(`${headers} must not exceed ${request}, got ${values}`))
  }
  return Effect.succeed(settings)
}

export class PercoreConfig extends Context.Service<PercoreConfig, PercoreSettings>()("percore/services/PercoreConfig") {
  /** Every setting from the `ConfigProvider` (the environment by default), or its default. */
  static readonly layer: Layer.Layer<PercoreConfig, Config.ConfigError> = Layer.effect(PercoreConfig, Effect.map(read({}, ownName), PercoreConfig.of))

  /**
   * The given options; every setting they leave out as `layer` reads it. `label` names an option in messages
   * (the CLI passes its flags' names).
   */
  static readonly layerWith = (options: PercoreOptions, label: OptionLabel = ownName): Layer.Layer<PercoreConfig, Config.ConfigError> =>
    Layer.effect(PercoreConfig, Effect.map(read(options, label), PercoreConfig.of))
}

/** A `ConfigError`'s own words, without the wrapper's prefix. */
export const describeConfigError = (error: Config.ConfigError): string =>
  error.cause._tag === "SourceError" ? error.cause.message : error.message

/**
 * For a program's main: a `ConfigError` is logged as one line ("percore: PERCORE_PORT: expected …") instead of a
 * stack trace, and the process still exits 1.
 */
export const reportConfigErrors = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.tapError(self, (error) =>
    error instanceof Config.ConfigError
      ? Effect.logError(`percore: ${describeConfigError(error)}`).pipe(
        Effect.andThen(Effect.sync(() => Object.assign(error, { [Runtime.errorReported]: false })))
      )
      : Effect.void)
