/**
 * The service's footprint: resident memory and CPU of `node src/main.ts` (what `npm start` runs) over a window.
 *
 *   node scripts/footprint.ts [demo|idle] [--cores 4] [--seconds 30] [--dir path/to/a/percore/checkout]
 *
 * - `demo`: the built-in demo workload on every core (the default `npm start`).
 * - `idle`: cores that define a counter and then wait forever (scripts/support/idle-core.ts): what an idle
 *   service costs.
 * Starts the service as a child process on a free port, then samples `/proc/<pid>/status` (VmRSS) and
 * `/proc/<pid>/stat` (utime + stime) once a second. Reports RSS at the end (and its peak), RSS per core beyond
 * the control plane, and CPU used over the window's second half (after start-up settled) as % of one CPU.
 * Linux only. `--dir` measures another checkout with the same Node and idle core module (before/after figures).
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import path from "node:path"
import process from "node:process"
import { fileURLToPath } from "node:url"
import { findFreePort, readProcStat } from "../test/support/process.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: string): string => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback
}
const mode = args[0] === "idle" ? "idle" : "demo"
const cores = Number(option("cores", "4"))
const seconds = Number(option("seconds", "30"))
const here = path.dirname(fileURLToPath(import.meta.url))
const dir = path.resolve(option("dir", path.join(here, "..")))
const idleCore = path.join(here, "support", "idle-core.ts")

const ticksPerSecond = 100 // USER_HZ on Linux
const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN)
const cpuTicks = (pid: number): number => readProcStat(pid)?.ticks ?? Number.NaN

const port = await findFreePort()
const child = spawn(process.execPath, ["src/main.ts"], {
  cwd: dir,
  env: {
    ...process.env,
    PERCORE_CORES: String(cores),
    PERCORE_PORT: String(port),
    ...(mode === "idle" ? { PERCORE_WORKER: idleCore } : {})
  },
  stdio: ["ignore", "ignore", "inherit"]
})
const pid = child.pid!
const samples: Array<{ readonly at: number; readonly rss: number; readonly ticks: number }> = []
for (let s = 0; s <= seconds; s++) {
  if (s > 0) await new Promise((resolve) => setTimeout(resolve, 1000))
  if (child.exitCode !== null) throw new Error(`the service exited with code ${child.exitCode}`)
  samples.push({ at: performance.now(), rss: rssKiB(pid), ticks: cpuTicks(pid) })
}
child.kill("SIGTERM")
await new Promise((resolve) => child.once("exit", resolve))

const last = samples[samples.length - 1]!
const mid = samples[Math.floor(samples.length / 2)]!
const cpuPercent = ((last.ticks - mid.ticks) / ticksPerSecond) / ((last.at - mid.at) / 1000) * 100
const peak = Math.max(...samples.map((s) => s.rss))
const mb = (kib: number): string => (kib / 1024).toFixed(1)
console.log(
  `${mode}, ${cores} core(s), ${seconds} s, ${path.relative(process.cwd(), dir) || "."}: RSS ${mb(last.rss)} MB at the end ` +
    `(peak ${mb(peak)} MB); CPU ${cpuPercent.toFixed(2)} % of one CPU over the last ${((last.at - mid.at) / 1000).toFixed(0)} s`
)
