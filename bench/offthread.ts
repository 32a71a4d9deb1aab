/**
 * Off-thread benchmark: getting samples off the recording threads into one control-plane aggregate.
 *
 * N producer threads (N = 1 … min(4, availableParallelism())) feed the main thread, at full speed and at fixed
 * rates per producer (100 k/s, 1 M/s, 10 M/s; busy-wait pacing in batches of ≤ 64 samples). Six competitors
 * carry the same samples (id of 100 series round robin, kind, value, timestamp) into the same aggregation work
 * (a sum per id): percore handles (real `CoreRuntime` → real `CoreChannel` → real `AggregateState`, 10 ms
 * drains), the raw percore ring drained every 10 ms and every 1 ms (each also at once when a ring crosses half full,
 * as the Drainer does), the raw ring with a publish per 1000 samples, `postMessage` per sample, and `postMessage`
 * of 1000-sample `Float64Array`s, transferred. See `support/offthread-lab.ts` (control plane: the lab and its parts) and `support/offthread-producer.ts`
 * (producers) for the method; the competitors run interleaved, trial by trial, in every round.
 *
 * Per row: delivered samples/s (median of rounds, min–max), and as a note: offered, drops (percore: ring dropped
 * / recorded) or queue backlog (postMessage), control-plane CPU (`process.threadCpuUsage()` over the window)
 * also per 1 M delivered samples/s, event-loop utilization, and record-to-aggregate latency (p50 / p99).
 * Targets: percore delivered ≥ batched postMessage at every core count (full speed); zero drops at 1 M/s per
 * core with default settings; control-plane CPU ≤ 5 % of a core per 1 M samples/s; under overload (full speed)
 * delivered ≥ 80 % of the peak delivered at the highest fixed rate without drops.
 *
 * This module is also its producers' worker script (`!isMainThread`). Run alone:
 * `npm exec -- node bench/offthread.ts [--smoke]`.
 */
import os from "node:os"
import { isMainThread, workerData } from "node:worker_threads"
import type { BenchmarkOptions, BenchmarkResult, Ratio, ResultRow } from "./harness.ts"
import { type CompetitorId, COMPETITORS, type Trial } from "./support/offthread-competitors.ts"
import { Lab } from "./support/offthread-lab.ts"
import { type Cell, coresLabel, cpuNote, cpuPerMillion, cpuSample, detailLine, find, loadAverage, loadNote, machineLabel, mps, rateLabel, ratioOf, rowOf, settingsNote, summarize, sustained, tableOf } from "./support/offthread-report.ts"
import { isProducerData, runProducer } from "./support/offthread-producer.ts"

const ORDER: ReadonlyArray<CompetitorId> = ["handles", "ring10", "ring1", "ringBatch", "message", "batched"]
const PERCORE: ReadonlyArray<CompetitorId> = ["handles", "ring10", "ring1", "ringBatch"]
const FULL_SPEED = 0
const FIXED_RATES = [100_000, 1_000_000, 10_000_000] as const
/** Targets (see the module comment). */
const TARGET_CPU_PER_MPS = 5
const TARGET_OVERLOAD = 0.8

export const offthreadBench = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const smoke = options.smoke
  const maxCores = Math.min(4, os.availableParallelism())
  const coreCounts = smoke ? [1] : Array.from({ length: maxCores }, (_, i) => i + 1)
  const rates: ReadonlyArray<number> = smoke ? [1_000_000] : [FULL_SPEED, ...FIXED_RATES]
  const rounds = options.rounds ?? (smoke ? 1 : 3)
  const timing = smoke ? { warmupMs: 50, windowMs: 100 } : { warmupMs: 200, windowMs: 1000 }
  // postMessage per sample cannot reach 1 M/s on one producer: at 10 M/s it runs flat out, as at full speed.
  const skip = (c: CompetitorId, rate: number): boolean => c === "message" && rate === 10_000_000

  const loadBefore = loadAverage()
  const cpuBefore = cpuSample()
  const lab = await Lab.create(new URL(import.meta.url), Math.max(...coreCounts), ORDER)
  const trials: Array<Trial> = []
  try {
    for (let round = 0; round < rounds; round++) {
      for (const cores of coreCounts) {
        for (const rate of rates) {
          for (const competitor of ORDER) {
            if (!skip(competitor, rate)) trials.push(await lab.trial(competitor, cores, rate, timing))
          }
        }
      }
    }
  } finally {
    await lab.close()
  }
  const load = [loadNote(loadBefore, loadAverage()), cpuNote(cpuBefore, cpuSample())].filter((n) => n !== "").join(" ")
  return offthreadResult(summarize(trials), { smoke, coreCounts, rates, rounds, windowMs: timing.windowMs, load })
}

interface Plan {
  readonly smoke: boolean
  readonly coreCounts: ReadonlyArray<number>
  readonly rates: ReadonlyArray<number>
  readonly rounds: number
  readonly windowMs: number
  readonly load: string
}

/** Highest delivered among fixed-rate cells that kept up without drops (the peak an overload is held to). */
const peakSustained = (cells: ReadonlyArray<Cell>, competitor: CompetitorId, cores: number): Cell | undefined =>
  cells
    .filter((c) => c.competitor === competitor && c.cores === cores && c.rate !== FULL_SPEED && sustained(c))
    .reduce<Cell | undefined>((best, c) => (best === undefined || c.delivered > best.delivered ? c : best), undefined)

const offthreadResult = (cells: ReadonlyArray<Cell>, plan: Plan): BenchmarkResult => {
  const { rows, lines } = tableOf(cells, plan.coreCounts, plan.rates, ORDER)

  const ratios: Array<Ratio> = []
  const verdicts: Array<string> = []
  for (const cores of plan.coreCounts) {
    const at = coresLabel(cores)
    const batchedFull = find(cells, "batched", cores, FULL_SPEED)
    for (const competitor of PERCORE) {
      const full = find(cells, competitor, cores, FULL_SPEED)
      if (full !== undefined && batchedFull !== undefined) {
        ratios.push(...ratioOf(`batched postMessage / ${COMPETITORS[competitor].label}, delivered at full speed, ${at}`, batchedFull.delivered / full.delivered, 1))
      }
    }
    for (const competitor of ["handles", "ring10"] as const) {
      const cell = find(cells, competitor, cores, 1_000_000)
      if (cell === undefined) continue
      // recorded / (recorded − dropped): 1 exactly when nothing was dropped; "missed by" = the drop share.
      ratios.push(...ratioOf(`ring recorded / (recorded − dropped), ${COMPETITORS[competitor].label}, 1 M/s per core, ${at} (1 = no drops)`, 1 / (1 - cell.dropPct / 100), 1))
    }
    for (const competitor of ORDER) {
      const cell = find(cells, competitor, cores, 1_000_000)
      if (cell === undefined) continue
      const target = COMPETITORS[competitor].percore ? TARGET_CPU_PER_MPS : undefined
      ratios.push(...ratioOf(`control-plane CPU % per 1 M samples/s, ${COMPETITORS[competitor].label}, 1 M/s per core, ${at}`, cpuPerMillion(cell), target))
    }
    for (const competitor of ORDER) {
      const full = find(cells, competitor, cores, FULL_SPEED)
      const peak = peakSustained(cells, competitor, cores)
      if (full === undefined) continue
      if (peak === undefined) {
        verdicts.push(`overload, ${COMPETITORS[competitor].label}, ${at}: no fixed rate was sustained without drops or backlog, so there is no peak to compare with.`)
        continue
      }
      ratios.push(...ratioOf(
        `overload: peak drop-free delivered (${rateLabel(peak.rate)}) / full-speed delivered, ${COMPETITORS[competitor].label}, ${at} (≤ 1.25 ⇔ keeps ≥ 80 %)`,
        peak.delivered / full.delivered,
        1 / TARGET_OVERLOAD
      ))
      verdicts.push(
        `overload, ${COMPETITORS[competitor].label}, ${at}: full speed offered ${mps(full.offered)} M/s ` +
          `(${(full.offered / peak.delivered).toFixed(1)}× the ${mps(peak.delivered)} M/s peak drop-free rate) and delivered ${mps(full.delivered)} M/s ` +
          `= ${(full.delivered / peak.delivered).toFixed(2)}× the peak.`
      )
    }
  }

  return {
    benchmark: "offthread",
    title: `Getting samples off the thread: N producers into one control-plane aggregate (${machineLabel()})`,
    rows,
    relativeTo: "batched postMessage, same cores and rate",
    ratios,
    notes: [
      ...(plan.smoke ? ["SMOKE sizes: one round of 100 ms, 1 M/s per core, 1 core; the numbers mean nothing."] : []),
      `${plan.rounds} interleaved round(s) × ${plan.windowMs} ms windows per row; cores ${plan.coreCounts.join(", ")}; ` +
        `rates: ${plan.rates.map(rateLabel).join(", ")} (postMessage per sample skips 10 M/s: it is already flat out at 1 M/s). ` +
        `Delivered = data samples whose effect reached the aggregate inside the window (handles: the aggregate's counter totals, one per inc()).`,
      settingsNote(),
      plan.load,
      `With N producers on a ${os.availableParallelism()}-CPU machine the control plane shares the CPUs with them (N + 1 busy threads): ` +
        `its CPU % is capped by time-slicing once N + 1 > CPUs; event-loop utilization shows how busy it was.`,
      ...verdicts,
      ...lines
    ]
  }
}

// Worker entry: this module is also the producers' script.
const data: unknown = workerData
if (!isMainThread && isProducerData(data)) await runProducer(data)

if (isMainThread && import.meta.main) {
  // Imported here, not at the top: run.ts imports this module (a static cycle would leave one side uninitialized).
  const { formatResult } = await import("./run.ts")
  console.log(formatResult(await offthreadBench({ smoke: process.argv.includes("--smoke") })))
}
