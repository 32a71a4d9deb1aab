/**
 * Issue 17's hardening, through the real service (`node src/main.ts` with test/fixtures/hardening-core.ts):
 * size caps at definition, names kept exactly, cross-family clashes and the reserved `core` label refused on the
 * core, and non-numbers refused on the hot path.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { httpGet, query, startPercore, startPrometheus, targets, waitFor } from "./support/e2e.ts"

const worker = "test/fixtures/hardening-core.ts"

/** The real service running the hardening core, once the core has set `harden_done`. */
const startHardened = (env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const started = yield* startPercore({ PERCORE_CORES: "1", PERCORE_WORKER: worker, ...env })
    const page = yield* waitFor(
      "the hardening core to finish its definitions",
      Effect.map(httpGet(`${started.base}/metrics`), (r) => (r.status === 200 && /^harden_done 1$/m.test(r.body) ? r.body : undefined)),
      { timeoutMs: 20_000, watch: [started.child] }
    )
    return { ...started, page }
  })

/** The value of the one sample line `name{labels} value` (labels as rendered), or undefined. */
const sample = (page: string, series: string): string | undefined => {
  for (const line of page.split("\n")) {
    if (line.startsWith(series + " ")) return line.slice(series.length + 1)
  }
  return undefined
}

describe("hardening (real process)", () => {
  it.live("definitions over the size caps, sample-name clashes and `core` on perCore gauges are typed errors on the core", () =>
    Effect.gen(function*() {
      const { page } = yield* startHardened()
      const tagOf = (name: string) => new RegExp(`^harden_outcome\\{case="${name}",tag="([A-Za-z ]+)"\\} 1$`, "m").exec(page)?.[1]
      assert.strictEqual(tagOf("amplification"), "DefinitionTooLarge")
      assert.strictEqual(tagOf("buckets"), "DefinitionTooLarge")
      assert.strictEqual(tagOf("name"), "DefinitionTooLarge")
      assert.strictEqual(tagOf("help"), "DefinitionTooLarge")
      assert.strictEqual(tagOf("labels"), "DefinitionTooLarge")
      assert.strictEqual(tagOf("at_limits"), "accepted", "a definition exactly at every cap is accepted")
      assert.strictEqual(tagOf("clash"), "ConflictingDefinition", "counter x_total_total renders x_total, which counter x renders")
      assert.strictEqual(tagOf("clash_gauge"), "InvalidMetricName")
      assert.strictEqual(tagOf("per_core_label"), "InvalidLabelName")
      assert.notInclude(page, "amp_hist")
      assert.notInclude(page, "many_buckets")
    }))

  it.live("families of two cores that would render one sample name: the control plane refuses the later one, scrapes stay valid", () =>
    Effect.gen(function*() {
      const { page } = yield* startHardened({ HARDEN_MODE: "cross", PERCORE_CORES: "2" })
      const kept = [sample(page, "cross_total"), sample(page, "cross_total_total")].filter((v) => v !== undefined)
      assert.deepStrictEqual(kept, ["1"], page)
      const conflicts = ["0", "1"].map((core) => Number(sample(page, `percore_series_refused_total{core="${core}",scope="conflict"}`)))
      assert.strictEqual(conflicts[0]! + conflicts[1]!, 1)
    }))

  it.live("counters keep the name given; non-numbers are invalid samples, counted and dropped", () =>
    Effect.gen(function*() {
      const { page } = yield* startHardened()
      assert.strictEqual(sample(page, "dup_total_total"), "3", page)
      assert.include(page, "# TYPE dup_total_total counter")
      assert.isUndefined(sample(page, "dup_total"), "no sample is exported under a shortened name")
      assert.strictEqual(sample(page, "same_total"), "2", "`x` and `x_total` are one counter family")
      assert.strictEqual(sample(page, "strings_total"), "2", "inc(\"5\") neither adds nor concatenates")
      assert.strictEqual(sample(page, "string_gauge"), "3")
      assert.strictEqual(sample(page, "string_hist_count"), "1")
      assert.strictEqual(sample(page, "string_hist_sum"), "2")
      assert.strictEqual(sample(page, `percore_invalid_samples_total{core="0",reason="non_number"}`), "6")
    }))

  it.live("a histogram that saw a negative observation has no _sum in OpenMetrics 1.0, and keeps it in text 0.0.4", () =>
    Effect.gen(function*() {
      const { base, page, port } = yield* startHardened()
      assert.strictEqual(sample(page, "negative_hist_sum"), "-4.5")
      const om = (yield* httpGet(`${base}/metrics`, { accept: "application/openmetrics-text;version=1.0.0" })).body
      assert.isTrue(om.endsWith("# EOF\n"))
      assert.strictEqual(sample(om, "negative_hist_count"), "2", om)
      assert.isUndefined(sample(om, "negative_hist_sum"), "OpenMetrics 1.0: no sum for a histogram with negative observations")
      assert.strictEqual(sample(om, "string_hist_sum"), "2", "histograms without negative observations keep their sum")
      // Prometheus asks for OpenMetrics first and parses the page with its OpenMetrics parser.
      const prometheus = yield* startPrometheus(`127.0.0.1:${port}`)
      const count = yield* waitFor(
        "Prometheus to scrape the histogram",
        Effect.map(query(prometheus, "negative_hist_count"), (v) => v[0]?.value),
        { timeoutMs: 30_000, watch: [prometheus.child] }
      )
      assert.strictEqual(count, "2")
      const [target] = yield* targets(prometheus)
      assert.strictEqual(target?.health, "up", target?.lastError)
      assert.deepStrictEqual(yield* query(prometheus, "negative_hist_sum"), [], "no sum was exposed to Prometheus")
    }))

  it.live("refusals are counted exactly while the ring overflows, and logged as a few lines with counts", () =>
    Effect.gen(function*() {
      const { base, child } = yield* startHardened({
        HARDEN_MODE: "refusals",
        PERCORE_CORES: "2",
        PERCORE_RING_CAPACITY: "16",
        PERCORE_MAX_SERIES_PER_CORE: "40",
        PERCORE_MAX_SERIES: "50"
      })
      // Refusals are read at every drain; a scrape drains first.
      const page = (yield* httpGet(`${base}/metrics`)).body
      let dropped = 0
      let global = 0
      for (const core of ["0", "1"]) {
        // harden_done, then 39 of the 100 series fit under the core's limit of 40.
        assert.strictEqual(sample(page, `percore_series_refused_total{core="${core}",scope="core"}`), "61", page)
        assert.strictEqual(sample(page, `percore_invalid_samples_total{core="${core}",reason="negative_increment"}`), "1000")
        dropped += Number(sample(page, `percore_ring_dropped_total{core="${core}"}`))
        global += Number(sample(page, `percore_series_refused_total{core="${core}",scope="global"}`))
      }
      assert.isAbove(dropped, 0, "the ring overflowed")
      // harden_done is one series for both cores; 39 refuse_me series each: 79 against a limit of 50.
      assert.strictEqual(global, 1 + 2 * 39 - 50, "the control plane refused what exceeded the global limit")
      const lines = (child.stdout() + child.stderr()).split("\n").filter((line) => line.includes("refused by"))
      // One line per core and reason per 10 s interval (2 cores × 2 reasons; a second interval at most), each with
      // its count, instead of one line per refusal (91 here).
      assert.isAtLeast(lines.length, 1)
      assert.isAtMost(lines.length, 8, lines.join("\n"))
      for (const line of lines) assert.match(line, /core \d: \d+ series definition\(s\) refused by /)
    }))
})
