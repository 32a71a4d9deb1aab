/**
 * The `percore` command: the service of `npm start`, with flags. Every flag falls back to its
 * environment variable (and then to the default), so a deployment can mix both.
 */
import { readFileSync } from "node:fs"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { ConfigProvider, Duration, Effect, Layer, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import packageJson from "../package.json" with { type: "json" }
import { Percore } from "./Percore.ts"
import { teardown } from "./teardown.ts"

const DurationInput = Schema.String.pipe(
  Schema.check(Schema.makeFilter((s: string) => Option.isSome(Duration.fromInput(s as Duration.Input)) || `expected a duration such as "10 millis" or "5 seconds", got "${s}"`))
)
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const PortNumber = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))
const NiceValue = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 19 }))

const flags = {
  cores: Flag.Int("cores").pipe(Flag.withSchema(NonNegativeInt), Flag.withDescription("data-plane cores (worker threads) to spawn [PERCORE_CORES]"), Flag.optional),
  host: Flag.String("host").pipe(Flag.withDescription("address to listen on [PERCORE_HOST, default 127.0.0.1]"), Flag.optional),
  port: Flag.Int("port").pipe(Flag.withSchema(PortNumber), Flag.withDescription("port to listen on [PERCORE_PORT, default 9464]"), Flag.optional),
  metricsPath: Flag.String("metrics-path").pipe(Flag.withDescription("path of the metrics endpoint [PERCORE_METRICS_PATH]"), Flag.optional),
  worker: Flag.String("worker").pipe(Flag.withDescription("core module each core runs [PERCORE_WORKER, default: the demo]"), Flag.optional),
  ringCapacity: Flag.Int("ring-capacity").pipe(Flag.withSchema(NonNegativeInt), Flag.withDescription("samples per core ring [PERCORE_RING_CAPACITY]"), Flag.optional),
  drainInterval: Flag.String("drain-interval").pipe(Flag.withSchema(DurationInput), Flag.withDescription("how often rings are drained, e.g. \"10 millis\" [PERCORE_DRAIN_INTERVAL]"), Flag.optional),
  flushInterval: Flag.String("flush-interval").pipe(Flag.withSchema(DurationInput), Flag.withDescription("how often cores publish coalesced updates [PERCORE_FLUSH_INTERVAL]"), Flag.optional),
  controlPlaneNice: Flag.Int("control-plane-nice").pipe(
    Flag.withSchema(NiceValue),
    Flag.withDescription("Linux nice value (0-19) of the control-plane thread; cores keep theirs, 0 turns this off [PERCORE_CONTROL_PLANE_NICE, default 10]"),
    Flag.optional
  ),
  authTokenFile: Flag.File("auth-token-file", { mustExist: true }).pipe(Flag.withDescription("file holding the bearer token required on the metrics path [PERCORE_AUTH_TOKEN]"), Flag.optional)
}

const percore = Command.make("percore", flags, (options) => {
  const overlay: Record<string, string> = {}
  const set = (name: string, value: Option.Option<string | number>) => {
    if (Option.isSome(value)) overlay[name] = String(value.value)
  }
  set("PERCORE_CORES", options.cores)
  set("PERCORE_HOST", options.host)
  set("PERCORE_PORT", options.port)
  set("PERCORE_METRICS_PATH", options.metricsPath)
  set("PERCORE_WORKER", options.worker)
  set("PERCORE_RING_CAPACITY", options.ringCapacity)
  set("PERCORE_DRAIN_INTERVAL", options.drainInterval)
  set("PERCORE_FLUSH_INTERVAL", options.flushInterval)
  set("PERCORE_CONTROL_PLANE_NICE", options.controlPlaneNice)
  set("PERCORE_AUTH_TOKEN", Option.map(options.authTokenFile, (path) => readFileSync(path, "utf8").trim()))
  const env = { ...process.env, ...overlay } as Record<string, string>
  return Layer.launch(Percore.server).pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))))
}).pipe(
  Command.withDescription("Per-core metrics for Node.js worker threads: spawns data-plane cores and serves Prometheus /metrics"),
  Command.withExamples([
    { command: "percore --cores 4 --port 9464", description: "four demo cores, metrics on 127.0.0.1:9464" },
    { command: "percore --worker ./my-core.ts --auth-token-file /run/secrets/metrics-token", description: "your core module, with a bearer token" }
  ])
)

percore.pipe(
  Command.run({ version: packageJson.version }),
  Effect.provide(NodeServices.layer),
  (effect) => NodeRuntime.runMain(effect, { teardown })
)
