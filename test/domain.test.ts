import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Exit, Schema } from "effect"
import {
  ConflictingDefinition,
  counterFamilyName,
  counterSampleName,
  defaultBuckets,
  DefinitionError,
  familyBaseName,
  familySignature,
  findConflict,
  InvalidBuckets,
  InvalidLabelName,
  InvalidMetricName,
  isDefinitionError,
  isLabelNameSyntax,
  isMetricNameSyntax,
  isValidLabelName,
  isValidMetricName,
  LabelName,
  labelNamePattern,
  MetricKind,
  MetricName,
  metricNamePattern,
  sampleNames,
  type SeriesDefinition,
  seriesKey,
  SeriesLimitExceeded,
  validateDefinition
} from "../src/domain/index.ts"
import type { DefinitionInput } from "../src/domain/index.ts"

const ok = (input: DefinitionInput): SeriesDefinition => {
  const r = validateDefinition(input)
  if (isDefinitionError(r)) assert.fail(`expected a definition, got ${r._tag}: ${r.message}`)
  return r
}

const err = (input: DefinitionInput): DefinitionError => {
  const r = validateDefinition(input)
  if (!isDefinitionError(r)) assert.fail(`expected an error, got ${JSON.stringify(r)}`)
  return r
}

const bucketsReason = (buckets: ReadonlyArray<number>): string => {
  const e = err({ name: "h", kind: MetricKind.Histogram, buckets })
  assert.instanceOf(e, InvalidBuckets)
  return e.reason
}

describe("names", () => {
  it("accepts valid metric names and rejects invalid ones", () => {
    for (const n of ["a", "A", "_", ":", "a:b_c9", "http_requests", "_x", ":x:"]) {
      assert.isTrue(isValidMetricName(n), n)
      assert.isTrue(Schema.is(MetricName)(n), n)
    }
    for (const n of ["", "9a", "a-b", "a.b", "a b", "é", "a\n", "__x", "__"]) {
      assert.isFalse(isValidMetricName(n), n)
      assert.isFalse(Schema.is(MetricName)(n), n)
    }
  })

  it("accepts valid label names and rejects invalid or reserved ones", () => {
    for (const n of ["a", "_a", "A9", "method", "lE", "quantiles", "_le"]) {
      assert.isTrue(isValidLabelName(n), n)
      assert.isTrue(Schema.is(LabelName)(n), n)
    }
    for (const n of ["", "9", "a:b", "a-b", "__x", "__", "le", "quantile"]) {
      assert.isFalse(isValidLabelName(n), n)
      assert.isFalse(Schema.is(LabelName)(n), n)
    }
    assert.isTrue(isLabelNameSyntax("le"))
    assert.isTrue(isMetricNameSyntax("__x"))
  })

  it("reports schema failures with the rule", () => {
    const exit = Schema.decodeUnknownExit(LabelName)("le")
    if (Exit.isSuccess(exit)) assert.fail("\"le\" decoded as a LabelName")
    assert.include(String(exit.cause), "reserved")
  })

  it("splits counter names on _total", () => {
    assert.deepStrictEqual(familyBaseName("x", MetricKind.Counter), { family: "x", sample: "x_total" })
    assert.deepStrictEqual(familyBaseName("x_total", MetricKind.Counter), { family: "x", sample: "x_total" })
    assert.deepStrictEqual(familyBaseName("x_info_total", MetricKind.Counter) instanceof InvalidMetricName, true)
    assert.deepStrictEqual(familyBaseName("x", MetricKind.Gauge), { family: "x", sample: "x" })
    assert.deepStrictEqual(familyBaseName("x", MetricKind.Histogram), { family: "x", sample: "x" })
  })

  it("one _total rule: a counter's family drops one _total, its sample adds one", () => {
    assert.strictEqual(counterFamilyName("x_total"), "x")
    assert.strictEqual(counterFamilyName("x"), "x")
    assert.strictEqual(counterFamilyName("x_total_total"), "x_total")
    assert.strictEqual(counterFamilyName("_total"), "")
    assert.strictEqual(counterSampleName("x"), "x_total")
    assert.strictEqual(counterSampleName(counterFamilyName("x_total")), "x_total")
  })

  it("sampleNames: every name a family occupies in either format", () => {
    assert.deepStrictEqual(sampleNames("x", "counter"), ["x", "x_total", "x_created"])
    assert.deepStrictEqual(sampleNames("x", "gauge"), ["x"])
    assert.deepStrictEqual(sampleNames("x", "unknown"), ["x"])
    assert.deepStrictEqual(sampleNames("x", "histogram"), ["x", "x_bucket", "x_sum", "x_count", "x_created"])
    assert.deepStrictEqual(sampleNames("x", "summary"), ["x", "x_sum", "x_count", "x_created"])
  })

  it("rejects names whose suffix would collide in OpenMetrics", () => {
    for (const s of ["_bucket", "_count", "_sum", "_created", "_info"]) {
      assert.instanceOf(familyBaseName(`x${s}`, MetricKind.Counter), InvalidMetricName, s)
    }
    for (const kind of [MetricKind.Gauge, MetricKind.Histogram]) {
      for (const s of ["_total", "_bucket", "_count", "_sum", "_created"]) {
        assert.instanceOf(familyBaseName(`x${s}`, kind), InvalidMetricName, s)
      }
      assert.deepStrictEqual(familyBaseName("x_info", kind), { family: "x_info", sample: "x_info" })
    }
    // `_total` alone leaves no family name.
    assert.instanceOf(familyBaseName("_total", MetricKind.Counter), InvalidMetricName)
    assert.instanceOf(familyBaseName("__x_total", MetricKind.Counter), InvalidMetricName)
  })

  // Strings over an alphabet where valid names are common, plus fully random strings.
  const nameChars = Schema.Literals(["a", "Z", "_", ":", "0", "9", "-", ".", " ", "é", "\u0000"])
  const nameLike = Arbitrary.array(Arbitrary.schema(nameChars), { maxLength: 8 }).pipe(
    Arbitrary.map((cs) => cs.join(""))
  )

  it.prop("isValidMetricName agrees with the regex (name-like strings)", [nameLike], ([s]) => {
    assert.strictEqual(isMetricNameSyntax(s), metricNamePattern.test(s), JSON.stringify(s))
    assert.strictEqual(isValidMetricName(s), metricNamePattern.test(s) && !s.startsWith("__"), JSON.stringify(s))
    assert.strictEqual(Schema.is(MetricName)(s), isValidMetricName(s), JSON.stringify(s))
  })

  it.prop("isValidMetricName agrees with the regex (random strings)", [Schema.String], ([s]) => {
    assert.strictEqual(isMetricNameSyntax(s), metricNamePattern.test(s))
    assert.strictEqual(isValidMetricName(s), metricNamePattern.test(s) && !s.startsWith("__"))
  })

  it.prop("isValidLabelName agrees with the regex and reserved names", [nameLike], ([s]) => {
    assert.strictEqual(isLabelNameSyntax(s), labelNamePattern.test(s), JSON.stringify(s))
    assert.strictEqual(
      isValidLabelName(s),
      labelNamePattern.test(s) && !s.startsWith("__") && s !== "le" && s !== "quantile",
      JSON.stringify(s)
    )
    assert.strictEqual(Schema.is(LabelName)(s), isValidLabelName(s), JSON.stringify(s))
  })

  it.prop("MetricName arbitraries are valid metric names", [MetricName, LabelName], ([m, l]) => {
    assert.isTrue(isValidMetricName(m), m)
    assert.isTrue(isValidLabelName(l), l)
  })
})

describe("errors", () => {
  it("are Errors with useful messages, constructed without an Effect", () => {
    const e = new InvalidMetricName({ name: "a-b", reason: "must match [a-zA-Z_:][a-zA-Z0-9_:]*" })
    assert.instanceOf(e, Error)
    assert.strictEqual(e._tag, "InvalidMetricName")
    assert.strictEqual(e.message, "invalid metric name \"a-b\": must match [a-zA-Z_:][a-zA-Z0-9_:]*")
    assert.include(String(e), "a-b")
    assert.throws(() => {
      throw e
    }, /a-b/)

    const l = new InvalidLabelName({ metric: "m", label: "le", reason: "reserved" })
    assert.include(l.message, "\"le\"")
    assert.include(l.message, "\"m\"")

    const b = new InvalidBuckets({ metric: "h", buckets: [1, NaN, Infinity], reason: "non-finite" })
    assert.include(b.message, "[1, NaN, Infinity]")
    assert.include(b.message, "\"h\"")

    const c = new ConflictingDefinition({ metric: "m", field: "kind", existing: "counter", requested: "gauge" })
    assert.include(c.message, "counter")
    assert.include(c.message, "gauge")
    assert.include(c.message, "kind")

    const s = new SeriesLimitExceeded({ metric: "m", scope: "core", limit: 1000 })
    assert.instanceOf(s, Error)
    assert.include(s.message, "core")
    assert.include(s.message, "1000")

    for (const x of [e, l, b, c, s]) assert.isTrue(isDefinitionError(x))
    assert.isFalse(isDefinitionError(new Error("x")))
  })

  it.effect("can be yielded as Effect failures", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(Effect.fail(new SeriesLimitExceeded({ metric: "m", scope: "global", limit: 1 })))
      assert.strictEqual(e._tag, "SeriesLimitExceeded")
      // The union schema revives errors that crossed a thread boundary as plain data.
      const revived = Schema.decodeUnknownSync(DefinitionError)({
        _tag: "InvalidBuckets",
        metric: "h",
        buckets: [],
        reason: "empty"
      })
      assert.instanceOf(revived, InvalidBuckets)
    }))
})

describe("validateDefinition", () => {
  it("normalizes a counter", () => {
    const a = ok({ name: "x_total", kind: MetricKind.Counter, labels: { b: "2", a: "1" } })
    const b = ok({ name: "x", kind: MetricKind.Counter, labels: [["a", "1"], ["b", "2"]] })
    assert.deepStrictEqual(a, { name: "x", kind: MetricKind.Counter, help: "", labels: [["a", "1"], ["b", "2"]] })
    assert.strictEqual(seriesKey(a), seriesKey(b))
    assert.isFalse("buckets" in a)
  })

  it("sorts labels by name", () => {
    const d = ok({ name: "g", kind: MetricKind.Gauge, labels: [["z", ""], ["B", ""], ["a", ""], ["_", ""]] })
    assert.deepStrictEqual(d.labels.map(([k]) => k), ["B", "_", "a", "z"])
  })

  it("allows any label value and any help", () => {
    const weird = "a\"b\\c\nd,e=f}\u0000é"
    const d = ok({ name: "g", kind: MetricKind.Gauge, help: weird, labels: { v: weird, e: "" } })
    assert.deepStrictEqual(d.labels, [["e", ""], ["v", weird]])
    assert.strictEqual(d.help, weird)
  })

  it("rejects invalid, reserved and duplicate label names", () => {
    for (const label of ["__x", "le", "quantile", "a-b", "", "0"]) {
      const e = err({ name: "g", kind: MetricKind.Gauge, labels: { [label]: "v" } })
      assert.instanceOf(e, InvalidLabelName, label)
      assert.strictEqual(e.label, label)
      assert.strictEqual(e.metric, "g")
    }
    const dup = err({ name: "g", kind: MetricKind.Gauge, labels: [["a", "1"], ["b", "2"], ["a", "3"]] })
    assert.instanceOf(dup, InvalidLabelName)
    assert.strictEqual(dup.label, "a")
    assert.include(dup.reason, "duplicate")
  })

  it("rejects invalid metric names per kind", () => {
    assert.instanceOf(err({ name: "__x", kind: MetricKind.Gauge }), InvalidMetricName)
    assert.instanceOf(err({ name: "x_total", kind: MetricKind.Gauge }), InvalidMetricName)
    assert.instanceOf(err({ name: "x_count", kind: MetricKind.Counter }), InvalidMetricName)
    assert.instanceOf(err({ name: "x_sum", kind: MetricKind.Histogram }), InvalidMetricName)
    assert.instanceOf(err({ name: "1x", kind: MetricKind.Counter }), InvalidMetricName)
  })

  it("uses default buckets and drops a final +Inf", () => {
    assert.deepStrictEqual(ok({ name: "h", kind: MetricKind.Histogram }).buckets, defaultBuckets)
    assert.deepStrictEqual(
      [...defaultBuckets],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    )
    assert.deepStrictEqual(ok({ name: "h", kind: MetricKind.Histogram, buckets: [1, 2, Infinity] }).buckets, [1, 2])
    assert.deepStrictEqual(ok({ name: "h", kind: MetricKind.Histogram, buckets: [-1, 0, 0.5] }).buckets, [-1, 0, 0.5])
  })

  it("reports every InvalidBuckets reason", () => {
    assert.strictEqual(bucketsReason([]), "empty")
    assert.strictEqual(bucketsReason([Infinity]), "empty")
    assert.strictEqual(bucketsReason([2, 1]), "unsorted")
    assert.strictEqual(bucketsReason([1, 1]), "duplicated")
    assert.strictEqual(bucketsReason([1, 2, 1]), "duplicated")
    assert.strictEqual(bucketsReason([1, NaN]), "non-finite")
    assert.strictEqual(bucketsReason([-Infinity, 1]), "non-finite")
    assert.strictEqual(bucketsReason([1, Infinity, 2]), "non-finite")
    assert.strictEqual(bucketsReason([1, Infinity, Infinity]), "non-finite")
    const e = err({ name: "h", kind: MetricKind.Histogram, buckets: [2, 1, Infinity] })
    assert.instanceOf(e, InvalidBuckets)
    assert.deepStrictEqual(e.buckets, [2, 1, Infinity])
    assert.strictEqual(e.metric, "h")
  })

  it("ignores buckets for non-histograms", () => {
    assert.isFalse("buckets" in ok({ name: "g", kind: MetricKind.Gauge, buckets: [2, 1] }))
  })
})

describe("seriesKey and familySignature", () => {
  it("distinguishes label sets that a naive join would confuse", () => {
    const a = ok({ name: "m", kind: MetricKind.Gauge, labels: { a: "b,c" } })
    const b = ok({ name: "m", kind: MetricKind.Gauge, labels: { a: "b", c: "" } })
    const c = ok({ name: "m", kind: MetricKind.Gauge, labels: { a: "b\",\"c" } })
    const d = ok({ name: "m", kind: MetricKind.Gauge, labels: { a: "b=c" } })
    const e = ok({ name: "m", kind: MetricKind.Gauge, labels: { a_b: "c" } })
    const f = ok({ name: "m_a", kind: MetricKind.Gauge, labels: { b: "c" } })
    const keys = [a, b, c, d, e, f].map(seriesKey)
    assert.strictEqual(new Set(keys).size, keys.length)
  })

  it("does not depend on label order or help", () => {
    const a = ok({ name: "m", kind: MetricKind.Gauge, help: "x", labels: { a: "1", b: "2" } })
    const b = ok({ name: "m", kind: MetricKind.Gauge, help: "y", labels: [["b", "2"], ["a", "1"]] })
    assert.strictEqual(seriesKey(a), seriesKey(b))
  })

  it("detects conflicting family definitions", () => {
    const base = ok({ name: "m", kind: MetricKind.Histogram, help: "h", labels: { a: "1" }, buckets: [1, 2] })
    const sameFamily = ok({ name: "m", kind: MetricKind.Histogram, help: "h", labels: { a: "2" }, buckets: [1, 2] })
    assert.strictEqual(familySignature(base), familySignature(sameFamily))
    assert.isUndefined(findConflict(base, sameFamily))

    const variants: ReadonlyArray<readonly [DefinitionInput, string]> = [
      [{ name: "m", kind: MetricKind.Gauge, help: "h", labels: { a: "1" } }, "kind"],
      [{ name: "m", kind: MetricKind.Histogram, help: "other", labels: { a: "1" }, buckets: [1, 2] }, "help"],
      [{ name: "m", kind: MetricKind.Histogram, help: "h", labels: { b: "1" }, buckets: [1, 2] }, "labelNames"],
      [{ name: "m", kind: MetricKind.Histogram, help: "h", labels: { a: "1", b: "1" }, buckets: [1, 2] }, "labelNames"],
      [{ name: "m", kind: MetricKind.Histogram, help: "h", labels: { a: "1" }, buckets: [1, 3] }, "buckets"],
      [{ name: "m", kind: MetricKind.Histogram, help: "h", labels: { a: "1" } }, "buckets"]
    ]
    const signatures = new Set([familySignature(base)])
    for (const [input, field] of variants) {
      const d = ok(input)
      signatures.add(familySignature(d))
      const conflict = findConflict(base, d)
      assert.instanceOf(conflict, ConflictingDefinition, field)
      assert.strictEqual(conflict?.field, field)
      assert.strictEqual(conflict?.metric, "m")
      assert.notStrictEqual(conflict?.existing, conflict?.requested)
    }
    assert.strictEqual(signatures.size, variants.length + 1)

    const k = findConflict(base, ok({ name: "m", kind: MetricKind.Counter }))
    assert.strictEqual(k?.existing, "histogram")
    assert.strictEqual(k?.requested, "counter")
  })
})
