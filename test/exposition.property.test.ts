/** Property tests: random registries render as the reference renderer does and round-trip through a parser. */
import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Schema } from "effect"
import { formatValue, render, renderBytes } from "../src/exposition/index.ts"
import type { Family, Series } from "../src/exposition/index.ts"
import { assertSameAsReference, assertSamples, assertTypedParse, expectedSamples, isWellFormed, parseNumber, parseSampleLines, scalar, utf8Decoder, wellFormed } from "./support/exposition-oracle.ts"

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
      // OpenMetrics leaves out the `_sum` of histograms with negative observations or bounds (checked exactly against
      // the reference renderer above); every other line is the same.
      const textLines = samplesOf(textOut).filter((line) => !(line.includes("_sum") && !omLines.includes(line)))
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
