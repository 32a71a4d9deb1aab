/**
 * Soak run: `npm run soak -- --minutes 10` (or `--seconds N`). Starts the real service (`src/main.ts`, demo
 * workload at PERCORE_DEMO_RATE, default 50,000 requests/s per core), scrapes /metrics every 200 ms, and
 * samples the process every few seconds: control-plane heap (percore's own gauge), RSS and open file
 * descriptors (from /proc). At the end it compares the last quarter of the run with the second quarter
 * (after warm-up) and says whether heap, RSS and fds stayed flat. Loopback only; stops by itself.
 */
import { spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { median } from "../bench/harness.ts"
import { findFreePort } from "../test/support/process.ts"

const { values } = parseArgs({ options: { minutes: { type: "string" }, seconds: { type: "string" } } })
const durationMs = values.seconds !== undefined ? Number(values.seconds) * 1000 : Number(values.minutes ?? 10) * 60_000
const sampleEveryMs = Math.max(1000, Math.min(10_000, durationMs / 60))

const port = await findFreePort()
const child = spawn(process.execPath, ["src/main.ts"], {
  cwd: join(import.meta.dirname, ".."),
  env: { PERCORE_DEMO_RATE: "50000", ...process.env, PERCORE_PORT: String(port) },
  stdio: ["ignore", "inherit", "inherit"]
})
const pid = child.pid!
const url = `http://127.0.0.1:${port}`
while ((await fetch(`${url}/readyz`).then((r) => r.status, () => 0)) !== 200) await new Promise((r) => setTimeout(r, 100))

interface Sample {
  readonly atS: number
  readonly heapMB: number
  readonly rssMB: number
  readonly fds: number
}
const samples: Array<Sample> = []
const started = Date.now()
let scrapes = 0
let failures = 0
const scraper = setInterval(() => {
  fetch(`${url}/metrics`).then((r) => r.text()).then(() => scrapes++, () => failures++)
}, 200)
const gauge = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN)
while (Date.now() - started < durationMs) {
  await new Promise((r) => setTimeout(r, sampleEveryMs))
  const text = await fetch(`${url}/metrics`).then((r) => r.text())
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN)
  const sample: Sample = {
    atS: Math.round((Date.now() - started) / 1000),
    heapMB: gauge(text, "percore_control_plane_heap_used_bytes") / 2 ** 20,
    rssMB: rssKb / 1024,
    fds: readdirSync(`/proc/${pid}/fd`).length
  }
  samples.push(sample)
  console.log(`t=${sample.atS}s heap ${sample.heapMB.toFixed(1)} MB rss ${sample.rssMB.toFixed(1)} MB fds ${sample.fds} scrapes ${scrapes} failed ${failures}`)
}
clearInterval(scraper)
child.kill("SIGTERM")
const code = await new Promise<number | null>((resolve) => child.once("exit", resolve))

const quarter = Math.max(1, Math.floor(samples.length / 4))
const early = samples.slice(quarter, 2 * quarter)
const late = samples.slice(-quarter)
const verdict = (key: "heapMB" | "rssMB" | "fds", tolerance: number) => {
  const a = median(early.map((s) => s[key]))
  const b = median(late.map((s) => s[key]))
  const flat = b <= a * (1 + tolerance) + (key === "fds" ? 0 : 2)
  return { key, early: a, late: b, flat }
}
const results = [verdict("heapMB", 0.2), verdict("rssMB", 0.2), verdict("fds", 0)]
for (const r of results) console.log(`${r.key}: ${r.early.toFixed(1)} → ${r.late.toFixed(1)} ${r.flat ? "flat" : "GROWING"}`)
console.log(`scrapes ${scrapes}, failed ${failures}, exit code ${code}`)
process.exit(results.every((r) => r.flat) && failures === 0 && code === 0 ? 0 : 1)
