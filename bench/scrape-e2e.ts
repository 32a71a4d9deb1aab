/**
 * End-to-end scrape benchmark: a scrape as Prometheus makes it — a new TCP connection, `GET /metrics` with an
 * `Accept` (text 0.0.4 or OpenMetrics) and with or without `Accept-Encoding: gzip`, until the response's last byte
 * — against four servers, each a child process of its own (`support/scrape-server.ts`):
 * - **percore**: the real service (`Percore.server`), 1 core, default settings (the control plane's lower thread
 *   priority included); the core defines the series and keeps changing them off-thread (`support/scrape-core.ts`);
 * - **prom-client** 15 and **@prometheus-io/client** (the official client): a Node HTTP server, one registry per
 *   format, gzip by `zlib.gzip` at level 1 when accepted (as percore); every series changed (untimed) before every round;
 * - **floor**: where the floor is — a node:http server that writes a page made (and gzipped) before the round with
 *   one `end()`: what serving this page costs with no rendering at all.
 *
 * Workloads: 10k counters (10 families × 1,000, labels `method`, `path`), 100k counters (100 × 1,000), 1k
 * histograms (10 × 100, 10 buckets). Rounds alternate the servers and the variants (format × gzip) in a rotating
 * order, after warm-up rounds; medians. Timed on the client: from `request()` to the response's `end`.
 *
 * Also per server: JS-heap bytes allocated on its main thread per scrape (`v8.GCProfiler` ledger over 32 scrapes,
 * minus an idle window as long, per scrape), and its RSS growth against the same server with no series (bytes per
 * series: the in-process `scrape` benchmark, where a whole process' heap noise does not swamp them).
 *
 * Run: `npm run bench -- scrape-e2e`, or alone `npm exec -- node bench/scrape-e2e.ts [--smoke] [--rounds N]`.
 */
import { fork } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { gunzipSync } from "node:zlib"
import { setTimeout as sleep } from "node:timers/promises"
import { findFreePort } from "../test/support/process.ts"
import type { BenchmarkOptions, BenchmarkResult, Ratio, ResultRow } from "./harness.ts"
import { expectReply, median, onlyScenarios, ratio, remoteProcess, summarize } from "./harness.ts"
import type { ServerReply, ServerRequest, ServerRole } from "./support/scrape-server.ts"
import type { Workload } from "./support/scrape-workload.ts"

/** PERCORE_SCRAPE_BASELINE=<a checkout's root>: that checkout's percore runs too, as "baseline" (development aid). */
const ROLES: ReadonlyArray<ServerRole> = process.env["PERCORE_SCRAPE_BASELINE"] === undefined
  ? ["percore", "prom-client", "official", "floor"]
  : ["percore", "baseline", "prom-client", "official", "floor"]
const roleName: Readonly<Record<ServerRole, string>> = {
  percore: "percore",
  baseline: "percore baseline",
  "prom-client": "prom-client",
  official: "@prometheus-io/client",
  floor: "floor (a ready page, one end())"
}
/** Roles whose memory is reported (the floor holds prom-client's registries and ready pages: nothing to compare). */
const MEASURED_MEMORY: ReadonlyArray<ServerRole> = ROLES.filter((role) => role !== "floor")
type Format = "text" | "openmetrics"
const ACCEPT: Readonly<Record<Format, string>> = {
  text: "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
  openmetrics: "application/openmetrics-text;version=1.0.0;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
}
interface Variant {
  readonly format: Format
  readonly gzip: boolean
}
const VARIANTS: ReadonlyArray<Variant> = [
  { format: "text", gzip: false },
  { format: "openmetrics", gzip: false },
  { format: "text", gzip: true },
  { format: "openmetrics", gzip: true }
]
const variantName = (v: Variant): string => `${v.format}${v.gzip ? ", gzip" : ""}`
const TARGET_RATIO = 0.2
const ALLOCATION_SCRAPES = 32

interface Scenario {
  readonly label: string
  readonly workload: Workload
  readonly count: number
  readonly targeted: boolean
  readonly rounds: number
  readonly warmup: number
  /** Smoke: no empty-server memory baseline, one allocation measurement per variant. */
  readonly smoke: boolean
}

// ─── a server ────────────────────────────────────────────────────────────────────────────────────

interface Server {
  readonly role: ServerRole
  readonly port: number
  readonly ask: (message: ServerRequest) => Promise<ServerReply>
  readonly stop: () => Promise<void>
}

const startServer = async (role: ServerRole, workload: Workload, count: number, pauseFile: string): Promise<Server> => {
  const port = await findFreePort()
  const child = fork(new URL("./support/scrape-server.ts", import.meta.url).pathname, [role, String(port)], {
    execArgv: ["--expose-gc"],
    env: { ...process.env, SCRAPE_WORKLOAD: workload, SCRAPE_SERIES: String(count), SCRAPE_PAUSE_FILE: pauseFile },
    stdio: ["ignore", "ignore", "inherit", "ipc"]
  })
  const remote = remoteProcess<ServerRequest, ServerReply>(child, `${role} server`)
  expectReply(await remote.ready, "ready")
  const server: Server = {
    role,
    port,
    ask: remote.request,
    stop: async () => void (await remote.terminate())
  }
  // percore's service takes a moment to start and its core to define every series: wait for the last one.
  const last = workload === "counters" ? `/api/v1/items/${count - 1}"` : `/api/v1/route/${count - 1}"`
  const deadline = Date.now() + 120_000
  while (true) {
    const page = await scrape(port, { format: "text", gzip: false }, true).catch(() => undefined)
    if (page?.status === 200 && (count === 0 || page.body.includes(last))) break
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) throw new Error(`${role} server never served the workload`)
    await sleep(100)
  }
  return server
}

interface ScrapeResult {
  readonly ms: number
  readonly status: number
  readonly bytes: number
  readonly body: string
}

/** One scrape on a new connection, timed from `request()` to the response's last byte. */
const scrape = (port: number, variant: Variant, keepBody = false): Promise<ScrapeResult> =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = request({
      host: "127.0.0.1",
      port,
      path: "/metrics",
      agent: false,
      headers: { accept: ACCEPT[variant.format], ...(variant.gzip ? { "accept-encoding": "gzip" } : {}) }
    }, (response) => {
      const chunks: Array<Buffer> = []
      let bytes = 0
      response.on("data", (chunk: Buffer) => {
        bytes += chunk.length
        if (keepBody) chunks.push(chunk)
      })
      response.on("end", () => {
        const ms = performance.now() - t0
        let body = ""
        if (keepBody) {
          const all = Buffer.concat(chunks)
          body = (response.headers["content-encoding"] === "gzip" ? gunzipSync(all) : all).toString("utf8")
        }
        resolve({ ms, status: response.statusCode ?? 0, bytes, body })
      })
      response.on("error", reject)
    })
    req.on("error", reject)
    req.end()
  })


/** Heap bytes the server's main thread allocates per scrape: a window of scrapes minus an idle window as long. */
const allocationPerScrape = async (server: Server, variant: Variant): Promise<{ bytes: number; gcs: number }> => {
  expectReply(await server.ask({ kind: "ledgerStart" }), "done")
  const t0 = performance.now()
  for (let i = 0; i < ALLOCATION_SCRAPES; i++) await scrape(server.port, variant)
  const elapsed = performance.now() - t0
  const busy = expectReply(await server.ask({ kind: "ledgerStop" }), "ledger")
  expectReply(await server.ask({ kind: "ledgerStart" }), "done")
  await sleep(elapsed)
  const idle = expectReply(await server.ask({ kind: "ledgerStop" }), "ledger")
  return { bytes: Math.max(0, busy.bytes - idle.bytes) / ALLOCATION_SCRAPES, gcs: busy.gcs }
}

interface Memory {
  readonly rss: number
}

const memoryOf = async (server: Server): Promise<Memory> => {
  for (const v of VARIANTS) await scrape(server.port, v) // both formats served: what a scrape leaves behind
  return { rss: expectReply(await server.ask({ kind: "memory" }), "memory").rss }
}

// ─── a scenario ──────────────────────────────────────────────────────────────────────────────────

interface ScenarioResult {
  readonly scenario: Scenario
  /** [role][variant] */
  readonly samples: Record<ServerRole, Array<Array<number>>>
  readonly pageBytes: Record<ServerRole, Array<number>>
  readonly allocation: Record<ServerRole, Array<{ bytes: number; gcs: number }>>
  readonly memory: Record<ServerRole, Memory>
  readonly empty: Record<ServerRole, Memory>
}

const runScenario = async (scenario: Scenario, dir: string): Promise<ScenarioResult> => {
  const pauseFile = join(dir, "pause")
  rmSync(pauseFile, { force: true })
  const empty = {} as Record<ServerRole, Memory>
  for (const role of ROLES) {
    if (scenario.smoke || !MEASURED_MEMORY.includes(role)) {
      empty[role] = { rss: 0 }
      continue
    }
    const server = await startServer(role, scenario.workload, 0, pauseFile)
    try {
      for (let i = 0; i < 3; i++) for (const v of VARIANTS) await scrape(server.port, v)
      empty[role] = await memoryOf(server)
    } finally {
      await server.stop()
    }
  }
  const servers: Array<Server> = []
  try {
    for (const role of ROLES) servers.push(await startServer(role, scenario.workload, scenario.count, pauseFile))
    const samples = {} as Record<ServerRole, Array<Array<number>>>
    const pageBytes = {} as Record<ServerRole, Array<number>>
    for (const role of ROLES) {
      samples[role] = VARIANTS.map(() => [])
      pageBytes[role] = VARIANTS.map(() => 0)
    }
    const order = servers.flatMap((server) => VARIANTS.map((variant, v) => ({ server, variant, v })))
    for (let round = 0; round < scenario.warmup + scenario.rounds; round++) {
      for (const server of servers) if (server.role !== "percore" && server.role !== "baseline") expectReply(await server.ask({ kind: "mutate" }), "done")
      for (let k = 0; k < order.length; k++) {
        const { server, variant, v } = order[(k + round * 5) % order.length]!
        const result = await scrape(server.port, variant)
        if (result.status !== 200) throw new Error(`${server.role}: /metrics answered ${result.status}`)
        pageBytes[server.role][v] = result.bytes
        if (round >= scenario.warmup) samples[server.role][v]!.push(result.ms)
      }
    }
    // Allocation: percore's core stops changing series meanwhile (its drains would otherwise count).
    writeFileSync(pauseFile, "")
    await sleep(100)
    const allocation = {} as Record<ServerRole, Array<{ bytes: number; gcs: number }>>
    for (const server of servers) {
      allocation[server.role] = []
      for (const variant of VARIANTS) {
        const runs: Array<{ bytes: number; gcs: number }> = []
        for (let r = 0; r < (scenario.smoke || scenario.count > 10_000 ? 1 : 3); r++) runs.push(await allocationPerScrape(server, variant))
        runs.sort((a, b) => a.bytes - b.bytes)
        allocation[server.role].push(runs[runs.length >> 1]!)
      }
    }
    const memory = {} as Record<ServerRole, Memory>
    for (const server of servers) memory[server.role] = await memoryOf(server)
    return { scenario, samples, pageBytes, allocation, memory, empty }
  } finally {
    for (const server of servers) await server.stop()
  }
}

const scenariosFor = (options: BenchmarkOptions): ReadonlyArray<Scenario> => {
  const tier = (label: string, workload: Workload, count: number, targeted: boolean, rounds: number, warmup: number): Scenario => ({
    label,
    workload,
    count,
    targeted,
    rounds: options.rounds ?? rounds,
    warmup,
    smoke: options.smoke
  })
  if (options.smoke) return [tier("1k counters", "counters", 1_000, false, 2, 1)]
  const all = [
    // 61 rounds: one scrape of the same page takes 2-10 ms (p10-p90) on a 2-CPU machine; with 31, one server's
    // medians were up to 1.9x apart between runs
    tier("10k counters", "counters", 10_000, true, 61, 5),
    tier("1k histograms", "histograms", 1_000, true, 61, 5),
    tier("100k counters", "counters", 100_000, false, 7, 2)
  ]
  return onlyScenarios(all)
}

const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`

export const scrapeE2eBench = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const dir = mkdtempSync(join(tmpdir(), "percore-scrape-e2e-"))
  const results: Array<ScenarioResult> = []
  try {
    for (const scenario of scenariosFor(options)) results.push(await runScenario(scenario, dir))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const rows: Array<ResultRow> = []
  const ratios: Array<Ratio> = []
  const notes: Array<string> = []
  for (const { scenario, samples, pageBytes, allocation, memory, empty } of results) {
    VARIANTS.forEach((variant, v) => {
      const anchor = median(samples["prom-client"][v]!)
      for (const role of ROLES) {
        const s = summarize(samples[role][v]!)
        rows.push({
          name: `${scenario.label}, ${variantName(variant)}: ${roleName[role]}`,
          unit: "ms",
          median: s.median,
          min: s.min,
          max: s.max,
          bytesPerOp: allocation[role][v]!.bytes,
          relative: s.median / anchor,
          detail: { rounds: samples[role][v]!.length, responseBytes: pageBytes[role][v]!, allocatedBytesPerScrape: Math.round(allocation[role][v]!.bytes), gcsInAllocationWindow: allocation[role][v]!.gcs }
        })
      }
      const percore = median(samples.percore[v]!)
      const label = `${scenario.label}, ${variantName(variant)}: percore`
      ratios.push(ratio(`${label} / prom-client (ms per end-to-end scrape)`, percore, anchor, scenario.targeted ? TARGET_RATIO : undefined))
      if (ROLES.includes("baseline")) ratios.push(ratio(`${label} / baseline`, percore, median(samples.baseline[v]!)))
      ratios.push(ratio(`${label} / @prometheus-io/client (ms per end-to-end scrape)`, percore, median(samples.official[v]!)))
      ratios.push(ratio(`${label} / floor (ms per end-to-end scrape)`, percore, median(samples.floor[v]!)))
    })
    notes.push(
      // A whole server's used heap varies between processes by more than 1k-10k series weigh (code, feedback,
      // lazily compiled functions): bytes per series come from the in-process `scrape` benchmark; here only RSS.
      `${scenario.label}: RSS growth from the same server with 0 series (after scrapes in both formats): ` + MEASURED_MEMORY.map((r) => `${roleName[r]} ${((memory[r].rss - empty[r].rss) / 1024 / 1024).toFixed(1)} MiB`).join(", ") +
        ` (percore's RSS includes its core thread); heap allocated per scrape (text / openmetrics / text gzip / openmetrics gzip): ` +
        ROLES.map((r) => `${roleName[r]} ${allocation[r].map((a) => kib(a.bytes)).join(" / ")}`).join("; ") + "."
    )
  }
  notes.push(
    "Each server is a child process; the client (this process) opens a new connection per scrape (agent: false) and times request() → the response's last byte; servers and variants alternate in a rotating order, after warm-up rounds; medians. relative = × prom-client, same scenario and variant.",
    "percore = the real service (Percore.server), PERCORE_CORES=1, default settings (dashboard off); its core changes up to 5,000 series every 20 ms off-thread. prom-client / @prometheus-io/client change every series before every round (untimed).",
    "floor = the least a Node server does per scrape: a plain node:http server writing a page rendered (and gzipped at level 1) before the round, with one end(); its time and heap per scrape are what no renderer can go below on this machine.",
    `bytes/op = JS-heap bytes allocated on the server's main thread per scrape: GC ledger over ${ALLOCATION_SCRAPES} scrapes minus an idle window as long (percore's core paused), median of 3 (one at 100k series and in smoke runs).`,
    `Target: percore ≥ 5× faster than prom-client end to end at 10k counters and 1k histograms (ratio ≤ ${TARGET_RATIO}); memory per series: see the scrape benchmark.`
  )
  return { benchmark: "scrape-e2e", title: "End-to-end scrape over HTTP: percore vs prom-client vs @prometheus-io/client", rows, relativeTo: "prom-client, same scenario and variant", ratios, notes }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const smoke = process.argv.includes("--smoke")
  const r = process.argv.indexOf("--rounds")
  const result = await scrapeE2eBench({ smoke, ...(r > 0 ? { rounds: Number(process.argv[r + 1]) } : {}) })
  for (const row of result.rows) console.log(`${row.name.padEnd(72)} ${row.median.toFixed(2).padStart(8)} ms  ×${(row.relative ?? 0).toFixed(3)}  ${Math.round(row.bytesPerOp ?? 0)} B/scrape`)
  for (const ratio of result.ratios) console.log(`${ratio.name}: ${ratio.value.toFixed(3)}${ratio.target === undefined ? "" : ` (target ≤ ${ratio.target}: ${ratio.met ? "met" : "NOT met"})`}`)
  for (const note of result.notes) console.log(`- ${note}`)
}
