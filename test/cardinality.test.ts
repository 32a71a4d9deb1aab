/**
 * Cardinality limits keep memory bounded: once a limit is reached, definitions are refused with a typed
 * error and counted, and refused definitions leave nothing behind, on the core or in the aggregate.
 */
import { assert, describe, it } from "@effect/vitest"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { allocateCoreBuffers, defaultCoreSettings } from "../src/protocol/index.ts"
import { CoreRuntime } from "../src/core/CoreRuntime.ts"
import { AggregateState } from "../src/engine/AggregateState.ts"
import { CoreChannel } from "../src/engine/CoreChannel.ts"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void
const heapAfterGc = () => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

const core = (aggregate: AggregateState, coreId: number, maxSeriesPerCore: number) => {
  const buffers = allocateCoreBuffers(coreId, { ringCapacity: 1 << 16, logBytes: 4 * 1024 * 1024 }, {
    ...defaultCoreSettings,
    flushIntervalMs: 60_000,
    maxSeriesPerCore,
    maxSeriesPerFamily: maxSeriesPerCore
  })
  return { runtime: new CoreRuntime(buffers), channel: new CoreChannel(buffers, aggregate) }
}

describe("cardinality", () => {
  it("past the per-core limit every definition is refused and counted, and the heap stays flat", () => {
    const aggregate = new AggregateState({ maxSeries: 1_000_000 })
    const { runtime, channel } = core(aggregate, 0, 2000)
    for (let i = 0; i < 2000; i++) runtime.counter("user_requests_total", { labels: { user: `u${i}` } }).inc()
    runtime.flush()
    channel.drain()
    const before = heapAfterGc()
    let refused = 0
    for (let i = 2000; i < 50_000; i++) {
      try {
        runtime.counter("user_requests_total", { labels: { user: `u${i}` } }).inc()
      } catch (e) {
        if ((e as { _tag?: string })._tag === "SeriesLimitExceeded") refused++
      }
    }
    runtime.flush()
    channel.drain()
    const grown = heapAfterGc() - before
    assert.strictEqual(refused, 48_000)
    assert.strictEqual(aggregate.find("percore_series_refused_total", { core: "0", scope: "family" })?.value, 48_000)
    assert.strictEqual(aggregate.families.get("user_requests")?.series.length, 2000)
    assert.isBelow(grown, 1024 * 1024, `heap grew ${grown} bytes over 48,000 refused definitions`)
    runtime.close()
  })

  it("past the global limit the aggregate refuses further series from any core, and holds no more", () => {
    const aggregate = new AggregateState({ maxSeries: 1500 })
    const cores = [0, 1].map((id) => core(aggregate, id, 10_000))
    for (const { runtime, channel } of cores) {
      for (let i = 0; i < 1000; i++) runtime.counter("tenant_requests_total", { labels: { tenant: `t${runtime.id}-${i}` } }).inc()
      runtime.flush()
      channel.drain()
    }
    assert.strictEqual(aggregate.families.get("tenant_requests")?.series.length, 1500)
    assert.strictEqual(aggregate.find("percore_series_refused_total", { core: "1", scope: "global" })?.value, 500)
    assert.strictEqual(aggregate.find("percore_invalid_samples_total", { core: "1", reason: "refused_series" })?.value, 500)
    for (const { runtime } of cores) runtime.close()
  })
})
