/**
 * Conformance with real tools: promtool (Prometheus' 0.0.4 parser plus promlint, and its OpenMetrics parser and TSDB
 * through backfilling) and parse-prometheus-text-format (an independent 0.0.4 parser).
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import parsePrometheusTextFormat from "parse-prometheus-text-format"
import { render } from "../src/exposition/index.ts"
import type { Family } from "../src/exposition/index.ts"
import { type ActualSample, assertSamples, assertTypedParse, everyRule, expectedSamples, histogramSeries, parseNumber, parseSampleLines, sortActual, sortExpected, summarySeries } from "./support/exposition-oracle.ts"

const findPromtool = (): string | undefined => {
  const probe = spawnSync("promtool", ["--version"], { encoding: "utf8" })
  return probe.status === 0 ? "promtool" : undefined
}
const promtool = findPromtool()
const requirePromtool = process.env["CI"] === "true"
const skipPromtool = promtool === undefined && !requirePromtool
if (skipPromtool) {
  console.log(
    "exposition.conformance.test.ts: skipping promtool checks: promtool not found on PATH (Debian package `prometheus`); " +
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
