/**
 * `percore/prom-client` against prom-client itself, call by call: the same errors (class and message) at the
 * same calls, the same `get()` of what this thread recorded, the same bucket generators, and the values reaching
 * percore's aggregate. This test process is one percore core (attached by hand, drained into an `AggregateState`).
 */
import { assert, describe, it } from "@effect/vitest"
import * as prom from "prom-client"
import { attachCore, core } from "../src/core/index.ts"
import { AggregateState } from "../src/engine/AggregateState.ts"
import { CoreChannel } from "../src/engine/CoreChannel.ts"
import * as facade from "../src/prom-client/index.ts"
import { allocateCoreBuffers, defaultCoreSettings } from "../src/protocol/index.ts"

const aggregate = new AggregateState({ maxSeries: 100_000 })
const buffers = allocateCoreBuffers(0, { ringCapacity: 1 << 16, logBytes: 1 << 20 }, { ...defaultCoreSettings, flushIntervalMs: 60_000 })
attachCore(buffers)
const channel = new CoreChannel(buffers, aggregate)
/** Publishes this thread's coalesced updates and drains them into `aggregate`. */
const drain = () => {
  core.flush()
  channel.drain()
}

const labelNames: Array<string> = ["route", "code"]
let unique = 0
/** A fresh metric name per call: this core keeps every definition. */
const fresh = (base: string) => `${base}_${unique++}`

interface Thrown {
  readonly type: string
  readonly message: string
}
const thrown = (call: () => unknown): Thrown | undefined => {
  try {
    call()
  } catch (error) {
    return error instanceof Error ? { type: error.constructor.name, message: error.message } : { type: typeof error, message: String(error) }
  }
  return undefined
}

/** Both calls throw the same class with the same message (and do throw). */
const throwsAlike = (promCall: () => unknown, facadeCall: () => unknown) => {
  const expected = thrown(promCall)
  assert.isDefined(expected, "prom-client throws here")
  assert.deepStrictEqual(thrown(facadeCall), expected)
}

describe("errors keep prom-client's shape", () => {
  it("constructor checks", () => {
    for (const config of [
      { name: "bad-name", help: "h" },
      { name: "", help: "h" },
      { name: "ok", help: "" },
      { name: "ok", help: "h", labelNames: ["bad-label"] }
    ]) {
      throwsAlike(() => new prom.Counter({ ...config, registers: [] }), () => new facade.Counter({ ...config, registers: [] }))
      throwsAlike(() => new prom.Gauge({ ...config, registers: [] }), () => new facade.Gauge({ ...config, registers: [] }))
    }
    throwsAlike(
      () => new prom.Histogram({ name: "h", help: "h", labelNames: ["le"], registers: [] }),
      () => new facade.Histogram({ name: "h", help: "h", labelNames: ["le"], registers: [] })
    )
  })

  it("a label not in labelNames, at inc/set/observe/labels/remove", () => {
    const name = fresh("errors")
    const p = { counter: new prom.Counter({ name, help: "h", labelNames, registers: [] }), gauge: new prom.Gauge({ name, help: "h", labelNames, registers: [] }), histogram: new prom.Histogram({ name, help: "h", labelNames, registers: [] }) }
    const f = {
      counter: new facade.Counter({ name: `${name}_c_total`, help: "h", labelNames, registers: [] }),
      gauge: new facade.Gauge({ name: `${name}_g`, help: "h", labelNames, registers: [] }),
      histogram: new facade.Histogram({ name: `${name}_h`, help: "h", labelNames, registers: [] })
    }
    const wrong = { route: "/a", method: "GET" }
    throwsAlike(() => p.counter.inc(wrong), () => f.counter.inc(wrong))
    throwsAlike(() => p.counter.inc(wrong, 2), () => f.counter.inc(wrong, 2))
    throwsAlike(() => p.gauge.set(wrong, 1), () => f.gauge.set(wrong, 1))
    throwsAlike(() => p.gauge.inc(wrong), () => f.gauge.inc(wrong))
    throwsAlike(() => p.gauge.labels(wrong), () => f.gauge.labels(wrong))
    throwsAlike(() => p.histogram.observe(wrong, 1), () => f.histogram.observe(wrong, 1))
    throwsAlike(() => p.histogram.labels(wrong), () => f.histogram.labels(wrong))
    throwsAlike(() => p.gauge.remove(wrong), () => f.gauge.remove(wrong))
    throwsAlike(() => p.histogram.startTimer(wrong)(), () => f.histogram.startTimer(wrong)())
    // The wrong number of positional labels.
    throwsAlike(() => p.counter.labels("/a"), () => f.counter.labels("/a"))
    throwsAlike(() => p.gauge.labels("/a", "200", "x"), () => f.gauge.labels("/a", "200", "x"))
    throwsAlike(() => p.histogram.labels("/a"), () => f.histogram.labels("/a"))
    throwsAlike(() => p.counter.remove("/a"), () => f.counter.remove("/a"))
  })

  it("invalid values", () => {
    const p = { counter: new prom.Counter({ name: "v", help: "h", registers: [] }), gauge: new prom.Gauge({ name: "v", help: "h", registers: [] }), histogram: new prom.Histogram({ name: "v", help: "h", registers: [] }) }
    const name = fresh("values")
    const f = { counter: new facade.Counter({ name: `${name}_total`, help: "h", registers: [] }), gauge: new facade.Gauge({ name: `${name}_g`, help: "h", registers: [] }), histogram: new facade.Histogram({ name: `${name}_h`, help: "h", registers: [] }) }
    throwsAlike(() => p.counter.inc(-1), () => f.counter.inc(-1))
    throwsAlike(() => p.counter.inc(Infinity), () => f.counter.inc(Infinity))
    throwsAlike(() => p.histogram.observe(Infinity), () => f.histogram.observe(Infinity))
    assert.strictEqual(thrown(() => f.histogram.observe(Number.NaN))?.type, "TypeError")
    const notANumber: number = JSON.parse('"7"')
    throwsAlike(() => p.gauge.set(notANumber), () => f.gauge.set(notANumber))
    throwsAlike(() => p.gauge.inc(notANumber), () => f.gauge.inc(notANumber))
    throwsAlike(() => p.histogram.observe({}, notANumber), () => f.histogram.observe({}, notANumber))
  })

  it("registering a second metric of one name", () => {
    const pr = new prom.Registry()
    const fr = new facade.Registry()
    const name = fresh("dup")
    new prom.Gauge({ name, help: "h", registers: [pr] })
    new facade.Gauge({ name, help: "h", registers: [fr] })
    throwsAlike(() => new prom.Gauge({ name, help: "h", registers: [pr] }), () => new facade.Gauge({ name, help: "h", registers: [fr] }))
  })

  it("Summary throws a typed error that names Histogram", () => {
    let caught: unknown
    try {
      new facade.Summary({ name: "latency", help: "h" })
    } catch (error) {
      caught = error
    }
    if (!(caught instanceof facade.SummaryNotSupported)) return assert.fail(`expected SummaryNotSupported, got ${String(caught)}`)
    assert.strictEqual(caught._tag, "SummaryNotSupported")
    assert.match(caught.message, /Histogram/)
  })

  it("names and label names percore refuses throw at the constructor", () => {
    assert.strictEqual(thrown(() => new facade.Gauge({ name: `${fresh("gauge")}_total`, help: "h", registers: [] }))?.type, "InvalidMetricName")
    assert.strictEqual(thrown(() => new facade.Counter({ name: fresh("c"), help: "h", labelNames: ["quantile"], registers: [] }))?.type, "InvalidLabelName")
  })

  it("an aggregator percore cannot merge throws at the constructor; first is the latest value", () => {
    assert.strictEqual(thrown(() => new facade.Gauge({ name: fresh("avg"), help: "h", aggregator: "average", registers: [] }))?.type, "UnsupportedAggregator")
    const name = fresh("first")
    new facade.Gauge({ name, help: "h", aggregator: "first", registers: [] }).set(3)
    drain()
    assert.strictEqual(aggregate.families.get(name)?.aggregate, "latest")
    assert.strictEqual(aggregate.find(name)?.value, 3)
  })

  it("bucket generators are prom-client's, errors included", () => {
    assert.deepStrictEqual(facade.linearBuckets(0.1, 0.1, 5), prom.linearBuckets(0.1, 0.1, 5))
    assert.deepStrictEqual(facade.exponentialBuckets(100, 10, 4), prom.exponentialBuckets(100, 10, 4))
    assert.deepStrictEqual(facade.exponentialBuckets(0.001, 1.5, 20), prom.exponentialBuckets(0.001, 1.5, 20))
    throwsAlike(() => prom.linearBuckets(0, 1, 0), () => facade.linearBuckets(0, 1, 0))
    throwsAlike(() => prom.exponentialBuckets(0, 2, 3), () => facade.exponentialBuckets(0, 2, 3))
    throwsAlike(() => prom.exponentialBuckets(1, 1, 3), () => facade.exponentialBuckets(1, 1, 3))
    throwsAlike(() => prom.exponentialBuckets(1, 2, 0), () => facade.exponentialBuckets(1, 2, 0))
  })
})

describe("values", () => {
  it("labels() hands out one cached child per label set, positional or object, numbers as strings", () => {
    const counter = new facade.Counter({ name: fresh("cache_total"), help: "h", labelNames, registers: [] })
    const child = counter.labels("/a", "200")
    assert.strictEqual(counter.labels("/a", "200"), child)
    assert.strictEqual(counter.labels({ code: 200, route: "/a" }), child)
    assert.strictEqual(counter.labels("/a", 200), child)
    // No separator can make two label sets collide.
    assert.notStrictEqual(counter.labels("a|b", "c"), counter.labels("a", "b|c"))
    assert.notStrictEqual(counter.labels("a\u0000b", "c"), counter.labels("a", "b\u0000c"))
  })

  it("every call form reaches the aggregate exactly", () => {
    const name = fresh("forms")
    const counter = new facade.Counter({ name: `${name}_total`, help: "h", labelNames, registers: [] })
    counter.inc({ route: "/a", code: "200" })
    counter.inc({ route: "/a", code: "200" }, 2)
    counter.labels("/a", "200").inc()
    counter.labels({ route: "/a", code: "200" }).inc(4)
    counter.inc({ route: "/b" }) // a missing label is an empty one
    counter.inc() // no labels at all
    const plain = new facade.Counter({ name: `${name}_plain_total`, help: "h", registers: [] })
    plain.inc()
    plain.inc(2.5)
    const gauge = new facade.Gauge({ name: `${name}_gauge`, help: "h", labelNames: ["pool"], registers: [] })
    gauge.set({ pool: "a" }, 10)
    gauge.inc({ pool: "a" })
    gauge.dec({ pool: "a" }, 3)
    gauge.labels("b").set(-2)
    gauge.labels("b").dec()
    const histogram = new facade.Histogram({ name: `${name}_seconds`, help: "h", labelNames: ["route"], buckets: [1, 2], registers: [] })
    histogram.observe({ route: "/a" }, 0.5)
    histogram.labels("/a").observe(1.5)
    histogram.observe({ route: "/a" }, 3)
    histogram.zero({ route: "/zero" })
    drain()
    assert.strictEqual(aggregate.find(`${name}_total`, { route: "/a", code: "200" })?.value, 8)
    assert.strictEqual(aggregate.find(`${name}_total`, { route: "/b", code: "" })?.value, 1)
    assert.strictEqual(aggregate.find(`${name}_total`, { route: "", code: "" })?.value, 1)
    assert.strictEqual(aggregate.find(`${name}_plain_total`)?.value, 3.5)
    assert.strictEqual(aggregate.find(`${name}_gauge`, { pool: "a" })?.value, 8)
    assert.strictEqual(aggregate.find(`${name}_gauge`, { pool: "b" })?.value, -3)
    const series = aggregate.find(`${name}_seconds`, { route: "/a" })
    assert.deepStrictEqual([...series?.bucketCounts ?? []], [1, 1, 1])
    assert.strictEqual(series?.sum, 5)
    assert.deepStrictEqual([...aggregate.find(`${name}_seconds`, { route: "/zero" })?.bucketCounts ?? [1]], [0, 0, 0])
  })

  it("startTimer's end reads the labels object when it ends and merges the end's labels", () => {
    const name = fresh("timer_seconds")
    const histogram = new facade.Histogram({ name, help: "h", labelNames, buckets: [1000], registers: [] })
    const labels: { route?: string; code?: string } = { route: "/a" }
    const end = histogram.startTimer(labels)
    labels.code = "201"
    const seconds = end()
    histogram.startTimer({ route: "/b" })({ code: "500" })
    histogram.labels("/c", "200").startTimer()({ code: "204" })
    const gauge = new facade.Gauge({ name: `${name}_gauge`, help: "h", labelNames, registers: [] })
    gauge.startTimer({ route: "/g" })({ code: "200" })
    drain()
    assert.isAtLeast(seconds, 0)
    assert.strictEqual(aggregate.find(name, { route: "/a", code: "201" })?.bucketCounts?.[0], 1)
    assert.strictEqual(aggregate.find(name, { route: "/b", code: "500" })?.bucketCounts?.[0], 1)
    assert.strictEqual(aggregate.find(name, { route: "/c", code: "204" })?.bucketCounts?.[0], 1)
    assert.isAtLeast(aggregate.find(`${name}_gauge`, { route: "/g", code: "200" })?.value ?? -1, 0)
  })

  it("setToCurrentTime sets seconds since the epoch", () => {
    const name = fresh("now")
    const gauge = new facade.Gauge({ name, help: "h", registers: [] })
    const before = Date.now() / 1000
    gauge.setToCurrentTime()
    drain()
    const value = aggregate.find(name)?.value ?? 0
    assert.isAtLeast(value, before)
    assert.isAtMost(value, Date.now() / 1000)
  })

  it("get() off the control plane is this thread's values, in prom-client's shape", async () => {
    const run = async (client: typeof prom | typeof facade, suffix: string) => {
      const counter = new client.Counter({ name: `get_${suffix}_total`, help: "h", labelNames, registers: [] })
      counter.inc({ route: "/a", code: "200" }, 2)
      counter.labels("/b", "500").inc()
      const gauge = new client.Gauge({ name: `get_${suffix}_gauge`, help: "h", registers: [] })
      gauge.set(4)
      gauge.dec()
      const histogram = new client.Histogram({ name: `get_${suffix}_seconds`, help: "h", labelNames: ["route"], buckets: [1, 2], registers: [] })
      histogram.observe({ route: "/a" }, 0.5)
      histogram.observe({ route: "/a" }, 5)
      return Promise.all([counter.get(), gauge.get(), histogram.get()])
    }
    const name = fresh("x")
    const expected = await run(prom, name)
    const actual = await run(facade, `${name}f`)
    const strip = (results: ReadonlyArray<{ readonly values: ReadonlyArray<object> }>) =>
      results.map((r) => r.values.map((v) => JSON.parse(JSON.stringify(v, (key, value) => (key === "exemplar" ? undefined : value)))))
    assert.deepStrictEqual(
      JSON.parse(JSON.stringify(strip(actual)).replaceAll(`get_${name}f_`, "get_")),
      JSON.parse(JSON.stringify(strip(expected)).replaceAll(`get_${name}_`, "get_"))
    )
  })

  it("collect() runs on get(), with the metric as this", async () => {
    const name = fresh("collected")
    const gauge = new facade.Gauge({
      name,
      help: "h",
      registers: [],
      async collect() {
        await Promise.resolve()
        this.set(42)
      }
    })
    const got = await gauge.get()
    assert.deepStrictEqual(got.values, [{ value: 42, labels: {} }])
  })

  it("reset and remove: a gauge's thread value goes to 0; counters stay monotonic on the page", async () => {
    const name = fresh("reset")
    const gauge = new facade.Gauge({ name: `${name}_gauge`, help: "h", labelNames: ["pool"], registers: [] })
    gauge.set({ pool: "a" }, 5)
    gauge.set({ pool: "b" }, 6)
    gauge.remove("a")
    drain()
    assert.strictEqual(aggregate.find(`${name}_gauge`, { pool: "a" })?.value, 0)
    assert.strictEqual(aggregate.find(`${name}_gauge`, { pool: "b" })?.value, 6)
    gauge.reset()
    drain()
    assert.strictEqual(aggregate.find(`${name}_gauge`, { pool: "b" })?.value, 0)
    assert.deepStrictEqual((await gauge.get()).values, [])

    const counter = new facade.Counter({ name: `${name}_total`, help: "h", registers: [] })
    counter.inc(5)
    counter.reset()
    counter.inc(2)
    drain()
    assert.strictEqual(aggregate.find(`${name}_total`)?.value, 7)
    assert.deepStrictEqual((await counter.get()).values, [{ value: 2, labels: {} }])
  })
})

describe("registry", () => {
  it("contentType, getSingleMetric, removeSingleMetric, clear, as prom-client's", () => {
    assert.strictEqual(facade.register.contentType, prom.register.contentType)
    assert.strictEqual(facade.Registry.OPENMETRICS_CONTENT_TYPE, prom.Registry.OPENMETRICS_CONTENT_TYPE)
    assert.strictEqual(facade.contentType, prom.contentType)
    const registry = new facade.Registry()
    const name = fresh("single")
    const gauge = new facade.Gauge({ name, help: "h", registers: [registry] })
    assert.strictEqual(registry.getSingleMetric(name), gauge)
    // getSingleMetric makes creation idempotent, as apps use it.
    const again = registry.getSingleMetric(name) ?? new facade.Gauge({ name, help: "h", registers: [registry] })
    assert.strictEqual(again, gauge)
    registry.removeSingleMetric(name)
    assert.isUndefined(registry.getSingleMetric(name))
    new facade.Gauge({ name, help: "h", registers: [registry] }) // the name is free again
    registry.clear()
    assert.deepStrictEqual(registry.getMetricsAsArray(), [])
  })

  it("metrics() rejects with NoControlPlane where no control plane runs", async () => {
    const error = await facade.register.metrics().then(() => undefined, (e: unknown) => e)
    assert.instanceOf(error, facade.NoControlPlane)
  })
})
