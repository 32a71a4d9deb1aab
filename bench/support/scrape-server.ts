/**
 * A server of the end-to-end scrape benchmark, as a child process (`fork`, with an IPC channel and
 * `--expose-gc`): `percore` (the real service: `Percore.server`, one core running `scrape-core.ts`, default settings
 * otherwise, so the control plane's lower priority is included), or `prom-client` / `@prometheus-io/client` (a
 * Node HTTP server with a registry per format, gzip by `zlib.gzip` when accepted, at percore's level 1).
 *
 * IPC: the parent sends `{ kind }` messages and gets one reply each:
 * - `mutate` (client servers: change every series; percore's core changes its own off-thread),
 * - `ledgerStart` / `ledgerStop`: JS-heap bytes allocated on this process' main thread in between (heapUsed
 *   difference + what GCs freed meanwhile, `v8.GCProfiler`),
 * - `memory`: RSS after full GCs.
 *
 * `floor` is the least any Node server can do per scrape: prom-client renders the page (and its gzip) when told to
 * `mutate`, untimed, and a scrape only writes those ready bytes with one `end()`.
 */
import v8 from "node:v8"
import { createServer } from "node:http"
import { promisify } from "node:util"
import { gzip as gzipCallback } from "node:zlib"
import type { OpenMetricsContentType } from "prom-client"
import { BUCKETS, COUNTER_HELP, HISTOGRAM_HELP, increment, observation, seriesSpec, workloadFromEnv } from "./scrape-workload.ts"
import { collectGarbage } from "../harness.ts"

export type ServerRole = "percore" | "baseline" | "prom-client" | "official" | "floor"

export type ServerRequest = { readonly kind: "mutate" | "ledgerStart" | "ledgerStop" | "memory" | "cpu" }
export type ServerReply =
  | { readonly kind: "ready"; readonly port: number }
  | { readonly kind: "done" }
  | { readonly kind: "ledger"; readonly bytes: number; readonly gcs: number }
  | { readonly kind: "memory"; readonly rss: number }
  | { readonly kind: "cpu"; readonly micros: number }

const send = (reply: ServerReply): void => {
  process.send?.(reply)
}

let profiler: v8.GCProfiler | undefined
let heapBefore = 0

const serveIpc = (mutate: () => void | Promise<void>): void => {
  process.on("message", async (message: ServerRequest) => {
    switch (message.kind) {
      case "mutate":
        await mutate()
        return send({ kind: "done" })
      case "ledgerStart":
        collectGarbage()
        profiler = new v8.GCProfiler()
        profiler.start()
        heapBefore = process.memoryUsage().heapUsed
        return send({ kind: "done" })
      case "ledgerStop": {
        const after = process.memoryUsage().heapUsed
        const result = profiler?.stop()
        let freed = 0
        for (const g of result?.statistics ?? []) freed += g.beforeGC.heapStatistics.usedHeapSize - g.afterGC.heapStatistics.usedHeapSize
        return send({ kind: "ledger", bytes: after - heapBefore + freed, gcs: result?.statistics.length ?? 0 })
      }
      case "cpu": {
        const cpu = process.threadCpuUsage()
        return send({ kind: "cpu", micros: cpu.user + cpu.system })
      }
      case "memory": {
        // ArrayBuffers' backing stores are freed by a background sweeper after a GC: give it time, then GC again.
        collectGarbage()
        setTimeout(() => {
          collectGarbage()
          collectGarbage()
          send({ kind: "memory", rss: process.memoryUsage.rss() })
        }, 200)
        return
      }
    }
  })
}

const role = process.argv[2] as ServerRole
const port = Number(process.argv[3])
const { workload, count } = workloadFromEnv()

if (role === "percore" || role === "baseline") {
  const { NodeRuntime } = await import("@effect/platform-node")
  const { Layer } = await import("effect")
  // baseline: another checkout's percore (its `src/` under PERCORE_SCRAPE_BASELINE), to measure a change in one run.
  const root = role === "baseline" ? `${process.env["PERCORE_SCRAPE_BASELINE"]}/src/Percore.ts` : "../../src/Percore.ts"
  const percore: typeof import("../../src/Percore.ts") = await import(root)
  const { Percore } = percore
  // SCRAPE_CORES / SCRAPE_CORE_MODULE: other benchmarks' cores (bench/workers.ts); the scrape workload otherwise.
  process.env["PERCORE_CORES"] = process.env["SCRAPE_CORES"] ?? "1"
  process.env["PERCORE_PORT"] = String(port)
  process.env["PERCORE_HOST"] = "127.0.0.1"
  process.env["PERCORE_WORKER"] = process.env["SCRAPE_CORE_MODULE"] ?? new URL("./scrape-core.ts", import.meta.url).pathname
  process.env["PERCORE_DASHBOARD"] = "false"
  // Raised only as far as the largest workload needs (defaults: 10k per core, 2k per family, 100k in all).
  if (count > 10_000) {
    process.env["PERCORE_MAX_SERIES_PER_CORE"] = String(count)
    process.env["PERCORE_MAX_SERIES"] = String(count)
    process.env["PERCORE_INTERN_LOG_BYTES"] = String(Math.max(4 << 20, count * 256)) // a core may define ~1 series per 160 log bytes
  }
  serveIpc(() => {})
  NodeRuntime.runMain(Layer.launch(Percore.server))
  send({ kind: "ready", port })
} else {
  type Client = typeof import("prom-client")
  // @prometheus-io/client is prom-client's continuation under the Prometheus organisation, with the same API.
  const client: Client = role === "official" ? (await import("@prometheus-io/client")) as unknown as Client : await import("prom-client")
  const floor = role === "floor"
  const { Counter, Histogram, Registry } = client
  const text = new Registry()
  const openMetrics = new Registry<OpenMetricsContentType>()
  openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
  const mutators: Array<(step: number) => void> = []
  for (const registry of [text, openMetrics] as const) {
    const byName = new Map<string, { inc: (labels: Record<string, string>, v: number) => void }>()
    const labels: Array<Record<string, string>> = []
    const metrics: Array<{ inc: (labels: Record<string, string>, v: number) => void }> = []
    for (let i = 0; i < count; i++) {
      const spec = seriesSpec(workload, i)
      let metric = byName.get(spec.name)
      if (metric === undefined) {
        if (workload === "counters") {
          const c = new Counter({ name: spec.name, help: COUNTER_HELP, labelNames: ["method", "path"], registers: [] })
          registry.registerMetric(c)
          metric = { inc: (l, v) => c.inc(l, v) }
        } else {
          const h = new Histogram({ name: spec.name, help: HISTOGRAM_HELP, labelNames: ["route"], buckets: [...BUCKETS], registers: [] })
          registry.registerMetric(h)
          metric = { inc: (l, v) => h.observe(l, v) }
        }
        byName.set(spec.name, metric)
      }
      labels.push({ ...spec.labels })
      metrics.push(metric)
    }
    mutators.push((step) => {
      for (let i = 0; i < count; i++) metrics[i]!.inc(labels[i]!, workload === "counters" ? increment(i, step) : observation(i, step))
    })
  }
  let step = 0
  const gzip = promisify(gzipCallback)
  // zlib level 1, as percore (`METRICS_GZIP_LEVEL`) and the floor: the gzip rows then compare rendering, not levels.
  const GZIP = { level: 1 }
  /** floor: the pages, as bytes, per registry (`[plain, gzipped]`), rendered at each `mutate`. */
  const ready = new Map<unknown, readonly [Buffer, Buffer]>()
  const prepare = async (): Promise<void> => {
    for (const registry of [text, openMetrics]) {
      const page = Buffer.from(await registry.metrics())
      ready.set(registry, [page, await gzip(page, GZIP)])
    }
  }
  const mutate = async (): Promise<void> => {
    for (const m of mutators) m(step)
    step++
    if (floor) await prepare()
  }
  await mutate()
  const server = createServer((request, response) => {
    const wantsOpenMetrics = (request.headers.accept ?? "").includes("application/openmetrics-text")
    const registry = wantsOpenMetrics ? openMetrics : text
    const contentType: string = registry.contentType
    const compress = /\bgzip\b/.test(request.headers["accept-encoding"] ?? "")
    const headers = { "content-type": contentType, vary: "Accept, Accept-Encoding", ...(compress ? { "content-encoding": "gzip" } : {}) }
    const pages = floor ? ready.get(registry) : undefined
    if (pages !== undefined) {
      response.writeHead(200, headers)
      response.end(compress ? pages[1] : pages[0])
      return
    }
    registry.metrics().then(async (page) => {
      const body = compress ? await gzip(page, GZIP) : page
      response.writeHead(200, headers)
      response.end(body)
    }, (error: unknown) => {
      response.writeHead(500)
      response.end(String(error))
    })
  })
  serveIpc(mutate)
  server.listen(port, "127.0.0.1", () => send({ kind: "ready", port }))
}
