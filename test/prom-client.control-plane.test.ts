/**
 * `percore/prom-client` on the main thread, where the control plane runs: `collect()` callbacks run before every
 * render, `register.metrics()` is the aggregated page of every thread, `get()` the aggregated values, and
 * `collectDefaultMetrics()` adds prom-client's process metrics. The main thread records through a core of its
 * own (allocated from the DataPlane and attached by hand), next to a percore core recording the same metric.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { attachCore } from "../src/core/index.ts"
import { MetricsHttp } from "../src/http/MetricsHttp.ts"
import * as client from "../src/prom-client/index.ts"
import { DataPlane } from "../src/services/DataPlane.ts"
import { RuntimeMetrics } from "../src/services/RuntimeMetrics.ts"
import { aggregateLayer, servedLayer } from "./support/layers.ts"
import { until } from "./support/until.ts"

const percoreLayer = (env: Record<string, string>) => servedLayer(RuntimeMetrics.layer.pipe(Layer.provideMerge(aggregateLayer(env))))

const sample = (page: string, series: string): number | undefined => {
  const line = page.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe("the facade on the control plane's thread", () => {
  it.live("collect(), register.metrics(), get(), a registry of its own and the default metrics", () =>
    Effect.gen(function*() {
      const dataPlane = yield* DataPlane
      attachCore(yield* dataPlane.allocateCore())
      yield* until(() => dataPlane.cores().some((c) => c.state === "finished"), "the percore core to finish")

      // The same counter from the main thread and from the core: one aggregated series.
      const jobs = new client.Counter({ name: "shared_jobs_total", help: "Jobs, from every thread", labelNames: ["kind"] })
      jobs.inc({ kind: "a" }, 2)

      let collected = 0
      const queue = new client.Gauge({
        name: "main_queue_depth",
        help: "Read at scrape time",
        async collect() {
          await new Promise((resolve) => setImmediate(resolve))
          this.set(++collected * 10)
        }
      })
      void queue

      const page = yield* Effect.promise(() => client.register.metrics())
      assert.strictEqual(collected, 1, "collect ran once for the page")
      assert.strictEqual(sample(page, "main_queue_depth"), 10)
      assert.strictEqual(sample(page, `shared_jobs_total{kind="a"}`), 7)
      assert.strictEqual(sample(page, `shared_jobs_total{kind="b"}`), 1)
      assert.include(page, "percore_core_up", "the global registry's page is the whole /metrics page")

      // A collect() that fails is logged; the page is still served.
      const failing = new client.Gauge({
        name: "main_failing",
        help: "Its collect throws",
        collect() {
          throw new Error("collect failed")
        }
      })
      void failing
      assert.include(yield* Effect.promise(() => client.register.metrics()), "main_queue_depth 20")
      collected = 1

      // A scrape of /metrics runs collect() too.
      const scraped = new TextDecoder().decode(yield* (yield* MetricsHttp).scrape("text"))
      assert.strictEqual(collected, 2)
      assert.strictEqual(sample(scraped, "main_queue_depth"), 20)

      // get() on the main thread is the aggregate of every thread.
      const got = yield* Effect.promise(() => jobs.get())
      assert.deepStrictEqual(
        got.values.map((v) => [v.labels["kind"], v.value]).sort(),
        [["a", 7], ["b", 1]]
      )

      // A registry of its own renders only its metrics, in its format.
      const own = new client.Registry(client.Registry.OPENMETRICS_CONTENT_TYPE)
      new client.Histogram({ name: "own_latency_seconds", help: "Own", buckets: [1], registers: [own] }).observe(0.5)
      const ownPage = yield* Effect.promise(() => own.metrics())
      assert.include(ownPage, `own_latency_seconds_bucket{le="1.0"} 1`)
      assert.notInclude(ownPage, "shared_jobs")
      assert.isTrue(ownPage.endsWith("# EOF\n"))

      // Runtime metrics are off in this control plane (PERCORE_RUNTIME_METRICS=false): collectDefaultMetrics() turns them on.
      const runtime = yield* RuntimeMetrics
      assert.isFalse(runtime.enabled())
      assert.notMatch(yield* Effect.promise(() => client.register.metrics()), /^process_resident_memory_bytes /m)
      client.collectDefaultMetrics()
      client.collectDefaultMetrics() // once
      yield* until(() => runtime.enabled(), "runtime metrics to be turned on")
      const withDefaults = yield* Effect.promise(() => client.register.metrics())
      for (const name of client.defaultMetricNames) assert.match(withDefaults, new RegExp(`^${name}(\\{.*\\})? `, "m"), name)
      assert.isAbove(sample(withDefaults, "process_resident_memory_bytes") ?? 0, 1e6)
      assert.isAbove(sample(withDefaults, "process_max_fds") ?? 0, 0)
      const [major, minor, patch] = process.version.slice(1).split(".")
      assert.strictEqual(sample(withDefaults, `nodejs_version_info{major="${major}",minor="${minor}",patch="${patch}",version="${process.version}"}`), 1)
    }).pipe(Effect.provide(percoreLayer({ PERCORE_CORES: "1", PERCORE_WORKER: "test/fixtures/prom-core.ts", PERCORE_RUNTIME_METRICS: "false" }))))

  it.live("metrics() rejects with NoControlPlane once the control plane stopped", () =>
    Effect.gen(function*() {
      const error = yield* Effect.promise(() => client.register.metrics().then(() => undefined, (e: unknown) => e))
      assert.instanceOf(error, client.NoControlPlane)
    }))
})
