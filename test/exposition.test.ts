import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Schema } from "effect"
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import parsePrometheusTextFormat from "parse-prometheus-text-format"
import {
  acceptsGzip,
  contentType,
  escapeHelp,
  escapeLabelValue,
  ExpositionError,
  formatCanonicalFloat,
  formatGoFloat,
  formatValue,
  negotiate,
  render,
  renderBytes
} from "../src/exposition/index.ts"
import type { Family, Format, Series } from "../src/exposition/index.ts"

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

type Labels = Series["labels"]

const scalar = (labels: Labels, value: number): Series => ({ labels, value, sum: 0, count: 0 })

const histogramSeries = (labels: Labels, counts: ReadonlyArray<number>, sum: number): Series => ({
  labels,
  value: 0,
  sum,
  count: counts.reduce((a, b) => a + b, 0),
  bucketCounts: Float64Array.from(counts)
})

const summarySeries = (labels: Labels, quantileValues: ReadonlyArray<number>, sum: number, count: number): Series => ({
  labels,
  value: 0,
  sum,
  count,
  quantileValues: Float64Array.from(quantileValues)
})

const stringMethods = String.prototype as String & { isWellFormed(): boolean; toWellFormed(): string }
const isWellFormed = (s: string): boolean => stringMethods.isWellFormed.call(s)
const wellFormed = (s: string): string => stringMethods.toWellFormed.call(s)

/** Parses an exposition number as both formats write it. */
const parseNumber = (s: string): number =>
  s === "NaN" ? NaN : s === "+Inf" ? Infinity : s === "-Inf" ? -Infinity : Number(s)

/** The value a sample must carry: what the model says, with `-0` printed as `0`. */
const sameNumber = (actual: number, expected: number): boolean =>
  Object.is(actual, Object.is(expected, -0) ? 0 : expected)

interface ExpectedSample {
  readonly name: string
  readonly labels: ReadonlyArray<readonly [string, string]>
  /** `le` / `quantile` bound, compared as a number. */
  readonly bound?: readonly [string, number]
  readonly value: number
}

/**
 * What the exposition must contain, computed from the model independently of the renderer: sample names,
 * well-formed label values, cumulative buckets with `+Inf` = `_count`, quantile lines, `_sum`, `_count`.
 */
const expectedSamples = (families: ReadonlyArray<Family>): Array<ExpectedSample> => {
  const out: Array<ExpectedSample> = []
  for (const family of families) {
    for (const series of family.series) {
      const labels = series.labels.map(([n, v]) => [n, wellFormed(v)] as const)
      switch (family.type) {
        case "counter":
          out.push({ name: `${family.name.replace(/_total$/, "")}_total`, labels, value: series.value })
          break
        case "gauge":
        case "unknown":
          out.push({ name: family.name, labels, value: series.value })
          break
        case "histogram": {
          const bounds = family.buckets ?? []
          // without bucketCounts: empty finite buckets, and `+Inf` / `_count` from `count`
          const counts = series.bucketCounts ?? new Float64Array(bounds.length + 1)
          let acc = 0
          bounds.forEach((bound, i) => {
            acc += counts[i] ?? 0
            out.push({ name: `${family.name}_bucket`, labels, bound: ["le", bound], value: acc })
          })
          acc = series.bucketCounts === undefined ? series.count : acc + (counts[bounds.length] ?? 0)
          out.push({ name: `${family.name}_bucket`, labels, bound: ["le", Infinity], value: acc })
          out.push({ name: `${family.name}_sum`, labels, value: series.sum })
          out.push({ name: `${family.name}_count`, labels, value: acc })
          break
        }
        case "summary": {
          ;(family.quantiles ?? []).forEach((q, i) => {
            const v = series.quantileValues?.[i] ?? NaN
            out.push({ name: family.name, labels, bound: ["quantile", q], value: v })
          })
          out.push({ name: `${family.name}_sum`, labels, value: series.sum })
          out.push({ name: `${family.name}_count`, labels, value: series.count })
          break
        }
      }
    }
  }
  return out
}

interface ActualSample {
  readonly name: string
  readonly labels: ReadonlyMap<string, string>
  readonly value: number
}

const describeSample = (s: ActualSample | ExpectedSample): string =>
  JSON.stringify({ name: s.name, labels: [...s.labels], value: String(s.value) })

/** Compares samples in order; `dropEmptyLabels` for Prometheus' storage, which drops labels with empty values. */
const assertSamples = (
  actual: ReadonlyArray<ActualSample>,
  expected: ReadonlyArray<ExpectedSample>,
  dropEmptyLabels = false
): void => {
  assert.strictEqual(actual.length, expected.length, "sample count")
  expected.forEach((e, i) => {
    const a = actual[i]!
    const context = `sample ${i}: expected ${describeSample(e)}, got ${describeSample(a)}`
    assert.strictEqual(a.name, e.name, context)
    const labels = dropEmptyLabels ? e.labels.filter(([, v]) => v !== "") : e.labels
    assert.strictEqual(a.labels.size, labels.length + (e.bound === undefined ? 0 : 1), context)
    for (const [n, v] of labels) assert.strictEqual(a.labels.get(n), v, context)
    if (e.bound !== undefined) {
      const bound = a.labels.get(e.bound[0])
      assert.isDefined(bound, context)
      assert.isTrue(sameNumber(parseNumber(bound!), e.bound[1]), context)
    }
    assert.isTrue(sameNumber(a.value, e.value), context)
  })
}

const sampleKey = (name: string, labels: Iterable<readonly [string, string]>): string =>
  `${name}\u0000${[...labels].map(([n, v]) => `${n}=${v}`).sort().join("\u0000")}`

/** Sorts by series (for sources that do not keep exposition order, like a TSDB dump); bounds compared as numbers. */
const sortActual = (samples: ReadonlyArray<ActualSample>): Array<ActualSample> => {
  const key = (a: ActualSample) =>
    sampleKey(a.name, [...a.labels].map(([n, v]) => n === "le" || n === "quantile" ? [n, String(parseNumber(v))] : [n, v]))
  return [...samples].sort((a, b) => key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)
}

/** The same order for expected samples, without empty-valued labels (as Prometheus' storage drops them). */
const sortExpected = (samples: ReadonlyArray<ExpectedSample>): Array<ExpectedSample> => {
  const key = (e: ExpectedSample) =>
    sampleKey(e.name, [
      ...e.labels.filter(([, v]) => v !== ""),
      ...(e.bound === undefined ? [] : [[e.bound[0], String(e.bound[1])] as const])
    ])
  return [...samples].sort((a, b) => key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)
}

/**
 * Every sample line through parse-prometheus-text-format. Its typed grouping loses the `_sum` / `_count` of
 * labelled histograms and summaries (it only keeps them for unlabelled ones), so this view re-types every family as
 * `untyped`: each sample line is then parsed on its own (name, labels, value), and the structure is checked against
 * `expectedSamples`.
 */
const parseSampleLines = (text: string): Array<ActualSample> => {
  const untyped = text.replace(/^# TYPE (\S+) \S+$/gm, "# TYPE $1 untyped")
  const out: Array<ActualSample> = []
  for (const family of parsePrometheusTextFormat(untyped)) {
    for (const metric of family.metrics) {
      assert.isDefined(metric.value, `sample of ${family.name} has a value`)
      out.push({
        name: family.name,
        labels: new Map(Object.entries(metric.labels ?? {})),
        value: parseNumber(metric.value!)
      })
    }
  }
  return out
}

const textTypeName = { counter: "COUNTER", gauge: "GAUGE", histogram: "HISTOGRAM", summary: "SUMMARY", unknown: "UNTYPED" }

/**
 * Typed parse: one parsed family per model family, same order, name, TYPE and HELP. The parser trims each line, so
 * trailing whitespace of a help is lost, except an (escaped) line feed.
 */
const assertTypedParse = (text: string, families: ReadonlyArray<Family>): void => {
  const parsed = parsePrometheusTextFormat(text)
  assert.deepStrictEqual(
    parsed.map((f) => [f.name, f.type, f.help]),
    families.map((f) => [
      f.type === "counter" ? `${f.name}_total` : f.name,
      textTypeName[f.type],
      wellFormed(f.help).replace(/[^\S\n]+$/u, "")
    ])
  )
  parsed.forEach((p, i) => {
    const family = families[i]!
    if (family.type === "histogram" || family.type === "summary") return
    const series = [...family.series]
    assert.strictEqual(p.metrics.length, series.length, `${p.name} series count`)
    p.metrics.forEach((m, j) => {
      assert.isTrue(sameNumber(parseNumber(m.value ?? ""), series[j]!.value), `${p.name} value ${j}`)
    })
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Exact output
// ---------------------------------------------------------------------------------------------------------------

const smallRegistry = (): Array<Family> => [
  {
    name: "app_requests",
    help: "Requests handled.",
    type: "counter",
    series: [
      scalar([["method", "GET"], ["code", "200"]], 3),
      scalar([["method", "POST"], ["code", "500"]], 1)
    ]
  },
  { name: "app_temperature_celsius", help: "Temperature.", type: "gauge", series: [scalar([], 21.5)] },
  {
    name: "app_latency_seconds",
    help: "Latency.",
    type: "histogram",
    buckets: [0.1, 1, 10],
    series: [histogramSeries([["route", "/a"]], [2, 1, 0, 1], 12.3)]
  },
  {
    name: "app_rpc_seconds",
    help: "RPC latency.",
    type: "summary",
    quantiles: [0.5, 0.99],
    series: [summarySeries([], [0.2, 1.5], 4, 10)]
  },
  { name: "app_build_info", help: "Build.", type: "unknown", series: [scalar([["version", "1.2.3"]], 1)] },
  { name: "app_idle", help: "Nothing yet.", type: "gauge", series: [] }
]

const smallText = `# HELP app_requests_total Requests handled.
# TYPE app_requests_total counter
app_requests_total{method="GET",code="200"} 3
app_requests_total{method="POST",code="500"} 1
# HELP app_temperature_celsius Temperature.
# TYPE app_temperature_celsius gauge
app_temperature_celsius 21.5
# HELP app_latency_seconds Latency.
# TYPE app_latency_seconds histogram
app_latency_seconds_bucket{route="/a",le="0.1"} 2
app_latency_seconds_bucket{route="/a",le="1"} 3
app_latency_seconds_bucket{route="/a",le="10"} 3
app_latency_seconds_bucket{route="/a",le="+Inf"} 4
app_latency_seconds_sum{route="/a"} 12.3
app_latency_seconds_count{route="/a"} 4
# HELP app_rpc_seconds RPC latency.
# TYPE app_rpc_seconds summary
app_rpc_seconds{quantile="0.5"} 0.2
app_rpc_seconds{quantile="0.99"} 1.5
app_rpc_seconds_sum 4
app_rpc_seconds_count 10
# HELP app_build_info Build.
# TYPE app_build_info untyped
app_build_info{version="1.2.3"} 1
# HELP app_idle Nothing yet.
# TYPE app_idle gauge
`

const smallOpenMetrics = `# HELP app_requests Requests handled.
# TYPE app_requests counter
app_requests_total{method="GET",code="200"} 3
app_requests_total{method="POST",code="500"} 1
# HELP app_temperature_celsius Temperature.
# TYPE app_temperature_celsius gauge
app_temperature_celsius 21.5
# HELP app_latency_seconds Latency.
# TYPE app_latency_seconds histogram
app_latency_seconds_bucket{route="/a",le="0.1"} 2
app_latency_seconds_bucket{route="/a",le="1.0"} 3
app_latency_seconds_bucket{route="/a",le="10.0"} 3
app_latency_seconds_bucket{route="/a",le="+Inf"} 4
app_latency_seconds_sum{route="/a"} 12.3
app_latency_seconds_count{route="/a"} 4
# HELP app_rpc_seconds RPC latency.
# TYPE app_rpc_seconds summary
app_rpc_seconds{quantile="0.5"} 0.2
app_rpc_seconds{quantile="0.99"} 1.5
app_rpc_seconds_sum 4
app_rpc_seconds_count 10
# HELP app_build_info Build.
# TYPE app_build_info unknown
app_build_info{version="1.2.3"} 1
# HELP app_idle Nothing yet.
# TYPE app_idle gauge
# EOF
`

describe("render: exact output", () => {
  it("text 0.0.4: TYPE/HELP name the counter sample name, untyped, trailing line feed", () => {
    assert.strictEqual(render(smallRegistry(), "text"), smallText)
  })

  it("OpenMetrics: counter family without _total, unknown, canonical le, # EOF", () => {
    assert.strictEqual(render(smallRegistry(), "openmetrics"), smallOpenMetrics)
  })

  it("renders the same registry repeatedly, in both formats, from one set of objects", () => {
    const registry = smallRegistry()
    for (let i = 0; i < 3; i++) {
      assert.strictEqual(render(registry, "openmetrics"), smallOpenMetrics)
      assert.strictEqual(render(registry, "text"), smallText)
    }
  })

  it("an empty registry: empty text, a lone # EOF in OpenMetrics", () => {
    assert.strictEqual(render([], "text"), "")
    assert.strictEqual(render([], "openmetrics"), "# EOF\n")
  })

  it("empty families keep HELP and TYPE; an empty help prints no HELP line", () => {
    const families: Array<Family> = [
      { name: "idle_bytes", help: "Idle.", type: "gauge", series: [] },
      { name: "quiet", help: "", type: "counter", series: [] },
      { name: "wait_seconds", help: "", type: "histogram", buckets: [1], series: [] }
    ]
    assert.strictEqual(
      render(families, "text"),
      "# HELP idle_bytes Idle.\n# TYPE idle_bytes gauge\n# TYPE quiet_total counter\n# TYPE wait_seconds histogram\n"
    )
    assert.strictEqual(
      render(families, "openmetrics"),
      "# HELP idle_bytes Idle.\n# TYPE idle_bytes gauge\n# TYPE quiet counter\n# TYPE wait_seconds histogram\n# EOF\n"
    )
  })

  it("a counter named with _total keeps a single suffix", () => {
    const families: Array<Family> = [{ name: "jobs_total", help: "Jobs.", type: "counter", series: [scalar([], 2)] }]
    assert.strictEqual(render(families, "text"), "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total 2\n")
    assert.strictEqual(render(families, "openmetrics"), "# HELP jobs Jobs.\n# TYPE jobs counter\njobs_total 2\n# EOF\n")
  })

  it("series given as any iterable (a Set, a generator)", () => {
    const a = scalar([["k", "a"]], 1)
    const b = scalar([["k", "b"]], 2)
    function* gen() {
      yield a
      yield b
    }
    const expected = "# HELP g G.\n# TYPE g gauge\ng{k=\"a\"} 1\ng{k=\"b\"} 2\n"
    assert.strictEqual(render([{ name: "g", help: "G.", type: "gauge", series: new Set([a, b]) }], "text"), expected)
    assert.strictEqual(render([{ name: "g", help: "G.", type: "gauge", series: gen() }], "text"), expected)
  })
})

describe("render: values", () => {
  it("NaN, +Inf, -Inf, -0 as 0, exponents, extremes", () => {
    const values = [NaN, Infinity, -Infinity, -0, 0, 1e21, 1e-7, 5e-324, Number.MAX_VALUE, -1.5, 0.1 + 0.2, 2 ** 53]
    const families: Array<Family> = [{
      name: "v",
      help: "Values.",
      type: "gauge",
      series: values.map((value, i) => scalar([["i", String(i)]], value))
    }]
    const lines = render(families, "text").split("\n").slice(2, -1).map((l) => l.slice(l.indexOf(" ") + 1))
    assert.deepStrictEqual(lines, [
      "NaN",
      "+Inf",
      "-Inf",
      "0",
      "0",
      "1e+21",
      "1e-7",
      "5e-324",
      "1.7976931348623157e+308",
      "-1.5",
      "0.30000000000000004",
      "9007199254740992"
    ])
    lines.forEach((l, i) => assert.isTrue(sameNumber(parseNumber(l), values[i]!), l))
  })

  it("le / quantile bounds: Go %g in text (as client_golang), canonical floats in OpenMetrics", () => {
    const bounds = [0, 1, -1, 0.1, 1e5, 123456, 1e6, 1.5e-5, 1e-4, 2.5e-3, 1e21, 1e-7, 5e-324, -2e-4]
    assert.deepStrictEqual(bounds.map(formatGoFloat), [
      "0",
      "1",
      "-1",
      "0.1",
      "100000",
      "123456",
      "1e+06",
      "1.5e-05",
      "0.0001",
      "0.0025",
      "1e+21",
      "1e-07",
      "5e-324",
      "-0.0002"
    ])
    assert.deepStrictEqual(bounds.map(formatCanonicalFloat), [
      "0.0",
      "1.0",
      "-1.0",
      "0.1",
      "100000.0",
      "123456.0",
      "1e+06",
      "1.5e-05",
      "0.0001",
      "0.0025",
      "1e+21",
      "1e-07",
      "5e-324",
      "-0.0002"
    ])
    assert.strictEqual(formatGoFloat(-0), "0")
    assert.strictEqual(formatCanonicalFloat(-0), "0.0")
  })
})

// ---------------------------------------------------------------------------------------------------------------
// renderBytes: the renderer writes UTF-8 bytes directly; checked against a plain string renderer
// ---------------------------------------------------------------------------------------------------------------

/**
 * A deliberately plain string renderer of the same rules, independent of the byte renderer (no caches, no byte
 * buffers, no digit writing): names and TYPE per format, escaped HELP and label values, `le` / `quantile` via
 * `formatGoFloat` (text) / `formatCanonicalFloat` (OpenMetrics), cumulative buckets, values via `formatValue`.
 */
const referenceRender = (families: Iterable<Family>, format: Format): string => {
  const om = format === "openmetrics"
  const typeNames = om
    ? { counter: "counter", gauge: "gauge", histogram: "histogram", summary: "summary", unknown: "unknown" }
    : { counter: "counter", gauge: "gauge", histogram: "histogram", summary: "summary", unknown: "untyped" }
  const bound = om ? formatCanonicalFloat : formatGoFloat
  const lines: Array<string> = []
  for (const family of families) {
    const counter = family.type === "counter"
    const name = counter && family.name.endsWith("_total") && family.name.length > 6 ? family.name.slice(0, -6) : family.name
    const metaName = counter && !om ? `${name}_total` : name
    if (family.help !== "") lines.push(`# HELP ${metaName} ${escapeHelp(family.help, om)}`)
    lines.push(`# TYPE ${metaName} ${typeNames[family.type]}`)
    for (const series of family.series) {
      const labels = series.labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`)
      const line = (sample: string, extra: ReadonlyArray<string>, value: number): void => {
        const all = [...labels, ...extra]
        lines.push(`${sample}${all.length === 0 ? "" : `{${all.join(",")}}`} ${formatValue(value)}`)
      }
      switch (family.type) {
        case "counter":
          line(`${name}_total`, [], series.value)
          break
        case "gauge":
        case "unknown":
          line(name, [], series.value)
          break
        case "histogram": {
          const buckets = family.buckets ?? []
          const counts = series.bucketCounts
          let acc = 0
          buckets.forEach((b, i) => {
            if (counts !== undefined) acc += counts[i] ?? 0
            line(`${name}_bucket`, [`le="${bound(b)}"`], acc)
          })
          acc = counts === undefined ? series.count : acc + (counts[buckets.length] ?? 0)
          line(`${name}_bucket`, [`le="+Inf"`], acc)
          line(`${name}_sum`, [], series.sum)
          line(`${name}_count`, [], acc)
          break
        }
        case "summary": {
          ;(family.quantiles ?? []).forEach((q, i) => {
            const values = series.quantileValues
            line(name, [`quantile="${bound(q)}"`], values !== undefined && i < values.length ? values[i]! : NaN)
          })
          line(`${name}_sum`, [], series.sum)
          line(`${name}_count`, [], series.count)
          break
        }
      }
    }
  }
  if (om) lines.push("# EOF")
  return lines.map((l) => `${l}\n`).join("")
}

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder()

/** `renderBytes` agrees with the reference byte for byte, and `render` is its decoding. */
const assertSameAsReference = (families: ReadonlyArray<Family>, format: Format): void => {
  const expected = referenceRender(families, format)
  const bytes = renderBytes(families, format)
  assert.strictEqual(utf8Decoder.decode(bytes), expected)
  assert.deepStrictEqual(bytes, utf8Encoder.encode(expected))
  assert.strictEqual(render(families, format), expected)
}

/** The bytes `renderBytes` writes for a value (an unlabelled gauge's sample after `v `). */
const valueText = (value: number): string => {
  const bytes = renderBytes([{ name: "v", help: "", type: "gauge", series: [scalar([], value)] }], "text")
  const page = utf8Decoder.decode(bytes)
  const head = "# TYPE v gauge\nv "
  assert.isTrue(page.startsWith(head) && page.endsWith("\n"), page)
  return page.slice(head.length, -1)
}

describe("renderBytes", () => {
  it("numbers: integers written digit by digit agree with formatValue, up to 2^53 and beyond", () => {
    const values: Array<number> = [
      0,
      -0,
      1,
      -1,
      7,
      42,
      -42,
      2 ** 31 - 1,
      2 ** 31,
      -(2 ** 31),
      -(2 ** 31) - 1,
      2 ** 32,
      2 ** 32 + 1,
      1e15,
      2 ** 53 - 1,
      2 ** 53,
      -(2 ** 53),
      2 ** 53 + 2,
      -(2 ** 53) - 2,
      2 ** 60,
      1e20,
      123456789012345680000,
      1e21,
      -1e21,
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
      Number.MAX_VALUE,
      -Number.MAX_VALUE
    ]
    // every digit count, at its edges
    for (let k = 0; k <= 22; k++) values.push(10 ** k, 10 ** k - 1, 10 ** k + 1, -(10 ** k), -(10 ** k) + 1)
    for (const v of values) assert.strictEqual(valueText(v), formatValue(v), String(v))
    assert.strictEqual(valueText(2 ** 53), "9007199254740992")
    assert.strictEqual(valueText(-(2 ** 53)), "-9007199254740992")
    assert.strictEqual(valueText(-(2 ** 31)), "-2147483648")
    assert.strictEqual(valueText(1e21), "1e+21")
  })

  it("numbers: fractions, exponents, NaN, ±Inf and -0 agree with formatValue", () => {
    const values = [
      0.1,
      -0.1,
      0.1 + 0.2,
      1.5,
      -1.5,
      12.3,
      123.456,
      1e-7,
      -1e-7,
      1e-6,
      1.5e-7,
      5e-324,
      -5e-324,
      Number.MIN_VALUE,
      Number.EPSILON,
      2.2250738585072014e-308,
      -0.0000012345678901234567,
      1.7976931348623157e308,
      2 ** 53 + 0.5,
      4503599627370495.5,
      -4503599627370495.5,
      NaN,
      Infinity,
      -Infinity,
      -0
    ]
    for (const v of values) assert.strictEqual(valueText(v), formatValue(v), String(v))
    assert.deepStrictEqual(
      [NaN, Infinity, -Infinity, -0, 1e21, 5e-324, -0.0000012345678901234567].map(valueText),
      ["NaN", "+Inf", "-Inf", "0", "1e+21", "5e-324", "-0.0000012345678901234567"]
    )
  })

  it("the every-rule and small registries match the reference renderer, in both formats", () => {
    for (const format of ["text", "openmetrics"] as const) {
      assertSameAsReference(smallRegistry(), format)
      assertSameAsReference(everyRule(), format)
      assertSameAsReference([], format)
    }
    assert.strictEqual(renderBytes([], "text").length, 0)
  })

  it("each call returns its own buffer: a later, larger render does not overwrite it", () => {
    const small = smallRegistry()
    const first = renderBytes(small, "text")
    const copy = first.slice()
    const big: Array<Family> = [{
      name: "big",
      help: "Big.",
      type: "gauge",
      series: Array.from({ length: 5_000 }, (_, i) => scalar([["i", String(i)]], i * 1.5))
    }]
    const second = renderBytes(big, "openmetrics")
    const third = renderBytes(small, "openmetrics")
    assert.deepStrictEqual(first, copy)
    assert.notStrictEqual(first.buffer, second.buffer)
    assert.notStrictEqual(second.buffer, third.buffer)
    assert.strictEqual(utf8Decoder.decode(first), smallText)
    assert.strictEqual(utf8Decoder.decode(third), smallOpenMetrics)
    assertSameAsReference(big, "openmetrics")
  })

  it("nothing but the page is readable through the result's backing store (the rest is zero)", () => {
    for (const families of [smallRegistry(), everyRule(), []]) {
      const bytes = renderBytes(families, "text")
      const whole = new Uint8Array(bytes.buffer)
      assert.isTrue(whole.subarray(0, bytes.byteOffset).every((b) => b === 0))
      assert.isTrue(whole.subarray(bytes.byteOffset + bytes.length).every((b) => b === 0))
    }
  })

  it("grows past its starting size in one render (a huge label value, many series)", () => {
    renderBytes([], "text") // the next render starts from the smallest buffer
    const long = "x\"\\\né".repeat(100_000)
    const families: Array<Family> = [
      { name: "l", help: "L.", type: "gauge", series: [scalar([["v", long]], 1)] },
      {
        name: "h",
        help: "H.",
        type: "histogram",
        buckets: [1, 2, 3],
        series: Array.from({ length: 2_000 }, (_, i) => histogramSeries([["k", `v${i}`]], [i, 1, 2 ** 40, 3], i / 7))
      }
    ]
    assertSameAsReference(families, "text")
    assertSameAsReference(families, "openmetrics")
  })

  it("ExpositionErrors are the same as render's, and a failed render leaves the next one intact", () => {
    const bad: Array<Family> = [{ name: "ok", help: "", type: "gauge", series: [scalar([["a", "1"], ["a", "2"]], 1)] }]
    assert.throws(() => renderBytes(bad, "text"), ExpositionError, /duplicate label name a/)
    assert.throws(() => renderBytes([{ name: "1x", help: "", type: "gauge", series: [] }], "text"), ExpositionError, /invalid metric name/)
    assert.strictEqual(utf8Decoder.decode(renderBytes(smallRegistry(), "text")), smallText)
  })
})

describe("render: escaping", () => {
  const tricky = [
    ["quote", "say \"hi\""],
    ["backslash", "C:\\dir\\"],
    ["newline", "line1\nline2"],
    ["escaped_n", "\\n is not a newline"],
    ["empty", ""],
    ["unicode", "é 日本 😀"],
    ["lone_high", "a\uD800b"],
    ["lone_low", "\uDC00"],
    ["braces", "{a=\"b\",c}"]
  ] as const

  it("label values escape \\, \" and line feed; lone surrogates become U+FFFD", () => {
    const families: Array<Family> = [{
      name: "e",
      help: "E.",
      type: "gauge",
      series: tricky.map(([k, v], i) => scalar([["k", k], ["v", v]], i))
    }]
    const expected = [
      "e{k=\"quote\",v=\"say \\\"hi\\\"\"} 0",
      "e{k=\"backslash\",v=\"C:\\\\dir\\\\\"} 1",
      "e{k=\"newline\",v=\"line1\\nline2\"} 2",
      "e{k=\"escaped_n\",v=\"\\\\n is not a newline\"} 3",
      "e{k=\"empty\",v=\"\"} 4",
      "e{k=\"unicode\",v=\"é 日本 😀\"} 5",
      "e{k=\"lone_high\",v=\"a\uFFFDb\"} 6",
      "e{k=\"lone_low\",v=\"\uFFFD\"} 7",
      "e{k=\"braces\",v=\"{a=\\\"b\\\",c}\"} 8"
    ]
    for (const format of ["text", "openmetrics"] as const) {
      const out = render(families, format)
      assert.deepStrictEqual(out.split("\n").slice(2, 2 + expected.length), expected)
      assert.isTrue(isWellFormed(out))
      assert.strictEqual(Buffer.from(out, "utf8").toString("utf8"), out)
    }
    const parsed = parsePrometheusTextFormat(render(families, "text"))
    assert.deepStrictEqual(
      parsed[0]!.metrics.map((m) => m.labels?.["v"]),
      tricky.map(([, v]) => wellFormed(v))
    )
  })

  it("a very long label value is kept whole", () => {
    const long = "x\"\\\n".repeat(50_000)
    const out = render([{ name: "l", help: "L.", type: "gauge", series: [scalar([["v", long]], 1)] }], "text")
    assert.strictEqual(out.length, "# HELP l L.\n# TYPE l gauge\nl{v=\"\"} 1\n".length + long.length * 2 - 50_000)
    assert.strictEqual(parsePrometheusTextFormat(out)[0]!.metrics[0]!.labels?.["v"], long)
  })

  it("HELP: text escapes \\ and line feed; OpenMetrics also \"; lone surrogates become U+FFFD", () => {
    const help = "A \"quoted\" C:\\path\nsecond line \uD83D"
    const families: Array<Family> = [{ name: "h", help, type: "gauge", series: [] }]
    assert.strictEqual(
      render(families, "text"),
      "# HELP h A \"quoted\" C:\\\\path\\nsecond line \uFFFD\n# TYPE h gauge\n"
    )
    assert.strictEqual(
      render(families, "openmetrics"),
      "# HELP h A \\\"quoted\\\" C:\\\\path\\nsecond line \uFFFD\n# TYPE h gauge\n# EOF\n"
    )
    assert.strictEqual(parsePrometheusTextFormat(render(families, "text"))[0]!.help, wellFormed(help))
  })
})

describe("render: histograms and summaries", () => {
  it("cumulative buckets in le order, +Inf = _count = total of the counts, labels before le", () => {
    const series = histogramSeries([["a", "1"], ["b", "2"]], [1, 0, 3, 2], 9.5)
    const families: Array<Family> = [{ name: "h_seconds", help: "H.", type: "histogram", buckets: [0.5, 1, 1e6], series: [series] }]
    assert.strictEqual(
      render(families, "text"),
      [
        "# HELP h_seconds H.",
        "# TYPE h_seconds histogram",
        "h_seconds_bucket{a=\"1\",b=\"2\",le=\"0.5\"} 1",
        "h_seconds_bucket{a=\"1\",b=\"2\",le=\"1\"} 1",
        "h_seconds_bucket{a=\"1\",b=\"2\",le=\"1e+06\"} 4",
        "h_seconds_bucket{a=\"1\",b=\"2\",le=\"+Inf\"} 6",
        "h_seconds_sum{a=\"1\",b=\"2\"} 9.5",
        "h_seconds_count{a=\"1\",b=\"2\"} 6",
        ""
      ].join("\n")
    )
    // values mutate in place between scrapes; the cached prefixes stay valid
    series.bucketCounts![3] = 10
    series.sum = 100
    const out = render(families, "openmetrics")
    assert.include(out, "h_seconds_bucket{a=\"1\",b=\"2\",le=\"1.0\"} 1\n")
    assert.include(out, "h_seconds_bucket{a=\"1\",b=\"2\",le=\"+Inf\"} 14\nh_seconds_sum{a=\"1\",b=\"2\"} 100\n")
    assert.include(out, "h_seconds_count{a=\"1\",b=\"2\"} 14\n# EOF\n")
  })

  it("a histogram without bounds has only +Inf; without bucketCounts uses count", () => {
    const families: Array<Family> = [
      { name: "only_inf", help: "I.", type: "histogram", series: [histogramSeries([], [5], 2)] },
      {
        name: "no_counts",
        help: "N.",
        type: "histogram",
        buckets: [1],
        series: [{ labels: [], value: 0, sum: 3, count: 7 }]
      }
    ]
    assert.strictEqual(
      render(families, "text"),
      "# HELP only_inf I.\n# TYPE only_inf histogram\nonly_inf_bucket{le=\"+Inf\"} 5\nonly_inf_sum 2\nonly_inf_count 5\n" +
        "# HELP no_counts N.\n# TYPE no_counts histogram\nno_counts_bucket{le=\"1\"} 0\nno_counts_bucket{le=\"+Inf\"} 7\n" +
        "no_counts_sum 3\nno_counts_count 7\n"
    )
  })

  it("summaries: quantile lines after the series labels, then _sum and _count; NaN without values", () => {
    const families: Array<Family> = [{
      name: "s",
      help: "S.",
      type: "summary",
      quantiles: [0.5, 0.9, 0.99],
      series: [
        summarySeries([["x", "y"]], [1, 2, 3], 6, 3),
        { labels: [["x", "z"]], value: 0, sum: 0, count: 0 }
      ]
    }]
    assert.strictEqual(
      render(families, "openmetrics"),
      [
        "# HELP s S.",
        "# TYPE s summary",
        "s{x=\"y\",quantile=\"0.5\"} 1",
        "s{x=\"y\",quantile=\"0.9\"} 2",
        "s{x=\"y\",quantile=\"0.99\"} 3",
        "s_sum{x=\"y\"} 6",
        "s_count{x=\"y\"} 3",
        "s{x=\"z\",quantile=\"0.5\"} NaN",
        "s{x=\"z\",quantile=\"0.9\"} NaN",
        "s{x=\"z\",quantile=\"0.99\"} NaN",
        "s_sum{x=\"z\"} 0",
        "s_count{x=\"z\"} 0",
        "# EOF",
        ""
      ].join("\n")
    )
  })
})

describe("render: caching", () => {
  it("values change between scrapes; a new Series object with new labels is re-escaped", () => {
    const first = scalar([["k", "a"]], 1)
    const series: Array<Series> = [first]
    const families: Array<Family> = [{ name: "c", help: "C.", type: "counter", series }]
    assert.include(render(families, "text"), "c_total{k=\"a\"} 1\n")
    first.value = 42
    series.push(scalar([["k", "b\""]], 7))
    const out = render(families, "text")
    assert.include(out, "c_total{k=\"a\"} 42\nc_total{k=\"b\\\"\"} 7\n")
  })

  it("a Family object re-created each scrape reuses its series; a changed definition re-prefixes them", () => {
    const series = [histogramSeries([["k", "v"]], [1, 1], 2)]
    const make = (name: string, buckets: ReadonlyArray<number>): Family => ({ name, help: "H.", type: "histogram", buckets, series })
    const first = render([make("h", [1])], "text")
    assert.strictEqual(render([make("h", [1])], "text"), first)
    assert.include(render([make("h2", [1])], "text"), "h2_bucket{k=\"v\",le=\"1\"} 1\n")
    assert.include(render([make("h2", [0.5])], "text"), "h2_bucket{k=\"v\",le=\"0.5\"} 1\n")
    assert.strictEqual(render([make("h", [1])], "text"), first)
  })

  it("the cache is invisible: series stay deep-equal to fresh copies", () => {
    const series = scalar([["k", "v"]], 1)
    render([{ name: "inv", help: "I.", type: "gauge", series: [series] }], "text")
    assert.deepStrictEqual(series, scalar([["k", "v"]], 1))
    assert.deepStrictEqual(Object.keys({ ...series }), ["labels", "value", "sum", "count"])
  })

  it("frozen series objects (no cache field) render too", () => {
    const frozen = Object.freeze(scalar([["k", "f"]], 3))
    const families: Array<Family> = [{ name: "f", help: "F.", type: "gauge", series: [frozen] }]
    assert.strictEqual(render(families, "text"), "# HELP f F.\n# TYPE f gauge\nf{k=\"f\"} 3\n")
    assert.strictEqual(render(families, "text"), "# HELP f F.\n# TYPE f gauge\nf{k=\"f\"} 3\n")
  })

  it("one Series object shared by two families gets each family's name", () => {
    const shared = scalar([["k", "v"]], 1)
    const out = render([
      { name: "one", help: "1.", type: "gauge", series: [shared] },
      { name: "two", help: "2.", type: "counter", series: [shared] }
    ], "text")
    assert.include(out, "one{k=\"v\"} 1\n")
    assert.include(out, "two_total{k=\"v\"} 1\n")
  })
})

describe("render: invariants", () => {
  const throws = (families: ReadonlyArray<Family>, pattern: RegExp): void => {
    assert.throws(() => render(families, "text"), ExpositionError, pattern)
  }
  const g = (name: string, labels: Labels = []): Family => ({ name, help: "x", type: "gauge", series: [scalar(labels, 1)] })

  it("rejects invalid or reserved names", () => {
    throws([g("1abc")], /invalid metric name/)
    throws([g("a-b")], /invalid metric name/)
    throws([g("__reserved")], /reserved/)
    throws([g("ok", [["bad-label", "v"]])], /invalid label name/)
    throws([g("ok2", [["__name__", "v"]])], /reserved/)
    throws([g("ok3", [["a", "1"], ["a", "2"]])], /duplicate label name/)
  })

  it("rejects le on histograms and quantile on summaries", () => {
    throws([{ name: "h", help: "", type: "histogram", buckets: [1], series: [histogramSeries([["le", "1"]], [0, 0], 0)] }], /reserved/)
    throws([{ name: "s", help: "", type: "summary", quantiles: [0.5], series: [summarySeries([["quantile", "1"]], [0], 0, 0)] }], /reserved/)
  })

  it("rejects unsorted, duplicate or infinite buckets and bad quantiles", () => {
    const h = (buckets: ReadonlyArray<number>): Family => ({ name: `h${buckets.length}`, help: "", type: "histogram", buckets, series: [] })
    throws([h([1, 0.5])], /sorted/)
    throws([h([1, 1, 2])], /sorted/)
    throws([h([1, 2, Infinity, 5])], /finite/)
    throws([h([NaN, 2, 3, 4, 5])], /finite/)
    throws([{ name: "s", help: "", type: "summary", quantiles: [0.5, 1.5], series: [] }], /outside/)
    throws([{ name: "s2", help: "", type: "summary", quantiles: [0.5, 0.5], series: [] }], /unique/)
  })

  it("rejects two families with the same name or clashing sample names", () => {
    throws([g("dup"), g("dup")], /used by two families/)
    throws([
      { name: "req", help: "", type: "counter", series: [] },
      g("req_total")
    ], /used by two families/)
    throws([
      { name: "lat", help: "", type: "histogram", series: [] },
      g("lat_count")
    ], /used by two families/)
  })
})

// ---------------------------------------------------------------------------------------------------------------
// Negotiation
// ---------------------------------------------------------------------------------------------------------------

const prometheus242Accept =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
const prometheus3Accept =
  "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

describe("negotiate", () => {
  const cases: ReadonlyArray<readonly [string | undefined, Format, string]> = [
    [undefined, "text", "missing header"],
    ["", "text", "empty header"],
    [prometheus242Accept, "openmetrics", "Prometheus 2.42"],
    [prometheus3Accept, "openmetrics", "Prometheus 3"],
    ["text/plain;version=0.0.4", "text", "text only"],
    ["*/*", "text", "any (curl)"],
    ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text", "browser"],
    ["application/*", "text", "application/* does not select OpenMetrics"],
    ["application/openmetrics-text", "openmetrics", "no version"],
    ["application/openmetrics-text; version=1.0.0", "openmetrics", "version 1.0.0"],
    ["application/openmetrics-text;version=\"1.0.0\"", "openmetrics", "quoted version"],
    ["Application/OpenMetrics-Text; Version=1.0.0", "openmetrics", "case-insensitive type and parameter names"],
    ["application/openmetrics-text;version=0.0.1", "text", "wrong version 0.0.1"],
    ["application/openmetrics-text;version=2.0.0,text/plain;q=0.1", "text", "wrong version 2.0.0"],
    ["application/openmetrics-text;q=0.5,text/plain;q=0.9", "text", "text preferred by q"],
    ["text/plain;q=0.5,application/openmetrics-text;q=0.5", "openmetrics", "tie goes to OpenMetrics"],
    ["text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0", "openmetrics", "order does not matter"],
    ["application/openmetrics-text;q=0", "text", "q=0 is not acceptable"],
    ["application/openmetrics-text;version=1.0.0;q=0,application/openmetrics-text;q=1", "text", "most specific range decides"],
    ["application/openmetrics-text;version=1.0.0;q=0.75,text/plain", "text", "text at q=1 beats OpenMetrics at 0.75"],
    ["text/*;q=0.9,application/openmetrics-text;q=0.8", "text", "text/* counts for text"],
    ["text/plain;version=1.0.0,application/openmetrics-text;q=0.5", "openmetrics", "text/plain version 1.0.0 is not 0.0.4"],
    ["application/openmetrics-text;q=abc", "text", "malformed q ignores the range"],
    ["application/openmetrics-text;q=2", "text", "q above 1 ignores the range"],
    ["application/openmetrics-text;q=0.9,text/plain;q=oops", "openmetrics", "malformed text range ignored"],
    ["garbage, ;;; ,application/openmetrics-text", "openmetrics", "malformed parts skipped"],
    [",,,,", "text", "only separators"],
    ["openmetrics", "text", "no slash"],
    ["*/openmetrics-text", "text", "invalid wildcard"],
    ["application/openmetrics-text;foo", "text", "parameter without value makes the range malformed"],
    ["application/openmetrics-text;version=\"1.0.0,text/plain", "text", "unterminated quote"]
  ]
  for (const [accept, format, why] of cases) {
    it(`${why}: ${JSON.stringify(accept)} → ${format}`, () => {
      assert.strictEqual(negotiate(accept), format)
    })
  }

  it("never throws on hostile input", () => {
    const inputs = ["\u0000", ";".repeat(10_000), "a/b;" + "q=1;".repeat(5000), "\"".repeat(999), "openmetrics\uD800/x"]
    for (const input of inputs) assert.strictEqual(negotiate(input), "text")
  })

  it("content types are exact", () => {
    assert.strictEqual(contentType("openmetrics"), "application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert.strictEqual(contentType("text"), "text/plain; version=0.0.4; charset=utf-8")
  })
})

describe("acceptsGzip", () => {
  const cases: ReadonlyArray<readonly [string | undefined, boolean]> = [
    [undefined, false],
    ["", false],
    ["gzip", true],
    ["GZIP", true],
    ["gzip, deflate, br", true],
    ["deflate, br", false],
    ["identity", false],
    ["gzip;q=0", false],
    ["gzip; q=0.000", false],
    ["gzip ; q=0.5", true],
    ["x-gzip", true],
    ["*", true],
    ["*;q=0", false],
    ["br;q=1, *;q=0.1", true],
    ["gzip;q=0, *", false],
    ["*;q=0, gzip", true],
    ["gzip;q=bad", false],
    [",,;;", false]
  ]
  for (const [header, expected] of cases) {
    it(`${JSON.stringify(header)} → ${expected}`, () => {
      assert.strictEqual(acceptsGzip(header), expected)
    })
  }
})

// ---------------------------------------------------------------------------------------------------------------
// A registry exercising every rule, checked by real tools
// ---------------------------------------------------------------------------------------------------------------

/** Names follow promlint's conventions (snake_case, base units, no colons), so `promtool check metrics` passes. */
const everyRule = (): Array<Family> => [
  {
    name: "app_http_requests",
    help: "HTTP requests: \"quoted\", C:\\path, a\nnewline and a lone surrogate \uD800.",
    type: "counter",
    series: [
      scalar([["method", "GET"], ["path", "/a\"b\\c\nd"]], 3),
      scalar([["method", "POST"], ["path", ""]], 1e21),
      scalar([["method", "PUT"], ["path", "é 日本 😀 \uDC00 {},="]], 0),
      scalar([["method", "DELETE"], ["path", "x".repeat(10_000)]], 12.5)
    ]
  },
  {
    name: "app_queue_depth",
    help: "Gauges with special values.",
    type: "gauge",
    series: [
      scalar([["kind", "nan"]], NaN),
      scalar([["kind", "inf"]], Infinity),
      scalar([["kind", "ninf"]], -Infinity),
      scalar([["kind", "negative_zero"]], -0),
      scalar([["kind", "tiny"]], 5e-324),
      scalar([["kind", "huge"]], Number.MAX_VALUE),
      scalar([["kind", "negative"]], -2.5)
    ]
  },
  {
    name: "app_request_duration_seconds",
    help: "Latency with integer, fractional and exponent bounds.",
    type: "histogram",
    buckets: [0.005, 0.1, 1, 10, 1e6],
    series: [
      histogramSeries([["route", "/a"]], [1, 2, 0, 1, 1, 1], 12.5),
      histogramSeries([["route", "/b"]], [0, 0, 0, 0, 0, 0], 0),
      { labels: [["route", "/c"]], value: 0, sum: 3, count: 2 }
    ]
  },
  {
    name: "app_rpc_duration_seconds",
    help: "A summary.",
    type: "summary",
    quantiles: [0.5, 0.9, 0.99],
    series: [summarySeries([["service", "users"]], [0.1, 0.2, NaN], 3.5, 20), summarySeries([], [1, 2, 3], 6, 3)]
  },
  { name: "app_build_info", help: "Untyped.", type: "unknown", series: [scalar([["version", "1.2.3"]], 1)] },
  { name: "app_idle_bytes", help: "An empty family.", type: "gauge", series: [] },
  { name: "app_jobs_total", help: "Counter given with _total.", type: "counter", series: [scalar([], 5)] }
]

const findPromtool = (): string | undefined => {
  const probe = spawnSync("promtool", ["--version"], { encoding: "utf8" })
  return probe.status === 0 ? "promtool" : undefined
}
const promtool = findPromtool()
const requirePromtool = process.env["CI"] === "true"
const skipPromtool = promtool === undefined && !requirePromtool
if (skipPromtool) {
  console.log(
    "exposition.test.ts: skipping promtool checks: promtool not found on PATH (Debian package `prometheus`); " +
      "they are required when CI=true"
  )
}
const promtoolCommand = promtool ?? "promtool"

/** `promtool check metrics` (Prometheus 2.42: the 0.0.4 text parser plus promlint) on stdin. */
const checkMetrics = (input: string | Buffer) =>
  spawnSync(promtoolCommand, ["check", "metrics"], { input, encoding: "utf8" })

/**
 * Runs OpenMetrics text through Prometheus' own OpenMetrics parser and TSDB: `promtool tsdb create-blocks-from
 * openmetrics` (backfilling) requires `# EOF`, rejects 0.0.4-only syntax (e.g. `untyped`), and requires a timestamp on
 * every sample, so one (1 s) is appended to each sample line; `promtool tsdb dump` then reads the stored samples back.
 */
const openMetricsRoundTrip = (
  om: string
): { status: number | null; stderr: string; samples: Array<ActualSample> } => {
  const dir = mkdtempSync(join(tmpdir(), "percore-openmetrics-"))
  try {
    const input = join(dir, "input.om")
    const blocks = join(dir, "blocks")
    writeFileSync(input, om.split("\n").map((l) => (l === "" || l.startsWith("#") ? l : `${l} 1`)).join("\n"))
    const created = spawnSync(promtoolCommand, ["tsdb", "create-blocks-from", "openmetrics", input, blocks], {
      encoding: "utf8"
    })
    if (created.status !== 0) return { status: created.status, stderr: created.stderr + created.stdout, samples: [] }
    mkdirSync(join(blocks, "wal"), { recursive: true }) // `tsdb dump` opens the folder as a TSDB, which wants a WAL
    const dumped = spawnSync(promtoolCommand, ["tsdb", "dump", blocks], { encoding: "utf8", maxBuffer: 1 << 26 })
    assert.strictEqual(dumped.status, 0, dumped.stderr)
    return { status: 0, stderr: "", samples: dumped.stdout.split("\n").filter((l) => l !== "").map(parseDumpLine) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Go's strconv.Quote escapes used by `tsdb dump` for the label values of `everyRule` (all printable). */
const goUnquote = (s: string): string =>
  s.replace(/\\(.)/gu, (_, c: string) => {
    if (c === "n") return "\n"
    if (c === "\\" || c === "\"") return c
    throw new Error(`unexpected Go escape \\${c}`)
  })

/** Parses `{__name__="x", a="b"} 1.5 1000` as printed by `promtool tsdb dump`. */
const parseDumpLine = (line: string): ActualSample => {
  const close = line.lastIndexOf("} ")
  const [value = "", timestamp] = line.slice(close + 2).split(" ")
  assert.strictEqual(timestamp, "1000", line.slice(0, 200))
  const labels = new Map<string, string>()
  for (const m of line.slice(1, close).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/gu)) {
    labels.set(m[1]!, goUnquote(m[2]!))
  }
  const name = labels.get("__name__") ?? ""
  labels.delete("__name__")
  return { name, labels, value: parseNumber(value) }
}

describe.skipIf(skipPromtool)("promtool (Prometheus 2.42)", () => {
  it("check metrics accepts the text 0.0.4 output, with no lint problem", () => {
    const text = render(everyRule(), "text")
    const result = checkMetrics(text)
    assert.strictEqual(result.error, undefined, "promtool must be installed (Debian package prometheus)")
    assert.strictEqual(result.status, 0, result.stderr + result.stdout)
    assert.strictEqual(result.stdout + result.stderr, "")
  })

  it("check metrics is a real check: it rejects a second TYPE line and invalid UTF-8", () => {
    const text = render(everyRule(), "text")
    assert.notStrictEqual(checkMetrics(text + "# TYPE app_queue_depth gauge\n").status, 0)
    const invalid = Buffer.concat([
      Buffer.from("# HELP a A.\n# TYPE a gauge\na{x=\""),
      Buffer.from([0xed, 0xa0, 0x80]), // a lone surrogate encoded as if it were a code point
      Buffer.from("\"} 1\n")
    ])
    const rejected = checkMetrics(invalid)
    assert.notStrictEqual(rejected.status, 0)
    assert.match(rejected.stderr, /invalid label value/)
  })

  it("OpenMetrics: Prometheus' OpenMetrics parser accepts the output and stores every sample", () => {
    const families = everyRule()
    const result = openMetricsRoundTrip(render(families, "openmetrics"))
    assert.strictEqual(result.status, 0, result.stderr)
    // Prometheus' storage drops labels with an empty value, and the dump is sorted by series
    assertSamples(sortActual(result.samples), sortExpected(expectedSamples(families)), true)
  })

  it("OpenMetrics: the same parser is a real check (no # EOF, 0.0.4 output, empty HELP text)", () => {
    const om = render(everyRule(), "openmetrics")
    assert.match(openMetricsRoundTrip(om.replace("# EOF\n", "")).stderr, /EOF/)
    assert.match(openMetricsRoundTrip(render(everyRule(), "text") + "# EOF\n").stderr, /untyped/)
    assert.notStrictEqual(openMetricsRoundTrip("# HELP a\n# TYPE a gauge\na 1\n# EOF\n").status, 0)
  })
})

describe("parse-prometheus-text-format (an independent 0.0.4 parser)", () => {
  it("the every-rule registry round-trips: families, types, help, every sample line", () => {
    const families = everyRule()
    const text = render(families, "text")
    assertTypedParse(text, families.map((f) => (f.name === "app_jobs_total" ? { ...f, name: "app_jobs" } : f)))
    assertSamples(parseSampleLines(text), expectedSamples(families))
  })

  it("the typed view of unlabelled histograms and summaries matches", () => {
    const families: Array<Family> = [
      { name: "h", help: "H.", type: "histogram", buckets: [0.25, 2], series: [histogramSeries([], [1, 2, 3], 4.5)] },
      { name: "s", help: "S.", type: "summary", quantiles: [0.5, 0.9], series: [summarySeries([], [1, 2], 3, 4)] }
    ]
    const parsed = parsePrometheusTextFormat(render(families, "text"))
    assert.deepStrictEqual(parsed[0]!.metrics, [{ buckets: { "0.25": "1", "2": "3", "+Inf": "6" }, sum: "4.5", count: "6" }])
    assert.deepStrictEqual(parsed[1]!.metrics, [{ quantiles: { "0.5": "1", "0.9": "2" }, sum: "3", count: "4" }])
  })
})

// ---------------------------------------------------------------------------------------------------------------
// Property: random registries round-trip
// ---------------------------------------------------------------------------------------------------------------

const specials = [NaN, Infinity, -Infinity, -0, 0, 1, 1e21, 5e-324, 0.1, -1]
const number = Arbitrary.all([
  Arbitrary.schema(Schema.Literals([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])),
  Arbitrary.schema(Schema.Number),
  Arbitrary.schema(Schema.Int)
]).pipe(Arbitrary.map(([pick, n, i]) => pick < specials.length ? specials[pick]! : pick % 2 === 0 ? n : i))
const count = Arbitrary.schema(Schema.Int).pipe(Arbitrary.map((n) => Math.abs(n)))
const piece = Arbitrary.schema(Schema.Union([
  Schema.Literals(["\\", "\"", "\n", "\\n", "\\\"", "\r", "\t", " ", "é", "日本語", "😀", "\uD800", "\uDC00", "{", "}", ",", "=", "#", "\u2028", "\u0000"]),
  Schema.String
]))
const text = Arbitrary.array(piece, { maxLength: 6 }).pipe(Arbitrary.map((parts) => parts.join("")))
const metricName = Arbitrary.schema(Schema.String.check(Schema.isPattern(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,15}$/)))
const labelName = Arbitrary.schema(Schema.String.check(Schema.isPattern(/^[a-zA-Z_][a-zA-Z0-9_]{0,8}$/)))
const familyInput = Arbitrary.all({
  type: Arbitrary.schema(Schema.Literals(["counter", "gauge", "histogram", "summary", "unknown"])),
  name: metricName,
  help: text,
  labelNames: Arbitrary.array(labelName, { maxLength: 3 }),
  buckets: Arbitrary.array(Arbitrary.schema(Schema.Finite), { maxLength: 8 }),
  quantiles: Arbitrary.array(Arbitrary.schema(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }))), {
    maxLength: 4
  }),
  series: Arbitrary.array(
    Arbitrary.all({
      labelValues: Arbitrary.array(text, { minLength: 3, maxLength: 3 }),
      value: number,
      sum: number,
      count,
      bucketCounts: Arbitrary.array(count, { minLength: 9, maxLength: 9 }),
      quantileValues: Arbitrary.array(number, { minLength: 4, maxLength: 4 })
    }),
    { maxLength: 4 }
  )
})
type FamilyInput = typeof familyInput extends Arbitrary.Arbitrary<infer A> ? A : never

/**
 * Builds a valid registry from generated input: family names made unique with a `_f<i>` suffix (so no name ends in
 * a reserved suffix), reserved and duplicate label names dropped, label sets unique per family after U+FFFD
 * replacement, buckets sorted and unique, help prefixed with a letter (the parser cannot read a HELP line that is
 * blank after trimming).
 */
const buildRegistry = (inputs: ReadonlyArray<FamilyInput>): Array<Family> =>
  inputs.map((f, i): Family => {
    const unique = `${f.name}_f${i}`
    const name = unique.startsWith("__") ? `x${unique}` : unique
    const labelNames = [...new Set(f.labelNames)].filter((n) => !n.startsWith("__") && n !== "le" && n !== "quantile")
    const seen = new Set<string>()
    const buckets = [...new Set(f.buckets.map((b) => b + 0))].sort((a, b) => a - b)
    const quantiles = [...new Set(f.quantiles.map((q) => q + 0))]
    const series: Array<Series> = []
    for (const s of f.series) {
      const labels = labelNames.map((n, j) => [n, s.labelValues[j] ?? ""] as const)
      const key = JSON.stringify(labels.map(([, v]) => wellFormed(v)))
      if (seen.has(key)) continue
      seen.add(key)
      series.push({
        labels,
        value: s.value,
        sum: s.sum,
        count: s.count,
        bucketCounts: Float64Array.from(s.bucketCounts.slice(0, buckets.length + 1)),
        quantileValues: Float64Array.from(s.quantileValues.slice(0, quantiles.length))
      })
    }
    return { name, help: `h${f.help}`, type: f.type, buckets, quantiles, series }
  })

const boundLabel = /(le|quantile)="([^"]*)"\}/

/** Any double, or an integer of magnitude up to a little past 2^53 (where exact digits end). */
const anyNumber = Arbitrary.all([
  Arbitrary.schema(Schema.Boolean),
  Arbitrary.schema(Schema.Number),
  Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: -(2 ** 53) - 8, maximum: 2 ** 53 + 8 })))
]).pipe(Arbitrary.map(([integer, n, i]) => integer ? i : n))

describe("property: renderBytes", () => {
  it.prop(
    "renderBytes writes exactly what a plain string renderer writes (decoded and as UTF-8), in both formats",
    [Arbitrary.array(familyInput, { maxLength: 5 })],
    ([inputs]) => {
      const families = buildRegistry(inputs)
      assertSameAsReference(families, "text")
      assertSameAsReference(families, "openmetrics")
    },
    { arbitrary: { runs: 300 } }
  )

  it.prop(
    "a value's bytes are formatValue's, for any double",
    [Arbitrary.array(anyNumber, { minLength: 1, maxLength: 20 })],
    ([values]) => {
      const families: Array<Family> = [{
        name: "n",
        help: "",
        type: "gauge",
        series: values.map((v, i) => scalar([["i", String(i)]], v))
      }]
      const expected = values.map((v, i) => `n{i="${i}"} ${formatValue(v)}\n`).join("")
      assert.strictEqual(utf8Decoder.decode(renderBytes(families, "text")), `# TYPE n gauge\n${expected}`)
    },
    { arbitrary: { runs: 500 } }
  )
})

describe("property: random registries", () => {
  it.prop(
    "text output round-trips through parse-prometheus-text-format; OpenMetrics carries the same samples",
    [Arbitrary.array(familyInput, { maxLength: 5 })],
    ([inputs]) => {
      const families = buildRegistry(inputs)
      const textOut = render(families, "text")
      assert.isTrue(isWellFormed(textOut))
      assert.isTrue(textOut === "" || textOut.endsWith("\n"))
      assertTypedParse(textOut, families)
      assertSamples(parseSampleLines(textOut), expectedSamples(families))

      const om = render(families, "openmetrics")
      assert.isTrue(isWellFormed(om))
      assert.isTrue(om.endsWith("# EOF\n"))
      assert.strictEqual(om.indexOf("# EOF"), om.length - 6)
      const samplesOf = (s: string) => s.split("\n").filter((l) => l !== "" && !l.startsWith("#"))
      const omLines = samplesOf(om)
      const textLines = samplesOf(textOut)
      assert.strictEqual(omLines.length, textLines.length)
      omLines.forEach((line, i) => {
        const other = textLines[i]!
        if (line === other) return
        // only `le` / `quantile` may differ: OpenMetrics writes canonical floats (`1.0`), text Go's %g (`1`)
        const a = boundLabel.exec(line)
        const b = boundLabel.exec(other)
        assert.isNotNull(a, line)
        assert.isNotNull(b, other)
        assert.strictEqual(parseNumber(a![2]!), parseNumber(b![2]!))
        assert.match(a![2]!, /[.e]|Inf/)
        assert.strictEqual(line.replace(boundLabel, ""), other.replace(boundLabel, ""))
      })
      for (const f of families) assert.include(om, `# TYPE ${f.name} ${f.type}\n`)
    },
    { arbitrary: { runs: 300 } }
  )
})
