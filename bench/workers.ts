/**
 * Workers benchmark: percore against the official client's worker support (`@prometheus-io/client` 0.16
 * `WorkerRegistry`: each worker announces itself on a `BroadcastChannel`; a scrape asks every worker for its
 * metrics and merges them, with a 5 s timeout). Each server is a child process: percore's real service
 * (`support/scrape-server.ts` with `support/workers-core.ts` as its cores, default settings) and an HTTP server over
 * `WorkerRegistry.workerMetrics()` (`support/workers-official.ts`); both run the same task (`support/workers-task.ts`).
 *
 * 1. Off-thread delivery: 2 and 4 workers counting flat out; increments per second that reach /metrics (the
 *    counter's total read by a scrape before and after a window), and the serving thread's CPU meanwhile.
 * 2. Scrape latency, p50 / p99 over new connections, 2 workers idle and 2 workers in 50 ms synchronous tasks.
 * 3. Failures: worker 0 of 2 ends mid-run (`process.exit(1)`, or an uncaught throw) after counting an exact number
 *    of increments; the table shows what the next scrapes answer: status, time, and the total against the exact one.
 *
 * Smoke (`--smoke`): delivery with 2 workers and one scrape after a throw.
 *
 * Run: `npm run bench -- workers`, or alone `npm exec -- node bench/workers.ts [--smoke]`.
 */
import { fork } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { setTimeout as sleep } from "node:timers/promises"
import { findFreePort } from "../test/support/process.ts"
import type { BenchmarkOptions, BenchmarkResult, Ratio, ResultRow } from "./harness.ts"
import { ratio, remoteProcess } from "./harness.ts"
import type { WorkerMode } from "./support/workers-task.ts"

type Side = "percore" | "official"
const sideName: Readonly<Record<Side, string>> = { percore: "percore", official: "@prometheus-io/client WorkerRegistry" }
const SIDES: ReadonlyArray<Side> = ["percore", "official"]
const EXACT = 100_000

interface Server {
  readonly port: number
  readonly cpuMicros: () => Promise<number>
  readonly stop: () => Promise<void>
}

const startServer = async (side: Side, threads: number, mode: WorkerMode, marker: string): Promise<Server> => {
  const port = await findFreePort()
  const support = new URL("./support/", import.meta.url).pathname
  const env = { ...process.env, WORKERS_MODE: mode, WORKERS_EXACT: String(EXACT), WORKERS_MARKER: marker, WORKERS_THREADS: String(threads), SCRAPE_CORES: String(threads), SCRAPE_CORE_MODULE: `${support}workers-core.ts`, SCRAPE_SERIES: "0" }
  const child = side === "percore"
    ? fork(`${support}scrape-server.ts`, ["percore", String(port)], { env, stdio: ["ignore", "ignore", "ignore", "ipc"] })
    : fork(`${support}workers-official.ts`, [String(port)], { env, stdio: ["ignore", "ignore", "ignore", "ipc"] })
  const remote = remoteProcess<{ readonly kind: "cpu" }, { readonly kind: string; readonly micros?: number }>(child, `${side} server`, 8_000)
  await remote.ready // a server that exits before it listens rejects here instead of leaving the bench waiting
  const deadline = Date.now() + 60_000
  // Ready once the counter shows (percore: a core defined it; the official client: a worker answered).
  while ((await scrape(port, 2_000).catch(() => undefined))?.total === undefined) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) throw new Error(`${side} never answered`)
    await sleep(100)
  }
  return {
    port,
    cpuMicros: async () => (await remote.request({ kind: "cpu" })).micros ?? Number.NaN,
    stop: async () => void (await remote.terminate())
  }
}

interface Scrape {
  readonly status: number
  readonly ms: number
  readonly total: number | undefined
  readonly error?: string
}

/** One scrape on a new connection; `total` is `work_done_total` (summed over lines, per-worker or not). */
const scrape = (port: number, timeoutMs: number): Promise<Scrape> =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = request({ host: "127.0.0.1", port, path: "/metrics", agent: false, timeout: timeoutMs }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => {
        body += chunk
      })
      response.on("end", () => {
        let total: number | undefined
        for (const line of body.split("\n")) {
          if (!line.startsWith("work_done_total")) continue
          total = (total ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1))
        }
        resolve({ status: response.statusCode ?? 0, ms: performance.now() - t0, total, ...(response.statusCode === 200 ? {} : { error: body.trim().slice(0, 80) }) })
      })
    })
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)))
    req.on("error", reject)
    req.end()
  })

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

export const workersBench = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const dir = mkdtempSync(join(tmpdir(), "percore-workers-"))
  const rows: Array<ResultRow> = []
  const ratios: Array<Ratio> = []
  const notes: Array<string> = []
  let run = 0
  const marker = (): string => join(dir, `marker-${run++}`)
  try {
    // 1. Delivery.
    const windowMs = options.smoke ? 500 : 2_000
    for (const threads of options.smoke ? [2] : [2, 4]) {
      const rate: Record<Side, number> = { percore: 0, official: 0 }
      for (const side of SIDES) {
        const server = await startServer(side, threads, "count", marker())
        try {
          await sleep(1_000)
          // The window runs from one scrape's answer to the next one's (each total is read just before its answer).
          const a = await scrape(server.port, 10_000)
          const t0 = performance.now()
          const cpuA = await server.cpuMicros()
          await sleep(windowMs)
          const b = await scrape(server.port, 10_000)
          const seconds = (performance.now() - t0) / 1000
          const cpuB = await server.cpuMicros()
          rate[side] = ((b.total ?? 0) - (a.total ?? 0)) / seconds
          const cpuPct = (cpuB - cpuA) / 1e4 / seconds
          rows.push({ name: `${threads} workers counting: ${sideName[side]}`, unit: "M incs/s at /metrics", median: rate[side] / 1e6, min: rate[side] / 1e6, max: rate[side] / 1e6, detail: { serverThreadCpuPct: Number(cpuPct.toFixed(2)) } })
          notes.push(`${threads} workers counting, ${sideName[side]}: ${(rate[side] / 1e6).toFixed(2)} M increments/s reach /metrics; serving thread CPU ${cpuPct.toFixed(1)} % of a core.`)
        } finally {
          await server.stop()
        }
      }
      ratios.push(ratio(`${threads} workers: percore / official client (increments/s reaching /metrics)`, rate.percore, rate.official))
    }
    // 2. Latency.
    const scrapes = 40 // p99 of 40 (nearest rank) is the slowest scrape
    for (const mode of options.smoke ? [] : (["idle", "busy"] as const)) {
      const p: Record<Side, { p50: number; p99: number }> = { percore: { p50: 0, p99: 0 }, official: { p50: 0, p99: 0 } }
      for (const side of SIDES) {
        const server = await startServer(side, 2, mode, marker())
        try {
          await sleep(300)
          const ms: Array<number> = []
          for (let i = 0; i < scrapes; i++) ms.push((await scrape(server.port, 10_000)).ms)
          p[side] = { p50: percentile(ms, 0.5), p99: percentile(ms, 0.99) }
          rows.push({ name: `scrape latency, 2 workers ${mode === "idle" ? "idle" : "in 50 ms synchronous tasks"}: ${sideName[side]}`, unit: "ms", median: p[side].p50, min: Math.min(...ms), max: Math.max(...ms), detail: { p99: p[side].p99, scrapes } })
        } finally {
          await server.stop()
        }
      }
      ratios.push(ratio(`scrape p50, 2 workers ${mode}: percore / official client`, p.percore.p50, p.official.p50))
      ratios.push(ratio(`scrape p99, 2 workers ${mode}: percore / official client`, p.percore.p99, p.official.p99))
    }
    // 3. Failures.
    const table: Array<string> = ["| worker 0 of 2, after exactly 100,000 increments each | server | next 3 scrapes: status, ms, total (exact: 200,000) |", "|---|---|---|"]
    for (const mode of options.smoke ? (["throw"] as const) : (["exit", "throw"] as const)) {
      for (const side of SIDES) {
        const markers = marker()
        const server = await startServer(side, 2, mode, markers)
        try {
          // Both workers counted (each writes its marker file then), worker 0 ended, percore restarted it (idle).
          const deadline = Date.now() + 30_000
          while (!(existsSync(`${markers}-0`) && existsSync(`${markers}-1`)) && Date.now() < deadline) await sleep(50)
          await sleep(500)
          const results: Array<string> = []
          for (let i = 0; i < (options.smoke ? 1 : 3); i++) {
            const r = await scrape(server.port, 7_000).catch((error: unknown): Scrape => ({ status: 0, ms: 7_000, total: undefined, error: error instanceof Error ? error.message : String(error) }))
            results.push(`${r.status === 0 ? "no response" : r.status} in ${Math.round(r.ms)} ms, total ${r.total?.toLocaleString("en-US") ?? "–"}${r.error === undefined ? "" : ` (${r.error})`}`)
            rows.push({ name: `worker 0 ${mode === "exit" ? "exits" : "throws"}, scrape ${i + 1}: ${sideName[side]}`, unit: "ms", median: r.ms, min: r.ms, max: r.ms, detail: { status: r.status, total: r.total ?? -1, exact: 2 * EXACT } })
          }
          table.push(`| ${mode === "exit" ? "process.exit(1)" : "uncaught throw"} | ${sideName[side]} | ${results.join("; ")} |`)
        } finally {
          await server.stop()
        }
      }
    }
    notes.push(...table)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  notes.push(
    "Each server is a child process running the same worker task (support/workers-task.ts); percore at default settings (its cores are restarted after a failure; a restarted core does not count again). Scrapes over new connections.",
    "Delivery: increments/s between two scrapes of the counter's total over the window; CPU: the serving (main) thread's, process.threadCpuUsage()."
  )
  return { benchmark: "workers", title: "Worker threads: percore vs @prometheus-io/client WorkerRegistry (delivery, scrape latency, failures)", rows, ratios, notes }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const result = await workersBench({ smoke: process.argv.includes("--smoke") })
  for (const row of result.rows) console.log(`${row.name.padEnd(80)} ${row.median.toFixed(2).padStart(9)} ${row.unit}  ${JSON.stringify(row.detail ?? {})}`)
  for (const ratio of result.ratios) console.log(`${ratio.name}: ${ratio.value.toFixed(3)}`)
  for (const note of result.notes) console.log(note.startsWith("|") ? note : `- ${note}`)
}
