/**
 * The prom-client-style app (test/fixtures/prom-app.ts) run twice: with prom-client itself in two plain worker
 * threads, merged by prom-client's own cluster aggregation (`AggregatorRegistry.aggregate`), and with the import
 * changed to `percore/prom-client` in two percore cores, scraped from the control plane. Every sample must agree
 * exactly (but the timers' sums, which are elapsed times).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Worker } from "node:worker_threads"
import { AggregatorRegistry } from "prom-client"
import { MetricsHttp } from "../src/http/MetricsHttp.ts"
import { DataPlane } from "../src/services/DataPlane.ts"
import { aggregateLayer, servedLayer } from "./support/layers.ts"
import { until } from "./support/until.ts"

const percoreLayer = (env: Record<string, string>) => servedLayer(aggregateLayer(env))

/** The app's samples of a text page, keyed by name and labels (empty labels left out, `le` as a number). */
export const appSamples = (page: string): Map<string, number> => {
  const samples = new Map<string, number>()
  for (const line of page.split("\n")) {
    const match = /^(app_[a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line)
    if (match === null) continue
    const [, name, labelText, value] = match
    if (name === "app_task_seconds_sum") continue // elapsed time
    const labels: Array<string> = []
    for (const [, label, raw] of (labelText ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      if (raw === "") continue
      labels.push(`${label}="${label === "le" && raw !== "+Inf" ? String(Number(raw)) : raw}"`)
    }
    samples.set(`${name}{${labels.sort().join(",")}}`, Number(value))
  }
  return samples
}

const runWithPromClient = (workers: number): Promise<string> =>
  Promise.all(Array.from({ length: workers }, (_, worker) =>
    new Promise<unknown>((resolve, reject) => {
      const thread = new Worker(new URL("./fixtures/prom-app-worker.ts", import.meta.url), { workerData: { worker } })
      thread.once("message", (metrics) => {
        resolve(metrics)
        void thread.terminate()
      })
      thread.once("error", reject)
    }))).then((metrics) => AggregatorRegistry.aggregate(metrics.filter(Array.isArray)).metrics())

describe("a prom-client app, with either import", () => {
  it.live("gives the same values through percore's cores as prom-client's cluster aggregation", () =>
    Effect.gen(function*() {
      const expected = appSamples(yield* Effect.promise(() => runWithPromClient(2)))
      const dataPlane = yield* DataPlane
      const ended = (state: string) => state === "finished" || state === "crashed" || state === "stopped"
      yield* until(() => dataPlane.cores().length === 2 && dataPlane.cores().every((c) => ended(c.state)), "the cores to end")
      assert.deepStrictEqual(dataPlane.cores().map((c) => c.state), ["finished", "finished"])
      const page = new TextDecoder().decode(yield* (yield* MetricsHttp).scrape("text"))
      const actual = appSamples(page)
      assert.isAbove(expected.size, 50, "the app's page is not empty")
      assert.deepStrictEqual([...actual.keys()].sort(), [...expected.keys()].sort())
      for (const [key, value] of expected) assert.strictEqual(actual.get(key), value, key)
      // A few values worked out by hand: merging did happen.
      assert.strictEqual(actual.get(`app_http_requests_total{code="200",route="/a"}`), 6)
      assert.strictEqual(actual.get(`app_jobs_total{}`), 9)
      assert.strictEqual(actual.get(`app_peak{}`), 16)
      assert.strictEqual(actual.get(`app_summed{}`), 5)
    }).pipe(Effect.provide(percoreLayer({ PERCORE_CORES: "2", PERCORE_WORKER: "test/fixtures/prom-app-core.ts" }))))
})
