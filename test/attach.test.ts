/**
 * Threads that attach themselves: hand-made workers with no `workerData`, the main thread, nested workers.
 * Every ending (return, throw, process.exit(), terminate() of a stuck thread, resourceLimits) keeps exact totals,
 * and `core` slots are reused.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer } from "effect"
import { Worker } from "node:worker_threads"
import { core } from "../src/core/index.ts"
import { Aggregate } from "../src/services/Aggregate.ts"
import { DataPlane } from "../src/services/DataPlane.ts"
import { Freshness } from "../src/services/Freshness.ts"
import { Percore } from "../src/Percore.ts"
import { until } from "./support/until.ts"

const layer = Percore.withOptions({ cores: 0, controlPlaneNice: 0, dashboard: false }).services.pipe(
  Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} })))
)

const fixture = new URL("./fixtures/attach-worker.ts", import.meta.url)

/** Runs a hand-made worker to its end; `terminate`: terminate it once it has counted. */
const runWorker = (count: number, ending: string, options: { terminate?: boolean; resourceLimits?: { maxOldGenerationSizeMb: number } } = {}) =>
  Effect.promise(() =>
    new Promise<number>((resolve) => {
      const worker = new Worker(fixture, { workerData: { count, ending }, stderr: true, ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}) })
      worker.on("error", () => {})
      worker.once("message", () => {
        if (options.terminate === true) void worker.terminate()
      })
      worker.once("exit", resolve)
    })
  )

const ended = (aggregate: Aggregate["Service"]) => aggregate.find("percore_threads_ended_total")?.value ?? 0

describe("attach from any thread", () => {
  it.live("hand-made workers attach with no workerData; every ending keeps exact totals; slots are reused", () =>
    Effect.gen(function*() {
      const aggregate = yield* Aggregate
      const endings: ReadonlyArray<[string, boolean]> = [["return", false], ["throw", false], ["exit", false], ["stuck", true]]
      let expected = 0
      for (const [ending, terminate] of endings) {
        const count = 1_000_003
        yield* runWorker(count, ending, { terminate })
        expected += count
        const before = expected / count
        yield* until(() => ended(aggregate) >= before, `thread ${ending} reported ended`)
        assert.strictEqual(aggregate.find("attach_jobs_total")?.value, expected, `after ending "${ending}"`)
      }
      assert.strictEqual(aggregate.find("attach_sizes")?.count, 4 * 1001)
      assert.strictEqual(aggregate.find("attach_last")?.value, 1_000_000)
      assert.strictEqual(aggregate.find("percore_threads_attached_total")?.value, 4)
      // One thread at a time: all of them used slot 0 (cores: 0), so one `core` label value exists.
      assert.isDefined(aggregate.find("percore_core_up", { core: "0" }))
      assert.isUndefined(aggregate.find("percore_core_up", { core: "1" }))
      assert.strictEqual(aggregate.find("percore_ring_recorded_total", { core: "1" }), undefined)
    }).pipe(Effect.provide(layer)))

  it.live("a worker killed by its resourceLimits loses nothing", () =>
    Effect.gen(function*() {
      const aggregate = yield* Aggregate
      yield* runWorker(500_000, "oom", { resourceLimits: { maxOldGenerationSizeMb: 32 } })
      yield* until(() => ended(aggregate) >= 1, "the OOM thread reported ended")
      assert.strictEqual(aggregate.find("attach_jobs_total")?.value, 500_000)
    }).pipe(Effect.provide(layer)))

  it.live("an attached worker publishes its own runtime metrics under its slot", () =>
    Effect.gen(function*() {
      const aggregate = yield* Aggregate
      const worker = new Worker(fixture, { workerData: { count: 10, ending: "wait" } })
      const exited = new Promise((resolve) => worker.once("exit", resolve))
      yield* until(() => aggregate.find("percore_threads_attached_total")?.value === 1, "the worker attached")
      yield* until(() => (aggregate.find("nodejs_heap_size_used_bytes", { core: "0" })?.value ?? 0) > 0, "the worker's heap figure")
      assert.isAbove(aggregate.find("nodejs_heap_size_total_bytes", { core: "0" })?.value ?? 0, 0)
      worker.postMessage("exit")
      yield* Effect.promise(() => exited)
    }).pipe(Effect.provide(layer)))

  it.live("a worker created by another worker ends with it, and its counts are kept", () =>
    Effect.gen(function*() {
      const aggregate = yield* Aggregate
      yield* runWorker(70_001, "nested", { terminate: true })
      yield* until(() => ended(aggregate) >= 2, "both threads reported ended")
      assert.strictEqual(aggregate.find("attach_jobs_total")?.value, 2 * 70_001)
    }).pipe(Effect.provide(layer)))

  it.live("concurrent threads get distinct slots, at most as many as ran at once", () =>
    Effect.gen(function*() {
      const aggregate = yield* Aggregate
      const dataPlane = yield* DataPlane
      for (let round = 0; round < 3; round++) {
        yield* Effect.all([runWorker(10_000, "return"), runWorker(10_000, "return"), runWorker(10_000, "return")], { concurrency: "unbounded" })
        yield* until(() => ended(aggregate) >= 3 * (round + 1), `round ${round} ended`)
      }
      assert.strictEqual(aggregate.find("attach_jobs_total")?.value, 9 * 10_000)
      assert.isUndefined(aggregate.find("percore_core_up", { core: "3" }))
      assert.deepStrictEqual(dataPlane.cores(), [])
    }).pipe(Effect.provide(layer)))

  it.live("the main thread's own core records into the in-process control plane", () =>
    Effect.gen(function*() {
      const aggregate = yield* Aggregate
      const freshness = yield* Freshness
      core.counter("main_thread_jobs_total", { help: "Jobs done on the main thread" }).inc(7)
      yield* until(() => core.id >= 0, "the main thread attached")
      yield* freshness.refresh("1 second")
      assert.strictEqual(aggregate.find("main_thread_jobs_total")?.value, 7)
    }).pipe(Effect.provide(layer)))
})

describe("no control plane yet", () => {
  it.live("a worker warns once, keeps recording, and attaches when a control plane starts", () =>
    Effect.gen(function*() {
      const worker = new Worker(fixture, { workerData: { count: 250_001, ending: "wait" }, stderr: true })
      let stderr = ""
      worker.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
      const exited = new Promise((resolve) => worker.once("exit", resolve))
      yield* Effect.promise(() => new Promise((resolve) => worker.once("message", resolve)))
      yield* until(() => stderr.includes("PERCORE_NO_CONTROL_PLANE"), "the no-control-plane warning")
      yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(layer)
        const aggregate = Context.get(context, Aggregate)
        yield* until(() => aggregate.find("percore_threads_attached_total")?.value === 1, "the worker attached")
        worker.postMessage("end")
        yield* Effect.promise(() => exited)
        yield* until(() => ended(aggregate) >= 1, "the worker reported ended")
        assert.strictEqual(aggregate.find("attach_jobs_total")?.value, 250_001)
      }))
      assert.strictEqual(stderr.split("PERCORE_NO_CONTROL_PLANE").length - 1, 1, "warned once")
    }))
})
