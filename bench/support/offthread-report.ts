/**
 * The off-thread benchmarks' statistics and report: trials summarized per (competitor, cores, rate) cell by
 * medians, result rows and detail lines, ratios, and the notes on the machine, its load and percore's settings.
 */
import os from "node:os"
import { performance } from "node:perf_hooks"
import { defaultCoreSettings } from "../../src/protocol/index.ts"
import { type BenchmarkResult, median, type Ratio, type ResultRow } from "../harness.ts"
import { BACKLOG_CAP, type CompetitorId, COMPETITORS, RING_CAPACITY, type Trial } from "./offthread-competitors.ts"

/** The median of the finite values (a round that measured nothing gives NaN and is left out). */
const medianOf = (values: ReadonlyArray<number>): number => median(values.filter(Number.isFinite))

/**
 * The rounds of one (competitor, cores, rate) cell, summarized: the figures it shares with `Trial` are the rounds'
 * medians, except where said.
 */
export interface Cell extends
  Pick<
    Trial,
    "competitor" | "cores" | "rate" | "delivered" | "offered" | "dropPct" | "ringSamples" | "cpuPct" | "eluPct" | "backlog" | "latencyP50Ms" | "latencyP99Ms"
  >
{
  readonly rounds: number
  readonly deliveredMin: number
  readonly deliveredMax: number
  /** Rounds in which a postMessage producer hit its queue cap. */
  readonly cappedRounds: number
  /** Largest `Trial.unaccounted` of the rounds (handles: must be 0). */
  readonly unaccounted: number
  /** Longest gap between two drains (ticks) in any round, ms. */
  readonly maxGapMs: number
}

export const summarize = (trials: ReadonlyArray<Trial>): Array<Cell> => {
  const groups = new Map<string, Array<Trial>>()
  for (const t of trials) {
    const key = `${t.competitor}|${t.cores}|${t.rate}`
    const group = groups.get(key)
    if (group === undefined) groups.set(key, [t])
    else group.push(t)
  }
  return [...groups.values()].map((group) => {
    const first = group[0]!
    const of = (f: (t: Trial) => number) => medianOf(group.map(f))
    const delivered = group.map((t) => t.delivered)
    return {
      competitor: first.competitor,
      cores: first.cores,
      rate: first.rate,
      rounds: group.length,
      delivered: of((t) => t.delivered),
      deliveredMin: Math.min(...delivered),
      deliveredMax: Math.max(...delivered),
      offered: of((t) => t.offered),
      dropPct: of((t) => t.dropPct),
      ringSamples: of((t) => t.ringSamples),
      cpuPct: of((t) => t.cpuPct),
      eluPct: of((t) => t.eluPct),
      backlog: of((t) => t.backlog),
      latencyP50Ms: of((t) => t.latencyP50Ms),
      latencyP99Ms: of((t) => t.latencyP99Ms),
      cappedRounds: group.filter((t) => t.capped > 0).length,
      unaccounted: Math.max(...group.map((t) => t.unaccounted)),
      maxGapMs: Math.max(...group.map((t) => t.maxGapMs))
    }
  })
}

export const rateLabel = (rate: number): string =>
  rate === 0 ? "full speed" : rate >= 1e6 ? `${rate / 1e6} M/s per core` : `${rate / 1e3} k/s per core`

export const coresLabel = (cores: number): string => `${cores} ${cores === 1 ? "core" : "cores"}`

const cellName = (c: Pick<Cell, "competitor" | "cores" | "rate">): string =>
  `${COMPETITORS[c.competitor].label} · ${coresLabel(c.cores)} · ${rateLabel(c.rate)}`

/** Delivered / offered ≥ this counts as keeping up (with no ring drops and no queue cap). */
const KEEPS_UP = 0.97

/** No drops, no capped queue, and delivered within 3 % of offered. */
export const sustained = (c: Cell): boolean => c.dropPct === 0 && c.cappedRounds === 0 && c.delivered >= KEEPS_UP * c.offered

const fmt = (n: number): string => {
  if (!Number.isFinite(n)) return "n/a"
  const abs = Math.abs(n)
  if (abs === 0) return "0"
  if (abs >= 100) return n.toFixed(0)
  if (abs >= 10) return n.toFixed(1)
  if (abs >= 1) return n.toFixed(2)
  if (abs >= 0.01) return n.toFixed(3)
  return n.toPrecision(2)
}

export const mps = (samplesPerSecond: number): string => fmt(samplesPerSecond / 1e6)

/** Control-plane CPU (% of one core) per 1 M delivered samples/s. */
export const cpuPerMillion = (c: Cell): number => c.cpuPct / (c.delivered / 1e6)

const finiteDetail = (entries: Record<string, number | string>): Record<string, number | string> =>
  Object.fromEntries(Object.entries(entries).filter(([, v]) => typeof v === "string" || Number.isFinite(v)))

/** A result row: delivered M samples/s (median, min, max of rounds), relative to `anchor`'s median. */
export const rowOf = (c: Cell, anchor: Cell | undefined): ResultRow => {
  const relative = anchor === undefined || anchor === c || !(anchor.delivered > 0) ? undefined : c.delivered / anchor.delivered
  return {
    name: cellName(c),
    unit: "M samples/s delivered",
    median: c.delivered / 1e6,
    min: c.deliveredMin / 1e6,
    max: c.deliveredMax / 1e6,
    ...(relative === undefined || !Number.isFinite(relative) || relative <= 0 ? {} : { relative }),
    detail: finiteDetail({
      rounds: c.rounds,
      offeredMps: c.offered / 1e6,
      dropPct: c.dropPct,
      ringSamplesPerSec: c.ringSamples,
      controlPlaneCpuPct: c.cpuPct,
      controlPlaneCpuPctPerMps: cpuPerMillion(c),
      eventLoopPct: c.eluPct,
      backlogSamples: c.backlog,
      latencyP50Ms: c.latencyP50Ms,
      latencyP99Ms: c.latencyP99Ms,
      cappedRounds: c.cappedRounds,
      unaccountedSamples: c.unaccounted,
      maxDrainGapMs: c.maxGapMs
    })
  }
}

/** The row's other figures, one line (a note: the runner prints notes, not details). */
export const detailLine = (c: Cell): string => {
  const parts = [
    `offered ${mps(c.offered)} M/s`,
    COMPETITORS[c.competitor].percore
      ? `dropped ${fmt(c.dropPct)} %${
        c.competitor === "handles"
          ? ` (ring ${mps(c.ringSamples)} M samples/s; ${c.unaccounted === 0 ? "books exact: every inc() reached the aggregate" : `BOOKS OFF: ${c.unaccounted} inc() never reached the aggregate`})`
          : ""
      }`
      : `backlog ${fmt(c.backlog)} samples${c.cappedRounds > 0 ? ` (queue cap hit in ${c.cappedRounds}/${c.rounds} rounds)` : ""}`,
    `control plane ${fmt(c.cpuPct)} % CPU = ${fmt(cpuPerMillion(c))} % per M/s, event loop ${fmt(c.eluPct)} % busy` +
    (COMPETITORS[c.competitor].percore ? `, longest gap between drains ${fmt(c.maxGapMs)} ms` : ""),
    `latency p50 ${fmt(c.latencyP50Ms)} ms, p99 ${fmt(c.latencyP99Ms)} ms`
  ]
  return `${cellName(c)}: ${parts.join("; ")}`
}

/** A ratio `value ≤ target` (met), dropped when it cannot be computed (a zero or missing figure). */
export const ratioOf = (name: string, value: number, target?: number): Array<Ratio> => {
  if (!Number.isFinite(value) || value <= 0) return []
  return [target === undefined ? { name, value } : { name, value, target, met: value <= target }]
}

export const find = (cells: ReadonlyArray<Cell>, competitor: CompetitorId, cores: number, rate: number): Cell | undefined =>
  cells.find((c) => c.competitor === competitor && c.cores === cores && c.rate === rate)

export const machineLabel = (): string =>
  `${os.cpus()[0]?.model.trim() ?? "unknown CPU"}, ${os.availableParallelism()} CPUs (availableParallelism), node ${process.version} ${process.platform} ${process.arch}`

/** The machine's 1-minute load average at the start and the end of a run (other work competes for the CPUs). */
export const loadNote = (before: number, after: number): string =>
  `1-minute load average ${before.toFixed(2)} at the start, ${after.toFixed(2)} at the end (this run itself keeps N + 1 threads busy` +
  `); anything above that is other work sharing the ${os.availableParallelism()} CPUs.`

export const loadAverage = (): number => os.loadavg()[0] ?? 0

/** Whole-machine and this-process CPU time, to tell how much of the machine other work took during a run. */
interface CpuSample {
  readonly machineBusyMs: number
  readonly machineTotalMs: number
  readonly processMs: number
  readonly wallMs: number
}

export const cpuSample = (): CpuSample => {
  let machineBusyMs = 0
  let machineTotalMs = 0
  for (const cpu of os.cpus()) {
    const t = cpu.times
    machineBusyMs += t.user + t.nice + t.sys + t.irq
    machineTotalMs += t.user + t.nice + t.sys + t.irq + t.idle
  }
  const own = process.cpuUsage()
  return { machineBusyMs, machineTotalMs, processMs: (own.user + own.system) / 1000, wallMs: performance.now() }
}

/** "the machine's CPUs were X % busy, this process Y % of them": other work = the difference. */
export const cpuNote = (from: CpuSample, to: CpuSample): string => {
  const total = to.machineTotalMs - from.machineTotalMs
  if (!(total > 0)) return ""
  const cpus = os.cpus().length
  const busy = ((to.machineBusyMs - from.machineBusyMs) / total) * 100
  const own = ((to.processMs - from.processMs) / ((to.wallMs - from.wallMs) * cpus)) * 100
  return `During the run the machine's ${cpus} CPUs were ${busy.toFixed(0)} % busy, this benchmark process ${own.toFixed(0)} % of them: ` +
    `other work took about ${Math.max(0, busy - own).toFixed(0)} % (it competes with producers and control plane alike; ratios in one run stay comparable).`
}

/**
 * A plain-text rendering of a result, for a bundled build where `bench/run.ts` (and its `formatResult`) is not
 * next to the bundle.
 */
export const plainFormat = (result: BenchmarkResult): string => {
  const lines = [`## ${result.title}`, ""]
  for (const r of result.rows) {
    const rel = r.relative === undefined ? "" : `  (${r.relative.toFixed(3)}× ${result.relativeTo ?? "anchor"})`
    lines.push(`${r.name}: ${r.median.toPrecision(3)} ${r.unit} (${r.min.toPrecision(3)}–${r.max.toPrecision(3)})${rel}`)
  }
  if (result.ratios.length > 0) lines.push("")
  for (const r of result.ratios) {
    lines.push(`${r.name}: ${r.value.toPrecision(3)}${r.target === undefined ? "" : ` (target ≤ ${r.target}: ${r.met === true ? "met" : "MISSED"})`}`)
  }
  if (result.notes.length > 0) lines.push("")
  for (const n of result.notes) lines.push(`- ${n}`)
  return lines.join("\n")
}

export const settingsNote = (): string =>
  `percore settings: ring capacity ${RING_CAPACITY} samples, core flush interval ${defaultCoreSettings.flushIntervalMs} ms ` +
  `(allocateCoreBuffers' default), control-plane drain every 10 ms (handles, ring10, ringBatch) or 1 ms (ring1), and at once when a ring crosses half full (as the Drainer); producers emit 100 series ` +
  `round robin plus a latency marker each ~1 ms; postMessage queues are capped at ${BACKLOG_CAP.message.toLocaleString("en-US")} ` +
  `(per sample) / ${BACKLOG_CAP.batched.toLocaleString("en-US")} (batched) samples per producer, after which the producer sleeps 1 ms at a time.`

/** Result rows and detail lines for every measured cell, each row relative to batched postMessage in its cell. */
export const tableOf = (
  cells: ReadonlyArray<Cell>,
  coreCounts: ReadonlyArray<number>,
  rates: ReadonlyArray<number>,
  order: ReadonlyArray<CompetitorId>
): { readonly rows: Array<ResultRow>; readonly lines: Array<string> } => {
  const rows: Array<ResultRow> = []
  const lines: Array<string> = []
  for (const cores of coreCounts) {
    for (const rate of rates) {
      const anchor = find(cells, "batched", cores, rate)
      for (const competitor of order) {
        const cell = find(cells, competitor, cores, rate)
        if (cell === undefined) continue
        rows.push(rowOf(cell, anchor))
        lines.push(detailLine(cell))
      }
    }
  }
  return { rows, lines }
}
