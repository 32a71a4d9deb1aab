/**
 * The workers benchmark's server on `@prometheus-io/client` (child process, IPC like `scrape-server.ts`): the main
 * thread serves `WorkerRegistry.workerMetrics()` on /metrics; `WORKERS_THREADS` workers (this module again) each
 * count on a `WorkerRegistry` of their own. IPC `cpu`: the main thread's CPU time (µs).
 */
import { createServer } from "node:http"
import { isMainThread, threadId, Worker, workerData } from "node:worker_threads"
import { Counter, WorkerRegistry } from "@prometheus-io/client"
import { runTask } from "./workers-task.ts"

if (isMainThread) {
  const registry = new WorkerRegistry()
  const threads = Number(process.env["WORKERS_THREADS"] ?? "2")
  for (let i = 0; i < threads; i++) new Worker(new URL(import.meta.url), { workerData: { id: i } }).on("error", () => {})
  const server = createServer((_request, response) => {
    registry.workerMetrics().then((page) => {
      response.writeHead(200, { "content-type": registry.contentType })
      response.end(page)
    }, (error: unknown) => {
      response.writeHead(500, { "content-type": "text/plain" })
      response.end(`${error instanceof Error ? error.message : String(error)}\n`)
    })
  })
  process.on("message", () => {
    const cpu = process.threadCpuUsage()
    process.send?.({ kind: "cpu", micros: cpu.user + cpu.system })
  })
  server.listen(Number(process.argv[2]), "127.0.0.1", () => process.send?.({ kind: "ready" }))
} else {
  new WorkerRegistry() // announces this worker; its global registry is what the main thread collects
  const counter = new Counter({ name: "work_done_total", help: "Units of work done." })
  const id = typeof workerData === "object" && workerData !== null && "id" in workerData ? Number(workerData.id) : threadId
  await runTask(id, () => counter.inc(), () => false)
}
