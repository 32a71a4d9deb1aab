/**
 * The exposition tests' oracle: what a page must contain, worked out independently of the renderer. A plain string
 * reference renderer, the expected samples of a model, a line parser and assertions comparing the two, the small
 * registry with its exact pages, and the registry exercising every rule (names promlint accepts), shared by the
 * render, conformance and property tests.
 */
import { assert } from "@effect/vitest"
import parsePrometheusTextFormat from "parse-prometheus-text-format"
import { escapeHelp, escapeLabelValue, formatCanonicalFloat, formatGoFloat, formatValue, render, renderBytes } from "../../src/exposition/index.ts"
import type { Family, Format, Series } from "../../src/exposition/index.ts"

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

export type Labels = Series["labels"]

export const scalar = (labels: Labels, value: number): Series => ({ labels, value, sum: 0, count: 0 })

export const histogramSeries = (labels: Labels, counts: ReadonlyArray<number>, sum: number): Series => ({
  labels,
  value: 0,
  sum,
  count: counts.reduce((a, b) => a + b, 0),
  bucketCounts: Float64Array.from(counts)
})

export const summarySeries = (labels: Labels, quantileValues: ReadonlyArray<number>, sum: number, count: number): Series => ({
  labels,
  value: 0,
  sum,
  count,
  quantileValues: Float64Array.from(quantileValues)
})

const stringMethods = String.prototype as String & { isWellFormed(): boolean; toWellFormed(): string }
export const isWellFormed = (s: string): boolean => stringMethods.isWellFormed.call(s)
export const wellFormed = (s: string): string => stringMethods.toWellFormed.call(s)

/** Parses an exposition number as both formats write it. */
export const parseNumber = (s: string): number =>
  s === "NaN" ? NaN : s === "+Inf" ? Infinity : s === "-Inf" ? -Infinity : Number(s)

/** The value a sample must carry: what the model says, with `-0` printed as `0`. */
export const sameNumber = (actual: number, expected: number): boolean =>
  Object.is(actual, Object.is(expected, -0) ? 0 : expected)

interface ExpectedSample {
  readonly name: string
  readonly labels: ReadonlyArray<readonly [string, string]>
  /** `le` / `quantile` bound, compared as a number. */
  readonly bound?: readonly [string, number]
  readonly value: number
}

/** OpenMetrics 1.0: a histogram with a negative bound, a negative sum or negative observations exposes no `_sum`. */
export const openMetricsOmitsSum = (family: Family, series: Series): boolean =>
  family.type === "histogram" &&
  ((family.buckets ?? []).some((b) => b < 0) || series.sum < 0 || series.negativeObservations === true)

/**
 * What the exposition must contain, computed from the model independently of the renderer: sample names,
 * well-formed label values, cumulative buckets with `+Inf` = `_count`, quantile lines, `_sum`, `_count`.
 */
export const expectedSamples = (families: ReadonlyArray<Family>): Array<ExpectedSample> => {
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

export interface ActualSample {
  readonly name: string
  readonly labels: ReadonlyMap<string, string>
  readonly value: number
}

const describeSample = (s: ActualSample | ExpectedSample): string =>
  JSON.stringify({ name: s.name, labels: [...s.labels], value: String(s.value) })

/** Compares samples in order; `dropEmptyLabels` for Prometheus' storage, which drops labels with empty values. */
export const assertSamples = (
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
export const sortActual = (samples: ReadonlyArray<ActualSample>): Array<ActualSample> => {
  const key = (a: ActualSample) =>
    sampleKey(a.name, [...a.labels].map(([n, v]) => n === "le" || n === "quantile" ? [n, String(parseNumber(v))] : [n, v]))
  return [...samples].sort((a, b) => key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)
}

/** The same order for expected samples, without empty-valued labels (as Prometheus' storage drops them). */
export const sortExpected = (samples: ReadonlyArray<ExpectedSample>): Array<ExpectedSample> => {
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
export const parseSampleLines = (text: string): Array<ActualSample> => {
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
export const assertTypedParse = (text: string, families: ReadonlyArray<Family>): void => {
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

export const smallRegistry = (): Array<Family> => [
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

export const smallText = `# HELP app_requests_total Requests handled.
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

export const smallOpenMetrics = `# HELP app_requests Requests handled.
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
          if (!om || !openMetricsOmitsSum(family, series)) line(`${name}_sum`, [], series.sum)
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
export const utf8Decoder = new TextDecoder()

/** `renderBytes` agrees with the reference byte for byte, and `render` is its decoding. */
export const assertSameAsReference = (families: ReadonlyArray<Family>, format: Format): void => {
  const expected = referenceRender(families, format)
  const bytes = renderBytes(families, format)
  assert.strictEqual(utf8Decoder.decode(bytes), expected)
  assert.deepStrictEqual(bytes, utf8Encoder.encode(expected))
  assert.strictEqual(render(families, format), expected)
}

/** The bytes `renderBytes` writes for a value (an unlabelled gauge's sample after `v `). */
export const valueText = (value: number): string => {
  const bytes = renderBytes([{ name: "v", help: "", type: "gauge", series: [scalar([], value)] }], "text")
  const page = utf8Decoder.decode(bytes)
  const head = "# TYPE v gauge\nv "
  assert.isTrue(page.startsWith(head) && page.endsWith("\n"), page)
  return page.slice(head.length, -1)
}

// ---------------------------------------------------------------------------------------------------------------
// A registry exercising every rule, checked by real tools
// ---------------------------------------------------------------------------------------------------------------

/** Names follow promlint's conventions (snake_case, base units, no colons), so `promtool check metrics` passes. */
export const everyRule = (): Array<Family> => [
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
