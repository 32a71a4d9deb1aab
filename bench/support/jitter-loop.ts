/**
 * The jitter benchmark's work loop, shared by both sides so they run the very same code:
 * - `bench/support/jitter-core.ts` — a percore core (worker thread of the real `src/main.ts` process);
 * - `bench/support/jitter-promclient.ts` — one Node thread doing the work AND serving prom-client's `/metrics`.
 *
 * Each iteration runs a fixed, deterministic unit of work (`work(seed, steps)`: integer hash mixing, ~3 ns per
 * step, so the default 10,000 steps take ~30 µs on the reference machine), records itself as metrics through the
 * side's handles (`record(dtMs)`: a counter increment and a histogram observation of the previous iteration's
 * time), reads `performance.now()` once and stores `[epoch ms, iteration ms]` in a preallocated `Float64Array`
 * (a ring: when full, the oldest pairs are overwritten). An iteration's time is the delta between two consecutive
 * clock reads, so it includes everything that happened in between: the work, the metric calls, and, every
 * `yieldEvery` iterations, a `setImmediate` turn of the event loop (timers, I/O, an HTTP request to serve).
 *
 * At every yield the loop also notes the thread's own CPU time (`process.threadCpuUsage()`, one `getrusage` per
 * yield): `[epoch ms, thread CPU µs]` pairs, from which the bench computes the share of a CPU the thread got in a
 * window (below 100%: it was preempted — by the other threads of its process, the load generator, or other work).
 *
 * Nothing on the loop allocates besides the yield's promise and the CPU-usage object (one each per `yieldEvery`
 * iterations).
 *
 * The settings come from the environment (the bench process sets them; worker threads inherit it):
 *   JITTER_OUT          file the samples are written to when the loop ends (raw little-endian float64 pairs)
 *   JITTER_STEPS        work steps per iteration (default 10000)
 *   JITTER_YIELD_EVERY  iterations between two event-loop turns (default 32)
 *   JITTER_CAPACITY     pairs kept (rounded up to a power of two, default 2^20)
 *   JITTER_DEADLINE     epoch ms after which the loop stops on its own (a bound if the bench dies)
 */
import { writeFileSync } from "node:fs"
import process from "node:process"

export interface LoopSettings {
  readonly out: string
  readonly steps: number
  readonly yieldEvery: number
  readonly capacity: number
  readonly deadlineEpochMs: number
}

/** A ring of `[epochMs, value]` pairs; when more than `capacity` were written only the last `capacity` are kept. */
export interface PairRing {
  readonly data: Float64Array
  readonly capacity: number
  readonly count: number
}

export interface LoopOutcome {
  /** `[epochMs, iterationMs]` per iteration. */
  readonly iterations: PairRing
  /** `[epochMs, thread CPU µs]` per yield. */
  readonly cpu: PairRing
  /** The work's result, so it cannot be optimised away. */
  readonly checksum: number
  /** True when the loop stopped because `JITTER_DEADLINE` passed (rather than being asked to stop). */
  readonly deadlineHit: boolean
}

const positiveInt = (value: string | undefined, fallback: number, name: string): number => {
  if (value === undefined || value === "") return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${value}`)
  return n
}

const nextPowerOfTwo = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(2, n)))

export const readLoopSettings = (env: NodeJS.ProcessEnv = process.env): LoopSettings => {
  const out = env["JITTER_OUT"]
  if (out === undefined || out === "") throw new Error("JITTER_OUT (the samples file) is not set")
  const deadline = Number(env["JITTER_DEADLINE"] ?? Number.NaN)
  return {
    out,
    steps: positiveInt(env["JITTER_STEPS"], 10_000, "JITTER_STEPS"),
    yieldEvery: positiveInt(env["JITTER_YIELD_EVERY"], 32, "JITTER_YIELD_EVERY"),
    capacity: nextPowerOfTwo(positiveInt(env["JITTER_CAPACITY"], 2 ** 20, "JITTER_CAPACITY")),
    // Without a deadline from the bench, stop on our own after 10 minutes at most.
    deadlineEpochMs: Number.isFinite(deadline) ? deadline : Date.now() + 600_000
  }
}

/** The fixed unit of work: `steps` rounds of a 32-bit integer mixer (murmur3's finalizer, chained). */
export const work = (seed: number, steps: number): number => {
  let x = seed | 0
  for (let i = 0; i < steps; i++) {
    x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d)
    x = Math.imul(x ^ (x >>> 12), 0x297a2d39)
    x ^= x >>> 15
  }
  return x
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * Runs the loop until `shouldStop()` (checked at every yield) or the deadline. `record(dtMs)` is the side's
 * metrics: called once per iteration with the previous iteration's time in milliseconds.
 */
export const runLoop = async (
  settings: LoopSettings,
  record: (previousIterationMs: number) => void,
  shouldStop: () => boolean
): Promise<LoopOutcome> => {
  const { steps, yieldEvery, capacity, deadlineEpochMs } = settings
  const mask = capacity - 1
  const data = new Float64Array(capacity * 2)
  const cpuCapacity = Math.max(1024, capacity >> 3)
  const cpuMask = cpuCapacity - 1
  const cpu = new Float64Array(cpuCapacity * 2)
  let cpuCount = 0
  const origin = performance.timeOrigin
  let count = 0
  let checksum = 0
  let lastDt = 0
  let deadlineHit = false
  let previous = performance.now()
  for (;;) {
    for (let k = 0; k < yieldEvery; k++) {
      checksum = (checksum + work(count, steps)) | 0
      record(lastDt)
      const now = performance.now()
      const dt = now - previous
      previous = now
      const slot = (count & mask) << 1
      data[slot] = origin + now
      data[slot + 1] = dt
      count++
      lastDt = dt
    }
    const usage = process.threadCpuUsage()
    const cpuSlot = (cpuCount & cpuMask) << 1
    cpu[cpuSlot] = origin + performance.now()
    cpu[cpuSlot + 1] = usage.user + usage.system
    cpuCount++
    if (shouldStop()) break
    if (cpu[cpuSlot]! > deadlineEpochMs) {
      deadlineHit = true
      break
    }
    await yieldToEventLoop()
  }
  return {
    iterations: { data, capacity, count },
    cpu: { data: cpu, capacity: cpuCapacity, count: cpuCount },
    checksum,
    deadlineHit
  }
}

const ordered = ({ data, capacity, count }: PairRing): Float64Array => {
  if (count <= capacity) return data.subarray(0, count * 2)
  const split = (count & (capacity - 1)) * 2
  const out = new Float64Array(capacity * 2)
  out.set(data.subarray(split), 0)
  out.set(data.subarray(0, split), data.length - split)
  return out
}

/**
 * Writes the samples as raw float64 (platform byte order: the reader is on the same machine):
 * `[iteration pairs n, cpu pairs m, n × (epochMs, iterationMs), m × (epochMs, cpuMicros)]`, oldest first.
 */
export const writeSamples = (path: string, outcome: LoopOutcome): void => {
  const iterations = ordered(outcome.iterations)
  const cpu = ordered(outcome.cpu)
  const file = new Float64Array(2 + iterations.length + cpu.length)
  file[0] = iterations.length / 2
  file[1] = cpu.length / 2
  file.set(iterations, 2)
  file.set(cpu, 2 + iterations.length)
  writeFileSync(path, new Uint8Array(file.buffer))
}

/** Reads what `writeSamples` wrote. */
export const readSamples = (bytes: Uint8Array): { readonly iterations: Float64Array; readonly cpu: Float64Array } => {
  const file = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
  const n = file[0] ?? 0
  const m = file[1] ?? 0
  if (file.length !== 2 + 2 * n + 2 * m) throw new Error(`samples file: ${file.length} words, header says ${n} + ${m} pairs`)
  return { iterations: file.subarray(2, 2 + 2 * n), cpu: file.subarray(2 + 2 * n) }
}

/** Histogram buckets of the iteration time, in seconds (both sides use the same). */
export const ITERATION_BUCKETS: ReadonlyArray<number> = [
  0.00001, 0.00002, 0.00003, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05
]
