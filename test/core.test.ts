/**
 * The core runtime (worker-side API) and its control-plane channel, in one thread: definitions,
 * validation, limits, invalid samples, coalescing and flush triggers, against a real ring, a real
 * intern log and a real AggregateState.
 */
import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Schema } from "effect"
import { allocateCoreBuffers, type CoreSettings, defaultCoreSettings } from "../src/protocol/index.ts"
import { CoreRuntime } from "../src/core/CoreRuntime.ts"
import { core } from "../src/core/index.ts"
import { AggregateState } from "../src/engine/AggregateState.ts"
import { CoreChannel } from "../src/engine/CoreChannel.ts"

const setup = (settings: Partial<CoreSettings> = {}, aggregate = new AggregateState({ maxSeries: 1000 }), coreId = 0) => {
  const buffers = allocateCoreBuffers(coreId, { ringCapacity: 4096, logBytes: 256 * 1024 }, {
    ...defaultCoreSettings,
    flushIntervalMs: 60_000,
    ...settings
  })
  const runtime = new CoreRuntime(buffers)
  const channel = new CoreChannel(buffers, aggregate)
  const sync = () => {
    runtime.flush()
    channel.drain()
  }
  return { aggregate, runtime, channel, sync }
}

const value = (aggregate: AggregateState, name: string, labels: Record<string, string> = {}): number | undefined =>
  aggregate.find(name, labels)?.value

describe("core runtime: recording", () => {
  it("counters, gauges and histograms reach the aggregate exactly", () => {
    const { aggregate, runtime, sync } = setup()
    const requests = runtime.counter("app_requests_total", { help: "Requests", labels: { route: "/a" } })
    const inflight = runtime.gauge("app_inflight", { help: "In flight" })
    const latency = runtime.histogram("app_latency_seconds", { help: "Latency", buckets: [0.001, 0.01, 0.1, 1] })
    requests.inc()
    requests.inc(3)
    inflight.set(7)
    inflight.inc()
    inflight.dec()
    inflight.dec(2)
    for (const v of [0.0005, 0.004, 0.004, 0.05, 2, 1]) latency.observe(v)
    sync()
    assert.strictEqual(value(aggregate, "app_requests_total", { route: "/a" }), 4)
    assert.strictEqual(value(aggregate, "app_inflight"), 5)
    const h = aggregate.find("app_latency_seconds")!
    assert.deepStrictEqual([...h.bucketCounts!], [1, 2, 1, 1, 1])
    assert.strictEqual(h.count, 6)
    assert.closeTo(h.sum, 3.0585, 1e-12)
    requests.inc(2)
    sync()
    assert.strictEqual(value(aggregate, "app_requests_total", { route: "/a" }), 6, "counters accumulate across flushes")
    runtime.close()
  })

  it("gauges accept NaN and ±Inf", () => {
    const { aggregate, runtime, sync } = setup()
    const g = runtime.gauge("odd_values", { help: "" })
    g.set(Number.NaN)
    sync()
    assert.isTrue(Number.isNaN(value(aggregate, "odd_values")!))
    g.set(Number.NEGATIVE_INFINITY)
    sync()
    assert.strictEqual(value(aggregate, "odd_values"), Number.NEGATIVE_INFINITY)
    runtime.close()
  })

  it("invalid samples are dropped and counted per reason, never thrown", () => {
    const { aggregate, runtime, sync } = setup()
    const c = runtime.counter("c_total")
    const h = runtime.histogram("h_seconds", { buckets: [1] })
    c.inc(-1)
    c.inc(Number.NaN)
    c.inc(Number.POSITIVE_INFINITY)
    c.inc(-Infinity)
    h.observe(Number.NaN)
    h.observe(Number.POSITIVE_INFINITY)
    c.inc(2)
    h.observe(0.5)
    sync()
    const invalid = (reason: string) => value(aggregate, "percore_invalid_samples_total", { core: "0", reason })
    assert.strictEqual(invalid("negative_increment"), 2)
    assert.strictEqual(invalid("non_finite_increment"), 2)
    assert.strictEqual(invalid("non_finite_observation"), 2)
    assert.strictEqual(value(aggregate, "c_total"), 2)
    assert.strictEqual(aggregate.find("h_seconds")!.count, 1)
    runtime.close()
  })

  it("coalesces: many handle calls publish one ring sample per changed component", () => {
    const { runtime, channel } = setup()
    const c = runtime.counter("hits_total")
    const g = runtime.gauge("level")
    const h = runtime.histogram("size_bytes", { buckets: [10, 100] })
    for (let i = 0; i < 200; i++) {
      c.inc()
      g.set(i)
      h.observe(i % 2 === 0 ? 5 : 50)
    }
    runtime.flush()
    // counter 1 + gauge 1 + two histogram buckets + histogram sum 1
    assert.strictEqual(channel.drain(), 5)
    runtime.close()
  })
})

describe("core runtime: histogram buckets", () => {
  // Fewer than 8 bounds are scanned, more are binary-searched: both must pick the first bucket whose bound is ≥ the
  // value (Prometheus' `le`), exact bounds included, and +Inf above the last.
  it.prop(
    "observe counts each value in the first bucket whose bound is ≥ it, for 1 to 30 bounds",
    [
      Arbitrary.array(Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: -1000, maximum: 1000 }))), { minLength: 1, maxLength: 30 }),
      Arbitrary.array(Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: -1100, maximum: 1100 }))), { maxLength: 60 })
    ],
    ([rawBounds, rawValues]) => {
      const bounds = [...new Set(rawBounds.map((b) => b / 10))].sort((a, b) => a - b)
      const values = [...rawValues.map((v) => v / 10), ...bounds] // every bound itself too
      const { runtime } = setup()
      const h = runtime.histogram("prop_seconds", { buckets: bounds })
      const expected = new Array<number>(bounds.length + 1).fill(0)
      for (const v of values) {
        h.observe(v)
        const i = bounds.findIndex((b) => v <= b)
        expected[i === -1 ? bounds.length : i]!++
      }
      const counted = Array.from({ length: bounds.length + 1 }, (_, i) => runtime.pending[h.id + i]!)
      runtime.close()
      assert.deepStrictEqual(counted, expected, `bounds ${JSON.stringify(bounds)}`)
    },
    { arbitrary: { runs: 200 } }
  )
})

describe("core runtime: definitions", () => {
  it("the same definition returns the same handle; other label values get other ids", () => {
    const { runtime } = setup()
    const a = runtime.counter("x_total", { labels: { route: "/a" } })
    assert.strictEqual(runtime.counter("x_total", { labels: { route: "/a" } }), a)
    assert.strictEqual(runtime.counter("x", { labels: { route: "/a" } }), a, "x and x_total are one counter family")
    const b = runtime.counter("x_total", { labels: { route: "/b" } })
    assert.notStrictEqual(b.id, a.id)
    runtime.close()
  })

  it("bad names, reserved labels, bad buckets and conflicts fail with typed errors at definition", () => {
    const { runtime } = setup()
    const tagOf = (f: () => unknown): string => {
      try {
        f()
      } catch (e) {
        assert.instanceOf(e, Error)
        assert.isTrue(e.message.length > 10, e.message)
        return (e as unknown as { _tag: string })._tag
      }
      return assert.fail("expected a definition error")
    }
    assert.strictEqual(tagOf(() => runtime.counter("1bad")), "InvalidMetricName")
    assert.strictEqual(tagOf(() => runtime.counter("__reserved")), "InvalidMetricName")
    assert.strictEqual(tagOf(() => runtime.counter("percore_mine_total")), "InvalidMetricName", "percore_ is reserved")
    assert.strictEqual(tagOf(() => runtime.counter("ok_total", { labels: { le: "1" } })), "InvalidLabelName")
    assert.strictEqual(tagOf(() => runtime.counter("ok_total", { labels: { quantile: "1" } })), "InvalidLabelName")
    assert.strictEqual(tagOf(() => runtime.counter("ok_total", { labels: { __x: "1" } })), "InvalidLabelName")
    assert.strictEqual(tagOf(() => runtime.counter("ok_total", { labels: { "a-b": "1" } })), "InvalidLabelName")
    assert.strictEqual(tagOf(() => runtime.histogram("h_seconds", { buckets: [] })), "InvalidBuckets")
    assert.strictEqual(tagOf(() => runtime.histogram("h_seconds", { buckets: [2, 1] })), "InvalidBuckets")
    assert.strictEqual(tagOf(() => runtime.histogram("h_seconds", { buckets: [1, 1] })), "InvalidBuckets")
    assert.strictEqual(tagOf(() => runtime.histogram("h_seconds", { buckets: [1, Number.NaN] })), "InvalidBuckets")
    runtime.counter("taken_total", { help: "one", labels: { a: "1" } })
    assert.strictEqual(tagOf(() => runtime.gauge("taken_total")), "InvalidMetricName", "gauges cannot end in _total")
    assert.strictEqual(tagOf(() => runtime.counter("taken_total", { help: "two", labels: { a: "1" } })), "ConflictingDefinition")
    assert.strictEqual(tagOf(() => runtime.counter("taken_total", { help: "one", labels: { b: "1" } })), "ConflictingDefinition")
    runtime.histogram("lat_seconds", { buckets: [1, 2] })
    assert.strictEqual(tagOf(() => runtime.histogram("lat_seconds", { buckets: [1, 3] })), "ConflictingDefinition")
    runtime.gauge("level", { aggregate: "max" })
    assert.strictEqual(tagOf(() => runtime.gauge("level", { aggregate: "min" })), "ConflictingDefinition")
    assert.strictEqual(tagOf(() => runtime.histogram("level")), "ConflictingDefinition")
    runtime.close()
  })

  it("series limits per family and per core fail with SeriesLimitExceeded, are counted, and keep existing series working", () => {
    const { aggregate, runtime, sync } = setup({ maxSeriesPerFamily: 3, maxSeriesPerCore: 5 })
    const handles = [0, 1, 2].map((i) => runtime.counter("fam_total", { labels: { i: String(i) } }))
    const refusal = (f: () => unknown) => {
      try {
        f()
      } catch (e) {
        return e as { _tag: string; scope: string; limit: number }
      }
      return assert.fail("expected SeriesLimitExceeded")
    }
    const perFamily = refusal(() => runtime.counter("fam_total", { labels: { i: "3" } }))
    assert.strictEqual(perFamily._tag, "SeriesLimitExceeded")
    assert.strictEqual(perFamily.scope, "family")
    runtime.counter("other_total", { labels: { i: "0" } })
    runtime.counter("other_total", { labels: { i: "1" } })
    const perCore = refusal(() => runtime.counter("other_total", { labels: { i: "2" } }))
    assert.strictEqual(perCore.scope, "core")
    assert.strictEqual(perCore.limit, 5)
    for (const h of handles) h.inc()
    sync()
    assert.strictEqual(value(aggregate, "fam_total", { i: "2" }), 1)
    assert.strictEqual(value(aggregate, "percore_series_refused_total", { core: "0", scope: "family" }), 1)
    assert.strictEqual(value(aggregate, "percore_series_refused_total", { core: "0", scope: "core" }), 1)
    runtime.close()
  })

  it("percore/core in a thread no control plane serves records without throwing (it attaches when one starts)", () => {
    assert.doesNotThrow(() => core.counter("x_total").inc())
    assert.strictEqual(core.id, -1)
  })
})

describe("core runtime: flush triggers", () => {
  it("a core recording in a loop flushes from the hot path once the flush interval has passed", () => {
    const { runtime, channel } = setup({ flushIntervalMs: 0 })
    const c = runtime.counter("loop_total")
    // Each handle call counts down a budget; at zero the core looks at the clock (and flush requests).
    let calls = 0
    while (channel.drain() === 0 && calls < 10_000) {
      c.inc()
      calls++
    }
    assert.isTrue(calls > 1 && calls <= 256, `flushed after ${calls} calls, within one budget`)
    runtime.close()
  })

  it("answers a flush request from the control plane", async () => {
    const { aggregate, runtime, channel } = setup()
    const c = runtime.counter("asked_total")
    for (let i = 0; i < 10; i++) c.inc()
    const request = channel.requestFlush()
    // The core's event loop turns: its waitAsync wakes and it flushes.
    for (let i = 0; i < 100 && !channel.flushed(request); i++) await new Promise((resolve) => setTimeout(resolve, 5))
    assert.isTrue(channel.flushed(request))
    channel.drain()
    assert.strictEqual(value(aggregate, "asked_total"), 10)
    runtime.close()
  })

  it("stop is signalled in shared memory", () => {
    const { runtime, channel } = setup()
    assert.isFalse(runtime.stopping)
    channel.requestStop()
    assert.isTrue(runtime.stopping)
    runtime.close()
  })
})

describe("control plane: definitions from several cores", () => {
  it("a conflict with another core's definition or the global limit refuses that core's series, and counts it", () => {
    const aggregate = new AggregateState({ maxSeries: 3 })
    const a = setup({}, aggregate, 0)
    const b = setup({}, aggregate, 1)
    a.runtime.counter("shared_total", { help: "h" }).inc(5)
    b.runtime.gauge("shared_total_gauge").set(1)
    b.runtime.counter("shared_total", { help: "other help" }).inc(7) // conflicts with core 0's definition
    b.runtime.counter("fine_total").inc()
    b.runtime.counter("over_limit_total").inc() // the 4th user series: over the global limit
    a.sync()
    b.sync()
    assert.strictEqual(value(aggregate, "shared_total"), 5)
    assert.strictEqual(value(aggregate, "fine_total"), 1)
    assert.isUndefined(aggregate.find("over_limit_total"))
    assert.strictEqual(value(aggregate, "percore_series_refused_total", { core: "1", scope: "conflict" }), 1)
    assert.strictEqual(value(aggregate, "percore_series_refused_total", { core: "1", scope: "global" }), 1)
    assert.strictEqual(value(aggregate, "percore_invalid_samples_total", { core: "1", reason: "refused_series" }), 2)
    assert.strictEqual(b.channel.takeRefusals().length, 2)
    a.runtime.close()
    b.runtime.close()
  })
})

/** Reference model for the property test: plain maps, no rings, no coalescing. */
interface Step {
  readonly core: number
  readonly kind: "counter" | "gauge" | "histogram" | "drain"
  readonly label: number
  readonly amount: number
}

describe("core runtime: model-based", () => {
  const step = Schema.Struct({
    core: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })),
    kind: Schema.Literals(["counter", "gauge", "histogram", "drain"]),
    label: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 4 })),
    amount: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1000 }))
  })
  it.prop(
    "random definitions and samples across 1–4 cores match a reference model",
    [
      Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 4 })),
      Arbitrary.array(Arbitrary.schema(step), { maxLength: 80 })
    ],
    ([cores, steps]) => {
      const aggregate = new AggregateState({ maxSeries: 1000 })
      const sides = Array.from({ length: cores }, (_, i) => setup({}, aggregate, i))
      const counters = new Map<string, number>()
      const gauges = new Map<string, Map<number, number>>()
      const histograms = new Map<string, { buckets: Array<number>; count: number; sum: number }>()
      const bounds = [100, 500]
      for (const s of steps as ReadonlyArray<Step>) {
        const side = sides[s.core % cores]!
        const label = { l: String(s.label) }
        const key = String(s.label)
        if (s.kind === "drain") side.sync()
        else if (s.kind === "counter") {
          side.runtime.counter("m_total", { labels: label }).inc(s.amount)
          counters.set(key, (counters.get(key) ?? 0) + s.amount)
        } else if (s.kind === "gauge") {
          side.runtime.gauge("m_gauge", { labels: label }).set(s.amount)
          const perCore = gauges.get(key) ?? new Map<number, number>()
          perCore.set(s.core % cores, s.amount)
          gauges.set(key, perCore)
        } else {
          side.runtime.histogram("m_seconds", { labels: label, buckets: bounds }).observe(s.amount)
          const h = histograms.get(key) ?? { buckets: [0, 0, 0], count: 0, sum: 0 }
          h.buckets[s.amount <= 100 ? 0 : s.amount <= 500 ? 1 : 2]!++
          h.count++
          h.sum += s.amount
          histograms.set(key, h)
        }
      }
      for (const side of sides) side.sync()
      for (const [key, total] of counters) assert.strictEqual(value(aggregate, "m_total", { l: key }), total)
      for (const [key, perCore] of gauges) {
        assert.strictEqual(value(aggregate, "m_gauge", { l: key }), [...perCore.values()].reduce((a, b) => a + b, 0))
      }
      for (const [key, h] of histograms) {
        const got = aggregate.find("m_seconds", { l: key })!
        assert.deepStrictEqual([...got.bucketCounts!], h.buckets)
        assert.strictEqual(got.count, h.count)
        assert.strictEqual(got.sum, h.sum)
      }
      const userFamilies = [...aggregate.families.values()].filter((f) => !f.name.startsWith("percore_"))
      const userSeries = userFamilies.reduce((n, f) => n + f.series.length, 0)
      assert.strictEqual(userSeries, counters.size + gauges.size + histograms.size, "no series appears from nowhere")
      for (const side of sides) side.runtime.close()
    },
    { arbitrary: { runs: 150 } }
  )
})
