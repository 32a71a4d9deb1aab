/**
 * The dashboard: quantile estimation and top-N selection (pure), the sampler on a synthetic aggregate of 10k
 * series under TestClock (exact rates, top-N, quantiles, a response that does not grow with the series),
 * `/api/snapshot` and the static assets on `Percore.layer` served by a real Node server with 2 real cores,
 * authentication, and the page itself in headless Chromium (Debian's `chromium`, driven by playwright-core).
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { NodeHttpServer } from "@effect/platform-node"
import { ConfigProvider, Context, Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { TestClock } from "effect/testing"
import { existsSync, mkdirSync } from "node:fs"
import { createServer, type IncomingHttpHeaders, request as httpRequest } from "node:http"
import { chromium } from "playwright-core"
import { MetricKind, validateDefinition } from "../src/domain/index.ts"
import { Percore } from "../src/Percore.ts"
import { Aggregate } from "../src/services/Aggregate.ts"
import { AggregateState } from "../src/engine/AggregateState.ts"
import {
  cumulate,
  Dashboard,
  type DashboardSnapshot,
  histogramQuantile,
  HISTORY_POINTS,
  SATURATED_FOR_MS,
  saturatedOver,
  threadPoint,
  TOP_KEEP,
  topN
} from "../src/dashboard/Dashboard.ts"
import type { Point } from "../src/dashboard/sampler.ts"
import { RuntimeMetric } from "../src/protocol/index.ts"
import { DataPlane } from "../src/services/DataPlane.ts"
import { Drainer } from "../src/services/Drainer.ts"
import { PercoreConfig } from "../src/services/PercoreConfig.ts"
import { BUSY, IDLE } from "./fixtures/dashboard-core.ts"
import { until } from "./support/until.ts"

const FIXTURE = "test/fixtures/dashboard-core.ts"
const CHROMIUM = "/usr/bin/chromium"
const SCREENSHOT = new URL("../test-artifacts/dashboard.png", import.meta.url)

// ---------------------------------------------------------------------------------------------------------
// Pure helpers

describe("histogramQuantile (Prometheus' histogram_quantile on cumulative buckets)", () => {
  // Per-bucket counts 20, 40, 16, 4 for bounds 0.1, 0.5, 1 and +Inf.
  const bounds = [0.1, 0.5, 1]
  const cumulative = [20, 60, 76, 80]

  it("interpolates linearly inside the bucket holding the rank", () => {
    // p50: rank 40 in (0.1, 0.5], which holds observations 21..60: 0.1 + 0.4 · (40 − 20) / 40.
    assert.closeTo(histogramQuantile(0.5, bounds, cumulative), 0.3, 1e-12)
    // p90: rank 72 in (0.5, 1], holding 61..76: 0.5 + 0.5 · (72 − 60) / 16.
    assert.closeTo(histogramQuantile(0.9, bounds, cumulative), 0.875, 1e-12)
    // The first bucket starts at 0: rank 8 of 20 → 0.04; rank 20 → its upper bound.
    assert.closeTo(histogramQuantile(0.1, bounds, cumulative), 0.04, 1e-12)
    assert.closeTo(histogramQuantile(0.25, bounds, cumulative), 0.1, 1e-12)
    // A rank in the +Inf bucket gives the highest finite bound.
    assert.strictEqual(histogramQuantile(0.99, bounds, cumulative), 1)
    assert.strictEqual(histogramQuantile(1, bounds, cumulative), 1)
  })

  it("edge cases: no observations, q outside [0, 1], a first bound ≤ 0, non-monotonic counts", () => {
    assert.isNaN(histogramQuantile(0.5, bounds, [0, 0, 0, 0]))
    assert.isNaN(histogramQuantile(0.5, bounds, [1, 2]), "counts must include +Inf")
    assert.isNaN(histogramQuantile(Number.NaN, bounds, cumulative))
    assert.strictEqual(histogramQuantile(-0.1, bounds, cumulative), Number.NEGATIVE_INFINITY)
    assert.strictEqual(histogramQuantile(1.1, bounds, cumulative), Number.POSITIVE_INFINITY)
    assert.strictEqual(histogramQuantile(0.2, [-1, 0, 1], [5, 5, 10, 10]), -1)
    // [10, 8, 20, 20] is evened out to [10, 10, 20, 20]: p75 = rank 15 in (2, 3] → 2 + (15 − 10) / 10.
    assert.closeTo(histogramQuantile(0.75, [1, 2, 3], [10, 8, 20, 20]), 2.5, 1e-12)
    assert.closeTo(histogramQuantile(0.5, [1, 2, 3], [10, 8, 20, 20]), 1, 1e-12)
  })

  it("cumulate turns per-bucket counts into cumulative ones", () => {
    assert.deepStrictEqual([...cumulate([20, 40, 16, 4])], cumulative)
    assert.deepStrictEqual([...cumulate([])], [])
  })
})

describe("topN", () => {
  it("keeps the first n in compare order, ties included, like sort + slice", () => {
    let seed = 42
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
    const items = Array.from({ length: 10_000 }, (_, i) => ({ id: i, score: Math.floor(random() * 500) }))
    const compare = (a: { id: number; score: number }, b: { id: number; score: number }) => b.score - a.score || a.id - b.id
    const sorted = [...items].sort(compare)
    for (const n of [0, 1, 5, 20, 100, 9_999, 10_000, 20_000]) {
      assert.deepStrictEqual(topN(items, n, compare), sorted.slice(0, n), `n = ${n}`)
    }
    assert.deepStrictEqual(topN([], 5, compare), [])
  })
})

describe("runtime figures per thread", () => {
  it("threadPoint turns a thread's cumulative figures into utilization, CPU and GC rates, carrying them over between readings", () => {
    const aggregate = new AggregateState({ maxSeries: 100 })
    assert.isUndefined(threadPoint(aggregate, "0", undefined), "no runtime metrics from this thread")
    const own = (name: string, kind: MetricKind, labels: Record<string, string>) =>
      aggregate.own(name, kind, "h", labels, kind === MetricKind.Histogram ? { buckets: [0.01] } : {})
    const active = own(RuntimeMetric.eventLoopTime.name, MetricKind.Counter, { core: "0", state: "active" })
    const idle = own(RuntimeMetric.eventLoopTime.name, MetricKind.Counter, { core: "0", state: "idle" })
    const user = own(RuntimeMetric.threadCpu.name, MetricKind.Counter, { core: "0", mode: "user" })
    const gc = own(RuntimeMetric.gcDuration.name, MetricKind.Histogram, { core: "0", kind: "minor" })
    const heap = own(RuntimeMetric.heapUsed.name, MetricKind.Gauge, { core: "0" })
    heap.value = 5e6
    const first = threadPoint(aggregate, "0", undefined)!
    assert.strictEqual(first.utilization, null)
    assert.strictEqual(first.heapUsed, 5e6)
    active.value += 1.5 // 2 s of loop time: 1.5 s running, 0.5 s waiting; 1 s of CPU; 0.2 s in GC
    idle.value += 0.5
    user.value += 1
    gc.sum += 0.2
    const second = threadPoint(aggregate, "0", first)!
    assert.closeTo(second.utilization!, 0.75, 1e-12)
    assert.closeTo(second.cpuRate!, 0.5, 1e-12)
    assert.closeTo(second.gcRate!, 0.1, 1e-12)
    const unchanged = threadPoint(aggregate, "0", second)!
    assert.strictEqual(unchanged.utilization, second.utilization, "no new reading: the last rates carry over")
  })

  it("saturatedOver: utilization at or above 0.9 in every sample of the last minute, and a minute of history", () => {
    const points = (utilizations: ReadonlyArray<number | null>): Array<Point> =>
      utilizations.map((utilization, i) => {
        const thread = { active: 0, idle: 0, cpu: 0, gc: 0, utilization, cpuRate: null, gcRate: null, heapUsed: null }
        // Only `t` and the control thread matter here.
        const point: Pick<Point, "t" | "controlThread"> = { t: i * 1000, controlThread: thread }
        return point as Point
      })
    const control = (p: Point) => p.controlThread
    const minute = SATURATED_FOR_MS / 1000
    assert.isTrue(saturatedOver(points(Array.from({ length: minute + 1 }, () => 0.95)), control))
    assert.isTrue(saturatedOver(points([0.1, ...Array.from({ length: minute + 1 }, () => 0.9)]), control), "older dips do not matter")
    assert.isFalse(saturatedOver(points(Array.from({ length: minute }, () => 0.95)), control), "less than a minute")
    assert.isFalse(saturatedOver(points([...Array.from({ length: minute }, () => 0.95), 0.5, 0.95]), control), "a recent dip")
    assert.isFalse(saturatedOver(points([...Array.from({ length: minute + 1 }, () => 0.95), null]), control), "no figures")
    assert.isFalse(saturatedOver([], control))
  })
})

// ---------------------------------------------------------------------------------------------------------
// The sampler on a synthetic aggregate (no cores), under TestClock

const define = (aggregate: AggregateState, input: Parameters<typeof validateDefinition>[0]) => {
  const definition = validateDefinition(input)
  if (definition instanceof Error) throw definition
  const resolved = aggregate.resolve(definition, undefined, 0)
  if (resolved instanceof Error) throw resolved
  return resolved.series
}

/**
 * The dashboard's services without cores: `aggregate`, a data plane with no cores, a drainer with no rings, and
 * the settings read from `env`.
 */
const withoutCores = (
  aggregate: AggregateState,
  drainer: Partial<Context.Service.Shape<typeof Drainer>> = {},
  env: Record<string, string> = {}
) =>
  Layer.mergeAll(
    PercoreConfig.layer.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))),
    Layer.succeed(Aggregate, aggregate),
    Layer.succeed(DataPlane, DataPlane.of({
      cores: () => [],
      loaded: Effect.void,
      ready: () => true,
      flush: () => Effect.succeed(true),
      allocateCore: () => Effect.die("unused"),
      releaseCore: () => Effect.void
    })),
    Layer.succeed(Drainer, Drainer.of({
      drainNow: Effect.succeed({ delivered: 0, rings: 0 }),
      register: () => Effect.void,
      retire: () => Effect.void,
      channels: () => [],
      drains: () => 0,
      ringFigures: () => [],
      ...drainer
    }))
  )

describe("Dashboard on a synthetic aggregate of 10k series (TestClock)", () => {
  it.effect("rates, top-N, windowed histogram quantiles, bounded history; the response does not grow with series", () =>
    Effect.gen(function*() {
      const SERIES = 10_000
      const aggregate = new AggregateState({ maxSeries: 100_000 })
      const counters = Array.from({ length: SERIES }, (_, i) =>
        define(aggregate, { name: "syn_requests_total", kind: MetricKind.Counter, help: "Synthetic", labels: { i: String(i) } }))
      counters.forEach((series, i) => (series.value = 3 * i))
      const histograms = ["a", "b"].map((route) =>
        define(aggregate, { name: "syn_latency_seconds", kind: MetricKind.Histogram, help: "Synthetic", labels: { route }, buckets: [0.1, 0.5, 1] }))

      const stubs = withoutCores(aggregate)
      // Built in the test's scope: the sampler fiber lives until the test ends.
      const dashboard = Context.get(yield* Layer.build(Dashboard.layer.pipe(Layer.provide(stubs))), Dashboard)
      const points = function*() {
        return (yield* dashboard.snapshot({ points: HISTORY_POINTS })).history.t.length
      }
      // The first sample is taken when the layer starts (at TestClock's t = 0).
      while ((yield* points()) < 1) yield* Effect.yieldNow

      // Over the next second: counter i grows by i, each histogram series observes (per bucket) 10, 20, 8, 2.
      counters.forEach((series, i) => (series.value += i))
      for (const series of histograms) {
        series.bucketCounts!.set([10, 20, 8, 2])
        series.count = 40
      }
      yield* TestClock.adjust("1 second")
      while ((yield* points()) < 2) yield* Effect.yieldNow

      const started = performance.now()
      const snapshot = yield* dashboard.snapshot()
      const elapsedMs = performance.now() - started
      assert.strictEqual(snapshot.time, 1000)
      assert.deepStrictEqual(snapshot.history.t, [0, 1000])
      assert.strictEqual(snapshot.controlPlane.userSeries, SERIES + 2)
      assert.strictEqual(snapshot.controlPlane.series, SERIES + 2)
      assert.deepStrictEqual(snapshot.cores, [])

      // Top 20 by rate: counters 9999 … 9980, at exactly i per second.
      assert.lengthOf(snapshot.top, 20)
      snapshot.top.forEach((s, rank) => {
        const i = SERIES - 1 - rank
        assert.strictEqual(s.key, `syn_requests_total{i="${i}"}`)
        assert.strictEqual(s.name, "syn_requests_total")
        assert.deepStrictEqual(s.labels, { i: String(i) })
        assert.strictEqual(s.type, "counter")
        assert.strictEqual(s.rate, i)
        assert.strictEqual(s.value, 4 * i)
        assert.deepStrictEqual(snapshot.history.series[s.key]!.at(-1), i)
      })
      assert.lengthOf((yield* dashboard.snapshot({ top: 1_000 })).top, TOP_KEEP, "top is capped")
      assert.lengthOf((yield* dashboard.snapshot({ top: 0 })).top, 0)

      // The histogram family, merged over its two series, over the window: per-bucket counts 20, 40, 16, 4.
      assert.lengthOf(snapshot.histograms, 1)
      const histogram = snapshot.histograms[0]!
      assert.strictEqual(histogram.name, "syn_latency_seconds")
      assert.strictEqual(histogram.series, 2)
      assert.strictEqual(histogram.count, 80)
      assert.strictEqual(histogram.rate, 80)
      assert.closeTo(histogram.quantiles.p50!, 0.3, 1e-12)
      assert.closeTo(histogram.quantiles.p90!, 0.875, 1e-12)
      assert.strictEqual(histogram.quantiles.p99, 1)
      assert.deepStrictEqual(histogram.lifetime, histogram.quantiles)
      assert.deepStrictEqual(snapshot.history.histograms["syn_latency_seconds"]!.p99, [null, 1])

      // 10k series, and the answer is still a few kilobytes: top-N only, history bounded.
      const json = JSON.stringify(snapshot)
      assert.isBelow(json.length, 20_000, "the snapshot does not grow with the number of series")
      assert.isBelow(elapsedMs, 250, "a snapshot is O(top + history), not O(series)")

      // A bounded history: HISTORY_POINTS points at most.
      for (let s = 0; s < HISTORY_POINTS + 5; s++) yield* TestClock.adjust("1 second")
      const later = yield* dashboard.snapshot()
      assert.lengthOf(later.history.t, HISTORY_POINTS)
      assert.strictEqual(later.history.t.at(-1), later.time)
      assert.lengthOf((yield* dashboard.snapshot({ points: 10 })).history.t, 10)
      // Nothing observed over the last window: window quantiles are null, the lifetime ones stay.
      const idle = later.histograms[0]!
      assert.deepStrictEqual(idle.quantiles, { p50: null, p90: null, p99: null })
      assert.closeTo(idle.lifetime.p50!, 0.3, 1e-12)
    }).pipe(Effect.scoped))
})

describe("PERCORE_DASHBOARD=false (TestClock)", () => {
  // The sampler reads the drain count and the rings once per sample: counting those reads shows whether it runs.
  const build = (env: Record<string, string>) =>
    Effect.gen(function*() {
      const reads = { drains: 0, rings: 0 }
      const stubs = withoutCores(new AggregateState({ maxSeries: 100 }), {
        drains: () => reads.drains++,
        ringFigures: () => {
          reads.rings++
          return []
        }
      }, env)
      const dashboard = Context.get(yield* Layer.build(Dashboard.layer.pipe(Layer.provide(stubs))), Dashboard)
      yield* Effect.yieldNow
      for (let s = 0; s < 5; s++) yield* TestClock.adjust("1 second")
      return { dashboard, reads: { ...reads } }
    })

  it.effect("no sampler runs: nothing is read over 5 seconds and no history accumulates", () =>
    Effect.gen(function*() {
      const { dashboard, reads } = yield* build({ PERCORE_DASHBOARD: "false" })
      assert.isFalse(dashboard.enabled)
      assert.deepStrictEqual(reads, { drains: 0, rings: 0 })
      yield* dashboard.sample
      const snapshot = yield* dashboard.snapshot()
      assert.deepStrictEqual(snapshot.history.t, [])
      assert.deepStrictEqual(snapshot.top, [])
    }).pipe(Effect.scoped))

  it.effect("the same layer turned on samples once at start and once a second", () =>
    Effect.gen(function*() {
      const { dashboard, reads } = yield* build({ PERCORE_DASHBOARD: "true" })
      assert.isTrue(dashboard.enabled)
      assert.deepStrictEqual(reads, { drains: 6, rings: 6 })
      assert.lengthOf((yield* dashboard.snapshot()).history.t, 6)
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------------------------------------
// Percore.layer on a real server with two real cores

const serverLayer = (env: Record<string, string>) =>
  HttpRouter.serve(Percore.layer, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({
      // PERCORE_CONTROL_PLANE_NICE=0: keep this test process at its priority (see test/services.test.ts).
      env: { PERCORE_CORES: "2", PERCORE_WORKER: FIXTURE, PERCORE_RING_CAPACITY: "4096", PERCORE_CONTROL_PLANE_NICE: "0", ...env }
    })))
  )

const serverPort = Effect.map(HttpServer.HttpServer, (server) => Number(new URL(HttpServer.formatAddress(server.address)).port))

interface Reply {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly text: string
}

const request = (path: string, options: { readonly method?: string; readonly headers?: Record<string, string> } = {}) =>
  Effect.flatMap(serverPort, (port) =>
    Effect.callback<Reply>((resume) => {
      const req = httpRequest(
        { host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: options.headers ?? {}, agent: false },
        (res) => {
          const chunks: Array<Buffer> = []
          res.on("data", (chunk: Buffer) => chunks.push(chunk))
          res.on("end", () => resume(Effect.succeed({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") })))
          res.on("error", (error) => resume(Effect.die(error)))
        }
      )
      req.on("error", (error) => resume(Effect.die(error)))
      req.end()
      return Effect.sync(() => req.destroy())
    }))

const fetchSnapshot = (query = "") =>
  Effect.map(request(`/api/snapshot${query}`), (reply) => {
    assert.strictEqual(reply.status, 200, reply.text)
    return JSON.parse(reply.text) as DashboardSnapshot
  })

/** Waits for both cores up, the fixture's fixed phase drained, and `samples` history points since. */
const settled = (samples: number) =>
  Effect.gen(function*() {
    const dataPlane = yield* DataPlane
    const aggregate = yield* Aggregate
    yield* until(() => dataPlane.ready(), "both cores to be up")
    yield* until(() => aggregate.find("dash_latency_seconds")?.count === 80, "the fixed histogram from both cores")
    yield* until(() => aggregate.find("dash_busy_total", { i: String(BUSY - 1) }) !== undefined, "the busy series")
    const first = (yield* fetchSnapshot()).history.t.length
    let snapshot = yield* fetchSnapshot()
    while (snapshot.history.t.length < Math.min(HISTORY_POINTS, first + samples)) {
      yield* Effect.sleep("100 millis")
      snapshot = yield* fetchSnapshot()
    }
    return snapshot
  })

layer(serverLayer({}), { excludeTestServices: true })("the dashboard on a real server with 2 cores", (it) => {
  it.effect("/api/snapshot: cores, control plane, top-N by rate, histogram quantiles, history", () =>
    Effect.gen(function*() {
      yield* settled(2)
      const reply = yield* request("/api/snapshot?top=100")
      assert.strictEqual(reply.status, 200)
      assert.strictEqual(reply.headers["content-type"], "application/json; charset=utf-8")
      assert.strictEqual(reply.headers["cache-control"], "no-store")
      const snapshot = JSON.parse(reply.text) as DashboardSnapshot

      // One entry per core, with the self-metrics' values.
      assert.deepStrictEqual(snapshot.cores.map((c) => c.core), [0, 1])
      for (const core of snapshot.cores) {
        assert.strictEqual(core.state, "up")
        assert.isTrue(core.up)
        assert.strictEqual(core.restarts, 0)
        assert.strictEqual(core.ringCapacity, 4096)
        assert.isAbove(core.delivered, IDLE + BUSY, "at least every definition's first sample")
        assert.strictEqual(core.dropped, 0)
        assert.isAtMost(core.delivered + core.dropped, core.recorded)
        assert.isAtLeast(core.highWater, 1)
        assert.isAtMost(core.highWater, 4096)
        assert.isAtLeast(core.fill, 0)
        assert.isAtMost(core.fill, 1)
        assert.isAbove(core.deliveredPerSecond, 0)
        assert.strictEqual(core.droppedPerSecond, 0)
      }

      const cp = snapshot.controlPlane
      assert.isTrue(cp.ready)
      assert.isAbove(cp.drains, 0)
      assert.isAbove(cp.drainsPerSecond, 0)
      assert.isNotNull(cp.drainSeconds.p50)
      assert.isAtMost(cp.drainSeconds.p50!, cp.drainSeconds.p99!)
      assert.strictEqual(cp.userSeries, BUSY + IDLE + 1)
      assert.isAbove(cp.series, cp.userSeries, "percore's own series too")
      assert.isAbove(cp.heapUsedBytes, 0)
      assert.isAbove(cp.residentBytes, cp.heapUsedBytes)
      assert.isNotNull(cp.eventLoopDelayMs.p99)

      // Runtime figures per core and for the control plane, once each thread has reported twice.
      let live = snapshot
      while (!(live.cores.every((c) => c.eventLoopUtilization !== null) && live.controlPlane.thread.eventLoopUtilization !== null)) {
        yield* Effect.sleep("200 millis")
        live = yield* fetchSnapshot()
      }
      for (const thread of [...live.cores, live.controlPlane.thread]) {
        assert.isAtLeast(thread.eventLoopUtilization!, 0)
        assert.isAtMost(thread.eventLoopUtilization!, 1)
        assert.isAtLeast(thread.cpu!, 0)
        assert.isAbove(thread.heapUsedBytes!, 0)
        assert.isAtLeast(thread.gcSecondsPerSecond!, 0)
        assert.isFalse(thread.saturated, "a minute has not passed")
      }
      assert.notStrictEqual(live.cores[0]!.heapUsedBytes, live.controlPlane.thread.heapUsedBytes)
      for (const core of ["0", "1"]) {
        const h = live.history.cores[core]!
        for (const figures of [h.eventLoopUtilization, h.cpu, h.heapUsedBytes, h.gcSecondsPerSecond]) assert.lengthOf(figures, live.history.t.length)
        assert.isNotNull(h.heapUsedBytes.at(-1))
      }
      assert.isFalse(snapshot.top.some((s) => s.name.startsWith("nodejs_")), "runtime series are not ranked as the user's")
      assert.isFalse(snapshot.histograms.some((f) => f.name.startsWith("nodejs_")))

      // Top 100: the busy series by rate (i + 1 per tick: highest i first), then the idle ones by total.
      assert.lengthOf(snapshot.top, 100)
      const busy = snapshot.top.slice(0, BUSY)
      assert.deepStrictEqual(busy.map((s) => s.key), Array.from({ length: BUSY }, (_, r) => `dash_busy_total{i="${BUSY - 1 - r}"}`))
      for (let r = 1; r < BUSY; r++) assert.isAtLeast(busy[r - 1]!.rate, busy[r]!.rate)
      assert.isAbove(busy.at(-1)!.rate, 0)
      const idle = snapshot.top.slice(BUSY)
      assert.deepStrictEqual(idle.map((s) => s.key), Array.from({ length: 100 - BUSY }, (_, r) => `dash_idle_total{i="${IDLE - 1 - r}"}`))
      idle.forEach((s, r) => {
        assert.strictEqual(s.rate, 0)
        assert.strictEqual(s.value, 2 * (IDLE - r), "i + 1 from each of the two cores")
        assert.strictEqual(s.type, "counter")
      })
      assert.lengthOf((yield* fetchSnapshot()).top, 20, "20 by default")

      // The histogram: both cores' fixed observations, per-bucket 20, 40, 16, 4 → p50 0.3, p90 0.875, p99 1.
      const histogram = snapshot.histograms.find((h) => h.name === "dash_latency_seconds")
      assert.isDefined(histogram)
      assert.strictEqual(histogram!.count, 80)
      assert.strictEqual(histogram!.series, 1)
      assert.closeTo(histogram!.lifetime.p50!, 0.3, 1e-12)
      assert.closeTo(histogram!.lifetime.p90!, 0.875, 1e-12)
      assert.strictEqual(histogram!.lifetime.p99, 1)

      // History: aligned arrays, one point a second.
      const h = snapshot.history
      assert.isAtLeast(h.t.length, 2)
      for (const values of [h.deliveredPerSecond, h.droppedPerSecond, h.drainP99Seconds, h.eventLoopP99Ms, h.heapUsedBytes]) {
        assert.lengthOf(values, h.t.length)
      }
      assert.deepStrictEqual(Object.keys(h.cores), ["0", "1"])
      assert.lengthOf(h.cores["0"]!.deliveredPerSecond, h.t.length)
      assert.deepStrictEqual(Object.keys(h.series), snapshot.top.map((s) => s.key))
      assert.isAbove(h.series[busy[0]!.key]!.at(-1)!, 0)
      for (let i = 1; i < h.t.length; i++) assert.approximately(h.t[i]! - h.t[i - 1]!, 1000, 500)
    }))

  it.effect("the page and its assets: content types, caching, ETag, methods, 404", () =>
    Effect.gen(function*() {
      const page = yield* request("/")
      assert.strictEqual(page.status, 200)
      assert.strictEqual(page.headers["content-type"], "text/html; charset=utf-8")
      assert.strictEqual(page.headers["cache-control"], "no-cache")
      assert.include(page.headers["content-security-policy"] ?? "", "script-src 'self'")
      assert.include(page.text, `<table id="cores">`)
      assert.notInclude(page.text, "{{", "every placeholder filled")
      assert.notInclude(page.text, "http://", "nothing from another origin")
      assert.notInclude(page.text, "https://", "nothing from another origin")
      const assets = [...page.text.matchAll(/(?:src|href)="(assets\/[^"]+)"/g)].map((m) => m[1]!)
      assert.sameMembers(assets.map((a) => a.replace(/\?.*/, "")), ["assets/uPlot.min.css", "assets/app.css", "assets/uPlot.iife.min.js", "assets/app.js"])
      for (const asset of assets) {
        const reply = yield* request(`/${asset}`)
        assert.strictEqual(reply.status, 200, asset)
        assert.match(reply.headers["content-type"] ?? "", asset.includes(".js") ? /^text\/javascript; charset=utf-8$/ : /^text\/css; charset=utf-8$/)
        assert.strictEqual(reply.headers["cache-control"], "private, max-age=31536000, immutable", asset)
        assert.strictEqual(reply.headers["x-content-type-options"], "nosniff")
        const etag = reply.headers["etag"]
        assert.isString(etag)
        const unversioned = yield* request(`/${asset.replace(/\?.*/, "")}`, { headers: { "if-none-match": etag! } })
        assert.strictEqual(unversioned.status, 304)
        assert.strictEqual(unversioned.headers["cache-control"], "no-cache", "an unversioned URL is revalidated")
      }
      assert.include((yield* request("/assets/uPlot.iife.min.js")).text, "uPlot")
      assert.strictEqual((yield* request("/assets/nope.js")).status, 404)
      assert.strictEqual((yield* request("/assets/../package.json")).status, 404)
      const head = yield* request("/", { method: "HEAD" })
      assert.strictEqual(head.status, 200)
      assert.strictEqual(head.text, "")
      for (const path of ["/", "/api/snapshot", "/assets/app.js"]) {
        const post = yield* request(path, { method: "POST" })
        assert.strictEqual(post.status, 405, path)
        assert.strictEqual(post.headers["allow"], "GET, HEAD")
      }
      // The snapshot is gzipped when the client accepts it, and says the encoding chose the body.
      const gzipped = yield* request("/api/snapshot", { headers: { "accept-encoding": "gzip" } })
      assert.strictEqual(gzipped.status, 200)
      assert.strictEqual(gzipped.headers["content-encoding"], "gzip")
      assert.strictEqual(gzipped.headers["vary"], "Accept-Encoding")
      const plain = yield* request("/api/snapshot")
      assert.isUndefined(plain.headers["content-encoding"])
      assert.strictEqual(plain.headers["vary"], "Accept-Encoding")
      // /metrics and the rest are still there.
      assert.strictEqual((yield* request("/metrics")).status, 200)
      assert.strictEqual((yield* request("/healthz")).status, 200)
    }))

  it.effect("in headless Chromium: no console errors, one row per core, values move, screenshot", () =>
    Effect.gen(function*() {
      if (!existsSync(CHROMIUM)) {
        if (process.env["CI"] === "true") return assert.fail(`${CHROMIUM} is missing: .ci/run installs Debian's chromium`)
        console.log(`dashboard browser test skipped: ${CHROMIUM} not found (apt-get install chromium)`)
        return
      }
      yield* settled(1)
      const port = yield* serverPort
      const browser = yield* Effect.acquireRelease(
        Effect.promise(() =>
          chromium.launch({
            executablePath: CHROMIUM,
            args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
          })
        ),
        (browser) => Effect.promise(() => browser.close())
      )
      const page = yield* Effect.promise(() => browser.newPage({ viewport: { width: 1280, height: 900 } }))
      const problems: Array<string> = []
      page.on("console", (message) => {
        if (message.type() === "error" || message.type() === "warning") problems.push(`console ${message.type()}: ${message.text()}`)
      })
      page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
      page.on("requestfailed", (failed) => problems.push(`request failed: ${failed.url()}`))
      page.on("response", (response) => {
        if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`)
      })

      const response = yield* Effect.promise(() => page.goto(`http://127.0.0.1:${port}/`, { waitUntil: "load" }))
      assert.strictEqual(response?.status(), 200)
      // Locators, not waitForFunction: a string predicate that needs more than one poll is evaluated with eval() in the
      // page, which the dashboard's CSP (script-src 'self') rightly refuses.
      const updatedAt = () => page.locator("body").getAttribute("data-updated")
      yield* Effect.promise(() => page.locator("body[data-updated]").waitFor({ state: "attached", timeout: 10_000 }))
      const rows = page.locator("#cores tbody tr[data-core]")
      assert.strictEqual(yield* Effect.promise(() => rows.count()), 2, "one row per core")
      const read = Effect.promise(async () => ({
        updated: await updatedAt(),
        delivered: await page.locator(`#cores tbody tr[data-core] td[data-col="delivered"]`).allTextContents(),
        cores: await page.locator(`#cores tbody tr[data-core] td[data-col="core"]`).allTextContents()
      }))
      const first = yield* read
      assert.deepStrictEqual(first.cores, ["0", "1"])
      yield* Effect.sleep("2 seconds")
      const refreshBy = Date.now() + 10_000
      while ((yield* Effect.promise(updatedAt)) === first.updated) {
        if (Date.now() > refreshBy) return assert.fail("the dashboard did not refresh within 10 s")
        yield* Effect.sleep("100 millis")
      }
      const second = yield* read
      for (let core = 0; core < 2; core++) {
        const before = Number(first.delivered[core]!.replaceAll(",", ""))
        const after = Number(second.delivered[core]!.replaceAll(",", ""))
        assert.isAbove(after, before, `core ${core}: delivered moved (${first.delivered[core]} → ${second.delivered[core]})`)
      }
      assert.strictEqual(yield* Effect.promise(() => page.locator("#top tbody tr[data-key]").count()), 20)
      assert.strictEqual(yield* Effect.promise(() => page.locator(`#histograms tbody tr[data-name="dash_latency_seconds"]`).count()), 1)
      assert.strictEqual(yield* Effect.promise(() => page.locator("#status").textContent()), "ready")
      // The runtime columns: a percentage, a CPU share, a heap size and a GC share per core; no core saturated.
      const runtimeCell = (col: string) => page.locator(`#cores tbody tr[data-core] td[data-col="${col}"]`)
      const filled = (col: string) => Effect.promise(async () => (await runtimeCell(col).allTextContents()).every((t) => t !== "–" && t !== ""))
      const runtimeBy = Date.now() + 15_000
      while (!((yield* filled("eventLoopUtilization")) && (yield* filled("heap")) && (yield* filled("gc")))) {
        if (Date.now() > runtimeBy) return assert.fail("the cores' runtime columns stayed empty")
        yield* Effect.sleep("200 millis")
      }
      for (const text of yield* Effect.promise(() => runtimeCell("eventLoopUtilization").allTextContents())) assert.match(text, /^\d+(\.\d+)?%$/)
      for (const text of yield* Effect.promise(() => runtimeCell("heap").allTextContents())) assert.match(text, /^[\d.]+ (KiB|MiB|GiB)$/)
      assert.strictEqual(yield* Effect.promise(() => page.locator("#cores .state-saturated:visible").count()), 0)
      assert.match(yield* Effect.promise(async () => (await page.locator("#stat-thread").textContent()) ?? ""), /%/)
      assert.isAtLeast(yield* Effect.promise(() => page.locator("canvas").count()), 4 + 2 + 2 + 20 + 1, "the charts drew (two sparklines per core)")

      mkdirSync(new URL(".", SCREENSHOT), { recursive: true })
      yield* Effect.promise(() => page.screenshot({ path: SCREENSHOT.pathname, fullPage: true }))
      assert.isTrue(existsSync(SCREENSHOT))
      assert.deepStrictEqual(problems, [], "no console errors, page errors or failed requests")
    }).pipe(Effect.scoped))
})

layer(serverLayer({ PERCORE_CORES: "0", PERCORE_DASHBOARD: "false" }), { excludeTestServices: true })("the dashboard turned off", (it) => {
  it.effect("/, /assets/* and /api/snapshot answer 404; /metrics and /healthz are still served", () =>
    Effect.gen(function*() {
      for (const path of ["/", "/api/snapshot", "/assets/app.js"]) assert.strictEqual((yield* request(path)).status, 404, path)
      assert.strictEqual((yield* request("/metrics")).status, 200)
      assert.strictEqual((yield* request("/healthz")).status, 200)
      assert.isFalse((yield* Dashboard).enabled)
    }))
})

layer(serverLayer({ PERCORE_CORES: "1", PERCORE_AUTH_TOKEN: "s3cret", PERCORE_AUTH_USER: "ops", PERCORE_AUTH_PASSWORD: "pw" }), {
  excludeTestServices: true
})("the dashboard with authentication configured", (it) => {
  it.effect("/, /assets/* and /api/snapshot want the same credentials as /metrics; /healthz stays open", () =>
    Effect.gen(function*() {
      const basic = `Basic ${Buffer.from("ops:pw").toString("base64")}`
      for (const path of ["/", "/api/snapshot", "/assets/app.js", "/metrics"]) {
        const anonymous = yield* request(path)
        assert.strictEqual(anonymous.status, 401, path)
        assert.include(anonymous.headers["www-authenticate"] ?? "", "Basic realm=", path)
        assert.strictEqual((yield* request(path, { headers: { authorization: "Bearer wrong" } })).status, 401, path)
        assert.strictEqual((yield* request(path, { headers: { authorization: "Bearer s3cret" } })).status, 200, path)
        assert.strictEqual((yield* request(path, { headers: { authorization: basic } })).status, 200, path)
      }
      assert.strictEqual((yield* request("/healthz")).status, 200)
    }))
})
