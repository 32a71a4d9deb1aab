/**
 * prom-client's `collectDefaultMetrics()` on percore: the process-wide metrics, under prom-client's names and
 * help texts, collected once for the process on the main thread at each scrape. (Per-thread runtime metrics —
 * heap, event-loop delay, GC per worker — are not part of it yet.)
 */
import { readdirSync, readFileSync } from "node:fs"
import { isMainThread } from "node:worker_threads"
import { Counter, Gauge } from "./metrics.ts"
import type { Registry } from "./registry.ts"

export interface DefaultMetricsCollectorConfiguration {
  /** Prepended to every metric name. */
  readonly prefix?: string
  /** The registry to register in (the global one by default). */
  readonly register?: Registry
}

export const defaultMetricNames: ReadonlyArray<string> = [
  "process_cpu_user_seconds_total",
  "process_cpu_system_seconds_total",
  "process_cpu_seconds_total",
  "process_resident_memory_bytes",
  "process_start_time_seconds",
  "process_open_fds",
  "process_max_fds",
  "nodejs_version_info"
]

const startInSeconds = Math.round(Date.now() / 1000 - process.uptime())

const maxOpenFiles = (): number | undefined => {
  try {
    const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"))
    const limit = Number(line?.split(/  +/)[1])
    return Number.isFinite(limit) ? limit : undefined
  } catch {
    return undefined // no Linux procfs
  }
}

const openFiles = (): number | undefined => {
  try {
    return readdirSync("/proc/self/fd").length - 1 // minus the descriptor readdirSync itself used
  } catch {
    return undefined
  }
}

const collected = new WeakSet<object>()

/**
 * Registers the process metrics once per registry, on the main thread (a call from a worker thread does
 * nothing: the process has one set, and the main thread reports it).
 */
export const collectDefaultMetrics = (config: DefaultMetricsCollectorConfiguration = {}): void => {
  if (!isMainThread) return
  const prefix = config.prefix ?? ""
  const registers = config.register === undefined ? undefined : [config.register]
  const key: object = config.register ?? collected
  if (collected.has(key)) return
  collected.add(key)
  const options = registers === undefined ? {} : { registers }

  let lastCpu = process.cpuUsage()
  const cpuUser = new Counter({ name: `${prefix}process_cpu_user_seconds_total`, help: "Total user CPU time spent in seconds.", ...options,
    // One collect sets the three CPU counters (as prom-client does).
    collect() {
      const cpu = process.cpuUsage()
      const user = (cpu.user - lastCpu.user) / 1e6
      const system = (cpu.system - lastCpu.system) / 1e6
      lastCpu = cpu
      this.inc(user)
      cpuSystem.inc(system)
      cpuTotal.inc(user + system)
    } })
  const cpuSystem = new Counter({ name: `${prefix}process_cpu_system_seconds_total`, help: "Total system CPU time spent in seconds.", ...options })
  const cpuTotal = new Counter({ name: `${prefix}process_cpu_seconds_total`, help: "Total user and system CPU time spent in seconds.", ...options })
  void cpuUser

  new Gauge({ name: `${prefix}process_resident_memory_bytes`, help: "Resident memory size in bytes.", ...options,
    collect() {
      this.set(process.memoryUsage.rss())
    } })
  new Gauge({ name: `${prefix}process_start_time_seconds`, help: "Start time of the process since unix epoch in seconds.", ...options,
    collect() {
      this.set(startInSeconds)
    } })
  if (openFiles() !== undefined) {
    new Gauge({ name: `${prefix}process_open_fds`, help: "Number of open file descriptors.", ...options,
      collect() {
        const open = openFiles()
        if (open !== undefined) this.set(open)
      } })
  }
  const maxFds = maxOpenFiles()
  if (maxFds !== undefined) {
    new Gauge({ name: `${prefix}process_max_fds`, help: "Maximum number of open file descriptors.", ...options,
      collect() {
        this.set(maxFds)
      } })
  }
  const [major, minor, patch] = process.version.slice(1).split(".").map(Number)
  new Gauge({ name: `${prefix}nodejs_version_info`, help: "Node.js version info.", labelNames: ["version", "major", "minor", "patch"],
    aggregator: "first", ...options,
    collect() {
      this.labels(process.version, major ?? 0, minor ?? 0, patch ?? 0).set(1)
    } })
}
