/**
 * PercoreConfig: options over the environment over defaults, every impossible value refused at start with
 * its variable named, half-set credentials refused, the duration spellings people type, and relative paths
 * resolved against the directory the user started from.
 */
import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Context, Duration, Effect, Exit, Layer, Option, Redacted } from "effect"
import { join } from "node:path"
import { attachCore, closeCore } from "../src/core/index.ts"
import { Percore } from "../src/Percore.ts"
import { DataPlane } from "../src/services/DataPlane.ts"
import {
  describeConfigError,
  MIN_INTERN_LOG_BYTES,
  parseDuration,
  PercoreConfig,
  type PercoreOptions,
  type PercoreSettings
} from "../src/services/PercoreConfig.ts"

const provider = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromEnv({ env }))

/** The settings `layerWith(options)` gives under `env`, or the ConfigError's message. */
const load = (env: Record<string, string>, options: PercoreOptions = {}) =>
  Effect.gen(function*() {
    return yield* PercoreConfig
  }).pipe(
    Effect.provide(PercoreConfig.layerWith(options).pipe(Layer.provide(provider(env)))),
    Effect.exit,
    Effect.map((exit): PercoreSettings | string => {
      if (Exit.isSuccess(exit)) return exit.value
      const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error
      return error instanceof Config.ConfigError ? describeConfigError(error) : assert.fail(String(exit.cause))
    })
  )

const settings = (env: Record<string, string>, options: PercoreOptions = {}) =>
  Effect.map(load(env, options), (result) => typeof result === "string" ? assert.fail(result) : result)

const refusal = (env: Record<string, string>, options: PercoreOptions = {}) =>
  Effect.map(load(env, options), (result) => typeof result === "string" ? result : assert.fail(`accepted ${JSON.stringify(env)} ${JSON.stringify(options)}`))

describe("PercoreConfig", () => {
  it.effect("options beat the environment, which beats the defaults", () =>
    Effect.gen(function*() {
      const defaults = yield* settings({})
      assert.strictEqual(defaults.port, 9464)
      assert.strictEqual(defaults.metricsPath, "/metrics")
      assert.isTrue(Duration.equals(defaults.drainInterval, Duration.millis(10)))
      assert.isTrue(defaults.dashboard)
      assert.isTrue(Option.isNone(defaults.authToken))
      assert.isTrue(Option.isNone(defaults.finalSnapshot))

      const env = { PERCORE_PORT: "1000", PERCORE_DRAIN_INTERVAL: "20ms", PERCORE_DASHBOARD: "false", PERCORE_CORES: "3" }
      const fromEnv = yield* settings(env)
      assert.strictEqual(fromEnv.port, 1000)
      assert.isTrue(Duration.equals(fromEnv.drainInterval, Duration.millis(20)))
      assert.isFalse(fromEnv.dashboard)

      const fromOptions = yield* settings(env, { port: 2000, drainInterval: "30ms", dashboard: true, authToken: "t0ken" })
      assert.strictEqual(fromOptions.port, 2000)
      assert.isTrue(Duration.equals(fromOptions.drainInterval, Duration.millis(30)))
      assert.isTrue(fromOptions.dashboard)
      assert.strictEqual(Option.map(fromOptions.authToken, Redacted.value).pipe(Option.getOrUndefined), "t0ken")
      assert.strictEqual(fromOptions.cores, 3, "a setting the options leave out is read from the environment")

      // Durations as options: a Duration, milliseconds, or a string.
      const typed = yield* settings({}, { flushInterval: Duration.seconds(2), stopGrace: 250, scrapeFlushWait: "1 second" })
      assert.strictEqual(Duration.toMillis(typed.flushInterval), 2000)
      assert.strictEqual(Duration.toMillis(typed.stopGrace), 250)
      assert.strictEqual(Duration.toMillis(typed.scrapeFlushWait), 1000)
    }))

  it.effect("every impossible value is a ConfigError naming its variable, what was expected and what was given", () =>
    Effect.gen(function*() {
      const cases: Array<[string, string, RegExp]> = [
        ["PERCORE_METRICS_PATH", "metrics", /starting with "\/"/],
        ["PERCORE_PORT", "70000", /0 to 65535/],
        ["PERCORE_PORT", "http", /0 to 65535/],
        ["PERCORE_CORES", "-1", /0 or more/],
        ["PERCORE_CORES", "two", /0 or more/],
        ["PERCORE_RING_CAPACITY", "1", /from 2 to 2\^24/],
        ["PERCORE_RING_CAPACITY", String(2 ** 25), /from 2 to 2\^24/],
        ["PERCORE_DRAIN_INTERVAL", "0ms", /above zero/],
        ["PERCORE_FLUSH_INTERVAL", "0 millis", /above zero/],
        ["PERCORE_STOP_GRACE", "-1s", /a duration such as/],
        ["PERCORE_SCRAPE_FLUSH_WAIT", "soon", /a duration such as/],
        ["PERCORE_HEADERS_TIMEOUT", "0s", /above zero/],
        ["PERCORE_REQUEST_TIMEOUT", "forever", /a duration such as/],
        ["PERCORE_KEEP_ALIVE_TIMEOUT", "0", /a duration such as/],
        ["PERCORE_CONTROL_PLANE_NICE", "20", /0 to 19/],
        ["PERCORE_MAX_SERIES", "0", /at least 1/],
        ["PERCORE_MAX_SERIES_PER_CORE", "0", /at least 1/],
        ["PERCORE_MAX_SERIES_PER_FAMILY", "-5", /at least 1/],
        ["PERCORE_INTERN_LOG_BYTES", "256", new RegExp(`at least ${MIN_INTERN_LOG_BYTES} bytes`)],
        ["PERCORE_MAX_SCRAPES_IN_FLIGHT", "0", /at least 1/],
        ["PERCORE_MAX_HEADER_SIZE", "100", /1024 to 16777216/],
        ["PERCORE_MAX_HEADER_SIZE", String(2 ** 30), /1024 to 16777216/],
        ["PERCORE_DASHBOARD", "maybe", /true or false/]
      ]
      for (const [variable, value, expected] of cases) {
        const message = yield* refusal({ [variable]: value })
        assert.isTrue(message.startsWith(`${variable}: expected `), message)
        assert.match(message, expected, message)
        assert.include(message, `got "${value}"`, message)
      }
      // Node refuses a headers timeout above the request timeout.
      assert.strictEqual(
        yield* refusal({ PERCORE_HEADERS_TIMEOUT: "1m", PERCORE_REQUEST_TIMEOUT: "30s" }),
        "PERCORE_HEADERS_TIMEOUT must not exceed PERCORE_REQUEST_TIMEOUT, got 1m and 30s"
      )
    }))

  it.effect("an option that cannot work names the option and its variable", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* refusal({}, { port: 70000 }), "port (PERCORE_PORT): expected a port from 0 to 65535 (0 picks a free one), got 70000")
      assert.match(yield* refusal({}, { metricsPath: "metrics" }), /^metricsPath \(PERCORE_METRICS_PATH\): expected a path starting with "\/"/)
      assert.match(yield* refusal({}, { drainInterval: "soon" }), /^drainInterval \(PERCORE_DRAIN_INTERVAL\): expected a duration such as 10ms/)
      assert.match(yield* refusal({}, { cores: 1.5 }), /^cores \(PERCORE_CORES\)/)
      assert.match(yield* refusal({}, { internLogBytes: 256 }), new RegExp(`^internLogBytes \\(PERCORE_INTERN_LOG_BYTES\\): expected at least ${MIN_INTERN_LOG_BYTES}`))
      // An option is checked even when the environment holds a valid value.
      assert.match(yield* refusal({ PERCORE_PORT: "9000" }, { port: -1 }), /^port \(PERCORE_PORT\)/)
      // Messages name an option as the caller labels it (the CLI: by its flag).
      const flagLabel = (option: string) => `--${option}`
      const labelled = yield* PercoreConfig.useSync((config) => config).pipe(
        Effect.provide(PercoreConfig.layerWith({ authUser: "admin" }, flagLabel).pipe(Layer.provide(provider({})))),
        Effect.flip
      )
      assert.match(describeConfigError(labelled), /^--authUser \(PERCORE_AUTH_USER\) is set but PERCORE_AUTH_PASSWORD is not/)
    }))

  it.effect("half-set or empty credentials refuse to start, naming the variables and never the secret", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* refusal({ PERCORE_AUTH_USER: "admin" }),
        "PERCORE_AUTH_USER is set but PERCORE_AUTH_PASSWORD is not: set both for basic auth, or neither"
      )
      const passwordOnly = yield* refusal({ PERCORE_AUTH_PASSWORD: "hunter2" })
      assert.strictEqual(passwordOnly, "PERCORE_AUTH_PASSWORD is set but PERCORE_AUTH_USER is not: set both for basic auth, or neither")
      assert.match(yield* refusal({ PERCORE_AUTH_TOKEN: "" }), /^PERCORE_AUTH_TOKEN is set but empty/)
      assert.match(yield* refusal({ PERCORE_AUTH_USER: "", PERCORE_AUTH_PASSWORD: "hunter2" }), /^PERCORE_AUTH_USER is set but empty/)
      assert.match(yield* refusal({ PERCORE_AUTH_USER: "admin", PERCORE_AUTH_PASSWORD: "" }), /^PERCORE_AUTH_PASSWORD is set but empty/)
      // An empty value kept by a provider that preserves empty strings is refused the same way.
      const preserved = yield* Effect.gen(function*() {
        return yield* PercoreConfig
      }).pipe(
        Effect.provide(PercoreConfig.layer.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { PERCORE_AUTH_TOKEN: "" }, preserveEmptyStrings: true }))))),
        Effect.flip
      )
      assert.match(describeConfigError(preserved), /^PERCORE_AUTH_TOKEN: expected a non-empty value/)
      assert.match(yield* refusal({}, { authUser: "admin" }), /^authUser \(PERCORE_AUTH_USER\) is set but PERCORE_AUTH_PASSWORD is not/)
      assert.match(yield* refusal({ PERCORE_AUTH_USER: "admin" }, { authPassword: Redacted.make("") }), /^authPassword \(PERCORE_AUTH_PASSWORD\): expected a non-empty value/)
      assert.match(yield* refusal({}, { authToken: "" }), /^authToken \(PERCORE_AUTH_TOKEN\): expected a non-empty value/)
      for (const message of [passwordOnly, yield* refusal({}, { authPassword: "hunter2" })]) assert.notInclude(message, "hunter2")

      // Complete credentials are accepted; a variable that merely starts with the token's name is not the token.
      const both = yield* settings({ PERCORE_AUTH_USER: "admin", PERCORE_AUTH_PASSWORD: "hunter2" })
      assert.strictEqual(Option.map(both.authUser, Redacted.value).pipe(Option.getOrUndefined), "admin")
      assert.isTrue(Option.isNone((yield* settings({ PERCORE_AUTH_TOKEN_FILE: "/run/secrets/token" })).authToken))
    }))

  it.effect("durations accept the spellings people type as well as Effect's", () =>
    Effect.gen(function*() {
      const spellings: Array<[string, number]> = [
        ["10ms", 10],
        ["250ms", 250],
        ["5s", 5_000],
        ["1.5s", 1_500],
        [".5s", 500],
        ["1m", 60_000],
        ["2h", 7_200_000],
        ["1d", 86_400_000],
        ["500us", 0.5],
        ["10 ms", 10],
        [" 5s ", 5_000],
        ["10 millis", 10],
        ["5 seconds", 5_000],
        ["1 minute", 60_000]
      ]
      for (const [text, millis] of spellings) {
        assert.strictEqual(Option.map(parseDuration(text), Duration.toMillis).pipe(Option.getOrUndefined), millis, text)
        const read = yield* settings({ PERCORE_DRAIN_INTERVAL: text })
        assert.strictEqual(Duration.toMillis(read.drainInterval), millis, text)
      }
      for (const text of ["soon", "10", "ms", "-5s", "10 parsecs", "5sec", "1e3ms", ""]) {
        assert.isTrue(Option.isNone(parseDuration(text)), text)
      }
      for (const text of ["soon", "10", "10 parsecs"]) {
        assert.strictEqual(
          yield* refusal({ PERCORE_FLUSH_INTERVAL: text }),
          `PERCORE_FLUSH_INTERVAL: expected a duration such as 10ms, 5s or "10 millis", got "${text}"`
        )
      }
    }))

  it.effect("relative worker and final snapshot paths resolve against INIT_CWD, else the working directory", () =>
    Effect.gen(function*() {
      const started = join("/", "home", "someone", "project")
      const viaNpm = yield* settings({ INIT_CWD: started, PERCORE_WORKER: "cores/my-core.ts", PERCORE_FINAL_SNAPSHOT: "out/final.om" })
      assert.strictEqual(viaNpm.worker, join(started, "cores", "my-core.ts"))
      assert.strictEqual(Option.getOrUndefined(viaNpm.finalSnapshot), join(started, "out", "final.om"))

      const direct = yield* settings({ PERCORE_WORKER: "my-core.ts", PERCORE_FINAL_SNAPSHOT: "final.om" })
      assert.strictEqual(direct.worker, join(process.cwd(), "my-core.ts"))
      assert.strictEqual(Option.getOrUndefined(direct.finalSnapshot), join(process.cwd(), "final.om"))

      const absolute = yield* settings({ INIT_CWD: started, PERCORE_WORKER: "/opt/core.ts" })
      assert.strictEqual(absolute.worker, "/opt/core.ts")
      assert.strictEqual((yield* settings({ INIT_CWD: started })).worker, "", "no worker: the demo")
      assert.strictEqual((yield* settings({ INIT_CWD: started }, { worker: "./w.ts" })).worker, join(started, "w.ts"))
    }))

  it.effect("the least intern log the settings accept holds a core's own definitions", () =>
    Effect.gen(function*() {
      const dataPlane = yield* DataPlane
      const buffers = yield* dataPlane.allocateCore()
      assert.strictEqual(buffers.log.byteLength, MIN_INTERN_LOG_BYTES)
      // Defining percore's own per-core series happens when a core attaches; it throws if they do not fit.
      attachCore(buffers)
      closeCore()
    }).pipe(Effect.provide(
      Percore.withOptions({ cores: 0, internLogBytes: MIN_INTERN_LOG_BYTES, controlPlaneNice: 0, dashboard: false }).services.pipe(
        Layer.provide(provider({}))
      )
    )))

  it.effect("Percore's Layers provide PercoreConfig: from the environment, or from Percore.withOptions", () =>
    Effect.gen(function*() {
      const fromEnv = yield* Layer.build(Percore.services.pipe(Layer.provide(provider({ PERCORE_CORES: "0", PERCORE_CONTROL_PLANE_NICE: "0", PERCORE_METRICS_PATH: "/env" }))))
      assert.strictEqual(Context.get(fromEnv, PercoreConfig).metricsPath, "/env")
      const withOptions = yield* Layer.build(
        Percore.withOptions({ cores: 0, controlPlaneNice: 0, metricsPath: "/options" }).services.pipe(Layer.provide(provider({ PERCORE_METRICS_PATH: "/env" })))
      )
      assert.strictEqual(Context.get(withOptions, PercoreConfig).metricsPath, "/options")
      const refused = yield* Layer.build(Percore.services.pipe(Layer.provide(provider({ PERCORE_METRICS_PATH: "metrics" })))).pipe(Effect.flip)
      assert.match(describeConfigError(refused), /^PERCORE_METRICS_PATH: expected a path starting with "\/"/)
    }))
})
