/**
 * The aggregate's compact series: the renderer's fast path (prefix offsets kept in the series, histogram rows in
 * shared chunks) writes exactly what the general path writes for the same plain model objects, and labels rebuilt
 * from a series' key are the labels it was defined with; perCore gauges come out sorted by core.
 */
import { assert, describe, it } from "@effect/vitest"
import { type GaugeAggregation, MetricKind } from "../src/domain/MetricKind.ts"
import { validateDefinition } from "../src/domain/series.ts"
import { type AggregateFamily, type AggregateSeries, AggregateState, GaugeSeries, HistogramSeries, observe } from "../src/engine/AggregateState.ts"
import type { Family, Format, Series } from "../src/exposition/model.ts"
import { render, renderBytes } from "../src/exposition/render.ts"

/** Defines `input` and resolves it in `aggregate` for `core`, throwing on any error. */
const resolveOrThrow = (aggregate: AggregateState, input: Parameters<typeof validateDefinition>[0], aggregation: GaugeAggregation | undefined, core: number): AggregateSeries => {
  const definition = validateDefinition(input)
  if (definition instanceof Error) throw definition
  const resolved = aggregate.resolve(definition, aggregation, core)
  if (resolved instanceof Error) throw resolved
  return resolved.series
}

/** The same series as a plain literal: rendered through the general path (a new object each time, no fast path). */
const plainSeries = (series: AggregateSeries): Series => {
  const plain: Series = { labels: series.labels.map(([k, v]) => [k, v] as const), value: series.value, sum: series.sum, count: series.count }
  const counts = series.bucketCounts
  if (counts !== undefined) plain.bucketCounts = Float64Array.from(counts)
  if (series instanceof HistogramSeries) plain.negativeObservations = series.negativeObservations
  return plain
}

const plainFamily = (family: AggregateFamily): Family => ({
  name: family.name,
  exactName: true,
  help: family.help,
  type: family.type,
  ...(family.buckets === undefined ? {} : { buckets: family.buckets }),
  series: family.series.map(plainSeries)
})

const sameBytes = (aggregate: AggregateState, format: Format, what: string): void => {
  const fast = renderBytes(aggregate.families.values(), format)
  const general = renderBytes([...aggregate.families.values()].map(plainFamily), format)
  assert.isAbove(fast.length, 0)
  assert.isTrue(Buffer.from(fast).equals(Buffer.from(general)), `${what}, ${format}: the fast path's page differs`)
}

// Escapes, multi-byte UTF-8 (4-byte sequences and DEL at every alignment: prefixes are copied 8 bytes at a time),
// values that look like keys, values around the length a key writes in one character (240).
const tricky = ["", "a\"b", "back\\slash", "new\nline", "é☃😀", "\u007f😀\u007f", "x😀y\u007f", "12:34", "3:x", "\u00f0", "\u00f012:", "a".repeat(239), "b".repeat(240), "c".repeat(1000)]
const BOUNDS = [-1, 0, 0.25, 1, 2.5]

const build = (): { readonly aggregate: AggregateState; readonly update: (round: number) => void } => {
  const aggregate = new AggregateState({ maxSeries: 100_000 })
  const counters: Array<AggregateSeries> = [aggregate.own("plain_total", MetricKind.Counter, "No labels.", {})]
  counters.push(aggregate.own("doubled_total_total", MetricKind.Counter, "", { a: "1" }))
  for (let i = 0; i < 3000; i++) {
    counters.push(aggregate.own("app_requests_total", MetricKind.Counter, "By method and path.", { method: tricky[i % tricky.length]!, path: `/items/${i}` }))
  }
  // A label value longer than one 64 KiB arena slot.
  counters.push(aggregate.own("huge_total", MetricKind.Counter, "Huge.", { value: "x".repeat(150_000) + "😀" }))
  const gauges = [aggregate.own("temperature", MetricKind.Gauge, "Gauge.", { room: "a" }), aggregate.own("temperature", MetricKind.Gauge, "Gauge.", { room: "b" })]
  const histograms: Array<AggregateSeries> = [aggregate.own("bare_seconds", MetricKind.Histogram, "No labels.", {}, { buckets: BOUNDS })]
  for (let i = 0; i < 800; i++) {
    histograms.push(aggregate.own("latency_seconds", MetricKind.Histogram, "Latency.", { route: tricky[i % tricky.length]! + i }, { buckets: [0.1, 1, 10] }))
  }
  const values = [0, 1, -1, 0.1, 1e21, 2 ** 53 + 2, -0, Number.NaN, Number.POSITIVE_INFINITY, 123456789.125]
  const update = (round: number): void => {
    counters.forEach((series, i) => void (series.value += values[(i + round) % values.length]!))
    gauges.forEach((series, i) => void (series.value = values[(i + round + 3) % values.length]!))
    histograms.forEach((series, i) => {
      observe(series, series.family.buckets ?? [], ((i * 7 + round) % 30) / 10 - 1)
      if ((i + round) % 5 === 0) observe(series, series.family.buckets ?? [], 1e9)
    })
  }
  return { aggregate, update }
}

describe("the aggregate's series on a page", () => {
  it("render byte for byte as the same plain model objects, in both formats, before and after their values change", () => {
    const { aggregate, update } = build()
    update(0)
    sameBytes(aggregate, "openmetrics", "first render")
    sameBytes(aggregate, "text", "first render")
    for (let round = 1; round <= 3; round++) {
      update(round)
      sameBytes(aggregate, round % 2 === 0 ? "text" : "openmetrics", `round ${round}`)
      sameBytes(aggregate, round % 2 === 0 ? "openmetrics" : "text", `round ${round}`)
    }
  })

  it("render a histogram with a negative sum, or whose flushes saw one, without `_sum` in OpenMetrics only", () => {
    const aggregate = new AggregateState({ maxSeries: 10 })
    const histogram = (k: string) => resolveOrThrow(aggregate, { name: "neg_seconds", kind: MetricKind.Histogram, help: "", labels: { k }, buckets: [1] }, undefined, 0)
    const negative = histogram("sum")
    observe(negative, [1], 5)
    negative.sum -= 7
    // A flush whose sum went down held a negative observation: the flag stays once the sum is positive again.
    const flagged = histogram("flag")
    observe(flagged, [1], 5)
    assert.instanceOf(flagged, HistogramSeries)
    if (flagged instanceof HistogramSeries) flagged.negativeObservations = true
    const positive = histogram("plain")
    observe(positive, [1], 5)
    for (const format of ["openmetrics", "text"] as const) sameBytes(aggregate, format, "negative sums")
    const page = new TextDecoder().decode(renderBytes(aggregate.families.values(), "openmetrics"))
    assert.notInclude(page, 'neg_seconds_sum{k="sum"}')
    assert.notInclude(page, 'neg_seconds_sum{k="flag"}')
    assert.include(page, 'neg_seconds_sum{k="plain"} 5')
    assert.include(page, 'neg_seconds_count{k="sum"} 1')
    assert.include(page, 'neg_seconds_count{k="flag"} 1')
    const text = new TextDecoder().decode(renderBytes(aggregate.families.values(), "text"))
    assert.include(text, 'neg_seconds_sum{k="sum"} -2')
    assert.include(text, 'neg_seconds_sum{k="flag"} 5')
  })
})

describe("the aggregate's series labels", () => {
  it("are rebuilt from the series' key with the family's label names, in order", () => {
    const aggregate = new AggregateState({ maxSeries: 100 })
    for (const value of tricky) {
      const series = aggregate.own("keyed_total", MetricKind.Counter, "", { b: value, a: `${value}:${value.length}` })
      assert.deepStrictEqual(series.labels, [["a", `${value}:${value.length}`], ["b", value]])
      assert.strictEqual(aggregate.find("keyed_total", { a: `${value}:${value.length}`, b: value }), series)
    }
    // The same values under other names are another label set.
    assert.isUndefined(aggregate.find("keyed_total", { x: "a\"b:3", y: "a\"b" }))
  })

  it("find each series again, however many a family holds, and resolving one again creates nothing", () => {
    const aggregate = new AggregateState({ maxSeries: 10_000 })
    const labelsOf = (i: number) => ({ shard: String(i % 7), path: tricky[i % tricky.length]! + String(i) })
    const created = Array.from({ length: 5000 }, (_, i) => aggregate.own("many_total", MetricKind.Counter, "", labelsOf(i)))
    const count = aggregate.seriesCount
    created.forEach((series, i) => {
      assert.strictEqual(aggregate.find("many_total", labelsOf(i)), series)
      assert.strictEqual(aggregate.own("many_total", MetricKind.Counter, "", labelsOf(i)), series)
    })
    assert.strictEqual(aggregate.seriesCount, count)
    assert.isUndefined(aggregate.find("many_total", { shard: "0", path: "absent" }))
  })

  it("of perCore gauges carry the core, sorted with the others", () => {
    const aggregate = new AggregateState({ maxSeries: 100 })
    const series = resolveOrThrow(aggregate, { name: "depth", kind: MetricKind.Gauge, help: "", labels: { queue: "q", a: "x" } }, "perCore", 3)
    assert.deepStrictEqual(series.labels, [["a", "x"], ["core", "3"], ["queue", "q"]])
  })
})

describe("gauge series", () => {
  const gaugeOf = (mode: GaugeAggregation): GaugeSeries => {
    const aggregate = new AggregateState({ maxSeries: 10 })
    const series = aggregate.own("g", MetricKind.Gauge, "", {}, { aggregate: mode })
    if (!(series instanceof GaugeSeries)) throw new Error("not a gauge")
    return series
  }

  it("combine each core's last value, from one core to several", () => {
    const expected: ReadonlyArray<readonly [GaugeAggregation, number, number, number]> = [
      ["sum", 5, 8, 10],
      ["max", 5, 5, 7],
      ["min", 5, 3, 3]
    ]
    for (const [mode, one, two, later] of expected) {
      const series = gaugeOf(mode)
      series.update(0, 4, 1)
      series.update(0, 5, 2)
      assert.strictEqual(series.value, one, `${mode}: one core`)
      series.update(1, 3, 3)
      assert.strictEqual(series.value, two, `${mode}: two cores`)
      series.update(0, 7, 4)
      assert.strictEqual(series.value, later, `${mode}: the first core again`)
    }
  })

  it("`latest` keeps the most recently published value", () => {
    const series = gaugeOf("latest")
    series.update(0, 1, 10)
    series.update(1, 2, 5)
    assert.strictEqual(series.value, 1)
    series.update(1, 3, 11)
    assert.strictEqual(series.value, 3)
  })
})

const define = (aggregate: AggregateState, labels: Readonly<Record<string, string>>, core: number): void => {
  resolveOrThrow(aggregate, { name: "queue_depth", kind: MetricKind.Gauge, help: "Queue depth of each core", labels }, "perCore", core).value = core * 10
}

describe("perCore gauges", () => {
  it("render their series by core number, whatever order the cores defined them in", () => {
    const aggregate = new AggregateState({ maxSeries: 100 })
    for (const core of [1, 0, 10, 2]) define(aggregate, {}, core)
    const lines = render(aggregate.families.values(), "text").split("\n").filter((l) => l.startsWith("queue_depth"))
    assert.deepStrictEqual(lines, ['queue_depth{core="0"} 0', 'queue_depth{core="1"} 10', 'queue_depth{core="2"} 20', 'queue_depth{core="10"} 100'])
  })

  it("keep label sets in first-seen order, each sorted by core", () => {
    const aggregate = new AggregateState({ maxSeries: 100 })
    define(aggregate, { queue: "b" }, 2)
    define(aggregate, { queue: "a" }, 1)
    define(aggregate, { queue: "b" }, 0)
    define(aggregate, { queue: "a" }, 0)
    define(aggregate, { queue: "b" }, 1)
    const lines = render(aggregate.families.values(), "text").split("\n").filter((l) => l.startsWith("queue_depth"))
    assert.deepStrictEqual(lines, [
      'queue_depth{core="0",queue="b"} 0',
      'queue_depth{core="1",queue="b"} 10',
      'queue_depth{core="2",queue="b"} 20',
      'queue_depth{core="0",queue="a"} 0',
      'queue_depth{core="1",queue="a"} 10'
    ])
  })
})
