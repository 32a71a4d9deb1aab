/**
 * Start-up benchmark: what importing a metrics library costs a fresh worker thread.
 *
 * Each target is imported in its own fresh worker (its own V8 isolate), one at a time: the worker times
 * `await import(target)`, forces a full GC (Node runs with `--expose-gc`, see run.ts) and reports its isolate's
 * used heap. Targets: nothing (a bare worker), an empty `.ts` module (Node's type stripper alone), `percore/core`
 * as type-stripped source (until the package ships JavaScript), and prom-client 15 (the installed anchor; the
 * issue's `@prometheus-io/client` is not installed). Several runs, medians; ratios against the bare worker.
 * Targets: `percore/core` ≤ 2 MB more heap than a bare worker and ≤ 20 ms import, for the packaged JavaScript.
 *
 * The worker's own code is plain JavaScript (`eval`), so the bare worker loads no type stripper.
 * Run alone: `npm run bench -- startup` (or `--smoke`).
 */
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

const targets = [
  { name: "bare worker", target: undefined },
  { name: "an empty .ts module (type stripping alone)", target: new URL("./support/startup-empty.ts", import.meta.url).href },
  { name: "percore/core (type-stripped source)", target: new URL("../src/core/index.ts", import.meta.url).href },
  { name: "prom-client", target: "prom-client" }
] as const

const MB = 1024 * 1024

export const startupBench = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const runs = options.rounds ?? (options.smoke ? 1 : 7)
  const samples = new Map<string, Array<Sample>>(targets.map((t) => [t.name, []]))
  // Interleaved, so a busy moment on the machine spreads over every target.
  for (let run = 0; run < runs; run++) {
    for (const { name, target } of targets) samples.get(name)!.push(await measure(target))
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
  const core = "percore/core (type-stripped source)"
  const stripper = "an empty .ts module (type stripping alone)"
  const coreExtraMB = (heap(core) - heap("bare worker")) / MB
  const ratios = [
    ratio("percore/core heap / bare worker heap", heap(core), heap("bare worker")),
    ratio("prom-client heap / bare worker heap", heap("prom-client"), heap("bare worker")),
    // Targets apply to the packaged JavaScript; these are the type-stripped figures, reported against them.
    ratio("percore/core extra heap over a bare worker, MB (target ≤ 2)", Math.max(coreExtraMB, 0.001), 1, 2),
    ratio("percore/core import, ms (target ≤ 20)", importMs(core), 1, 20),
    ratio("percore/core extra heap over type stripping alone, MB", Math.max((heap(core) - heap(stripper)) / MB, 0.001), 1)
  ]
  const notes = [
    `${runs} run(s) per target, each in a fresh worker; medians. Used heap is the worker isolate's (v8.getHeapStatistics) after forced GCs${
      typeof globalThis.gc === "function" ? "" : " — gc() was NOT exposed, so these heaps include garbage"
    }.`,
    "percore/core is imported as TypeScript source (Node strips the types): its figures include loading the type stripper, shown alone in the empty-module row. The targets (≤ 2 MB, ≤ 20 ms) are for the packaged JavaScript.",
    "@prometheus-io/client is not installed here; prom-client 15 is the anchor."
  ]
  return { benchmark: "startup", title: "Start-up: a fresh worker importing a metrics library", rows, relativeTo: "bare worker", ratios, notes }
}
