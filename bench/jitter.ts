/**
 * Jitter: does scraping disturb the thread that does the work?
 *
 * A thread runs a fixed unit of work in a loop (~30 µs of integer hashing, `bench/support/jitter-loop.ts`),
 * records every iteration as metrics (a counter increment and a histogram observation) and times every
 * iteration itself (`performance.now()` deltas into a preallocated `Float64Array`). We compare the p50 / p99 /
 * p99.9 iteration time without scraping and during a bounded scrape storm (autocannon, 50 concurrent clients for
 * 10 s against `/metrics` on 127.0.0.1; smoke: 2 clients for 1 s), for:
 *
 * - **percore**: the real service — `node src/main.ts` with `PERCORE_CORES=1` and
 *   `PERCORE_WORKER=bench/support/jitter-core.ts`: the loop runs on the core (a worker thread), recording through
 *   percore handles; the main thread (control plane) serves `/metrics`.
 * - **prom-client**: what users do today — ONE Node thread runs the same loop, records with prom-client, and serves
 *   `register.metrics()` from an HTTP server on the same thread (`bench/support/jitter-promclient.ts`).
 * - **reference**: the same loop alone in a process, no metrics, no server, no scraping
 *   (`bench/support/jitter-reference.ts`): what the machine by itself does to a busy thread.
 *
 * Both loops yield to the event loop (`setImmediate`) every `yieldEvery` iterations (default 32, ~1 ms): the
 * prom-client thread must, to serve; the percore core does the same so both run identical loop code.
 *
 * Method: each side runs as its own process (the bench's thread only orchestrates and sleeps); one side at a time
 * (both busy loops at once would fight over the 2 CPUs). Within one process, no-storm and storm windows alternate
 * for `rounds` rounds (Q S, S Q, Q S, ...), after a warm-up and with a settle gap after each storm. The process
 * keeps every iteration's `[epoch ms, iteration ms]`; at the end it writes them to a file and the bench cuts the
 * windows out by wall-clock time (the storm window is the storm process's own start→end). Per window: p50, p99,
 * p99.9; per row: median / min / max over the rounds.
 *
 * The load generator competes for the same 2 CPUs; it runs in its own process under `nice -n 19` (override with
 * `JITTER_STORM_NICE=0..19`; 0 runs it at normal priority, the smoke run's default), as a Prometheus on another
 * host would not take this host's CPU. It still takes whatever CPU the system under test leaves idle.
 *
 * Where the CPU went in each window is read from Linux's /proc (`bench/support/jitter-proc.ts`): the working
 * thread, the rest of its process, the load generator, and everything else on the machine; windows where other
 * processes took more than 15% of a CPU are counted in a WARNING note. The working thread's own CPU share
 * (`process.threadCpuUsage()` at every yield) says how much it was preempted.
 *
 * `JITTER_DEBUG=1` logs each phase to stderr. `JITTER_CONTROL_PLANE_NICE=N` runs percore with
 * `PERCORE_CONTROL_PLANE_NICE=N` (default: percore's own default, 10; 0 = the control plane at the cores' priority),
 * to see what the lower-priority control plane buys. The notes report the nice value the control-plane thread and
 * the core thread actually ran at (from /proc).
 *
 * Clean-up: every child is tracked and SIGKILLed on the way out (finally, process exit, SIGINT/SIGTERM in CLI mode);
 * if the bench itself is SIGKILLed, the storm process exits when its stdin closes and each side stops on its own at
 * `JITTER_DEADLINE` (1.5× its planned time + 15 s).
 *
 * Run: `npm exec -- node bench/jitter.ts [--smoke] [--rounds N]`.
 */
import type { ChildProcess } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import process from "node:process"
import { fileURLToPath } from "node:url"
import { type Child, findFreePort, getText, killAllChildren, startChild } from "../test/support/process.ts"
import type { BenchmarkOptions, BenchmarkResult, Ratio, ResultRow } from "./harness.ts"
import { median } from "./harness.ts"
import { readSamples } from "./support/jitter-loop.ts"
import { type CpuSplit, snapshot, split, threadsOf } from "./support/jitter-proc.ts"

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(benchDir, "..")
const CORE_MODULE = path.join(benchDir, "support", "jitter-core.ts")
const PROM_SCRIPT = path.join(benchDir, "support", "jitter-promclient.ts")
const REFERENCE_SCRIPT = path.join(benchDir, "support", "jitter-reference.ts")
const STORM_SCRIPT = path.join(benchDir, "support", "jitter-storm.ts")
const MAIN = path.join(root, "src", "main.ts")

/** Target: percore's p99 under the storm is at most this times its p99 without scraping. */
export const JITTER_P99_RATIO_TARGET = 1.1

interface Plan {
  readonly rounds: number
  readonly warmupMs: number
  readonly quietMs: number
  /** Length of each of the reference's windows (no storm windows there). */
  readonly referenceMs: number
  readonly stormSeconds: number
  readonly connections: number
  readonly settleMs: number
  readonly steps: number
  readonly yieldEvery: number
  readonly nice: number
  /** JITTER_CONTROL_PLANE_NICE: percore's PERCORE_CONTROL_PLANE_NICE (undefined: percore's default). */
  readonly controlPlaneNice: number | undefined
}

const makePlan = (options: BenchmarkOptions): Plan => {
  // Smoke runs check the results' shape only: their storm runs at normal priority unless told otherwise, since a
  // storm at nice 19 gets next to no CPU on a 2-CPU machine that other tests keep busy (it then misses its deadline).
  const defaultNice = options.smoke ? 0 : 19
  const envNice = Number(process.env["JITTER_STORM_NICE"] ?? defaultNice)
  const nice = Number.isInteger(envNice) && envNice >= 0 && envNice <= 19 ? envNice : defaultNice
  const envCp = process.env["JITTER_CONTROL_PLANE_NICE"]
  const controlPlaneNice = envCp === undefined || envCp === "" || !Number.isInteger(Number(envCp)) ? undefined : Math.min(19, Math.max(0, Number(envCp)))
  const base = { nice, controlPlaneNice }
  return options.smoke
    ? { ...base, rounds: options.rounds ?? 1, warmupMs: 500, quietMs: 600, referenceMs: 600, stormSeconds: 1, connections: 2, settleMs: 150, steps: 10_000, yieldEvery: 32 }
    : { ...base, rounds: options.rounds ?? 3, warmupMs: 1000, quietMs: 2000, referenceMs: 1500, stormSeconds: 10, connections: 50, settleMs: 250, steps: 10_000, yieldEvery: 32 }
}

// ─── child processes: every one tracked, every one killed on the way out ────────────────────────────

// Children come from test/support/process.ts (tracked there, SIGKILLed by `killAllChildren`); the bench adds its
// temporary directories.
const liveDirs = new Set<string>()
/** Kills every child still running and removes the temporary directories (also on the way out of the process). */
const killAll = (): void => {
  killAllChildren()
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true })
  liveDirs.clear()
}

const isRunning = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null

const startSideChild = (label: string, command: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, stdin: "pipe" | "ignore" = "ignore"): Child =>
  startChild(label, command, args, { cwd: root, env, stdin })

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const epoch = (): number => performance.timeOrigin + performance.now()

const within = async <A>(promise: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
      })
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** GET without keep-alive (no socket outlives the request). Resolves status 0 on a connection error. */
const get = (url: string): Promise<{ readonly status: number; readonly body: string }> =>
  getText(url).catch(() => ({ status: 0, body: "" }))

const waitUntil = async (child: Child, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await ready())) {
    if (!isRunning(child.process)) throw new Error(`${child.name} exited before it was ready:\n${child.describe()}`)
    if (Date.now() > deadline) throw new Error(`${child.name} not ready within ${timeoutMs} ms:\n${child.describe()}`)
    await sleep(50)
  }
}

const parseJson = (line: string): unknown => {
  try {
    return JSON.parse(line)
  } catch {
    return undefined
  }
}

const hasType = (type: string) => (line: string): boolean => {
  const value = parseJson(line)
  return typeof value === "object" && value !== null && "type" in value && value.type === type
}

// ─── the storm ───────────────────────────────────────────────────────────────────────────────────

interface Storm {
  readonly start: number
  readonly end: number
  readonly requests: number
  readonly ok: number
  readonly busy: number
  readonly non2xx: number
  readonly errors: number
  readonly timeouts: number
  readonly latencyP99Ms: number
}

const niceBinary = (): string | undefined => ["/usr/bin/nice", "/bin/nice"].find((p) => existsSync(p))

const isStorm = (u: unknown): u is Storm =>
  typeof u === "object" && u !== null && "type" in u && u.type === "done" &&
  ["start", "end", "requests", "ok", "busy", "non2xx", "errors", "timeouts", "latencyP99Ms"].every((k) => typeof (u as Record<string, unknown>)[k] === "number")

/** The load generator: one process per side, started before the warm-up, one storm per `go`. */
const startStormer = async (url: string, plan: Plan): Promise<Child> => {
  const env = {
    ...process.env,
    JITTER_STORM_URL: url,
    JITTER_STORM_CONNECTIONS: String(plan.connections),
    JITTER_STORM_SECONDS: String(plan.stormSeconds)
  }
  const nice = plan.nice > 0 ? niceBinary() : undefined
  const child = nice === undefined
    ? startSideChild("storm", process.execPath, [STORM_SCRIPT], env, "pipe")
    : startSideChild("storm", nice, ["-n", String(plan.nice), process.execPath, STORM_SCRIPT], env, "pipe")
  await child.nextLine(hasType("ready"), 30_000)
  return child
}

const storm = async (stormer: Child, plan: Plan): Promise<Storm> => {
  const done = stormer.nextLine(hasType("done"), plan.stormSeconds * 1000 + 30_000)
  stormer.process.stdin?.write("go\n")
  const parsed = parseJson(await done)
  if (!isStorm(parsed)) throw new Error(`scrape storm: unexpected result:\n${stormer.describe()}`)
  return parsed
}

// ─── one side: a process, its windows, its samples ──────────────────────────────────────────────

type SideName = "percore" | "prom-client" | "reference"
type PhaseKind = "quiet" | "storm"

interface Window {
  readonly kind: PhaseKind
  readonly round: number
  readonly start: number
  readonly end: number
  readonly cpu: CpuSplit
  readonly storm?: Storm
  /** `GET /metrics` right after the storm (in the settle gap): status and the start of the body when not 200. */
  readonly after?: string
}

interface WindowStats {
  readonly kind: PhaseKind
  readonly round: number
  readonly iterations: number
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  readonly seconds: number
  /** CPU time the working thread got / wall time, over the window (1 = a whole CPU). */
  readonly cpuShare: number
  readonly cpu: CpuSplit
  readonly storm?: Storm
  readonly after?: string
}

interface SideRun {
  readonly side: SideName
  readonly windows: ReadonlyArray<WindowStats>
  /** `jitter_iterations_total` as the side's own /metrics showed it after the last window. */
  readonly scrapedIterations: number
  /** Problems seen: a /metrics that did not answer 200 after a storm or at the end, warnings in the side's output. */
  readonly problems: ReadonlyArray<string>
  /** percore: the nice values its threads ran at, e.g. "control plane 10, core 0" (Linux; undefined elsewhere). */
  readonly priorities?: string | undefined
}

const plannedSeconds = (plan: Plan): number =>
  (plan.warmupMs + plan.rounds * (plan.quietMs + plan.stormSeconds * 1000 + 2 * plan.settleMs + 1000)) / 1000 + 10

const sideEnv = (plan: Plan, out: string): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("PERCORE_") && !key.startsWith("JITTER_")) env[key] = value
  const seconds = plannedSeconds(plan)
  return {
    ...env,
    JITTER_OUT: out,
    JITTER_STEPS: String(plan.steps),
    JITTER_YIELD_EVERY: String(plan.yieldEvery),
    // Room for every iteration at ≥ 10 µs each, at most 2^22 pairs (64 MiB).
    JITTER_CAPACITY: String(Math.min(2 ** 22, Math.max(2 ** 16, Math.ceil(seconds * 100_000)))),
    // If the bench dies without stopping it, the side stops on its own after this.
    JITTER_DEADLINE: String(Date.now() + (seconds * 1.5 + 15) * 1000)
  }
}

const percentile = (sorted: Float64Array, p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!

/** Index of the first pair whose time is ≥ t (pairs sorted by time). */
const firstAtOrAfter = (pairs: Float64Array, t: number): number => {
  let lo = 0
  let hi = pairs.length >> 1
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (pairs[mid * 2]! < t) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Thread CPU µs / wall µs between the first and the last yield inside the window; NaN if too few. */
const cpuShare = (cpu: Float64Array, window: Window): number => {
  const a = firstAtOrAfter(cpu, window.start)
  const b = firstAtOrAfter(cpu, window.end) - 1
  if (b <= a) return Number.NaN
  return (cpu[b * 2 + 1]! - cpu[a * 2 + 1]!) / ((cpu[b * 2]! - cpu[a * 2]!) * 1000)
}

/**
 * `samples` are chronological `[epochMs, iterationMs]` pairs; the window's iterations are those that ended inside
 * it. `cpu`: `[epochMs, thread CPU µs]` at every yield.
 */
const cut = (samples: Float64Array, cpu: Float64Array, window: Window, side: SideName): WindowStats => {
  const pairs = samples.length >> 1
  const first = samples[0]
  const last = samples[(pairs - 1) * 2]
  if (pairs === 0 || first === undefined || last === undefined || first > window.start || last < window.end) {
    throw new Error(
      `${side}: the samples (${pairs} iterations, ${first ?? "?"}..${last ?? "?"}) do not cover the ${window.kind} window ` +
        `${window.start}..${window.end} of round ${window.round}`
    )
  }
  const times: Array<number> = []
  for (let i = firstAtOrAfter(samples, window.start); i < pairs && samples[i * 2]! <= window.end; i++) times.push(samples[i * 2 + 1]! * 1000)
  const sorted = Float64Array.from(times).sort()
  if (sorted.length === 0) throw new Error(`${side}: no iteration ended in the ${window.kind} window of round ${window.round}`)
  return {
    kind: window.kind,
    round: window.round,
    iterations: sorted.length,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    p999: percentile(sorted, 0.999),
    max: sorted[sorted.length - 1]!,
    seconds: (window.end - window.start) / 1000,
    cpuShare: cpuShare(cpu, window),
    cpu: window.cpu,
    ...(window.storm === undefined ? {} : { storm: window.storm }),
    ...(window.after === undefined ? {} : { after: window.after })
  }
}

const scrapedCounter = (text: string): number => {
  const match = /^jitter_iterations_total(?:\{[^}]*\})? (\S+)/m.exec(text)
  return match === null ? Number.NaN : Number(match[1])
}

/** The nice values of percore's control-plane thread (thread id = pid) and core threads, from /proc (Linux). */
const prioritiesOf = (pid: number): string | undefined => {
  const threads = threadsOf(pid)
  const main = threads.find((t) => t.tid === pid)
  if (main === undefined) return undefined
  const cores = threads.filter((t) => t.name.startsWith("percore-core")).map((t) => t.nice)
  return `control plane ${main.nice}, core ${cores.join("/")}`
}

const debug = process.env["JITTER_DEBUG"] === "1"
  ? (message: string): void => void process.stderr.write(`[jitter ${(performance.now() / 1000).toFixed(2)} s] ${message}\n`)
  : (): void => {}

const runSide = async (side: SideName, plan: Plan, dir: string): Promise<SideRun> => {
  debug(`${side}: starting`)
  const out = path.join(dir, `${side}.f64`)
  const env = sideEnv(plan, out)
  let child: Child | undefined
  let stormer: Child | undefined
  try {
    let base: string | undefined
    let priorities: string | undefined
    if (side === "percore") {
      const port = await findFreePort()
      child = startSideChild(side, process.execPath, [MAIN], {
        ...env,
        PERCORE_HOST: "127.0.0.1",
        PERCORE_PORT: String(port),
        PERCORE_CORES: "1",
        PERCORE_WORKER: CORE_MODULE,
        ...(plan.controlPlaneNice === undefined ? {} : { PERCORE_CONTROL_PLANE_NICE: String(plan.controlPlaneNice) })
      })
      base = `http://127.0.0.1:${port}`
      const target = child
      await waitUntil(target, async () => (await get(`${base}/readyz`)).status === 200, 30_000)
      if (target.process.pid !== undefined) priorities = prioritiesOf(target.process.pid)
    } else if (side === "reference") {
      child = startSideChild(side, process.execPath, [REFERENCE_SCRIPT], env)
      await child.nextLine(hasType("started"), 30_000)
    } else {
      child = startSideChild(side, process.execPath, [PROM_SCRIPT], env)
      const listening = parseJson(await child.nextLine(hasType("listening"), 30_000))
      const port = typeof listening === "object" && listening !== null && "port" in listening ? Number(listening.port) : Number.NaN
      if (!Number.isInteger(port)) throw new Error(`${side}: no port:\n${child.describe()}`)
      base = `http://127.0.0.1:${port}`
    }
    debug(`${side}: ready`)
    // The load generator starts (and loads autocannon) during the warm-up, outside every window.
    const [started] = await Promise.all([base === undefined ? undefined : startStormer(`${base}/metrics`, plan), sleep(plan.warmupMs)])
    stormer = started
    const sidePid = child.process.pid
    const stormPid = stormer?.process.pid
    const isWorker = side === "percore"
      ? (_tid: number, comm: string) => comm.startsWith("percore-core")
      : (tid: number) => tid === sidePid
    const cpuSnapshot = () => snapshot(sidePid, stormPid, isWorker)
    const windows: Array<Window> = []
    for (let round = 0; round < plan.rounds; round++) {
      const order: ReadonlyArray<PhaseKind> = stormer === undefined ? ["quiet"] : round % 2 === 0 ? ["quiet", "storm"] : ["storm", "quiet"]
      for (const kind of order) {
        const before = cpuSnapshot()
        if (kind === "quiet") {
          const start = epoch()
          await sleep(side === "reference" ? plan.referenceMs : plan.quietMs)
          windows.push({ kind, round, start, end: epoch(), cpu: split(before, cpuSnapshot()) })
        } else if (stormer !== undefined && base !== undefined) {
          const result = await storm(stormer, plan)
          const cpu = split(before, cpuSnapshot())
          const check = await get(`${base}/metrics`)
          const after = check.status === 200 ? "200" : `${check.status} ${JSON.stringify(check.body.slice(0, 120))}`
          windows.push({ kind, round, start: result.start, end: result.end, cpu, storm: result, after })
        }
        debug(`${side}: round ${round} ${kind} done`)
        if (kind === "storm") await sleep(plan.settleMs)
      }
    }
    stormer?.process.stdin?.end()
    const metrics = base === undefined ? undefined : await get(`${base}/metrics`)
    const scrapedIterations = metrics?.status === 200 ? scrapedCounter(metrics.body) : Number.NaN
    const problems: Array<string> = []
    for (const w of windows) {
      if (w.after !== undefined && w.after !== "200") problems.push(`GET /metrics after the round-${w.round} storm answered ${w.after}`)
      if (w.storm !== undefined && w.storm.ok === 0) problems.push(`the round-${w.round} storm got no 200 at all (${w.storm.busy} × 503, ${w.storm.errors} errors)`)
    }
    if (metrics !== undefined && metrics.status !== 200) {
      problems.push(`the final GET /metrics answered ${metrics.status} ${JSON.stringify(metrics.body.slice(0, 120))}`)
    }
    child.process.kill("SIGTERM")
    const { code } = await within(child.exit, 20_000, `${side} shutdown`)
    debug(`${side}: exited`)
    if (code !== 0) throw new Error(`${side} exited with ${code}:\n${child.describe()}`)
    const logged = (child.stdout() + child.stderr()).split("\n").filter((l) => /\b(WARN|ERROR|FATAL)\b|Error:/.test(l)).slice(0, 3)
    if (logged.length > 0) problems.push(`its output: ${logged.map((l) => l.trim().slice(0, 200)).join(" | ")}`)
    const { iterations, cpu } = readSamples(readFileSync(out))
    return { side, windows: windows.map((w) => cut(iterations, cpu, w, side)), scrapedIterations, problems, priorities }
  } finally {
    for (const c of [stormer, child]) if (c !== undefined && isRunning(c.process)) c.process.kill("SIGKILL")
  }
}

// ─── the benchmark ───────────────────────────────────────────────────────────────────────────────

const round1 = (n: number): number => Math.round(n * 10) / 10

const describeRow = (run: SideRun, kind: PhaseKind, plan: Plan): ResultRow => {
  const windows = run.windows.filter((w) => w.kind === kind)
  const p99 = windows.map((w) => w.p99)
  const p999 = windows.map((w) => w.p999)
  const storms = windows.flatMap((w) => (w.storm === undefined ? [] : [w.storm]))
  const stormSeconds = windows.reduce((s, w) => s + w.seconds, 0)
  const label = run.side === "percore"
    ? "percore core (worker), /metrics on the main thread"
    : run.side === "prom-client"
    ? "prom-client, work + /metrics on one thread"
    : "reference: the same loop alone, no metrics, no server"
  const what = kind === "quiet" ? "no scraping" : `scrape storm (${plan.connections} clients × ${plan.stormSeconds} s)`
  return {
    name: run.side === "reference" ? label : `${label} — ${what}`,
    unit: "µs",
    median: median(p99),
    min: Math.min(...p99),
    max: Math.max(...p99),
    detail: {
      p50: round1(median(windows.map((w) => w.p50))),
      p99_9: round1(median(p999)),
      p99_9_min: round1(Math.min(...p999)),
      p99_9_max: round1(Math.max(...p999)),
      maxIteration: round1(median(windows.map((w) => w.max))),
      iterationsPerWindow: median(windows.map((w) => w.iterations)),
      rounds: windows.length,
      perRoundP99: p99.map((v) => v.toFixed(1)).join(" / "),
      workThreadCpuPercent: round1(100 * median(windows.map((w) => w.cpuShare))),
      perRoundCpuPercent: windows.map((w) => (100 * w.cpuShare).toFixed(1)).join(" / "),
      // Where the machine's CPU went (percent of one CPU; the machine has os.availableParallelism() × 100).
      cpuMachine: round1(median(windows.map((w) => w.cpu.machine))),
      cpuWorkingThread: round1(median(windows.map((w) => w.cpu.worker))),
      cpuSideOtherThreads: round1(median(windows.map((w) => w.cpu.sideRest))),
      cpuLoadGenerator: round1(median(windows.map((w) => w.cpu.storm))),
      cpuOtherProcesses: round1(median(windows.map((w) => w.cpu.other))),
      perRoundCpuOtherProcesses: windows.map((w) => w.cpu.other.toFixed(0)).join(" / "),
      ...(storms.length === 0 ? {} : {
        scrapes200PerSecond: Math.round(storms.reduce((s, x) => s + x.ok, 0) / stormSeconds),
        scrapes503PerSecond: Math.round(storms.reduce((s, x) => s + x.busy, 0) / stormSeconds),
        otherNon2xx: storms.reduce((s, x) => s + x.non2xx - x.busy, 0),
        errors: storms.reduce((s, x) => s + x.errors, 0),
        timeouts: storms.reduce((s, x) => s + x.timeouts, 0),
        scrapeLatencyP99Ms: median(storms.map((x) => x.latencyP99Ms)),
        perRoundScrapes200PerSecond: windows.map((w) => (w.storm === undefined ? "?" : Math.round(w.storm.ok / w.seconds))).join(" / "),
        perRoundScrapes503PerSecond: windows.map((w) => (w.storm === undefined ? "?" : Math.round(w.storm.busy / w.seconds))).join(" / "),
        metricsStatusAfterStorm: windows.map((w) => w.after ?? "?").join(" / ")
      })
    }
  }
}

export const jitterBench = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const plan = makePlan(options)
  const dir = mkdtempSync(path.join(os.tmpdir(), "percore-jitter-"))
  liveDirs.add(dir)
  const loadBefore = os.loadavg()
  const started = performance.now()
  process.on("exit", killAll)
  let runs: Array<SideRun>
  try {
    runs = []
    for (const side of ["reference", "percore", "prom-client"] as const) runs.push(await runSide(side, plan, dir))
  } finally {
    killAll()
    process.off("exit", killAll)
  }
  const wallSeconds = (performance.now() - started) / 1000
  const loadAfter = os.loadavg()
  const [reference, percore, prom] = runs as [SideRun, SideRun, SideRun]
  const rows = [
    describeRow(percore, "quiet", plan),
    describeRow(percore, "storm", plan),
    describeRow(prom, "quiet", plan),
    describeRow(prom, "storm", plan),
    describeRow(reference, "quiet", plan)
  ]
  const [pq, ps, cq, cs, ref] = rows as [ResultRow, ResultRow, ResultRow, ResultRow, ResultRow]
  const p999 = (row: ResultRow): number => Number(row.detail?.["p99_9"])
  const percoreRatio = ps.median / pq.median
  const ratios: Array<Ratio> = [
    { name: "percore p99: storm / no scraping", value: percoreRatio, target: JITTER_P99_RATIO_TARGET, met: percoreRatio <= JITTER_P99_RATIO_TARGET },
    { name: "prom-client p99: storm / no scraping", value: cs.median / cq.median },
    { name: "percore p99.9: storm / no scraping", value: p999(ps) / p999(pq) },
    { name: "prom-client p99.9: storm / no scraping", value: p999(cs) / p999(cq) },
    { name: "p99 under the storm: prom-client / percore", value: cs.median / ps.median },
    { name: "percore p99, no scraping / reference p99", value: pq.median / ref.median },
    { name: "percore p99, storm / reference p99", value: ps.median / ref.median }
  ]
  const perRound = (run: SideRun): string =>
    Array.from({ length: plan.rounds }, (_, r) => {
      const q = run.windows.find((w) => w.round === r && w.kind === "quiet")
      const s = run.windows.find((w) => w.round === r && w.kind === "storm")
      return q === undefined || s === undefined ? "?" : (s.p99 / q.p99).toFixed(2)
    }).join(", ")
  const stormDetail = (row: ResultRow): string =>
    `${row.detail?.["scrapes200PerSecond"]} scrapes/s answered 200, ${row.detail?.["scrapes503PerSecond"]}/s 503, ` +
    `${row.detail?.["errors"]} errors, scrape latency p99 ${row.detail?.["scrapeLatencyP99Ms"]} ms (per round: 200/s ${row.detail?.["perRoundScrapes200PerSecond"]}; ` +
    `503/s ${row.detail?.["perRoundScrapes503PerSecond"]})`
  const cpuNote = (row: ResultRow): string => `${row.detail?.["workThreadCpuPercent"]}% (${row.detail?.["perRoundCpuPercent"]})`
  const whereNote = (row: ResultRow): string =>
    `machine ${row.detail?.["cpuMachine"]}%: working thread ${row.detail?.["cpuWorkingThread"]}, its process's other threads ` +
    `${row.detail?.["cpuSideOtherThreads"]}, load generator ${row.detail?.["cpuLoadGenerator"]}, everything else ${row.detail?.["cpuOtherProcesses"]} ` +
    `(per round ${row.detail?.["perRoundCpuOtherProcesses"]})`
  const fmtLoad = (l: ReadonlyArray<number>): string => l.map((x) => x.toFixed(2)).join(" / ")
  const others = runs.flatMap((r) => r.windows.map((w) => w.cpu.other)).filter(Number.isFinite)
  const contaminated = others.filter((o) => o > 15).length
  const problems = runs.flatMap((r) => r.problems.map((p) => `${r.side}: ${p}`))
  const notes = [
    ...(problems.length === 0 ? [] : [`PROBLEMS: ${problems.join("; ")}.`]),
    ...(contaminated === 0 ? [] : [
      `WARNING: in ${contaminated} of ${others.length} windows other processes used more than 15% of a CPU (median over all windows ` +
      `${median(others).toFixed(0)}%, max ${Math.max(...others).toFixed(0)}%): on ${os.availableParallelism()} CPUs this preempts the measured threads; ` +
      `see "Where the CPU went" and rerun on a quiet machine.`
    ]),
    `${options.smoke ? "SMOKE sizes (numbers meaningless): " : ""}${plan.rounds} round(s) per side, windows alternating no-storm/storm (Q S, S Q, …); ` +
      `no-storm windows ${plan.quietMs / 1000} s, storm windows ${plan.stormSeconds} s (${plan.connections} concurrent autocannon clients on /metrics, 127.0.0.1), ` +
      `${plan.warmupMs / 1000} s warm-up, ${plan.settleMs / 1000} s settle gap after each storm; the reference: ${plan.rounds} windows of ${plan.referenceMs / 1000} s. Rows: median (min–max) over the rounds of each window's p99; ` +
      `p50 and p99.9 (medians) in the JSON detail.`,
    `Work unit: ${plan.steps} steps of 32-bit integer mixing per iteration, plus one counter inc + one histogram observe; ` +
      `both loops yield with setImmediate every ${plan.yieldEvery} iterations and an iteration's time includes any yield. ` +
      `p50 no scraping: percore ${pq.detail?.["p50"]} µs, prom-client ${cq.detail?.["p50"]} µs, reference ${ref.detail?.["p50"]} µs. ` +
      `The reference runs the same loop (same yields) with no metrics and no server, in its own process, before the two sides: ` +
      `its p99 is what this machine does to a busy thread by itself.`,
    `percore: the real process (node src/main.ts, PERCORE_CORES=1, PERCORE_WORKER=bench/support/jitter-core.ts, ` +
      `${plan.controlPlaneNice === undefined ? "default settings" : `PERCORE_CONTROL_PLANE_NICE=${plan.controlPlaneNice} (JITTER_CONTROL_PLANE_NICE), otherwise default settings`} incl. ` +
      `PERCORE_MAX_SCRAPES_IN_FLIGHT=8; thread priorities (nice): ${percore.priorities ?? "not read (not Linux)"}). prom-client: one thread doing the work and serving register.metrics() (bench/support/jitter-promclient.ts). ` +
      `One side at a time, each its own process; the bench's thread only sleeps during windows.`,
    `Load generator: autocannon in its own process (one per side, started during the warm-up; one storm per round) ${plan.nice > 0 && niceBinary() !== undefined ? `under nice -n ${plan.nice}` : "at normal priority"} ` +
      `(it still takes whatever CPU the side leaves idle; JITTER_STORM_NICE=0 runs it at normal priority). ` +
      `Storm, percore: ${stormDetail(ps)}. Storm, prom-client: ${stormDetail(cs)}.`,
    `Per-round p99 ratios (storm / no scraping): percore ${perRound(percore)}; prom-client ${perRound(prom)}. ` +
      `jitter_iterations_total read from each side's /metrics after the last window: percore ${percore.scrapedIterations}, prom-client ${prom.scrapedIterations}.`,
    `CPU the working thread got (thread CPU time / wall time, median and per round): percore no scraping ${cpuNote(pq)}, storm ${cpuNote(ps)}; ` +
      `prom-client no scraping ${cpuNote(cq)}, storm ${cpuNote(cs)}. Below 100%: the thread was preempted (by its own process's other threads, the ` +
      `load generator, or other work on the machine).`,
    `Where the CPU went (/proc, medians, % of one CPU; ${os.availableParallelism()}00% in all): percore no scraping: ${whereNote(pq)}; ` +
      `percore storm: ${whereNote(ps)}; prom-client no scraping: ${whereNote(cq)}; prom-client storm: ${whereNote(cs)}; reference: ${whereNote(ref)}.`,
    `Machine: ${os.availableParallelism()} CPUs, load average (1/5/15 min) ${fmtLoad(loadBefore)} before, ${fmtLoad(loadAfter)} after; ` +
      `the machine is shared, so other work can land in any window. Took ${wallSeconds.toFixed(1)} s.`
  ]
  return { benchmark: "jitter", title: "Jitter: iteration time of a working thread, without and with a scrape storm", rows, ratios, notes }
}

if (import.meta.main) {
  const argv = process.argv.slice(2)
  const smoke = argv.includes("--smoke")
  const roundsAt = argv.findIndex((a) => a === "--rounds")
  const rounds = roundsAt === -1 ? undefined : Number(argv[roundsAt + 1])
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds >= 1)) throw new Error("--rounds needs a positive integer")
  const stop = (): void => {
    killAll()
    process.exit(130)
  }
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
  // Loaded here, not at the top: run.ts imports this module to register the benchmark.
  const { formatResult } = await import("./run.ts")
  const result = await jitterBench(rounds === undefined ? { smoke } : { smoke, rounds })
  console.log(formatResult(result))
  process.exit(0)
}
