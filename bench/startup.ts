/**
 * Start-up benchmark: what importing a metrics library costs a fresh worker thread, and how long an app waits
 * from `startPercore()` to its first answered scrape.
 *
 * Each target is imported in its own fresh worker (its own V8 isolate), one at a time: the worker times
 * `await import(target)`, forces a full GC (Node runs with `--expose-gc`, see run.ts) and reports its isolate's
 * used heap. Targets: nothing (a bare worker), an empty `.ts` module (Node's type stripper alone), `percore/core`
 * as the package ships it (dist/, built by `npm run build`) and as type-stripped source, prom-client 15 and
 * `@prometheus-io/client`. Several runs, medians; ratios against the bare worker.
 * Targets: the shipped `percore/core` adds ≤ 2 MB heap over a bare worker and imports in ≤ 20 ms; the first
 * scrape answers ≤ 500 ms after `startPercore()` with 4 cores (measured in a fresh process from dist/).
 *
 * The full run builds dist/ first; a smoke run uses dist/ only if it is already built. The worker's own code is
 * plain JavaScript (`eval`), so the bare worker loads no type stripper.
 * Run alone: `npm run bench -- startup` (or `--smoke`).
 */
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Worker } from "node:worker_threads"
import { type BenchmarkOptions, type BenchmarkResult, median, ratio, type ResultRow } from "./harness.ts"

interface Sample {
  readonly importMs: number
  readonly heapBytes: number
}

// CommonJS, evaluated: no module resolution or type stripping before the measured import.
const workerSource = `
const { parentPort, workerData } = require("node:worker_threads")
const v8 = require("node:v8")
;(async () => {
  const started = performance.now()
  if (workerData.target !== undefined) await import(workerData.target)
  const importMs = performance.now() - started
  for (let i = 0; i < 3; i++) globalThis.gc?.()
  parentPort.postMessage({ importMs, heapBytes: v8.getHeapStatistics().used_heap_size })
})()
`

const measure = async (target: string | undefined): Promise<Sample> => {
  const worker = new Worker(workerSource, { eval: true, workerData: { target } })
  try {
    return await new Promise<Sample>((resolve, reject) => {
      worker.once("message", (sample: Sample) => resolve(sample))
      worker.once("error", reject)
      worker.once("exit", (code) => reject(new Error(`startup worker exited with code ${code} before reporting`)))
    })
  } finally {
    await worker.terminate()
  }
}

const repoRoot = fileURLToPath(new URL("..", import.meta.url))
const distCore = new URL("../dist/core/index.js", import.meta.url)
const distIndex = new URL("../dist/index.js", import.meta.url)

const SHIPPED = "percore/core (shipped JavaScript, dist/)"
const SOURCE = "percore/core (type-stripped source)"
const STRIPPER = "an empty .ts module (type stripping alone)"

const targetsWith = (shipped: boolean) => [
  { name: "bare worker", target: undefined },
  { name: STRIPPER, target: new URL("./support/startup-empty.ts", import.meta.url).href },
  ...(shipped ? [{ name: SHIPPED, target: distCore.href }] : []),
  { name: SOURCE, target: new URL("../src/core/index.ts", import.meta.url).href },
  { name: "prom-client", target: "prom-client" },
  { name: "@prometheus-io/client", target: "@prometheus-io/client" }
]

/** Builds dist/ (the full run), or says whether it is there (a smoke run does not build). */
const ensureDist = (build: boolean): boolean => {
  if (build) {
    const result = spawnSync("npm", ["run", "build"], { cwd: repoRoot, encoding: "utf8" })
    if (result.status !== 0) throw new Error(`npm run build failed:\n${result.stdout}\n${result.stderr}`)
  }
  return existsSync(distCore) && existsSync(distIndex)
}

// A fresh process: import percore (dist/), then startPercore with 4 cores and GET /metrics until it answers 200.
const firstScrapeSource = `
const started = performance.now()
const { startPercore } = await import(process.argv[1])
const imported = performance.now()
const percore = await startPercore({ cores: 4, port: 0, host: "127.0.0.1" })
let response = await fetch(percore.url)
while (response.status !== 200) response = await fetch(percore.url)
await response.text()
const scraped = performance.now()
await percore.close()
console.log(JSON.stringify({ importMs: imported - started, firstScrapeMs: scraped - imported }))
`

interface FirstScrape {
  readonly importMs: number
  readonly firstScrapeMs: number
}

const measureFirstScrape = (): FirstScrape => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("PERCORE_")))
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", firstScrapeSource, distIndex.href], { cwd: repoRoot, env, encoding: "utf8", timeout: 60_000 })
  const line = result.stdout.split("\n").find((l) => l.startsWith("{"))
  if (result.status !== 0 || line === undefined) throw new Error(`first-scrape run failed (${result.status}):\n${result.stdout}\n${result.stderr}`)
  const parsed: unknown = JSON.parse(line)
  if (typeof parsed !== "object" || parsed === null || !("importMs" in parsed) || !("firstScrapeMs" in parsed)) throw new Error(`first-scrape run: ${line}`)
  return { importMs: Number(parsed.importMs), firstScrapeMs: Number(parsed.firstScrapeMs) }
}

const MB = 1024 * 1024

export const startupBench = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const runs = options.rounds ?? (options.smoke ? 1 : 7)
  const shipped = ensureDist(!options.smoke)
  const targets = targetsWith(shipped)
  const samples = new Map<string, Array<Sample>>(targets.map((t) => [t.name, []]))
  const firstScrapes: Array<FirstScrape> = []
  // Interleaved, so a busy moment on the machine spreads over every target.
  for (let run = 0; run < runs; run++) {
    for (const { name, target } of targets) samples.get(name)!.push(await measure(target))
    if (shipped) firstScrapes.push(measureFirstScrape())
  }
  const heap = (name: string) => median(samples.get(name)!.map((s) => s.heapBytes))
  const importMs = (name: string) => median(samples.get(name)!.map((s) => s.importMs))
  const rows: Array<ResultRow> = []
  for (const { name, target } of targets) {
    const heaps = samples.get(name)!.map((s) => s.heapBytes / MB)
    rows.push({
      name: `${name}: used heap after GC`,
      unit: "MB",
      median: median(heaps),
      min: Math.min(...heaps),
      max: Math.max(...heaps),
      relative: heap(name) / heap("bare worker")
    })
    if (target !== undefined) {
      const times = samples.get(name)!.map((s) => s.importMs)
      rows.push({ name: `${name}: import`, unit: "ms", median: median(times), min: Math.min(...times), max: Math.max(...times) })
    }
  }
  const spread = (values: ReadonlyArray<number>) => ({ median: median(values), min: Math.min(...values), max: Math.max(...values) })
  if (firstScrapes.length > 0) {
    rows.push({ name: "import percore (dist/) in a fresh process", unit: "ms", ...spread(firstScrapes.map((f) => f.importMs)) })
    rows.push({ name: "startPercore({ cores: 4 }) to the first answered scrape", unit: "ms", ...spread(firstScrapes.map((f) => f.firstScrapeMs)) })
  }
  const core = shipped ? SHIPPED : SOURCE
  const coreExtraMB = (heap(core) - heap("bare worker")) / MB
  const ratios = [
    ratio(`${core} heap / bare worker heap`, heap(core), heap("bare worker")),
    ratio("prom-client heap / bare worker heap", heap("prom-client"), heap("bare worker")),
    ratio("@prometheus-io/client heap / bare worker heap", heap("@prometheus-io/client"), heap("bare worker")),
    ratio(`${core}: extra heap over a bare worker, MB (target ≤ 2)`, Math.max(coreExtraMB, 0.001), 1, 2),
    ratio(`${core}: import, ms (target ≤ 20)`, importMs(core), 1, 20),
    ratio("percore/core source: extra heap over type stripping alone, MB", Math.max((heap(SOURCE) - heap(STRIPPER)) / MB, 0.001), 1),
    ...(firstScrapes.length > 0
      ? [ratio("startPercore to first scrape with 4 cores, ms (target ≤ 500)", median(firstScrapes.map((f) => f.firstScrapeMs)), 1, 500)]
      : [])
  ]
  const notes = [
    `${runs} run(s) per target, each in a fresh worker; medians. Used heap is the worker isolate's (v8.getHeapStatistics) after forced GCs${
      typeof globalThis.gc === "function" ? "" : " — gc() was NOT exposed, so these heaps include garbage"
    }.`,
    shipped
      ? "The targets apply to the shipped JavaScript (dist/, what `npm install percore` gets). The type-stripped source row includes loading the type stripper, shown alone in the empty-module row."
      : "dist/ is not built (a smoke run does not build it): only the type-stripped source was measured; `npm run bench -- startup` builds and measures the shipped JavaScript.",
    "First scrape: a fresh process imports dist/index.js, calls startPercore({ cores: 4, port: 0 }) (demo cores) and GETs /metrics until 200; the time counts from the call, after the import."
  ]
  return { benchmark: "startup", title: "Start-up: a fresh worker importing a metrics library; startPercore to the first scrape", rows, relativeTo: "bare worker", ratios, notes }
}
