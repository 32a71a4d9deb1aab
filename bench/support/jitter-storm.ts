/**
 * The jitter benchmark's scrape storm, in its own process (so the load generator is not the bench's thread).
 *
 * Reads `JITTER_STORM_URL` (must be a loopback URL), `JITTER_STORM_CONNECTIONS` and `JITTER_STORM_SECONDS`,
 * loads autocannon, prints `{"type":"ready"}`, then runs one storm per `go` line on stdin — autocannon with that
 * many concurrent clients for that many seconds — and prints one JSON line per storm:
 * `{"type":"done","start":epochMs,"end":epochMs,"requests":…,"ok":…,"busy":…,"non2xx":…,"errors":…,"timeouts":…,…}`.
 * It exits when stdin closes (so it dies with the bench). The bench normally starts it under `nice -n 19`.
 */
import process from "node:process"
import { createInterface } from "node:readline"
import autocannon from "autocannon"

const url = process.env["JITTER_STORM_URL"] ?? ""
const connections = Number(process.env["JITTER_STORM_CONNECTIONS"] ?? 50)
const seconds = Number(process.env["JITTER_STORM_SECONDS"] ?? 10)
const host = URL.canParse(url) ? new URL(url).hostname : ""
if (host !== "127.0.0.1" && host !== "localhost" && host !== "[::1]") throw new Error(`the storm only targets loopback, got ${url}`)
if (!(connections >= 1 && connections <= 1000) || !(seconds > 0 && seconds <= 120)) throw new Error("storm size out of bounds")

const epoch = (): number => performance.timeOrigin + performance.now()
const print = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`)

const storm = async (): Promise<void> => {
  const start = epoch()
  const result = await autocannon({ url, connections, duration: seconds, timeout: 10 })
  const end = epoch()
  const codes = result.statusCodeStats ?? {}
  print({
    type: "done",
    start,
    end,
    requests: result.requests.total,
    ok: codes["200"]?.count ?? 0,
    busy: codes["503"]?.count ?? 0,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99
  })
}

print({ type: "ready" })
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === "go") await storm()
}
