/**
 * The jitter benchmark's "what users do today" side: ONE Node thread runs the shared work loop
 * (`jitter-loop.ts`), records every iteration with prom-client (a `Counter.inc()` and a `Histogram.observe()`,
 * the same names and buckets as the percore core), and serves `register.metrics()` on `/metrics` from an HTTP
 * server on the same thread — requests are handled when the loop yields (`setImmediate` every
 * `JITTER_YIELD_EVERY` iterations).
 *
 * Listens on 127.0.0.1 on an ephemeral port and prints `{"type":"listening","port":N}` on stdout. SIGTERM /
 * SIGINT (or `JITTER_DEADLINE`) stop the loop; the samples are written to `JITTER_OUT`, the server is closed and
 * the process exits 0.
 */
import { createServer } from "node:http"
import process from "node:process"
import { Counter, Histogram, Registry } from "prom-client"
import { ITERATION_BUCKETS, readLoopSettings, runLoop, writeSamples } from "./jitter-loop.ts"

const settings = readLoopSettings()
const registry = new Registry()
const iterations = new Counter({ name: "jitter_iterations_total", help: "Work-loop iterations run", registers: [registry] })
const seconds = new Histogram({
  name: "jitter_iteration_seconds",
  help: "Work-loop iteration time",
  buckets: [...ITERATION_BUCKETS],
  registers: [registry]
})

const server = createServer((request, response) => {
  if (request.url !== "/metrics" || (request.method !== "GET" && request.method !== "HEAD")) {
    response.writeHead(404).end()
    return
  }
  registry.metrics().then(
    (text) => {
      response.writeHead(200, { "content-type": registry.contentType })
      response.end(request.method === "HEAD" ? undefined : text)
    },
    () => response.writeHead(500).end()
  )
})

let stopping = false
process.once("SIGTERM", () => (stopping = true))
process.once("SIGINT", () => (stopping = true))

await new Promise<void>((resolve, reject) => {
  server.once("error", reject)
  server.listen(0, "127.0.0.1", () => resolve())
})
const address = server.address()
if (address === null || typeof address !== "object") throw new Error("no address")
process.stdout.write(`${JSON.stringify({ type: "listening", port: address.port })}\n`)

const outcome = await runLoop(
  settings,
  (previousMs) => {
    iterations.inc()
    seconds.observe(previousMs * 1e-3)
  },
  () => stopping
)
writeSamples(settings.out, outcome)
server.closeAllConnections()
server.close()
process.exit(0)
