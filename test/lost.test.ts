/**
 * Nothing lost however a thread ends: a percore core stuck after 1,000,003 increments and terminated at stop grace,
 * and threads terminated at random points of flush-heavy loops (mid-flush ones included): exact totals, nothing
 * counted twice.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Layer } from "effect"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Worker } from "node:worker_threads"
import { CoreRuntime } from "../src/core/CoreRuntime.ts"
import { AggregateState } from "../src/engine/AggregateState.ts"
import { CoreChannel } from "../src/engine/CoreChannel.ts"
import { allocateCoreBuffers, Control, defaultCoreSettings } from "../src/protocol/index.ts"
import { Aggregate } from "../src/services/Aggregate.ts"
import { DataPlane } from "../src/services/DataPlane.ts"
import { Percore } from "../src/Percore.ts"
import { until } from "./support/until.ts"

const env = ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} }))

describe("nothing lost", () => {
  // The states a thread can leave when it dies inside a flush, made by hand (a real termination lands in the short
  // window between the publish and the reset of `pending` too rarely for a test to count on it).
  it("a flush interrupted after its publish is not counted twice; one interrupted before it is not lost", () => {
    const aggregate = new AggregateState({ maxSeries: 1000 })
    const buffers = allocateCoreBuffers(0, { ringCapacity: 1024, logBytes: 64 * 1024 }, { ...defaultCoreSettings, flushIntervalMs: 60_000 })
    const runtime = new CoreRuntime(buffers)
    const channel = new CoreChannel(buffers, aggregate)
    const control = new Int32Array(buffers.control)
    const pending = new Float64Array(buffers.coalesce.pending, 0, 1024)
    const dirty = new Uint8Array(buffers.coalesce.dirty, 0, 1024)
    const flushIds = new Int32Array(buffers.coalesce.flushIds, 0, 1024)
    const jobs = runtime.counter("interrupted_total")
    /** What a thread leaves when it dies inside the flush of `value` on `jobs`, before or after the ring published it. */
    const dieInFlush = (value: number, published: boolean) => {
      runtime.flush()
      const base = Atomics.load(control, Control.RECORDED)
      jobs.inc(value)
      if (published) runtime.flush() // its sample is in the ring
      Atomics.store(control, Control.FLUSH_BASE, base)
      Atomics.store(control, Control.FLUSH_COUNT, 1)
      Atomics.store(control, Control.FLUSHING, 1)
      flushIds[0] = jobs.id
      pending[jobs.id] = value
      dirty[jobs.id] = 1
      channel.drain()
      channel.reconcile()
      pending[jobs.id] = 0
      dirty[jobs.id] = 0
      Atomics.store(control, Control.FLUSHING, 0)
    }
    dieInFlush(5, true)
    assert.strictEqual(aggregate.find("interrupted_total")?.value, 5, "published, then killed before the reset: counted once")
    dieInFlush(7, false)
    assert.strictEqual(aggregate.find("interrupted_total")?.value, 12, "killed before the publish: counted from pending")
    runtime.close()
  })

  it.live("a core stuck after 1,000,003 increments, terminated at stop grace, shows 1,000,003 in the final snapshot", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "percore-stuck-"))
      const marker = join(dir, "counted")
      const snapshot = join(dir, "final.om")
      process.env["STUCK_MARKER"] = marker
      let aggregate: AggregateState | undefined
      yield* Effect.gen(function*() {
        aggregate = yield* Aggregate
        yield* until(() => existsSync(marker), "the core counted and got stuck")
      }).pipe(Effect.provide(
        Percore.withOptions({
          cores: 1,
          worker: join(import.meta.dirname, "fixtures/stuck-core.ts"),
          stopGrace: "200 millis",
          flushInterval: "1 hour", // nothing is flushed by time: what is not in the ring is only in `pending`
          finalSnapshot: snapshot,
          controlPlaneNice: 0,
          dashboard: false
        }).services.pipe(Layer.provide(env))
      ))
      assert.strictEqual(aggregate!.find("stuck_jobs_total")?.value, 1_000_003)
      assert.match(readFileSync(snapshot, "utf8"), /^stuck_jobs_total 1000003$/m)
    }))

  it.live("threads terminated at random points of flush-heavy loops: every series exact, none counted twice", () =>
    Effect.gen(function*() {
      const aggregate = yield* Aggregate
      const dataPlane = yield* DataPlane
      const series = 400
      const rounds = 25
      let midFlush = 0
      for (let round = 0; round < rounds; round++) {
        const buffers = yield* dataPlane.allocateCore()
        const progress = new SharedArrayBuffer(4)
        const worker = new Worker(new URL("./fixtures/flush-stress.ts", import.meta.url), {
          workerData: { percore: buffers, progress, series, round }
        })
        const exited = new Promise((resolve) => worker.once("exit", resolve))
        yield* Effect.promise(() => new Promise((resolve) => worker.once("message", resolve)))
        // A random while (not a synchronisation: it only picks the moment of termination); drains go on meanwhile.
        yield* Effect.sleep(Duration.millis(1 + Math.random() * 20))
        yield* Effect.promise(() => worker.terminate())
        yield* Effect.promise(() => exited)
        if (Atomics.load(new Int32Array(buffers.control), Control.FLUSHING) === 1) midFlush++
        yield* dataPlane.releaseCore(buffers)
        const completed = Atomics.load(new Int32Array(progress), 0)
        const values = Array.from({ length: series }, (_, s) => aggregate.find("stress_total", { round: String(round), s: String(s) })?.value ?? 0)
        for (const [s, value] of values.entries()) {
          assert.isAtLeast(value, completed, `round ${round} series ${s}: lost updates`)
          assert.isAtMost(value, completed + 1, `round ${round} series ${s}: counted twice`)
        }
        // Series are incremented in order: the round in progress reached a prefix of them.
        const reached = values.findIndex((v) => v === completed)
        if (reached >= 0) assert.isTrue(values.slice(reached).every((v) => v === completed), `round ${round}: not a prefix`)
      }
      assert.isAbove(midFlush, 0, "some threads were terminated inside a flush")
      assert.strictEqual(aggregate.find("percore_ring_dropped_total", { core: "0" })?.value, 0, "the ring lost nothing")
    }).pipe(Effect.provide(
      Percore.withOptions({ cores: 0, controlPlaneNice: 0, dashboard: false, maxSeries: 100_000, ringCapacity: 1 << 20 }).services.pipe(Layer.provide(env))
    )))
})
