/**
 * Logs a person can follow, through real crashing cores and a real process:
 * - every crash is followed by "restarting in <delay>", the delay doubling;
 * - the same definition error at three starts in a row stops the restarts with one line: the core stays
 *   down (percore_core_up 0) and /readyz says why;
 * - a core module that cannot be loaded fails the start as a configuration error naming the setting and the
 *   module (missing file, syntax error, no default-export function), through `DataPlane.loaded`, `startPercore`
 *   and `node src/main.ts` (exit code 1, never "serving");
 * - a stop logs one line with the run's totals and where the final snapshot went.
 */
import { assert, describe, it } from "@effect/vitest"
import { Config, Effect, Exit, Layer, Logger } from "effect"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { AggregateState } from "../src/engine/AggregateState.ts"
import { Aggregate } from "../src/services/Aggregate.ts"
import { DataPlane, GIVE_UP_AFTER } from "../src/services/DataPlane.ts"
import { describeConfigError } from "../src/services/PercoreConfig.ts"
import { PercoreConfigError, startPercore } from "../src/start.ts"
import { getText, repoRoot, startChild, stopChild } from "./support/process.ts"
import { dataPlaneLayer } from "./support/layers.ts"
import { until } from "./support/until.ts"

const percoreLayer = (env: Record<string, string>) => dataPlaneLayer({ PERCORE_WORKER: "test/fixtures/fault-core.ts", ...env })

const valueOf = (aggregate: AggregateState, name: string, labels: Record<string, string> = {}) =>
  aggregate.find(name, labels)?.value ?? 0

/** A logger that keeps each message's text. */
const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ message }) => {
    lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
  })
  return { lines, layer: Logger.layer([logger]) }
}

const LIMIT_ERROR = "SeriesLimitExceeded: series limit exceeded for metric \"fault_limited\": the core limit of 3 series is reached"

describe("restarts", () => {
  it.live("each crash logs \"restarting in <delay>\"; the same definition error 3 starts in a row stops the loop with one line", () =>
    Effect.gen(function*() {
      process.env["FAULT_MODE"] = "series-limit"
      const logs = captureLogs()
      const stays = (line: string) => line.startsWith("percore: core 0 stays down")
      yield* Effect.gen(function*() {
        const aggregate = yield* Aggregate
        const dataPlane = yield* DataPlane
        yield* until(() => logs.lines.some(stays), "the line that stops the restarts", 30_000)
        assert.strictEqual(valueOf(aggregate, "percore_core_crashes_total", { core: "0" }), GIVE_UP_AFTER)
        assert.strictEqual(valueOf(aggregate, "percore_core_restarts_total", { core: "0" }), GIVE_UP_AFTER - 1)
        assert.strictEqual(valueOf(aggregate, "percore_core_up", { core: "0" }), 0)
        const [status] = dataPlane.cores()
        assert.strictEqual(status?.state, "crashed")
        assert.strictEqual(status?.restarts, GIVE_UP_AFTER - 1)
        assert.include(status?.downReason, LIMIT_ERROR)
        assert.isFalse(dataPlane.ready())
      }).pipe(Effect.provide(percoreLayer({ PERCORE_CORES: "1", PERCORE_MAX_SERIES_PER_CORE: "3" }).pipe(Layer.provide(logs.layer))))
      // The core's life in the log (its rate-limited refusal counts, "percore: core 0: …", are another concern).
      const percoreLines = logs.lines.filter((line) => line.startsWith("percore: core 0 ")).map((line) => line.split("\n")[0])
      assert.deepStrictEqual(percoreLines, [
        `percore: core 0 crashed: ${LIMIT_ERROR}`,
        "percore: core 0 restarting in 100ms",
        `percore: core 0 crashed: ${LIMIT_ERROR}`,
        "percore: core 0 restarting in 200ms",
        `percore: core 0 crashed: ${LIMIT_ERROR}`,
        `percore: core 0 stays down after the same ${LIMIT_ERROR} at 3 starts in a row; fix the core module and restart percore`
      ])
    }))

  it.live("a crash that is not a definition error keeps being restarted, and says when", () =>
    Effect.gen(function*() {
      process.env["FAULT_MODE"] = "crash-once"
      process.env["FAULT_COUNT"] = "10"
      process.env["FAULT_DIR"] = mkdtempSync(join(tmpdir(), "percore-restart-"))
      const logs = captureLogs()
      yield* Effect.gen(function*() {
        const dataPlane = yield* DataPlane
        const aggregate = yield* Aggregate
        yield* until(() => valueOf(aggregate, "percore_core_restarts_total", { core: "0" }) >= 1 && dataPlane.ready(), "the restarted core")
      }).pipe(Effect.provide(percoreLayer({ PERCORE_CORES: "1" }).pipe(Layer.provide(logs.layer))))
      // The core's life in the log (its rate-limited refusal counts, "percore: core 0: …", are another concern).
      const percoreLines = logs.lines.filter((line) => line.startsWith("percore: core 0 ")).map((line) => line.split("\n")[0])
      assert.deepStrictEqual(percoreLines, ["percore: core 0 crashed: Error: core 0 failing on purpose", "percore: core 0 restarting in 100ms"])
    }))

  for (
    const [what, worker, reason] of [
      ["a missing file", "test/fixtures/load/missing.mjs", "Cannot find module"],
      ["a syntax error", "test/fixtures/load/syntax-error.mjs", "SyntaxError"],
      ["no default-export function", "test/fixtures/load/no-default.mjs", "no default export that is a function"]
    ] as const
  ) {
    it.live(`a core module that cannot be loaded (${what}) fails DataPlane.loaded with a ConfigError naming the setting and the module`, () =>
      Effect.gen(function*() {
        const logs = captureLogs()
        const exit = yield* Effect.exit(
          Effect.gen(function*() {
            const dataPlane = yield* DataPlane
            yield* dataPlane.loaded
          }).pipe(Effect.provide(percoreLayer({ PERCORE_CORES: "2", PERCORE_WORKER: worker }).pipe(Layer.provide(logs.layer))))
        )
        assert.isTrue(Exit.isFailure(exit), "loaded fails")
        if (Exit.isSuccess(exit)) return
        const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
        assert.isTrue(error !== undefined && error._tag === "Fail" && error.error instanceof Config.ConfigError, "a ConfigError")
        if (error === undefined || error._tag !== "Fail" || !(error.error instanceof Config.ConfigError)) return
        const message = describeConfigError(error.error)
        assert.include(message, `worker (PERCORE_WORKER): cannot load the core module ${join(repoRoot, worker)}: `)
        assert.include(message, reason)
        assert.isFalse(logs.lines.some((line) => line.includes("restarting")), "not a crash loop")
        assert.isTrue(logs.lines.some((line) => line.startsWith(`percore: core 0 stays down: cannot load the core module ${join(repoRoot, worker)}: `)), "one line says why")
      }))
  }

  it("startPercore rejects with a PercoreConfigError for a core module that cannot be loaded, and serves /readyz with the reason a core stays down", async () => {
    const rejected = await startPercore({ cores: 1, port: 0, worker: new URL("./fixtures/load/no-default.mjs", import.meta.url) }).then(
      () => undefined,
      (error: unknown) => error
    )
    assert.instanceOf(rejected, PercoreConfigError)
    assert.include((rejected as PercoreConfigError).message, `worker (PERCORE_WORKER): cannot load the core module ${join(repoRoot, "test/fixtures/load/no-default.mjs")}`)

    process.env["FAULT_MODE"] = "series-limit"
    const percore = await startPercore({ cores: 1, port: 0, host: "127.0.0.1", worker: "test/fixtures/fault-core.ts", maxSeriesPerCore: 3, dashboard: false })
    try {
      assert.match(percore.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
      const readyz = percore.url.replace(/\/metrics$/, "/readyz")
      let answer = await getText(readyz)
      const deadline = Date.now() + 30_000
      while (!answer.body.includes("stays down") && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20))
        answer = await getText(readyz)
      }
      assert.strictEqual(answer.status, 503)
      assert.strictEqual(answer.body, `not ready\ncore 0: crashed (stays down after the same ${LIMIT_ERROR} at 3 starts in a row; fix the core module and restart percore)\n`)
      const metrics = await getText(percore.url)
      assert.include(metrics.body.split("\n"), "percore_core_up{core=\"0\"} 0")
    } finally {
      await percore.close()
    }
  }, 60_000)

  it("node src/main.ts: a missing core module exits 1 at start naming the setting and the module; a stop logs the run's totals and the snapshot's path", async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("PERCORE_")))
    const refused = startChild("percore with a missing worker", process.execPath, ["src/main.ts"], {
      cwd: repoRoot,
      env: { ...env, PERCORE_WORKER: "./nope.ts", PERCORE_PORT: "0", PERCORE_CORES: "1" }
    })
    const refusedExit = await refused.exit
    assert.strictEqual(refusedExit.code, 1, refused.describe())
    const refusedOutput = refused.stdout() + refused.stderr()
    assert.include(refusedOutput, `worker (PERCORE_WORKER): cannot load the core module ${join(repoRoot, "nope.ts")}`)
    assert.notInclude(refusedOutput, "percore: serving")

    const snapshot = join(mkdtempSync(join(tmpdir(), "percore-stop-")), "final.om")
    const child = startChild("percore", process.execPath, ["src/main.ts"], {
      cwd: repoRoot,
      env: { ...env, PERCORE_PORT: "0", PERCORE_CORES: "1", PERCORE_FINAL_SNAPSHOT: snapshot }
    })
    try {
      await child.nextLine((line) => line.includes("percore: serving"), 60_000)
    } finally {
      await stopChild(child, 30_000)
    }
    assert.strictEqual(child.exited()?.code, 0, child.describe())
    assert.isTrue(existsSync(snapshot), "the final snapshot was written")
    const stopped = child.stdout().split("\n").find((line) => line.includes("percore: stopped:"))
    assert.isDefined(stopped, child.describe())
    const [, delivered, dropped] = /percore: stopped: (\d+) samples delivered, (\d+) dropped over the run, \d+ series; final snapshot at (.*)$/.exec(stopped!) ?? []
    assert.isAbove(Number(delivered), 0, stopped)
    assert.strictEqual(dropped, "0", stopped)
    assert.include(stopped, `final snapshot at ${snapshot}`)
    assert.include(readFileSync(snapshot, "utf8"), "# EOF")
  }, 120_000)
})
