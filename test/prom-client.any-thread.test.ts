/**
 * `percore/prom-client` with no wiring at all: on the main thread next to a control plane that spawns no cores
 * (`PERCORE_CORES=0`), and in a plain `new Worker` without workerData. Both record through `core`, which
 * attaches by itself in any thread of the process.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Worker } from "node:worker_threads"
import * as client from "../src/prom-client/index.ts"
import { Aggregate } from "../src/services/Aggregate.ts"
import { aggregateLayer, servedLayer } from "./support/layers.ts"
import { until } from "./support/until.ts"

const percoreLayer = servedLayer(aggregateLayer({ PERCORE_CORES: "0" }))

describe("the facade in any thread", () => {
  it.live("the main thread and a plain worker record into one aggregated page", () =>
    Effect.gen(function*() {
      const aggregate = yield* Aggregate
      const jobs = new client.Counter({ name: "anywhere_jobs_total", help: "Jobs", labelNames: ["thread"] })
      jobs.inc({ thread: "main" }, 2)
      const worker = yield* Effect.acquireRelease(
        Effect.sync(() => new Worker(new URL("./fixtures/prom-plain-worker.ts", import.meta.url))),
        (w) => Effect.promise(() => w.terminate())
      )
      yield* Effect.promise(() => new Promise((resolve) => worker.once("message", resolve)))
      yield* until(() => aggregate.find("anywhere_jobs_total", { thread: "worker" }) !== undefined, "the worker's series", 10_000)
      const page = yield* Effect.promise(() => client.register.metrics())
      assert.include(page, `anywhere_jobs_total{thread="main"} 2`)
      assert.include(page, `anywhere_jobs_total{thread="worker"} 3`)
      assert.include(page, `anywhere_latency_seconds_count 1`)
    }).pipe(Effect.scoped, Effect.provide(percoreLayer)))
})
