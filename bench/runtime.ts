/**
 * Runtime metrics' cost per thread: what publishing a thread's event-loop, CPU, heap, GC and loop-delay figures
 * costs it, at the default interval. An idle core (a real CoreRuntime whose event loop waits) runs in a fresh
 * worker with runtime metrics off and on, interleaved (same rounds, so a busy moment on the machine hits both);
 * each reports its thread's CPU per second of wall time (`process.threadCpuUsage`). The difference is the
 * steady cost: the reading every interval plus the event-loop delay monitor's timer (LOOP_RESOLUTION_MS). One reading is also
 * timed alone (`collect()` into the core's series and the flush that publishes it). Target: ≤ 0.5 % of a CPU.
 * The handle methods are untouched: the hot path (`npm run bench -- handles`) does not see any of this.
 *
 * Run alone: `npm run bench -- runtime` (or `--smoke`).
 */
import { Worker } from "node:worker_threads"
import { DEFAULT_RUNTIME_INTERVAL_MS, LOOP_RESOLUTION_MS } from "../src/core/runtimeMetrics.ts"
import { type BenchmarkOptions, type BenchmarkResult, median, ratio, type ResultRow } from "./harness.ts"

interface Report {
  readonly cpuPerSecond: number
  readonly readingMicros: number
}

const measure = (intervalMs: number, windowMs: number, readings: number): Promise<Report> => {
  const worker = new Worker(new URL("./support/runtime-thread.ts", import.meta.url), { workerData: { intervalMs, windowMs, readings } })
  return new Promise<Report>((resolve, reject) => {
    worker.once("message", (report: Report) => resolve(report))
    worker.once("error", reject)
    worker.once("exit", (code) => reject(new Error(`runtime bench worker exited with code ${code} before reporting`)))
  }).finally(() => void worker.terminate())
}

const row = (name: string, unit: string, values: ReadonlyArray<number>, detail?: Record<string, number | string>): ResultRow => ({
  name,
  unit,
  median: Math.max(median(values), 1e-6),
  min: Math.max(Math.min(...values), 1e-6),
  max: Math.max(Math.max(...values), 1e-6),
  ...(detail === undefined ? {} : { detail })
})

export const runtimeBench = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const rounds = options.rounds ?? (options.smoke ? 1 : 5)
  const windowMs = options.smoke ? 500 : 5_000
  const readings = options.smoke ? 50 : 2_000
  const off: Array<number> = []
  const on: Array<number> = []
  const reading: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    // Both at once: the same moment of the machine for both.
    const [without, withMetrics] = await Promise.all([measure(0, windowMs, 0), measure(DEFAULT_RUNTIME_INTERVAL_MS, windowMs, readings)])
    off.push(without.cpuPerSecond * 100)
    on.push(withMetrics.cpuPerSecond * 100)
    reading.push(withMetrics.readingMicros)
  }
  const cost = on.map((value, i) => value - off[i]!)
  const rows: Array<ResultRow> = [
    row("idle core, runtime metrics off: thread CPU", "% of a CPU", off),
    row(`idle core, runtime metrics on (${DEFAULT_RUNTIME_INTERVAL_MS} ms interval): thread CPU`, "% of a CPU", on),
    row("runtime metrics' cost (on − off, same round)", "% of a CPU", cost),
    row("one reading: collect() + flush", "µs", reading, { readings })
  ]
  const ratios = [
    ratio("runtime metrics' cost per thread, % of a CPU (target ≤ 0.5)", Math.max(median(cost), 0.0001), 1, 0.5),
    ratio("readings' own share of it, % of a CPU", Math.max(median(reading) / 1e6 / (DEFAULT_RUNTIME_INTERVAL_MS / 1000) * 100, 0.0001), 1)
  ]
  const notes = [
    `${rounds} round(s) of ${windowMs} ms, each with one fresh worker per variant running at the same time; medians.`,
    `An idle core is the worst case: the event-loop delay monitor's timer (${LOOP_RESOLUTION_MS} ms) wakes it ${1000 / LOOP_RESOLUTION_MS} times a second and each reading once more; a busy core handles the same timers within turns its loop makes anyway. The readings themselves are the small last ratio.`,
    "Nothing changes on the hot path: the handle methods are not touched, readings run on an unref'd timer."
  ]
  return { benchmark: "runtime", title: "Runtime metrics: cost per thread at the default interval", rows, ratios, notes }
}
