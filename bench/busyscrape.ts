/**
 * Busy-scrape benchmark: how long a /metrics scrape takes when the cores are inside long synchronous tasks,
 * against idle cores. Each scenario starts percore's control plane in-process (`Percore.withOptions(...).services`,
 * the default scrape flush wait of 100 ms) with 2 cores running `support/busy-core.ts`: "busy" cores run back-to-back
 * 50 ms synchronous tasks, "idle" cores record from a timer. A scrape is `MetricsHttp.scrape("text")`: ask every
 * core to flush (waiting as the service does), drain every ring, render. Scrapes are spaced by a random 0–20 ms, so
 * they land anywhere inside the busy cores' tasks. Target: busy median and p99 ≤ 1.5× idle.
 *
 * Run: `npm run bench -- busyscrape`.
 */
import { ConfigProvider, Effect, Layer } from "effect"
import { fileURLToPath } from "node:url"
import { MetricsHttp } from "../src/http/MetricsHttp.ts"
import { Percore } from "../src/Percore.ts"
import { DataPlane } from "../src/services/DataPlane.ts"
import { type BenchmarkOptions, type BenchmarkResult, median, ratio, type ResultRow } from "./harness.ts"

const coreModule = fileURLToPath(new URL("./support/busy-core.ts", import.meta.url))

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

const scrapes = (mode: "busy" | "idle", count: number): Promise<ReadonlyArray<number>> => {
  process.env["BUSY_CORE_MODE"] = mode // the cores' workers inherit the environment
  const layer = Percore.withOptions({ cores: 2, worker: coreModule, controlPlaneNice: 0, dashboard: false }).services.pipe(
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} })))
  )
  return Effect.runPromise(
    Effect.gen(function*() {
      const http = yield* MetricsHttp
      const dataPlane = yield* DataPlane
      while (!dataPlane.ready()) yield* Effect.sleep("10 millis")
      yield* Effect.sleep("200 millis") // the cores are in their loops
      const times: Array<number> = []
      for (let i = 0; i < count + 3; i++) {
        yield* Effect.sleep(`${Math.floor(Math.random() * 20)} millis`)
        const started = performance.now()
        yield* http.scrape("text")
        if (i >= 3) times.push(performance.now() - started) // the first scrapes warm the renderer up
      }
      return times
    }).pipe(Effect.provide(layer), Effect.scoped)
  )
}

export const busyScrapeBench = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const count = options.smoke ? 5 : options.rounds ?? 200
  const idle = await scrapes("idle", count)
  const busy = await scrapes("busy", count)
  const row = (name: string, times: ReadonlyArray<number>): ResultRow => ({
    name,
    unit: "ms",
    median: median(times),
    min: Math.min(...times),
    max: Math.max(...times),
    detail: { p99: percentile(times, 99), scrapes: times.length }
  })
  return {
    benchmark: "busyscrape",
    title: "Scrape latency with 2 cores in 50 ms synchronous tasks vs 2 idle cores (MetricsHttp.scrape, text format)",
    rows: [row("idle cores", idle), row("busy cores (50 ms tasks)", busy)],
    ratios: [
      ratio("busy / idle, median", median(busy), median(idle), 1.5),
      ratio("busy / idle, p99", percentile(busy, 99), percentile(idle, 99), 1.5)
    ],
    notes: [
      `p99: idle ${percentile(idle, 99).toFixed(2)} ms, busy ${percentile(busy, 99).toFixed(2)} ms; ${count} scrapes each, spaced 0–20 ms at random`
    ]
  }
}
