/**
 * Smoke test of the benchmark suite: every registered benchmark runs in-process at smoke sizes and returns
 * well-formed results. Timing is never asserted — only that the numbers exist, are finite and are sane.
 */
import { assert, describe, it } from "@effect/vitest"
import path from "node:path"
import type { BenchmarkResult } from "../bench/harness.ts"
import { HOTPATH_ROWS } from "../bench/hotpath.ts"
import { benchmarks, parseArgs, runBenchmarks } from "../bench/run.ts"

const assertWellFormed = (result: BenchmarkResult, name: string): void => {
  assert.strictEqual(result.benchmark, name)
  assert.isNotEmpty(result.title)
  const names = result.rows.map((r) => r.name)
  assert.strictEqual(new Set(names).size, names.length, "row names are unique")
  for (const row of result.rows) {
    assert.isNotEmpty(row.name)
    assert.isNotEmpty(row.unit)
    for (const [label, value] of [["median", row.median], ["min", row.min], ["max", row.max]] as const) {
      assert.isTrue(Number.isFinite(value) && value > 0, `${row.name}: ${label} is a finite positive number, got ${value}`)
    }
    assert.isTrue(row.min <= row.median && row.median <= row.max, `${row.name}: min ≤ median ≤ max`)
    if (row.bytesPerOp !== undefined) {
      assert.isTrue(Number.isFinite(row.bytesPerOp) && row.bytesPerOp >= 0, `${row.name}: bytes/op is finite and ≥ 0, got ${row.bytesPerOp}`)
    }
    if (row.relative !== undefined) assert.isTrue(Number.isFinite(row.relative) && row.relative > 0, `${row.name}: relative`)
  }
  for (const ratio of result.ratios) {
    assert.isTrue(Number.isFinite(ratio.value) && ratio.value > 0, `${ratio.name}: a finite positive ratio, got ${ratio.value}`)
    if (ratio.target !== undefined) assert.strictEqual(ratio.met, ratio.value <= ratio.target)
  }
}

describe("bench/run.ts", () => {
  it("parses the command line", () => {
    const defaultJson = path.resolve(import.meta.dirname, "../bench/results/latest.json")
    assert.deepStrictEqual(parseArgs([]), { names: [], smoke: false, json: undefined, rounds: undefined })
    assert.deepStrictEqual(parseArgs(["hotpath", "--json"]), { names: ["hotpath"], smoke: false, json: defaultJson, rounds: undefined })
    assert.deepStrictEqual(parseArgs(["--json", "hotpath"]), { names: ["hotpath"], smoke: false, json: defaultJson, rounds: undefined })
    assert.deepStrictEqual(parseArgs(["--smoke", "--json", "out.json", "--rounds", "3"]), {
      names: [],
      smoke: true,
      json: path.resolve("out.json"),
      rounds: 3
    })
    assert.throws(() => parseArgs(["--bogus"]))
  })

  it("registers every benchmark", () => {
    assert.deepStrictEqual(benchmarks.map((b) => b.name), ["hotpath", "handles", "scrape", "scrape-e2e", "offthread", "workers", "scaling", "startup", "promclient", "runtime", "busyscrape", "jitter"])
  })

  it("rejects an unknown benchmark name", async () => {
    let failed = false
    await runBenchmarks({ smoke: true, only: "no-such-benchmark" }).catch(() => (failed = true))
    assert.isTrue(failed)
  })
})

describe("benchmarks at smoke sizes", () => {
  for (const benchmark of benchmarks) {
    it(`${benchmark.name} produces well-formed results`, async () => {
      const results = await runBenchmarks({ smoke: true, only: benchmark.name })
      assert.strictEqual(results.length, 1)
      const result = results[0]!
      assertWellFormed(result, benchmark.name)
      if (benchmark.name === "hotpath") {
        assert.deepStrictEqual(result.rows.map((r) => r.name), Object.values(HOTPATH_ROWS))
        for (const row of result.rows) assert.isDefined(row.bytesPerOp, `${row.name}: bytes/op measured`)
        assert.isAtLeast(result.ratios.length, 4)
      }
      if (benchmark.name === "scrape" && result.rows.length > 0) {
        // Every percore row has its prom-client counterpart.
        const names = new Set(result.rows.map((r) => r.name))
        for (const name of names) if (name.includes("percore")) assert.isTrue(names.has(name.replace("percore", "prom-client")), name)
      }
    }, 60_000)
  }
})
