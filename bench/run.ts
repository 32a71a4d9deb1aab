/**
 * The benchmark suite's entry point.
 *
 *   npm run bench                      every registered benchmark
 *   npm run bench -- hotpath           one (or several) by name
 *   npm run bench -- --smoke           tiny sizes, fast (what test/bench.smoke.test.ts runs in-process)
 *   npm run bench -- --json [path]     also write machine-readable results (default bench/results/latest.json)
 *   npm run bench -- --rounds 15       override every benchmark's number of timed rounds
 *
 * Node must run with `--expose-gc` for the allocation figures (forced GCs around measurement windows); when
 * `global.gc` is missing this script re-executes itself with the same Node binary (`process.execPath`) and the
 * flag added.
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { type BenchmarkOptions, type BenchmarkResult, checksum } from "./harness.ts"
import { busyScrapeBench } from "./busyscrape.ts"
import { handlesBench } from "./handles.ts"
import { hotpathBench } from "./hotpath.ts"
import { jitterBench } from "./jitter.ts"
import { offthreadBench } from "./offthread.ts"
import { promclientBench } from "./promclient.ts"
import { runtimeBench } from "./runtime.ts"
import { scalingBench } from "./scaling.ts"
import { scrapeBench } from "./scrape.ts"
import { scrapeE2eBench } from "./scrape-e2e.ts"
import { startupBench } from "./startup.ts"
import { workersBench } from "./workers.ts"

export interface Benchmark {
  readonly name: string
  readonly description: string
  readonly run: (options: BenchmarkOptions) => Promise<BenchmarkResult>
}

/** Every benchmark `npm run bench` knows, in the order it runs them. */
export const benchmarks: ReadonlyArray<Benchmark> = [
  { name: "hotpath", description: "One metric update on the recording thread: percore record() vs prom-client, Effect, OpenTelemetry", run: hotpathBench },
  { name: "handles", description: "percore/core handle calls (counter, gauge, histogram) on a real CoreRuntime vs prom-client", run: handlesBench },
  { name: "scrape", description: "Rendering /metrics (1k–100k series, both formats): percore vs prom-client; ms and bytes per scrape, memory per series", run: scrapeBench },
  { name: "scrape-e2e", description: "End-to-end scrapes over HTTP (new connection, both formats, gzip on/off): percore's service vs prom-client and @prometheus-io/client servers", run: scrapeE2eBench },
  { name: "offthread", description: "Getting samples off the thread: N cores into one aggregate, percore vs postMessage per sample and batched", run: offthreadBench },
  { name: "workers", description: "Worker threads: percore vs @prometheus-io/client WorkerRegistry — delivery, scrape latency with busy workers, a worker that exits or throws", run: workersBench },
  { name: "scaling", description: "Delivered samples/s and drops for 1, 2, 4, … cores up to the machine's count", run: scalingBench },
  { name: "startup", description: "A fresh worker's used heap and import time: percore/core vs a bare worker and prom-client", run: startupBench },
  { name: "promclient", description: "percore/prom-client inc(): unlabelled, labels(a, b) and inc({ a, b }) vs prom-client and @prometheus-io/client", run: promclientBench },
  { name: "runtime", description: "Runtime metrics (event loop, CPU, heap, GC, loop delay per thread): CPU cost per thread at the default interval", run: runtimeBench },
  { name: "busyscrape", description: "Scrape latency with cores inside 50 ms synchronous tasks vs idle cores (target ≤ 1.5×)", run: busyScrapeBench },
  { name: "jitter", description: "Iteration-time jitter of a working thread under a /metrics scrape storm: percore core vs prom-client on one thread", run: jitterBench }
]

export interface RunOptions {
  readonly smoke?: boolean
  /** Run only these benchmarks (by name); all when absent or empty. */
  readonly only?: string | ReadonlyArray<string>
  readonly rounds?: number
  /** Called with each result as soon as it is ready. */
  readonly onResult?: (result: BenchmarkResult) => void
}

/** Runs the selected benchmarks one after another, in-process; returns their structured results. */
export const runBenchmarks = async (options: RunOptions = {}): Promise<Array<BenchmarkResult>> => {
  const only = options.only === undefined ? [] : typeof options.only === "string" ? [options.only] : [...options.only]
  const unknown = only.filter((name) => !benchmarks.some((b) => b.name === name))
  if (unknown.length > 0) {
    throw new Error(`unknown benchmark(s): ${unknown.join(", ")}; known: ${benchmarks.map((b) => b.name).join(", ")}`)
  }
  const selected = only.length === 0 ? benchmarks : benchmarks.filter((b) => only.includes(b.name))
  const results: Array<BenchmarkResult> = []
  for (const benchmark of selected) {
    const benchOptions: BenchmarkOptions = options.rounds === undefined ? { smoke: options.smoke ?? false } : { smoke: options.smoke ?? false, rounds: options.rounds }
    const result = await benchmark.run(benchOptions)
    results.push(result)
    options.onResult?.(result)
  }
  return results
}

// ─── printing ────────────────────────────────────────────────────────────────────────────────────

const significant = (n: number): string => {
  if (!Number.isFinite(n)) return String(n)
  const abs = Math.abs(n)
  if (abs >= 100) return n.toFixed(0)
  if (abs >= 10) return n.toFixed(1)
  if (abs >= 1) return n.toFixed(2)
  return n.toFixed(3)
}

const markdownTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)))
  const line = (cells: ReadonlyArray<string>): string => `| ${cells.map((cell, c) => cell.padEnd(widths[c]!)).join(" | ")} |`
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n")
}

/**
 * A result as markdown tables (rows, then ratios), ready to paste into BENCHMARKS.md. A smoke run's sizes are far
 * too small to compare anything, so it prints the measured rows only: no ratios, targets, verdicts or notes.
 */
export const formatResult = (result: BenchmarkResult, smoke = false): string => {
  const hasBytes = result.rows.some((r) => r.bytesPerOp !== undefined)
  const hasRelative = !smoke && result.rows.some((r) => r.relative !== undefined)
  const unit = result.rows[0]?.unit ?? ""
  const header = ["operation", `median ${unit}`, "min–max", ...(hasBytes ? ["bytes/op"] : []), ...(hasRelative ? [`× ${result.relativeTo ?? "anchor"}`] : [])]
  const rows = result.rows.map((r) => [
    r.name,
    significant(r.median),
    `${significant(r.min)}–${significant(r.max)}`,
    ...(hasBytes ? [r.bytesPerOp === undefined ? "" : r.bytesPerOp === 0 ? "0" : significant(r.bytesPerOp)] : []),
    ...(hasRelative ? [r.relative === undefined ? "" : `${significant(r.relative)}×`] : [])
  ])
  const parts = [`## ${result.title}`, "", markdownTable(header, rows)]
  if (smoke) return [...parts, "", "- smoke sizes: checks that the benchmark runs; its figures mean nothing, so no ratio is shown"].join("\n")
  if (result.ratios.length > 0) {
    const hasTargets = result.ratios.some((r) => r.target !== undefined)
    const ratioRows = result.ratios.map((r) => [
      r.name,
      significant(r.value),
      ...(hasTargets
        ? [
          r.target === undefined ? "" : `≤ ${r.target}`,
          r.met === undefined ? "" : r.met ? "met" : `MISSED by ${significant((r.value / r.target!) * 100 - 100)}%`
        ]
        : [])
    ])
    parts.push("", markdownTable(["ratio", "value", ...(hasTargets ? ["target", "status"] : [])], ratioRows))
  }
  if (result.notes.length > 0) parts.push("", ...result.notes.map((n) => `- ${n}`))
  return parts.join("\n")
}

// ─── command line ────────────────────────────────────────────────────────────────────────────────

interface Cli {
  readonly names: Array<string>
  readonly smoke: boolean
  readonly json: string | undefined
  readonly rounds: number | undefined
}

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const DEFAULT_JSON = path.join(benchDir, "results", "latest.json")

export const parseArgs = (argv: ReadonlyArray<string>): Cli => {
  const names: Array<string> = []
  let smoke = false
  let json: string | undefined
  let rounds: number | undefined
  const isName = (arg: string): boolean => benchmarks.some((b) => b.name === arg)
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--smoke") smoke = true
    else if (arg === "--json") {
      const next = argv[i + 1]
      if (next !== undefined && !next.startsWith("--") && !isName(next)) {
        json = path.resolve(next)
        i++
      } else json = DEFAULT_JSON
    } else if (arg.startsWith("--json=")) json = path.resolve(arg.slice("--json=".length))
    else if (arg === "--rounds" || arg.startsWith("--rounds=")) {
      const value = arg === "--rounds" ? argv[++i] : arg.slice("--rounds=".length)
      rounds = Number(value)
      if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds needs a positive integer, got ${value}`)
    } else if (arg === "--help" || arg === "-h") {
      console.log(`usage: npm run bench -- [${benchmarks.map((b) => b.name).join("|")} ...] [--smoke] [--json [path]] [--rounds N]`)
      for (const b of benchmarks) console.log(`  ${b.name.padEnd(10)} ${b.description}`)
      process.exit(0)
    } else if (arg.startsWith("--")) throw new Error(`unknown option ${arg}`)
    else names.push(arg)
  }
  return { names, smoke, json, rounds }
}

/** The commit measured (with "+changes" when the work tree differs from it), or "unknown" outside a git checkout. */
const commit = (): string => {
  const run = (args: ReadonlyArray<string>) => spawnSync("git", args, { cwd: benchDir, encoding: "utf8" })
  const head = run(["rev-parse", "--short", "HEAD"])
  if (head.status !== 0) return "unknown"
  const dirty = run(["status", "--porcelain", "--untracked-files=no"]).stdout.trim() !== ""
  return `${head.stdout.trim()}${dirty ? "+changes" : ""}`
}

const machine = (): Record<string, string | number> => ({
  commit: commit(),
  node: process.version,
  v8: process.versions.v8,
  platform: `${process.platform} ${process.arch}`,
  cpus: os.availableParallelism(),
  cpuModel: os.cpus()[0]?.model ?? "unknown",
  totalMemoryGiB: Math.round(os.totalmem() / 2 ** 30)
})

const main = async (argv: ReadonlyArray<string>): Promise<void> => {
  const cli = parseArgs(argv)
  const info = machine()
  const started = new Date()
  console.log(
    `percore benchmarks — ${started.toISOString().slice(0, 10)}, commit ${info.commit}, node ${info.node}, ` +
      `${info.cpus} CPUs (${info.cpuModel})${cli.smoke ? ", SMOKE sizes (figures meaningless)" : ""}\n`
  )
  const results = await runBenchmarks({
    smoke: cli.smoke,
    only: cli.names,
    ...(cli.rounds === undefined ? {} : { rounds: cli.rounds }),
    onResult: (result) => console.log(`${formatResult(result, cli.smoke)}\n`)
  })
  console.log(`checksum ${checksum()}`)
  if (cli.json !== undefined) {
    mkdirSync(path.dirname(cli.json), { recursive: true })
    const document = { startedAt: started.toISOString(), smoke: cli.smoke, machine: info, checksum: checksum(), results }
    writeFileSync(cli.json, `${JSON.stringify(document, null, 2)}\n`)
    console.log(`results written to ${path.relative(process.cwd(), cli.json) || cli.json}`)
  }
}

if (import.meta.main) {
  if (typeof globalThis.gc !== "function") {
    // Re-execute on the same Node binary with --expose-gc (needed for the allocation measurement).
    const child = spawnSync(process.execPath, [...process.execArgv, "--expose-gc", fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" })
    process.exit(child.status ?? 1)
  }
  await main(process.argv.slice(2))
}
