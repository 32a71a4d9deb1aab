/**
 * Where the CPU went during a jitter window, from Linux's `/proc` (elsewhere every figure is NaN):
 * the machine's busy time (`/proc/stat`), the side's process split into its working thread and the rest of its
 * threads (`/proc/<pid>/task/<tid>/stat`), and the load generator's process. Times are clock ticks of 10 ms
 * (USER_HZ is 100 on Linux x86), so a window of a few seconds resolves to about 1% of a CPU.
 */
import { readdirSync, readFileSync } from "node:fs"
import { readProcStat } from "../../test/support/process.ts"

const TICK_MS = 10

export interface CpuSnapshot {
  readonly at: number
  /** Busy ticks of the whole machine (all CPUs). */
  readonly machine: number
  /** Ticks of the side's working thread. */
  readonly worker: number
  /** Ticks of the side's process, all threads. */
  readonly side: number
  /** Ticks of the load generator's process (0 when there is none). */
  readonly storm: number
}

/** CPU used during a window, in percent of one CPU. */
export interface CpuSplit {
  readonly machine: number
  readonly worker: number
  /** The side's other threads: percore's control plane (main thread, V8 helpers, clock ticker); prom-client's V8 helpers. */
  readonly sideRest: number
  readonly storm: number
  /** Everything else on the machine: other processes, the bench itself, the kernel. */
  readonly other: number
}

const safeRead = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

export interface ThreadInfo {
  readonly tid: number
  /** The thread's name as the kernel keeps it (15 characters at most). */
  readonly name: string
  readonly nice: number
}

/** Every thread of `pid` with its name and nice value (Linux /proc; empty where it cannot be read). */
export const threadsOf = (pid: number): ReadonlyArray<ThreadInfo> => {
  let tids: Array<string>
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return []
  }
  return tids.flatMap((tid) => {
    const stat = readProcStat(`${pid}/task/${tid}`)
    return stat === undefined ? [] : [{ tid: Number(tid), name: stat.comm, nice: stat.nice }]
  })
}

const machineBusy = (): number => {
  const line = safeRead("/proc/stat")?.split("\n")[0]
  if (line === undefined || !line.startsWith("cpu ")) return Number.NaN
  const values = line.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal (guest time is already counted in user).
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0)
  return total - (values[3] ?? 0) - (values[4] ?? 0)
}

const processTicks = (pid: number | undefined): number => (pid === undefined ? undefined : readProcStat(pid))?.ticks ?? Number.NaN

const threadTicks = (pid: number | undefined, isWorker: (tid: number, comm: string) => boolean): number => {
  if (pid === undefined) return Number.NaN
  let tids: Array<string>
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return Number.NaN
  }
  for (const tid of tids) {
    const stat = readProcStat(`${pid}/task/${tid}`)
    if (stat !== undefined && isWorker(Number(tid), stat.comm)) return stat.ticks
  }
  return Number.NaN
}

export const snapshot = (
  sidePid: number | undefined,
  stormPid: number | undefined,
  isWorker: (tid: number, comm: string) => boolean
): CpuSnapshot => ({
  at: performance.now(),
  machine: machineBusy(),
  worker: threadTicks(sidePid, isWorker),
  side: processTicks(sidePid),
  storm: stormPid === undefined ? 0 : processTicks(stormPid)
})

export const split = (before: CpuSnapshot, after: CpuSnapshot): CpuSplit => {
  const wallMs = after.at - before.at
  const pct = (ticks: number): number => (100 * ticks * TICK_MS) / wallMs
  const machine = pct(after.machine - before.machine)
  const worker = pct(after.worker - before.worker)
  const side = pct(after.side - before.side)
  const storm = pct(after.storm - before.storm)
  return { machine, worker, sideRest: side - worker, storm, other: machine - side - storm }
}
