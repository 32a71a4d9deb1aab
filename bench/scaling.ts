/**
 * Scaling benchmark: 1, 2, 4, … producer threads (up to `os.availableParallelism()`, the last count included
 * even when it is not a power of two) into ONE control-plane thread, at full speed and at 1 M samples/s per
 * producer. percore handles (real CoreRuntime → CoreChannel → AggregateState, 10 ms drains) against the raw
 * percore ring drained every 1 ms (the cadence of the 16-core reference table in
 * shared/design/baselines.md), the raw ring with a publish per 1000 samples, and batched `postMessage`
 * (1000-sample `Float64Array`s, transferred). Method,
 * sample content and figures as in `bench/offthread.ts` (`support/offthread-lab.ts`, `support/offthread-producer.ts`).
 *
 * The point is where the single control-plane thread saturates: the notes name, per competitor and rate, the
 * first producer count at which its event loop was ≥ 90 % busy or its CPU ≥ 90 % of a core, and how delivered
 * throughput grew with producers. Rerun it on a bigger machine: the table is labelled with the CPU model, the
 * CPU count and the node version.
 *
 * One self-contained command, no test runner: `npm exec -- node bench/scaling.ts [--smoke] [--rounds N]` (or
 * `npm run bench -- scaling` once registered). Bundle-friendly: this module is its own producers' worker script
 * (`new Worker(import.meta.url)`, `!isMainThread`), so a single-file bundle of it spawns itself; only the pretty
 * printer of `bench/run.ts` is looked up next to the file at run time, with a plain-text fallback. Checked with
 * the bundler already in node_modules (~300 kB, effect included; runs with no node_modules beside it, Node 24):
 *
 *     npm exec -- rolldown bench/scaling.ts --format esm --platform node --inlineDynamicImports -o /tmp/scaling.mjs
 *     node /tmp/scaling.mjs [--smoke] [--rounds N]
 */
import os from "node:os"
import path from "node:path"
import { pathToFileURL } from "node:url"
import { isMainThread, workerData } from "node:worker_threads"
import type { BenchmarkOptions, BenchmarkResult, Ratio, ResultRow } from "./harness.ts"
import { type CompetitorId, COMPETITORS, type Trial } from "./support/offthread-competitors.ts"
import { Lab } from "./support/offthread-lab.ts"
import { type Cell, coresLabel, cpuNote, cpuPerMillion, cpuSample, detailLine, find, loadAverage, loadNote, machineLabel, mps, plainFormat, rateLabel, ratioOf, rowOf, settingsNote, summarize, tableOf } from "./support/offthread-report.ts"
import { isProducerData, runProducer } from "./support/offthread-producer.ts"

const ORDER: ReadonlyArray<CompetitorId> = ["handles", "ring1", "ringBatch", "batched"]
const FULL_SPEED = 0
const RATES: ReadonlyArray<number> = [FULL_SPEED, 1_000_000]
/** The control plane counts as saturated from this event-loop utilization or CPU share (%). */
const SATURATED_PCT = 90
const TARGET_CPU_PER_MPS = 5

/** 1, 2, 4, … below `max`, then `max` itself. */
export const producerCounts = (max: number): Array<number> => {
  const counts: Array<number> = []
  for (let n = 1; n < max; n *= 2) counts.push(n)
  counts.push(max)
  return counts
}

export const scalingBench = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const smoke = options.smoke
  const cpus = os.availableParallelism()
  const coreCounts = smoke ? [1] : producerCounts(cpus)
  const rates = smoke ? [1_000_000] : RATES
  const rounds = options.rounds ?? (smoke ? 1 : 3)
  const timing = smoke ? { warmupMs: 50, windowMs: 100 } : { warmupMs: 200, windowMs: 1000 }
  const loadBefore = loadAverage()
  const cpuBefore = cpuSample()
  const lab = await Lab.create(new URL(import.meta.url), Math.max(...coreCounts), ORDER)
  const trials: Array<Trial> = []
  try {
    for (let round = 0; round < rounds; round++) {
      for (const cores of coreCounts) {
        for (const rate of rates) {
          for (const competitor of ORDER) trials.push(await lab.trial(competitor, cores, rate, timing))
        }
      }
    }
  } finally {
    await lab.close()
  }
  const load = [loadNote(loadBefore, loadAverage()), cpuNote(cpuBefore, cpuSample())].filter((n) => n !== "").join(" ")
  return scalingResult(summarize(trials), { smoke, cpus, coreCounts, rates, rounds, windowMs: timing.windowMs, load })
}

interface Plan {
  readonly smoke: boolean
  readonly cpus: number
  readonly coreCounts: ReadonlyArray<number>
  readonly rates: ReadonlyArray<number>
  readonly rounds: number
  readonly windowMs: number
  readonly load: string
}

const pct = (n: number): string => `${n.toFixed(n >= 10 ? 0 : 1)} %`

/** Where the control plane saturated for one competitor at one rate, as a sentence. */
const saturation = (cells: ReadonlyArray<Cell>, competitor: CompetitorId, rate: number, plan: Plan): string => {
  const series = plan.coreCounts.map((n) => find(cells, competitor, n, rate)).filter((c): c is Cell => c !== undefined)
  if (series.length === 0) return ""
  const label = `${COMPETITORS[competitor].label}, ${rateLabel(rate)}`
  const growth = series.map((c) => `${c.cores}: ${mps(c.delivered)}`).join(", ")
  const busiest = series.reduce((a, c) => (Math.max(c.eluPct, c.cpuPct) > Math.max(a.eluPct, a.cpuPct) ? c : a))
  const first = series.find((c) => c.eluPct >= SATURATED_PCT || c.cpuPct >= SATURATED_PCT)
  const oversubscribed = (n: number): string => (n + 1 > plan.cpus ? ` (${n} producers + the control plane > ${plan.cpus} CPUs: time-sliced)` : "")
  const verdict = first === undefined
    ? `not saturated up to ${coresLabel(series.at(-1)!.cores)}: busiest at ${coresLabel(busiest.cores)}, event loop ${pct(busiest.eluPct)}, CPU ${pct(busiest.cpuPct)} of a core`
    : `control plane SATURATED from ${coresLabel(first.cores)}${oversubscribed(first.cores)}: event loop ${pct(first.eluPct)}, CPU ${pct(first.cpuPct)} of a core`
  return `${label}: delivered M/s by producers — ${growth}; ${verdict}.`
}

const scalingResult = (cells: ReadonlyArray<Cell>, plan: Plan): BenchmarkResult => {
  const { rows, lines } = tableOf(cells, plan.coreCounts, plan.rates, ORDER)

  const ratios: Array<Ratio> = []
  for (const cores of plan.coreCounts) {
    const at = coresLabel(cores)
    const batchedFull = find(cells, "batched", cores, FULL_SPEED)
    for (const competitor of ["handles", "ring1", "ringBatch"] as const) {
      const label = COMPETITORS[competitor].label
      const full = find(cells, competitor, cores, FULL_SPEED)
      if (full !== undefined && batchedFull !== undefined) {
        ratios.push(...ratioOf(`batched postMessage / ${label}, delivered at full speed, ${at}`, batchedFull.delivered / full.delivered, 1))
      }
      const paced = find(cells, competitor, cores, 1_000_000)
      if (paced !== undefined) {
        ratios.push(...ratioOf(`ring recorded / (recorded − dropped), ${label}, 1 M/s per core, ${at} (1 = no drops)`, 1 / (1 - paced.dropPct / 100), 1))
        ratios.push(...ratioOf(`control-plane CPU % per 1 M samples/s, ${label}, 1 M/s per core, ${at}`, cpuPerMillion(paced), TARGET_CPU_PER_MPS))
      }
    }
  }
  // Scaling efficiency: delivered with N producers / (N × delivered with one), per competitor and rate.
  for (const competitor of ORDER) {
    for (const rate of plan.rates) {
      const one = find(cells, competitor, 1, rate)
      for (const cores of plan.coreCounts.filter((n) => n > 1)) {
        const many = find(cells, competitor, cores, rate)
        if (one !== undefined && many !== undefined) {
          ratios.push(...ratioOf(`scaling efficiency ${COMPETITORS[competitor].label}, ${rateLabel(rate)}: delivered(${cores}) / (${cores} × delivered(1))`, many.delivered / (cores * one.delivered)))
        }
      }
    }
  }

  const saturationNotes = ORDER.flatMap((c) => plan.rates.map((r) => saturation(cells, c, r, plan))).filter((s) => s !== "")
  return {
    benchmark: "scaling",
    title: `Scaling: 1 … ${plan.coreCounts.at(-1)} producer threads into one control plane — ${machineLabel()}`,
    rows,
    relativeTo: "batched postMessage, same producers and rate",
    ratios,
    notes: [
      ...(plan.smoke ? ["SMOKE sizes: one round of 100 ms, 1 M/s per core, 1 producer; the numbers mean nothing."] : []),
      `Machine: ${machineLabel()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB. ${plan.rounds} interleaved round(s) × ${plan.windowMs} ms windows per row; ` +
        `producers ${plan.coreCounts.join(", ")}; rates: ${plan.rates.map(rateLabel).join(", ")}.`,
      settingsNote(),
      plan.load,
      `Saturation: the single control-plane thread counts as saturated once its event loop is ≥ ${SATURATED_PCT} % busy or it uses ≥ ${SATURATED_PCT} % of a core. ` +
        `Where producers + 1 exceed the CPUs, its CPU share is capped by time-slicing and only event-loop utilization can show saturation.`,
      ...saturationNotes,
      ...lines
    ]
  }
}

// Worker entry: this module is also the producers' script (so a bundle of it is self-contained).
const data: unknown = workerData
if (!isMainThread && isProducerData(data)) await runProducer(data)

/** Entry module? `import.meta.main` (Node ≥ 24.2), else argv[1] compared with this module (a bundle on an older Node). */
const isEntry = (): boolean =>
  (import.meta.main as boolean | undefined) ??
    (process.argv[1] !== undefined && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url)

if (isMainThread && isEntry()) {
  const argv = process.argv.slice(2)
  const roundsAt = argv.indexOf("--rounds")
  const rounds = roundsAt >= 0 ? Number(argv[roundsAt + 1]) : undefined
  const result = await scalingBench({ smoke: argv.includes("--smoke"), ...(rounds !== undefined && Number.isInteger(rounds) && rounds > 0 ? { rounds } : {}) })
  // run.ts's printer, looked up beside this file at run time (not bundled: run.ts runs its own CLI when it is the
  // entry, which a bundle would make it); a bundle prints plain text instead.
  let format = plainFormat
  try {
    const run: typeof import("./run.ts") = await import(new URL("./run.ts", import.meta.url).href)
    format = run.formatResult
  } catch {
    // bundled: no run.ts beside the bundle
  }
  console.log(format(result))
}
