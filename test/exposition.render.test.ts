/** The renderer: exact pages, values, escaping, histograms and summaries, caching and invariants; renderBytes against the reference renderer. */
import { assert, describe, it } from "@effect/vitest"
import parsePrometheusTextFormat from "parse-prometheus-text-format"
import { ExpositionError, formatCanonicalFloat, formatGoFloat, formatValue, render, renderBytes } from "../src/exposition/index.ts"
import type { Family, Series } from "../src/exposition/index.ts"
import { assertSameAsReference, everyRule, histogramSeries, isWellFormed, type Labels, parseNumber, sameNumber, scalar, smallOpenMetrics, smallRegistry, smallText, summarySeries, utf8Decoder, valueText, wellFormed } from "./support/exposition-oracle.ts"

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
