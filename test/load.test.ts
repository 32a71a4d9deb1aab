/**
 * Scrape load against the real process on 127.0.0.1 (bounded: 100 connections for 10 s, then it stops):
 * while the demo cores record, autocannon hammers /metrics. No error may occur besides the configured
 * 503s, and afterwards the books are exact: the final snapshot (written on SIGTERM) shows, for every core,
 * delivered + dropped == recorded.
 */
import { assert, describe, it } from "@effect/vitest"
import autocannon from "autocannon"
import { Effect } from "effect"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startPercore } from "./support/e2e.ts"

const sample = (text: string, name: string, core: string): number => {
  const match = new RegExp(`^${name}\\{core="${core}"\\} (\\S+)$`, "m").exec(text)
  return match === null ? Number.NaN : Number(match[1])
}

describe("scrape load (real process, loopback only, bounded)", () => {
  it.live("100 connections for 10 s: only configured 503s, books exact afterwards", () =>
    Effect.gen(function*() {
      const snapshot = join(mkdtempSync(join(tmpdir(), "percore-load-")), "final.om")
      const { child, port } = yield* startPercore({ PERCORE_CORES: "1", PERCORE_DEMO_RATE: "100000", PERCORE_FINAL_SNAPSHOT: snapshot })
      const output = () => child.stdout() + child.stderr()
      const result = yield* Effect.promise(() =>
        autocannon({ url: `http://127.0.0.1:${port}/metrics`, connections: 100, duration: 10, timeout: 10 })
      )
      const codes = result.statusCodeStats ?? {}
      // Figures for BENCHMARKS.md (printed, never asserted: timing depends on the machine).
      console.log(
        `load: ${result.requests.total} scrapes in ${result.duration} s, ${result.requests.average} req/s, ` +
          `latency p50 ${result.latency.p50} ms p99 ${result.latency.p99} ms, non-2xx ${result.non2xx}, ` +
          `503 ${codes["503"]?.count ?? 0}, errors ${result.errors}, timeouts ${result.timeouts}`
      )
      assert.strictEqual(result.errors, 0)
      assert.strictEqual(result.timeouts, 0)
      const statuses = Object.keys(codes)
      assert.isTrue(statuses.every((s) => s === "200" || s === "503"), `statuses: ${statuses.join(", ")}`)
      assert.isAbove(codes["200"]?.count ?? 0, 0)
      assert.isUndefined(child.exited(), "still serving")
      child.process.kill("SIGTERM")
      assert.strictEqual((yield* Effect.promise(() => child.exit)).code, 0, output())
      const text = readFileSync(snapshot, "utf8")
      const recorded = sample(text, "percore_ring_recorded_total", "0")
      const delivered = sample(text, "percore_ring_delivered_total", "0")
      const dropped = sample(text, "percore_ring_dropped_total", "0")
      assert.isAbove(recorded, 0)
      assert.strictEqual(delivered + dropped, recorded, `delivered ${delivered} + dropped ${dropped} == recorded ${recorded}`)
    }), 60_000)
})
