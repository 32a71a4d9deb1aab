/**
 * Helpers for the end-to-end tests: real child processes (percore's `node src/main.ts`, a real Prometheus
 * server), free ports, temporary directories, plain HTTP, an Accept-rewriting proxy and Prometheus' query API.
 * The plain process / port / GET helpers live in `./process.ts` (the benchmarks use them too); here they are
 * wrapped as Effects.
 *
 * Every process and server is a scoped resource: closing the scope stops it (SIGTERM, then SIGKILL after a
 * timeout) whatever the test's outcome. `killAllChildren` is a last resort for `afterAll`, and a synchronous
 * `exit` hook SIGKILLs anything still running if the test process itself goes away.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { request as httpRequest, createServer, type Server } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import { type Child, describeExit, findFreePort, getText, type HttpResult, repoRoot, startChild, stopChild } from "./process.ts"

export { type Child, type ExitInfo, killAllChildren, repoRoot, stopChild } from "./process.ts"

// ---------------------------------------------------------------------------------------------------------
// Ports, temporary directories, waiting

/** A free TCP port on 127.0.0.1: listen on port 0, read the port, close. */
export const freePort: Effect.Effect<number> = Effect.promise(findFreePort)

/** A temporary directory, removed (recursively) when the scope closes. */
export const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), prefix))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Polls `attempt` every `intervalMs` until it yields a value other than `undefined` (failures count as "not
 * yet"), for at most `timeoutMs`. Dies with `what`, the last failure and the output of any watched child
 * that exited meanwhile (a dead process never becomes ready: no point waiting for the timeout).
 */
export const waitFor = <A, E>(
  what: string,
  attempt: Effect.Effect<A | undefined, E>,
  options: { readonly timeoutMs: number; readonly intervalMs?: number; readonly watch?: ReadonlyArray<Child> }
): Effect.Effect<A> =>
  Effect.gen(function*() {
    const deadline = Date.now() + options.timeoutMs
    let last = "no attempt finished"
    while (true) {
      for (const child of options.watch ?? []) {
        const exit = child.exited()
        if (exit !== undefined) {
          return yield* Effect.die(new Error(`${child.name} exited (${describeExit(exit)}) while waiting for ${what}\n${child.describe()}`))
        }
      }
      const result = yield* Effect.result(attempt)
      if (result._tag === "Success") {
        if (result.success !== undefined) return result.success
        last = "not yet"
      } else {
        last = String(result.failure)
      }
      if (Date.now() > deadline) {
        const logs = (options.watch ?? []).map((c) => c.describe()).join("\n")
        return yield* Effect.die(new Error(`timed out after ${options.timeoutMs} ms waiting for ${what} (last: ${last})\n${logs}`))
      }
      yield* Effect.promise(() => sleep(options.intervalMs ?? 100))
    }
  })

// ---------------------------------------------------------------------------------------------------------
// Child processes

/**
 * Spawns a process (no shell), collecting its output. When the scope closes it is stopped: SIGTERM, then
 * SIGKILL after `killAfterMs`.
 */
export const spawnChild = (
  name: string,
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv; readonly killAfterMs?: number } = {}
): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => startChild(name, command, args, options)),
    (child) => Effect.promise(() => stopChild(child, options.killAfterMs ?? 5_000))
  )

// ---------------------------------------------------------------------------------------------------------
// HTTP

export type { HttpResult } from "./process.ts"

/** GET (a plain node:http request, no agent reuse), bounded by `timeoutMs`. Fails on a network error. */
export const httpGet = (url: string, headers: Readonly<Record<string, string>> = {}, timeoutMs = 5_000): Effect.Effect<HttpResult, Error> =>
  Effect.tryPromise({
    try: (signal) => getText(url, headers, timeoutMs, signal),
    catch: (e) => (e instanceof Error ? e : new Error(String(e)))
  })

const closeServer = (server: Server) =>
  Effect.promise(() =>
    new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  )

const listen = (server: Server) =>
  Effect.promise(() =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject)
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resolve(typeof address === "object" && address !== null ? address.port : 0)
      })
    })
  )

/** One request that went through the proxy. */
export interface ProxiedScrape {
  /** `Accept` as the client (Prometheus) sent it. */
  readonly acceptReceived: string | undefined
  /** `Accept` as forwarded upstream. */
  readonly acceptForwarded: string | undefined
  readonly status: number
  /** Upstream's (percore's) response Content-Type. */
  readonly contentType: string | undefined
  readonly contentEncoding: string | undefined
}

export interface Proxy {
  readonly port: number
  readonly scrapes: ReadonlyArray<ProxiedScrape>
}

/**
 * A transparent HTTP proxy on 127.0.0.1 in front of `upstreamPort` that records, per request, the Accept header
 * received and percore's Content-Type. With `rewriteAccept` it replaces the Accept header before forwarding.
 * Everything else (path, other headers, the possibly gzipped body) passes through unchanged.
 */
export const startProxy = (upstreamPort: number, rewriteAccept?: string): Effect.Effect<Proxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scrapes: Array<ProxiedScrape> = []
    const server = createServer((req, res) => {
      const acceptReceived = req.headers["accept"]
      const headers = { ...req.headers }
      if (rewriteAccept !== undefined) headers["accept"] = rewriteAccept
      const upstream = httpRequest(
        { host: "127.0.0.1", port: upstreamPort, method: req.method ?? "GET", path: req.url ?? "/", headers, agent: false },
        (upstreamRes) => {
          const contentType = upstreamRes.headers["content-type"]
          const contentEncoding = upstreamRes.headers["content-encoding"]
          scrapes.push({ acceptReceived, acceptForwarded: headers["accept"], status: upstreamRes.statusCode ?? 0, contentType, contentEncoding })
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers)
          upstreamRes.pipe(res)
        }
      )
      upstream.on("error", (e) => {
        if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" })
        res.end(`proxy: ${e.message}\n`)
      })
      req.pipe(upstream)
    })
    const port = yield* Effect.acquireRelease(listen(server), () => closeServer(server))
    return { port, scrapes }
  })

// ---------------------------------------------------------------------------------------------------------
// percore

/**
 * Starts the real service the way `npm start` does (`node src/main.ts` in the repository root, with this
 * test's Node: Node 24 under npm) and waits until /readyz answers 200.
 */
export const startPercore = (env: Readonly<Record<string, string>>, readyTimeoutMs = 20_000) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const child = yield* spawnChild("percore", process.execPath, ["src/main.ts"], {
      cwd: repoRoot,
      env: { ...process.env, PERCORE_HOST: "127.0.0.1", PERCORE_PORT: String(port), ...env },
      killAfterMs: 10_000
    })
    const base = `http://127.0.0.1:${port}`
    yield* waitFor(
      "percore's /readyz to answer 200",
      Effect.map(httpGet(`${base}/readyz`, {}, 2_000), (r) => (r.status === 200 ? r : undefined)),
      { timeoutMs: readyTimeoutMs, watch: [child] }
    )
    return { child, port, base }
  })

// ---------------------------------------------------------------------------------------------------------
// Prometheus

export const prometheusBinary = "/usr/bin/prometheus"
export const promtoolBinary = "/usr/bin/promtool"

export interface Prometheus {
  readonly child: Child
  readonly base: string
}

/**
 * Starts a real Prometheus server scraping `target` (host:port) every second as job "percore", with a
 * temporary config and TSDB, on a free port; waits until it is ready.
 */
export const startPrometheus = (target: string): Effect.Effect<Prometheus, never, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* tempDir("percore-e2e-prometheus-")
    const configFile = join(dir, "prometheus.yml")
    writeFileSync(
      configFile,
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: percore",
        "    static_configs:",
        `      - targets: ["${target}"]`,
        ""
      ].join("\n")
    )
    return yield* runPrometheus(configFile, dir, ["--web.enable-lifecycle"])
  })

/**
 * Runs a real Prometheus on `configFile`, its TSDB under `dir`, on a free port with `flags` added; waits until
 * it is ready.
 */
export const runPrometheus = (configFile: string, dir: string, flags: ReadonlyArray<string> = []): Effect.Effect<Prometheus, never, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    const child = yield* spawnChild("prometheus", prometheusBinary, [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...flags,
      "--log.level=warn"
    ], { killAfterMs: 5_000 })
    const base = `http://127.0.0.1:${port}`
    yield* waitFor(
      "Prometheus to be ready",
      Effect.map(httpGet(`${base}/-/ready`, {}, 2_000), (r) => (r.status === 200 ? r : undefined)),
      { timeoutMs: 20_000, watch: [child] }
    )
    return { child, base }
  })

/** One element of an instant vector. */
export interface VectorSample {
  readonly metric: Readonly<Record<string, string>>
  /** The sample value exactly as Prometheus printed it (a Go float string). */
  readonly value: string
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const parseVector = (body: string): ReadonlyArray<VectorSample> => {
  const json: unknown = JSON.parse(body)
  if (!isRecord(json) || json["status"] !== "success" || !isRecord(json["data"])) {
    throw new Error(`unexpected query answer: ${body}`)
  }
  const data = json["data"]
  if (data["resultType"] !== "vector" || !Array.isArray(data["result"])) throw new Error(`not a vector: ${body}`)
  return data["result"].map((element: unknown): VectorSample => {
    if (!isRecord(element) || !isRecord(element["metric"]) || !Array.isArray(element["value"])) {
      throw new Error(`unexpected vector element: ${JSON.stringify(element)}`)
    }
    const metric: Record<string, string> = {}
    for (const [k, v] of Object.entries(element["metric"])) metric[k] = String(v)
    const value: unknown = element["value"][1]
    if (typeof value !== "string") throw new Error(`unexpected sample value: ${JSON.stringify(element)}`)
    return { metric, value }
  })
}

/** An instant query through Prometheus' HTTP API. */
export const query = (prometheus: Prometheus, expr: string): Effect.Effect<ReadonlyArray<VectorSample>, Error> =>
  Effect.flatMap(httpGet(`${prometheus.base}/api/v1/query?query=${encodeURIComponent(expr)}`), (r) =>
    Effect.try({
      try: () => {
        if (r.status !== 200) throw new Error(`query ${expr}: HTTP ${r.status}: ${r.body}`)
        return parseVector(r.body)
      },
      catch: (e) => (e instanceof Error ? e : new Error(String(e)))
    }))

/** GET a Prometheus API path and return its `data` (parsed JSON, unvalidated beyond `status: success`). */
export const apiData = (prometheus: Prometheus, path: string): Effect.Effect<unknown, Error> =>
  Effect.flatMap(httpGet(`${prometheus.base}${path}`), (r) =>
    Effect.try({
      try: () => {
        const json: unknown = JSON.parse(r.body)
        if (!isRecord(json) || json["status"] !== "success") throw new Error(`GET ${path}: HTTP ${r.status}: ${r.body}`)
        return json["data"]
      },
      catch: (e) => (e instanceof Error ? e : new Error(String(e)))
    }))

export interface TargetHealth {
  readonly health: string
  readonly lastError: string
  readonly scrapeUrl: string
}

/** The active targets' health, from /api/v1/targets. */
export const targets = (prometheus: Prometheus): Effect.Effect<ReadonlyArray<TargetHealth>, Error> =>
  Effect.map(apiData(prometheus, "/api/v1/targets?state=active"), (data) => {
    const active = isRecord(data) && Array.isArray(data["activeTargets"]) ? data["activeTargets"] : []
    return active.map((t: unknown): TargetHealth => ({
      health: isRecord(t) ? String(t["health"]) : "",
      lastError: isRecord(t) ? String(t["lastError"]) : "",
      scrapeUrl: isRecord(t) ? String(t["scrapeUrl"]) : ""
    }))
  })

/** The metadata (type, help) Prometheus keeps for a metric name, from /api/v1/metadata. */
export const metadata = (
  prometheus: Prometheus,
  metric: string
): Effect.Effect<ReadonlyArray<{ readonly type: string; readonly help: string }>, Error> =>
  Effect.map(apiData(prometheus, `/api/v1/metadata?metric=${encodeURIComponent(metric)}`), (data) => {
    const entries = isRecord(data) && Array.isArray(data[metric]) ? data[metric] : []
    return entries.map((e: unknown) => ({
      type: isRecord(e) ? String(e["type"]) : "",
      help: isRecord(e) ? String(e["help"]) : ""
    }))
  })
