#!/usr/bin/env node
/**
 * The `percore` command: the service of `npm start`, with flags. Every flag falls back to its
 * environment variable (and then to the default), so a deployment can mix both. `--help` shows each flag's
 * variable and default; they come from PercoreConfig, which also checks every value.
 *
 * Flag values are read as text and checked here, so a bad one is explained in one line (with an example
 * for durations) instead of under the whole help page. Relative paths start from the directory percore
 * was started in (`INIT_CWD` under npm).
 */
import { readFileSync } from "node:fs"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Data, Effect, Layer, Option, Record, Result, Runtime } from "effect"
import { Command, Flag } from "effect/cli"
import { Percore } from "./Percore.ts"
import { describeSetting, optionsFromString, type PercoreOptions, reportConfigErrors } from "./services/PercoreConfig.ts"
import { teardown } from "./teardown.ts"

/** Each setting's flag: what its value is and what it does. Its name is the option's in kebab-case (`drainInterval` → `--drain-interval`). */
const settingFlags = {
  cores: ["n", "data-plane cores (worker threads) to spawn"],
  worker: ["path", "core module each core runs (relative to where percore was started)"],
  host: ["address", "address to listen on"],
  port: ["port", "port to listen on (0 picks a free one)"],
  metricsPath: ["path", "path of the metrics endpoint"],
  ringCapacity: ["samples", "samples per core ring (rounded up to a power of two)"],
  drainInterval: ["duration", "how often rings are drained, e.g. 10ms"],
  flushInterval: ["duration", "how often cores publish coalesced updates, e.g. 10ms"],
  scrapeFlushWait: ["duration", "how long a scrape waits for cores to flush"],
  stopGrace: ["duration", "how long stopping cores get before they are terminated"],
  maxSeries: ["n", "series the aggregate holds in all"],
  maxSeriesPerCore: ["n", "series one core may define"],
  maxSeriesPerFamily: ["n", "series one core may define in one family"],
  internLogBytes: ["bytes", "shared memory for one core's series definitions"],
  controlPlaneNice: ["0-19", "Linux nice value (0-19) of the control-plane thread; cores keep theirs, 0 turns this off"],
  maxScrapesInFlight: ["n", "scrapes rendering at once; more get 503"],
  headersTimeout: ["duration", "slow clients must send their headers within this"],
  requestTimeout: ["duration", "a whole request must arrive within this"],
  keepAliveTimeout: ["duration", "idle keep-alive connections close after this"],
  maxHeaderSize: ["bytes", "larger request headers get 431"],
  finalSnapshot: ["path", "write the final OpenMetrics exposition to this file on exit"],
  dashboard: ["true|false", "serve the live dashboard at / (true or false)"],
  runtimeMetrics: ["true|false", "publish every thread's runtime metrics (event loop, CPU, heap, GC) and the process's"],
  runtimeMetricsInterval: ["duration", "how often each thread reads its runtime metrics, e.g. 1s"],
  authUser: ["user", "basic-auth user required on the metrics path (with --auth-password-file)"]
} as const satisfies { readonly [K in keyof PercoreOptions]?: readonly [metavar: string, description: string] }

const kebab = (name: string) => name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)

const valueFlags = Record.map(settingFlags, ([metavar, description], option) => {
  const { variable, shownDefault } = describeSetting(option)
  return Flag.String(kebab(option)).pipe(
    Flag.withMetavar(metavar),
    Flag.withDescription(`${description} [${variable}, default ${shownDefault}]`),
    Flag.optional
  )
})

const secretFileFlag = (name: string, variable: string, description: string) =>
  Flag.File(name, { mustExist: true }).pipe(Flag.withDescription(`${description} [${variable}, default none]`), Flag.optional)

const flags = {
  ...valueFlags,
  authTokenFile: secretFileFlag("auth-token-file", "PERCORE_AUTH_TOKEN", "file holding the bearer token required on the metrics path"),
  authPasswordFile: secretFileFlag("auth-password-file", "PERCORE_AUTH_PASSWORD", "file holding the basic-auth password (with --auth-user)")
}

/** Bad flag values, already explained on stderr: exit 2 (a usage error) without a stack trace. */
class InvalidFlags extends Data.TaggedError("InvalidFlags")<{ readonly messages: ReadonlyArray<string> }> {
  override readonly [Runtime.errorReported] = false
  override readonly [Runtime.errorExitCode] = 2
}

/** The package's version, from its package.json (one folder up from both src/ and dist/). */
const version = ((): string => {
  const manifest: unknown = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"))
  return typeof manifest === "object" && manifest !== null && "version" in manifest && typeof manifest.version === "string" ? manifest.version : "unknown"
})()

const readSecret = (path: string) => readFileSync(path, "utf8").trim()

const percore = Command.make("percore", flags, (given) =>
  Effect.gen(function*() {
    let options: PercoreOptions = {}
    const problems: Array<string> = []
    for (const option of Record.keys(settingFlags)) {
      const raw = given[option]
      if (Option.isNone(raw)) continue
      Result.match(optionsFromString[option](raw.value), {
        onSuccess: (parsed) => (options = { ...options, ...parsed }),
        onFailure: (expected) => problems.push(`--${kebab(option)}: expected ${expected}, got ${JSON.stringify(raw.value)}`)
      })
    }
    if (Option.isSome(given.authTokenFile)) options = { ...options, authToken: readSecret(given.authTokenFile.value) }
    if (Option.isSome(given.authPasswordFile)) options = { ...options, authPassword: readSecret(given.authPasswordFile.value) }
    if (problems.length > 0) {
      yield* Console.error([...problems, "(percore --help lists every flag)"].join("\n"))
      return yield* new InvalidFlags({ messages: problems })
    }
    return yield* Layer.launch(Percore.withOptions(options, (option) => `--${kebab(option)}`).server)
  })).pipe(
    Command.withDescription("Per-core metrics for Node.js worker threads: spawns data-plane cores and serves Prometheus /metrics"),
    Command.withExamples([
      { command: "percore --cores 4 --port 9464", description: "four demo cores, metrics on 127.0.0.1:9464" },
      { command: "percore --worker ./my-core.ts --auth-token-file /run/secrets/metrics-token", description: "your core module, with a bearer token" }
    ])
  )

percore.pipe(
  Command.run({ version }),
  reportConfigErrors,
  Effect.provide(NodeServices.layer),
  (effect) => NodeRuntime.runMain(effect, { teardown })
)
