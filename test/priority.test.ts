/**
 * Scheduling priority, on the real process: the control-plane thread runs at PERCORE_CONTROL_PLANE_NICE while
 * every core — a restarted one included — keeps the priority percore was started with (Linux keeps a nice value
 * per thread and a new thread inherits its creator's, which is why cores are started by a launcher thread).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync } from "node:fs"
import os, { tmpdir } from "node:os"
import { join } from "node:path"
import process from "node:process"
import { threadsOf } from "../bench/support/jitter-proc.ts"
import { type CoreThread, startLauncher } from "../src/threads/CoreThreads.ts"
import { freePort, httpGet, repoRoot, spawnChild, startPercore, waitFor } from "./support/e2e.ts"

/** The nice value this test runs at: what percore's cores must keep. */
const baseNice = os.getPriority(0)

const metricValue = (page: string, series: string): number | undefined => {
  const line = page.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe.runIf(process.platform === "linux")("scheduling priority (Linux)", () => {
  it.live("the control plane runs at nice 10 by default; cores, restarted ones too, keep the normal priority", () =>
    Effect.gen(function*() {
      const { child, base } = yield* startPercore({
        PERCORE_CORES: "2",
        PERCORE_WORKER: "test/fixtures/fault-core.ts",
        FAULT_MODE: "crash-once",
        FAULT_COUNT: "100",
        FAULT_DIR: mkdtempSync(join(tmpdir(), "percore-priority-"))
      })
      const pid = child.process.pid!
      // Both cores crash once and are restarted: the restarted threads are the ones that could inherit.
      yield* waitFor(
        "both cores to be restarted and up",
        Effect.map(httpGet(`${base}/metrics`), (r) => {
          const restarted = [0, 1].every((core) => (metricValue(r.body, `percore_core_restarts_total{core="${core}"}`) ?? 0) >= 1)
          const up = [0, 1].every((core) => metricValue(r.body, `percore_core_up{core="${core}"}`) === 1)
          return restarted && up ? r : undefined
        }),
        { timeoutMs: 20_000, watch: [child] }
      )
      const threads = threadsOf(pid)
      const main = threads.find((t) => t.tid === pid)
      const cores = threads.filter((t) => t.name.startsWith("percore-core"))
      const launcher = threads.find((t) => t.name.startsWith("percore-launch"))
      const described = JSON.stringify(threads)
      assert.strictEqual(main?.nice, Math.max(baseNice, 10), `control-plane thread: ${described}`)
      assert.strictEqual(cores.length, 2, `two live core threads: ${described}`)
      for (const core of cores) assert.strictEqual(core.nice, baseNice, `core thread ${core.tid}: ${described}`)
      assert.strictEqual(launcher?.nice, baseNice, `launcher thread: ${described}`)
      // Still serving, from the lower priority.
      assert.strictEqual((yield* httpGet(`${base}/metrics`)).status, 200)
    }), 40_000)

  it.live("PERCORE_CONTROL_PLANE_NICE=0 leaves every thread alone and starts cores without a launcher", () =>
    Effect.gen(function*() {
      const { child } = yield* startPercore({ PERCORE_CORES: "1", PERCORE_CONTROL_PLANE_NICE: "0" })
      const threads = threadsOf(child.process.pid!)
      const described = JSON.stringify(threads)
      assert.strictEqual(threads.find((t) => t.tid === child.process.pid)?.nice, baseNice, described)
      assert.isTrue(threads.some((t) => t.name.startsWith("percore-core")), described)
      assert.isFalse(threads.some((t) => t.name.startsWith("percore-launch")), described)
    }), 30_000)

  it.live("an out-of-range PERCORE_CONTROL_PLANE_NICE is a clear configuration error and a non-zero exit", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const child = yield* spawnChild("percore", process.execPath, ["src/main.ts"], {
        cwd: repoRoot,
        env: { ...process.env, PERCORE_HOST: "127.0.0.1", PERCORE_PORT: String(port), PERCORE_CONTROL_PLANE_NICE: "25" }
      })
      const exit = yield* Effect.promise(() => child.exit)
      assert.notStrictEqual(exit.code, 0, child.describe())
      assert.include(child.stdout() + child.stderr(), "PERCORE_CONTROL_PLANE_NICE", child.describe())
    }), 30_000)
})

/** Everything a core thread reported until it exited. */
const eventsOf = (thread: CoreThread) =>
  new Promise<{ messages: Array<unknown>; errors: Array<unknown>; code: number }>((resolve) => {
    const messages: Array<unknown> = []
    const errors: Array<unknown> = []
    thread.on("message", (m) => messages.push(m))
    thread.on("error", (e) => errors.push(e))
    thread.on("exit", (code) => resolve({ messages, errors, code }))
  })

describe("the core launcher", () => {
  const entry = new URL("./fixtures/launched-core.ts", import.meta.url)

  it.live("forwards a core's messages, its error and its exit; the core sees the control plane's env at spawn", () =>
    Effect.gen(function*() {
      const spawner = yield* Effect.promise(() => startLauncher())
      yield* Effect.addFinalizer(() => Effect.promise(() => spawner.close()))
      process.env["LAUNCHED_ENV"] = "set after the launcher started"
      process.env["LAUNCHED_MODE"] = "throw"
      const failed = yield* Effect.promise(() => eventsOf(spawner.spawn(entry, { workerData: { n: 1 }, name: "percore-test-core" })))
      assert.deepStrictEqual(failed.messages, [{ type: "hello", data: { n: 1 }, env: "set after the launcher started" }])
      assert.strictEqual(failed.code, 1)
      assert.lengthOf(failed.errors, 1)
      const error = failed.errors[0]
      assert.instanceOf(error, Error)
      assert.strictEqual((error as Error).message, "launched core failing on purpose")
      assert.include((error as Error).stack, "launched-core.ts", "the core's own stack trace")
      process.env["LAUNCHED_MODE"] = "throw-fn" // a thrown non-Error: forwarded as Node describes it
      const uncloneable = yield* Effect.promise(() => eventsOf(spawner.spawn(entry, { workerData: null, name: "percore-test-core" })))
      assert.strictEqual(uncloneable.code, 1)
      assert.strictEqual(uncloneable.errors[0], "[Function (anonymous)]", "what Node reports for a thrown function")
      process.env["LAUNCHED_MODE"] = "return"
      const finished = yield* Effect.promise(() => eventsOf(spawner.spawn(entry, { workerData: 2, name: "percore-test-core" })))
      assert.deepStrictEqual({ code: finished.code, errors: finished.errors.length }, { code: 0, errors: 0 })
    }).pipe(Effect.ensuring(Effect.sync(() => {
      delete process.env["LAUNCHED_ENV"]
      delete process.env["LAUNCHED_MODE"]
    }))), 30_000)

  it.live("terminate() reaches the core through the launcher; once the launcher is gone, cores start directly", () =>
    Effect.gen(function*() {
      const spawner = yield* Effect.promise(() => startLauncher())
      process.env["LAUNCHED_MODE"] = "spin"
      const spinning = spawner.spawn(entry, { workerData: null, name: "percore-test-core" })
      const ended = eventsOf(spinning)
      yield* Effect.sleep("200 millis")
      spinning.terminate()
      assert.strictEqual((yield* Effect.promise(() => ended)).code, 1)
      yield* Effect.promise(() => spawner.close())
      process.env["LAUNCHED_MODE"] = "return"
      const direct = yield* Effect.promise(() => eventsOf(spawner.spawn(entry, { workerData: 3, name: "percore-test-core" })))
      assert.deepStrictEqual({ code: direct.code, messages: direct.messages.length }, { code: 0, messages: 1 })
    }).pipe(Effect.ensuring(Effect.sync(() => void delete process.env["LAUNCHED_MODE"]))), 30_000)
})
