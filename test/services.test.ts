/**
 * The control-plane services: the Drainer's schedule under TestClock, and DataPlane + Drainer +
 * Aggregate with real worker threads.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Worker } from "node:worker_threads"
import { allocateCoreBuffers, Control, defaultCoreSettings } from "../src/protocol/index.ts"
import { CoreRuntime } from "../src/core/CoreRuntime.ts"
import { Aggregate } from "../src/services/Aggregate.ts"
import type { AggregateState } from "../src/engine/AggregateState.ts"
import { CoreChannel } from "../src/engine/CoreChannel.ts"
import { DataPlane } from "../src/services/DataPlane.ts"
import { Drainer } from "../src/services/Drainer.ts"
import { Freshness } from "../src/services/Freshness.ts"
import { MetricsHttp } from "../src/http/MetricsHttp.ts"
import { aggregateLayer } from "./support/layers.ts"
import { until } from "./support/until.ts"
import { renderBytes } from "../src/exposition/index.ts"

// In-process layers keep this test process at its priority (PERCORE_CONTROL_PLANE_NICE=0): lowering it would slow
// this file against the other test files sharing the machine. The default is tested on real processes
// (test/priority.test.ts) and in test/faults.test.ts.
const drainerLayer = (env: Record<string, string>) => Drainer.layer.pipe(Layer.provideMerge(aggregateLayer(env)))

const percoreLayer = (env: Record<string, string>) => DataPlane.layer.pipe(Layer.provideMerge(drainerLayer(env)))

/** A core living in this thread (a host-created core, attached by hand), and its channel. */
const localCore = (aggregate: AggregateState, coreId: number) => {
  const buffers = allocateCoreBuffers(coreId, { ringCapacity: 1024, logBytes: 64 * 1024 }, { ...defaultCoreSettings, flushIntervalMs: 60_000 })
  return { runtime: new CoreRuntime(buffers), channel: new CoreChannel(buffers, aggregate) }
}

/** A Drainer draining every 10 ms in a scope of its own (closed by the test), with one local core registered. */
const drainerWithLocalCore = Effect.fnUntraced(function*(counterName: string) {
  const scope = yield* Scope.make()
  const context = yield* Layer.buildWithScope(drainerLayer({ PERCORE_DRAIN_INTERVAL: "10 millis" }), scope)
  const drainer = Context.get(context, Drainer)
  const aggregate = Context.get(context, Aggregate)
  const { runtime, channel } = localCore(aggregate, 0)
  yield* drainer.register(channel)
  const counter = runtime.counter(counterName)
  yield* Effect.yieldNow
  return { scope, drainer, aggregate, runtime, counter }
})

describe("Drainer (TestClock)", () => {
  it.effect("drains on schedule, drains once more when its scope closes, then never again", () =>
    Effect.gen(function*() {
      const { scope, drainer, aggregate, runtime, counter } = yield* drainerWithLocalCore("ticks_total")
      const initial = drainer.drains()
      counter.inc(3)
      runtime.flush()
      yield* TestClock.adjust("5 millis")
      assert.strictEqual(drainer.drains(), initial, "no drain before the interval has passed")
      assert.isUndefined(aggregate.find("ticks_total"), "not drained yet: the control plane has not read the series")
      yield* TestClock.adjust("5 millis")
      assert.strictEqual(drainer.drains(), initial + 1)
      assert.strictEqual(aggregate.find("ticks_total")?.value, 3)
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(drainer.drains(), initial + 11)
      counter.inc(4)
      runtime.flush()
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(aggregate.find("ticks_total")?.value, 7, "the final drain took what was published before the close")
      const afterClose = drainer.drains()
      yield* TestClock.adjust("1 second")
      assert.strictEqual(drainer.drains(), afterClose, "the drain fiber stopped with its scope")
      runtime.close()
    }))

  it.effect("an idle drainer backs off to one drain a second, and the first delivery brings the interval back", () =>
    Effect.gen(function*() {
      const { scope, drainer, aggregate, runtime, counter } = yield* drainerWithLocalCore("idle_ticks_total")
      const start = drainer.drains()
      yield* TestClock.adjust("1 second")
      assert.strictEqual(drainer.drains() - start, 100, "a second of empty drains at the interval")
      const idle = drainer.drains()
      yield* TestClock.adjust("20 seconds")
      const backedOff = drainer.drains() - idle
      assert.isAtMost(backedOff, 30, "backed off: about one drain a second, not 2000")
      assert.isAtLeast(backedOff, 15, "still drains about once a second")
      counter.inc(5)
      runtime.flush()
      yield* TestClock.adjust("1 second")
      assert.strictEqual(aggregate.find("idle_ticks_total")?.value, 5, "a delivery within the longest delay")
      const delivered = drainer.drains()
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(drainer.drains() - delivered, 10, "back at the interval after a delivery")
      yield* Scope.close(scope, Exit.void)
      runtime.close()
    }))

  it.effect("concurrent on-demand, scheduled and final drains never consume a ring twice", () =>
    Effect.gen(function*() {
      const drainer = yield* Drainer
      const aggregate = yield* Aggregate
      const cores = [0, 1, 2].map((id) => localCore(aggregate, id))
      for (const c of cores) yield* drainer.register(c.channel)
      const counters = cores.map((c) => c.runtime.counter("shared_total"))
      let expected = 0
      const fibers = []
      for (let round = 0; round < 50; round++) {
        counters.forEach((counter, i) => counter.inc(round + i))
        expected += 3 * round + 3
        cores.forEach((c) => c.runtime.flush())
        fibers.push(yield* Effect.forkChild(drainer.drainNow))
        fibers.push(yield* Effect.forkChild(drainer.drainNow))
        yield* TestClock.adjust("3 millis")
      }
      yield* Fiber.joinAll(fibers)
      yield* drainer.retire(cores[0]!.channel)
      yield* drainer.drainNow
      assert.strictEqual(aggregate.find("shared_total")?.value, expected)
      for (const c of cores) {
        assert.strictEqual(c.channel.reader.dropped, 0)
        assert.strictEqual(c.channel.reader.delivered, c.channel.reader.published())
      }
      assert.deepStrictEqual(drainer.channels().map((c) => c.coreId), [1, 2], "a retired channel is no longer drained")
      cores.forEach((c) => c.runtime.close())
    }).pipe(Effect.provide(drainerLayer({ PERCORE_DRAIN_INTERVAL: "10 millis" }))))
})

describe("DataPlane with real worker threads", () => {
  it.live("N cores record known totals; the aggregate equals them exactly, for every kind and gauge mode", () =>
    Effect.gen(function*() {
      process.env["TEST_MODE"] = "finite"
      process.env["TEST_COUNT"] = "30000"
      const dataPlane = yield* DataPlane
      const aggregate = yield* Aggregate
      const drainer = yield* Drainer
      yield* until(() => dataPlane.cores().every((c) => c.state === "finished"), "cores to finish")
      yield* drainer.drainNow
      const cores = 3
      const n = 30_000
      assert.strictEqual(aggregate.find("test_requests_total", { route: "/a" })?.value, cores * n)
      const h = aggregate.find("test_latency_seconds")!
      assert.deepStrictEqual([...h.bucketCounts!], [cores * n / 3, cores * n / 3, cores * n / 3])
      assert.strictEqual(h.count, cores * n)
      assert.closeTo(h.sum, cores * (n / 3) * (0.05 + 0.5 + 5), 1e-6)
      assert.strictEqual(aggregate.find("test_gauge_summed")?.value, 1 + 2 + 3)
      assert.strictEqual(aggregate.find("test_gauge_max")?.value, 3)
      assert.strictEqual(aggregate.find("test_gauge_min")?.value, 1)
      assert.include([1, 2, 3], aggregate.find("test_gauge_latest")?.value)
      for (const core of [0, 1, 2]) {
        assert.strictEqual(aggregate.find("test_gauge_per_core", { core: String(core) })?.value, (core + 1) * 10 + 1)
        assert.strictEqual(aggregate.find("percore_ring_dropped_total", { core: String(core) })?.value, 0)
        assert.strictEqual(aggregate.find("percore_core_up", { core: String(core) })?.value, 0, "a finished core is down")
      }
    }).pipe(Effect.provide(percoreLayer({ PERCORE_CORES: "3", PERCORE_WORKER: "test/fixtures/known-totals.ts" }))))

  it.live("a series defined and used at once on a core is attributed correctly while the control plane drains", () =>
    Effect.gen(function*() {
      process.env["TEST_MODE"] = "dynamic"
      process.env["TEST_COUNT"] = "1500"
      const dataPlane = yield* DataPlane
      const aggregate = yield* Aggregate
      yield* until(() => dataPlane.cores().every((c) => c.state === "finished"), "cores to finish")
      for (const core of ["0", "1"]) {
        for (let i = 0; i < 1500; i++) {
          assert.strictEqual(aggregate.find("test_dynamic_total", { i: String(i), core })?.value, i + 1, `series ${i} of core ${core}`)
        }
        assert.strictEqual(aggregate.find("percore_invalid_samples_total", { core, reason: "unknown_series" })?.value, 0)
      }
    }).pipe(Effect.provide(percoreLayer({
      PERCORE_CORES: "2",
      PERCORE_WORKER: "test/fixtures/known-totals.ts",
      PERCORE_DRAIN_INTERVAL: "1 millis"
    }))))

  it.live("closing the scope stops the cores and the final drain loses nothing recorded before the stop", () =>
    Effect.gen(function*() {
      const outDir = mkdtempSync(join(tmpdir(), "percore-stop-"))
      process.env["TEST_MODE"] = "until-stop"
      process.env["TEST_OUT_DIR"] = outDir
      let aggregate: AggregateState | undefined
      yield* Effect.gen(function*() {
        const dataPlane = yield* DataPlane
        aggregate = yield* Aggregate
        yield* until(() => dataPlane.ready(), "cores to be up")
        const drainer = yield* Drainer
        yield* until(() => (aggregate!.find("test_requests_total", { route: "/a" })?.value ?? 0) > 0, "samples to arrive")
        yield* Effect.sleep("100 millis")
        yield* drainer.drainNow
      }).pipe(Effect.provide(percoreLayer({ PERCORE_CORES: "2", PERCORE_WORKER: "test/fixtures/known-totals.ts" })))
      delete process.env["TEST_OUT_DIR"]
      const files = readdirSync(outDir)
      assert.strictEqual(files.length, 2, "both cores saw the stop and reported")
      const recorded = files.reduce((sum, f) => sum + (JSON.parse(readFileSync(join(outDir, f), "utf8")) as { recorded: number }).recorded, 0)
      assert.isAbove(recorded, 0)
      assert.strictEqual(aggregate!.find("test_requests_total", { route: "/a" })?.value, recorded)
      assert.strictEqual(aggregate!.find("test_latency_seconds")?.count, recorded)
    }))
})

describe("cores the host app spawns itself", () => {
  it.live("allocateCore buffers in workerData make percore/core work in a foreign worker; releaseCore drains it", () =>
    Effect.gen(function*() {
      const dataPlane = yield* DataPlane
      const aggregate = yield* Aggregate
      const buffers = yield* dataPlane.allocateCore()
      const worker = new Worker(new URL("./fixtures/host-worker.ts", import.meta.url), { workerData: { percore: buffers } })
      yield* Effect.promise(() => new Promise((resolve) => worker.once("message", resolve)))
      yield* Effect.promise(() => worker.terminate())
      yield* dataPlane.releaseCore(buffers)
      assert.strictEqual(aggregate.find("host_jobs_total")?.value, 12_345)
      assert.strictEqual(aggregate.find("percore_core_up", { core: String(buffers.coreId) })?.value, 0)
    }).pipe(Effect.provide(percoreLayer({ PERCORE_CORES: "0", PERCORE_DRAIN_INTERVAL: "1 hour" }))))
})

describe("early wake-up", () => {
  it.live("a ring filling past half wakes the Drainer long before its interval", () =>
    Effect.gen(function*() {
      const drainer = yield* Drainer
      const aggregate = yield* Aggregate
      const buffers = allocateCoreBuffers(0, { ringCapacity: 1024, logBytes: 256 * 1024 }, { ...defaultCoreSettings, flushIntervalMs: 60_000 })
      const runtime = new CoreRuntime(buffers)
      yield* drainer.register(new CoreChannel(buffers, aggregate))
      yield* Effect.sleep("50 millis")
      const drainsBefore = drainer.drains()
      // 600 changed series: one flush publishes 600 samples into a 1024-sample ring, past half full.
      for (let i = 0; i < 600; i++) runtime.counter("burst_total", { labels: { i: String(i) } }).inc()
      runtime.flush()
      yield* until(() => aggregate.find("burst_total", { i: "599" })?.value === 1, "the woken drain", 5_000)
      assert.isAbove(drainer.drains(), drainsBefore)
      runtime.close()
    }).pipe(Effect.provide(drainerLayer({ PERCORE_DRAIN_INTERVAL: "1 hour" }))))

  // A ring that crosses half full again while its drain runs must wake the Drainer again: the producer below
  // refills the ring within microseconds of each drain's HEAD store. If that wake-up were missed, nothing would
  // drain it (the interval is an hour, a wait that times out does not drain) and a round would stall.
  it.live("a wake-up signalled while a drain runs is not missed", () =>
    Effect.gen(function*() {
      const drainer = yield* Drainer
      const aggregate = yield* Aggregate
      const buffers = allocateCoreBuffers(0, { ringCapacity: 64, logBytes: 64 * 1024 }, defaultCoreSettings)
      const channel = new CoreChannel(buffers, aggregate)
      yield* drainer.register(channel)
      const rounds = 300
      const batch = 33 // from empty to past half of 64: the round's last sample signals the wake-up
      const worker = new Worker(new URL("./fixtures/wake-producer.ts", import.meta.url), {
        workerData: { ring: buffers.ring, rounds, batch, stallMs: 20_000 }
      })
      yield* Effect.addFinalizer(() => Effect.promise(() => worker.terminate()))
      const result = yield* Effect.callback<unknown>((resume) => {
        worker.once("message", (m: unknown) => resume(Effect.succeed(m)))
        worker.once("error", (e) => resume(Effect.die(e)))
      })
      assert.deepStrictEqual(result, { rounds })
      // Every sample was drained (ids the intern log never defined count as unknown-series samples), none lost.
      assert.strictEqual(channel.reader.delivered, rounds * batch)
      assert.strictEqual(channel.reader.dropped, 0)
    }).pipe(Effect.provide(drainerLayer({ PERCORE_DRAIN_INTERVAL: "1 hour" }))), 120_000)
})

describe("MetricsHttp.scrape", () => {
  it.live("a scrape arriving while another renders waits for the next render: it sees everything recorded before it", () =>
    Effect.gen(function*() {
      const http = yield* MetricsHttp
      const dataPlane = yield* DataPlane
      const buffers = yield* dataPlane.allocateCore()
      const runtime = new CoreRuntime(buffers)
      const control = new Int32Array(buffers.control)
      const counter = runtime.counter("fresh_total")
      counter.inc(1)
      const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
      const first = yield* Effect.forkChild(http.scrape("text"))
      // The first scrape has asked the core to flush and the core answered; the render is still under way
      // (its flush wait learns of the answer on a later turn of the event loop). Whatever is recorded now must reach
      // the second scrape. Poll on every event-loop turn, to catch the moment between the answer and the render.
      while (Atomics.load(control, Control.FLUSH_DONE) === 0) yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      counter.inc(10)
      const second = decode(yield* http.scrape("text"))
      assert.match(second, /^fresh_total 11$/m)
      assert.match(decode(yield* Fiber.join(first)), /^fresh_total (1|11)$/m)
      runtime.close()
    }).pipe(Effect.provide(MetricsHttp.layer.pipe(Layer.provide(Freshness.layer), Layer.provideMerge(percoreLayer({ PERCORE_CORES: "0", PERCORE_SCRAPE_FLUSH_WAIT: "1 second" }))))))

  it.live("a page's buffer is reused only after every scrape that got it let go; reused buffers give exact pages", () =>
    Effect.gen(function*() {
      const http = yield* MetricsHttp
      const dataPlane = yield* DataPlane
      const aggregate = yield* Aggregate
      const runtime = new CoreRuntime(yield* dataPlane.allocateCore())
      const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
      // The page as rendered now into a fresh buffer, without percore's figures that each scrape updates (drain times,
      // memory; a background drain may also land between a scrape and this render).
      const withoutDrains = (page: string) => page.split("\n").filter((line) => !/percore_(drain_duration|control_plane_heap|process_resident)/.test(line)).join("\n")
      const pageNow = () => withoutDrains(decode(renderBytes(aggregate.families.values(), "text")))
      const counter = runtime.counter("pages_total", { labels: { path: "/a-long-label-value-that-makes-the-page-longer" } })
      counter.inc(123_456_789)
      const first = yield* http.scrapeShared("text")
      const firstText = decode(first.bytes)
      assert.strictEqual(withoutDrains(firstText), pageNow())
      assert.match(firstText, /^pages_total\{path="[^"]+"\} 123456789$/m)
      // Another page while the first is held: it must go to another buffer, and leave the held page as it was.
      runtime.counter("short_total").inc(1)
      const second = yield* http.scrapeShared("text")
      assert.notStrictEqual(second.bytes.buffer, first.bytes.buffer, "a held page's buffer was reused")
      assert.strictEqual(withoutDrains(decode(second.bytes)), pageNow())
      assert.strictEqual(decode(first.bytes), firstText, "the held page changed")
      second.release()
      second.release() // idempotent: one holder lets go once
      const third = yield* http.scrapeShared("text")
      assert.strictEqual(third.bytes.buffer, second.bytes.buffer, "a released buffer is reused")
      assert.strictEqual(withoutDrains(decode(third.bytes)), pageNow())
      assert.strictEqual(decode(first.bytes), firstText)
      first.release()
      third.release()
      // The copying API hands out a page of its own.
      const owned = yield* http.scrape("text")
      const fourth = yield* http.scrapeShared("text")
      assert.notStrictEqual(owned.buffer, fourth.bytes.buffer)
      assert.strictEqual(withoutDrains(decode(owned)), withoutDrains(decode(fourth.bytes)))
      fourth.release()
      // Scrapes that arrive while a render runs share the next one: two holders of one page. One of them letting go
      // twice must not give the page back while the other still holds it.
      const [leader, holderA, holderB] = yield* Effect.all([http.scrapeShared("text"), http.scrapeShared("text"), http.scrapeShared("text")], { concurrency: "unbounded" })
      assert.strictEqual(holderA.bytes.buffer, holderB.bytes.buffer, "the two later scrapes share one render")
      assert.notStrictEqual(holderA.bytes.buffer, leader.bytes.buffer)
      const sharedText = decode(holderB.bytes)
      holderA.release()
      holderA.release()
      const meanwhile = yield* http.scrapeShared("text")
      assert.notStrictEqual(meanwhile.bytes.buffer, holderB.bytes.buffer, "a page still held by a scrape was reused")
      assert.strictEqual(decode(holderB.bytes), sharedText, "the held shared page changed")
      holderB.release()
      const after = yield* http.scrapeShared("text")
      assert.strictEqual(after.bytes.buffer, holderB.bytes.buffer, "the shared page's buffer is reused once both let go")
      for (const page of [leader, meanwhile, after]) page.release()
      runtime.close()
    }).pipe(Effect.provide(MetricsHttp.layer.pipe(Layer.provide(Freshness.layer), Layer.provideMerge(percoreLayer({ PERCORE_CORES: "0", PERCORE_SCRAPE_FLUSH_WAIT: "1 second", PERCORE_DRAIN_INTERVAL: "1 hour" }))))))
})
