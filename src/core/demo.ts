/**
 * The built-in demo workload (`npm start` without PERCORE_WORKER): each core simulates request handling
 * at `PERCORE_DEMO_RATE` requests per second (default 2000), so a newcomer sees moving metrics at once:
 * requests by route and status, a latency histogram in seconds, an in-flight gauge (summed over cores)
 * and a queue-depth gauge per core.
 */
import type { Core } from "./index.ts"

const routes = ["/", "/api/items", "/api/items/:id", "/login"] as const
const statuses = ["200", "200", "200", "200", "200", "200", "200", "404", "500", "503"] as const

export default async function demo(core: Core): Promise<void> {
  const rate = Math.max(1, Number(process.env["PERCORE_DEMO_RATE"] ?? 2000))
  const requests = routes.map((route) =>
    statuses.map((status) =>
      core.counter("demo_http_requests_total", { help: "Requests handled, by route and status", labels: { route, status } })
    )
  )
  const latency = routes.map((route) =>
    core.histogram("demo_http_request_duration_seconds", {
      help: "Request latency in seconds",
      labels: { route },
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]
    })
  )
  const inflight = core.gauge("demo_http_inflight_requests", { help: "Requests in flight (all cores)" })
  const queueDepth = core.gauge("demo_queue_depth", { help: "Work queue depth of each core", aggregate: "perCore" })

  const tickMs = 10
  let queue = 0
  let carry = 0
  while (!core.stopping) {
    carry += (rate * tickMs) / 1000
    const batch = Math.floor(carry)
    carry -= batch
    for (let i = 0; i < batch; i++) {
      const r = (Math.random() * routes.length) | 0
      inflight.inc()
      // Log-normal-ish latency around a few milliseconds, with a slow tail.
      const seconds = Math.exp(Math.log(0.004) + 0.9 * gaussian()) * (r === 3 ? 3 : 1)
      latency[r]!.observe(seconds)
      requests[r]![(Math.random() * statuses.length) | 0]!.inc()
      inflight.dec()
    }
    queue = Math.max(0, queue + Math.round(gaussian() * 3))
    queueDepth.set(queue)
    inflight.set(Math.round(Math.abs(gaussian()) * 4))
    await new Promise((resolve) => setTimeout(resolve, tickMs))
  }
}

const gaussian = (): number => {
  const u = 1 - Math.random()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random())
}
