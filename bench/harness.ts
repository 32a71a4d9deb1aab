/**
 * Shared benchmark machinery: interleaved rounds (in-process or one worker thread per competitor), robust
 * statistics, and a heap-allocation meter.
 *
 * ## Timing
 * Competitors run INTERLEAVED, round by round (A, B, C, A, B, C, ...), so that slow drift of the machine
 * (frequency, a noisy neighbour, heap growth) hits every competitor alike. Each turn a competitor performs
 * `opsPerRound` operations in batches of `batch`; only the batches are timed (`performance.now()`, two reads per
 * batch: < 0.01 ns/op at 16k ops per batch), so untimed work between batches (`beforeBatch`, e.g. draining the
 * ring the previous batch filled) stays out of the figure. Warm-up rounds of the same shape come first; the last
 * one sizes `opsPerRound` so that each competitor gets about `targetRoundMs` per turn. Reported: the median, min
 * and max of the per-round ns/op.
 *
 * `runIsolated` puts every competitor in its own worker thread (its own V8 isolate) and drives the same rounds
 * from the main thread, one worker at a time: library code that two competitors share (prom-client's
 * `Counter.prototype.inc`, used with and without labels) then cannot collect the other's type feedback.
 *
 * ## Allocation
 * V8 in Node 24 exposes no "total bytes allocated" counter (`v8.getHeapStatistics()` has none), so bytes are
 * reconstructed from a ledger that is exact for the JavaScript heap:
 *
 *     allocated = heapUsed(after) − heapUsed(before) + Σ over every GC in between (usedBefore − usedAfter)
 *
 * where the per-GC used heap sizes come from `v8.GCProfiler`, which records every GC with heap statistics taken
 * just before and just after it (whatever a GC freed was allocated, so it is counted once). The meter's own cost
 * (the `process.memoryUsage()` result, ~150–200 B) is calibrated with empty windows in the same isolate and
 * subtracted. A competitor without untimed work is measured in ONE window around ONE call that performs every
 * operation (no harness loop runs inside the window); one with `beforeBatch` gets a window per batch and, when
 * `gc` is available (`--expose-gc`, else the `v8.setFlagsFromString` + `vm` fallback), a forced young-generation
 * GC in each gap, so garbage of the untimed work (a drain) cannot be freed — and counted — inside a window.
 * The measurement is repeated (`repeats`) and the smallest total kept: steady-state allocation is deterministic,
 * while one-off JIT work (code and metadata of a function tiering up) lands on the heap and only adds.
 * `allocationSelfCheck` measures a loop allocating one `{ x, y }` literal per iteration (40 B on Node's x64 V8)
 * and an empty loop (0 B) next to every hot-path run.
 */
import type { ChildProcess, Serializable } from "node:child_process"
import v8 from "node:v8"
import vm from "node:vm"
import { isMainThread, parentPort, Worker, workerData as threadData } from "node:worker_threads"

// ─── results shared by every benchmark ───────────────────────────────────────────────────────────

/** One measured row of a benchmark, in its own unit ("ns/op", "ms", ...). */
export interface ResultRow {
  readonly name: string
  readonly unit: string
  readonly median: number
  readonly min: number
  readonly max: number
  /** Heap bytes allocated per operation, where measured. */
  readonly bytesPerOp?: number
  /** `median / anchor median`, where the benchmark names an anchor (see `BenchmarkResult.relativeTo`). */
  readonly relative?: number
  /** Free-form details (operation counts, GC counts, ...), kept in the JSON output. */
  readonly detail?: Readonly<Record<string, number | string>>
}

/** A ratio the benchmark reports, optionally against a target (`value ≤ target` is met). */
export interface Ratio {
  readonly name: string
  readonly value: number
  readonly target?: number
  readonly met?: boolean
}

export interface BenchmarkResult {
  readonly benchmark: string
  readonly title: string
  readonly rows: ReadonlyArray<ResultRow>
  /** What `ResultRow.relative` is relative to. */
  readonly relativeTo?: string
  readonly ratios: ReadonlyArray<Ratio>
  readonly notes: ReadonlyArray<string>
}

export interface BenchmarkOptions {
  readonly smoke: boolean
  /** Overrides the benchmark's default number of timed rounds. */
  readonly rounds?: number
}

// ─── statistics ──────────────────────────────────────────────────────────────────────────────────

export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
}

export const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export const summarize = (values: ReadonlyArray<number>): Summary => ({
  median: median(values),
  min: values.length === 0 ? Number.NaN : Math.min(...values),
  max: values.length === 0 ? Number.NaN : Math.max(...values)
})

// ─── the sink: every loop's checksum ends here, so no loop is dead code ─────────────────────────

let sinkValue = 0

/** Folds a loop's result into the global sink. */
export const consume = (value: number): void => {
  sinkValue = (sinkValue + value) % 1_000_000_007
}

/** The running checksum of every consumed result (printed by the runner). */
export const checksum = (): number => sinkValue

// ─── GC control ──────────────────────────────────────────────────────────────────────────────────

type GcFunction = (options?: { type?: "major" | "minor"; execution?: "sync" }) => void

let gcFunction: GcFunction | undefined

/**
 * `global.gc` when node runs with `--expose-gc` (the runner re-executes itself with it); otherwise, for
 * in-process callers such as tests, the documented `v8.setFlagsFromString` + `vm` fallback.
 */
const getGc = (): GcFunction | undefined => {
  if (gcFunction !== undefined) return gcFunction
  const global = globalThis.gc
  if (typeof global === "function") {
    gcFunction = (options) => global({ ...options, execution: "sync" })
    return gcFunction
  }
  try {
    v8.setFlagsFromString("--expose-gc")
    const fromContext: unknown = vm.runInNewContext("gc")
    if (typeof fromContext === "function") {
      gcFunction = (options) => void Reflect.apply(fromContext, undefined, options === undefined ? [] : [options])
    }
  } catch {
    gcFunction = undefined
  }
  return gcFunction
}

/** Full GC if possible (no-op otherwise). */
export const collectGarbage = (): void => getGc()?.()

const collectYoung = (): void => getGc()?.({ type: "minor", execution: "sync" })

// ─── competitors and interleaved rounds ──────────────────────────────────────────────────────────

export interface Competitor {
  readonly name: string
  /**
   * Performs operations `start … end − 1` (derive every value from the index, so nothing is constant)
   * and returns a checksum of what they produced. Give each competitor its OWN function literal: closures
   * of one literal share type feedback, and one competitor's feedback must not shape another's code.
   */
  readonly ops: (start: number, end: number) => number
  /** Operations per timed batch (default `defaultBatch`). */
  readonly batch?: number
  /** Untimed work before every batch. */
  readonly beforeBatch?: () => void
  /** Untimed work before and after this competitor's turn in a round. */
  readonly enter?: () => void
  readonly exit?: () => void
  /** Operations in the allocation measurement (rounded up to whole batches; default: the caller's). */
  readonly allocationOps?: number
}

export interface InterleaveOptions {
  readonly rounds: number
  readonly warmupRounds: number
  /** Target time per competitor per round, which sizes opsPerRound. */
  readonly targetRoundMs: number
  readonly defaultBatch: number
  /** Upper bound on batches per round (keeps smoke runs tiny). */
  readonly maxBatchesPerRound?: number
}

export interface Timing extends Summary {
  readonly name: string
  /** ns/op of every timed round, in order. */
  readonly rounds: ReadonlyArray<number>
  readonly opsPerRound: number
}

/** Per-competitor next operation index: values keep changing from round to round. */
const cursors = new WeakMap<Competitor, number>()

const batchOf = (c: Competitor, options: { readonly defaultBatch: number }): number => c.batch ?? options.defaultBatch

/** Runs `batches` timed batches of `c` in one turn; returns the timed nanoseconds. */
const runBatches = (c: Competitor, batch: number, batches: number): number => {
  let start = cursors.get(c) ?? 0
  let ns = 0
  c.enter?.()
  for (let b = 0; b < batches; b++) {
    c.beforeBatch?.()
    const t0 = performance.now()
    const result = c.ops(start, start + batch)
    const t1 = performance.now()
    consume(result)
    ns += (t1 - t0) * 1e6
    start += batch
  }
  c.exit?.()
  cursors.set(c, start)
  return ns
}

/**
 * One warm-up turn: batches (doubling) until `targetRoundMs` is spent; returns the batches per round that the
 * observed rate implies.
 */
const warmUp = (c: Competitor, options: InterleaveOptions): number => {
  const batch = batchOf(c, options)
  const maxBatches = options.maxBatchesPerRound ?? Number.POSITIVE_INFINITY
  let ns = 0
  let batches = 0
  for (let next = 1; batches < maxBatches && (batches === 0 || ns < options.targetRoundMs * 1e6); next *= 2) {
    const run = Math.min(next, maxBatches - batches)
    ns += runBatches(c, batch, run)
    batches += run
  }
  return Math.max(1, Math.min(maxBatches, Math.round((options.targetRoundMs * 1e6 * batches) / ns)))
}

/** One timed turn of `batches` batches; returns ns/op and the operations it timed. */
const timedTurn = (c: Competitor, batches: number, options: { readonly defaultBatch: number }): { nsPerOp: number; ops: number } => {
  const batch = batchOf(c, options)
  const ns = runBatches(c, batch, batches)
  return { nsPerOp: ns / (batch * batches), ops: batch * batches }
}

const timingOf = (name: string, samples: ReadonlyArray<number>, opsPerRound: number): Timing => ({
  name,
  ...summarize(samples),
  rounds: samples,
  opsPerRound
})

/**
 * In-process interleaved rounds: warm-up rounds (sizing opsPerRound), then `rounds` timed rounds of A, B, C, ...
 * Competitors share one isolate, so library code they have in common (e.g. one `Counter.prototype.inc` used
 * with and without labels) sees all of their types; `runIsolated` avoids that.
 */
export const runInterleaved = (competitors: ReadonlyArray<Competitor>, options: InterleaveOptions): Array<Timing> => {
  const batchesPerRound = competitors.map(() => 1)
  for (let w = 0; w < options.warmupRounds; w++) competitors.forEach((c, i) => (batchesPerRound[i] = warmUp(c, options)))
  const samples = competitors.map((): Array<number> => [])
  for (let r = 0; r < options.rounds; r++) competitors.forEach((c, i) => samples[i]!.push(timedTurn(c, batchesPerRound[i]!, options).nsPerOp))
  return competitors.map((c, i) => timingOf(c.name, samples[i]!, batchOf(c, options) * batchesPerRound[i]!))
}

// ─── isolated competitors: one worker thread (one V8 isolate) each, still interleaved ────────────

/** A competitor living in its own worker thread. */
export interface IsolatedCompetitor extends Competitor {
  /** Called once at the end; what it returns is reported (e.g. a consumer thread's counts). */
  readonly finish?: () => Promise<Readonly<Record<string, number>>>
}

type Request =
  | { readonly kind: "warmup"; readonly options: InterleaveOptions }
  | { readonly kind: "round"; readonly batches: number; readonly options: InterleaveOptions }
  | { readonly kind: "allocation"; readonly ops: number; readonly repeats: number; readonly options: InterleaveOptions }
  | { readonly kind: "finish" }

type Reply =
  | { readonly kind: "ready" }
  | { readonly kind: "warmup"; readonly batchesPerRound: number }
  | { readonly kind: "round"; readonly nsPerOp: number; readonly ops: number }
  | { readonly kind: "allocation"; readonly allocation: Allocation }
  | { readonly kind: "finish"; readonly report: Readonly<Record<string, number>>; readonly checksum: number }
  | { readonly kind: "error"; readonly message: string }

const errorMessage = (error: unknown): string => (error instanceof Error ? (error.stack ?? error.message) : String(error))

/**
 * Worker side of `runIsolated`: build the competitor (in the worker), then call this. Every request runs
 * synchronously on this thread; only one worker runs at a time.
 */
export const serveCompetitor = async (build: () => Promise<IsolatedCompetitor>): Promise<void> => {
  const port = parentPort
  if (port === null) throw new Error("serveCompetitor must run in a worker thread")
  const reply = (message: Reply): void => port.postMessage(message)
  let competitor: IsolatedCompetitor
  try {
    competitor = await build()
  } catch (error) {
    reply({ kind: "error", message: errorMessage(error) })
    return
  }
  port.on("message", (message: Request) => {
    const c = competitor
    try {
      switch (message.kind) {
        case "warmup":
          return reply({ kind: "warmup", batchesPerRound: warmUp(c, message.options) })
        case "round":
          return reply({ kind: "round", ...timedTurn(c, message.batches, message.options) })
        case "allocation":
          return reply({
            kind: "allocation",
            allocation: measureAllocation(c, c.allocationOps ?? message.ops, { ...message.options, repeats: message.repeats })
          })
        case "finish":
          void (c.finish?.() ?? Promise.resolve({})).then(
            (report) => reply({ kind: "finish", report, checksum: checksum() }),
            (error: unknown) => reply({ kind: "error", message: errorMessage(error) })
          )
          return
      }
    } catch (error) {
      reply({ kind: "error", message: errorMessage(error) })
    }
  })
  reply({ kind: "ready" })
}

/** A worker driven one request at a time: every request gets exactly one reply (or a rejection). */
export interface RemoteWorker<Req, Rep> {
  readonly request: (message: Req) => Promise<Rep>
  /** The worker's first message, sent once it is ready. */
  readonly ready: Promise<Rep>
  readonly terminate: () => Promise<number>
}

/** The events `remote` listens to, whatever carries the messages (a worker thread or a child process). */
interface RemoteEvents<Rep> {
  readonly message: (reply: Rep) => void
  readonly error: (error: Error) => void
  readonly exit: (code: number | null) => void
}

const remote = <Req, Rep extends { readonly kind: string }>(
  name: string,
  listen: (events: RemoteEvents<Rep>) => void,
  send: (message: Req) => void,
  terminate: () => Promise<number>
): RemoteWorker<Req, Rep> => {
  let pending: { resolve: (reply: Rep) => void; reject: (error: Error) => void } | undefined
  let ended: Error | undefined
  const take = () => {
    const p = pending
    pending = undefined
    return p
  }
  listen({
    message: (reply) => {
      const p = take()
      if (reply.kind === "error") p?.reject(new Error(`${name}: ${(reply as { readonly message?: string }).message}`))
      else p?.resolve(reply)
    },
    error: (error) => take()?.reject(new Error(`${name}: failed: ${error.message}`)),
    exit: (code) => {
      ended = new Error(`${name}: exited (code ${code})`)
      take()?.reject(ended)
    }
  })
  const next = (): Promise<Rep> =>
    new Promise<Rep>((resolve, reject) => (ended === undefined ? (pending = { resolve, reject }) : reject(ended)))
  const ready = next()
  ready.catch(() => {}) // a caller that never awaits `ready` still sees the exit on its next request
  return {
    ready,
    request: (message) => {
      const reply = next()
      send(message)
      return reply
    },
    terminate
  }
}

/**
 * Wraps a benchmark worker: replies of kind "error" and the worker failing or exiting reject the pending
 * request, naming the worker.
 */
export const remoteWorker = <Req, Rep extends { readonly kind: string }>(worker: Worker, name: string): RemoteWorker<Req, Rep> =>
  remote<Req, Rep>(`${name}: worker`, (events) => {
    worker.on("message", events.message)
    worker.on("error", events.error)
    worker.on("exit", events.exit)
  }, (message) => worker.postMessage(message), () => worker.terminate())

/**
 * `remoteWorker` for a child process with an IPC channel (`fork`): the same one-reply-per-request protocol, and a
 * child that exits rejects what is pending and every later request. `terminate` sends SIGTERM, then SIGKILL after
 * `killAfterMs`, and resolves with the exit code.
 */
export const remoteProcess = <Req, Rep extends { readonly kind: string }>(child: ChildProcess, name: string, killAfterMs = 10_000): RemoteWorker<Req, Rep> => {
  const exited = new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? 1)))
  return remote<Req, Rep>(name, (events) => {
    child.on("message", (reply: Rep) => events.message(reply))
    child.on("error", events.error)
    child.on("exit", events.exit)
  }, (message) => child.send(message as Serializable), async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs)
      await exited
      clearTimeout(timer)
    }
    return exited
  })
}

/** Narrows a reply to the kind the protocol expects next, or throws naming both. */
export const expectReply = <Rep extends { readonly kind: string }, K extends Rep["kind"]>(reply: Rep, kind: K): Extract<Rep, { kind: K }> => {
  if (reply.kind !== kind) throw new Error(`benchmark worker: expected a "${kind}" reply, got "${reply.kind}"`)
  return reply as Extract<Rep, { kind: K }>
}

export interface IsolatedSpec {
  readonly name: string
  /** Passed to the worker as `workerData.competitor`: which competitor it builds. */
  readonly key: string
}

export interface IsolatedResult {
  readonly timing: Timing
  readonly allocation: Allocation
  readonly report: Readonly<Record<string, number>>
}

/**
 * Interleaved rounds (A, B, C, A, B, C, ...) of competitors that each live in their OWN worker thread — their own
 * V8 isolate, so neither the competitors' loops nor the library code they share (prom-client's `inc` used with
 * and without labels) see each other's types. Exactly one worker runs at a time; the others wait for a message.
 * `entry` is the module the workers load; it must call `serveCompetitor` when `workerData.competitor` is set.
 * Allocation is measured afterwards, one worker at a time.
 */
export const runIsolated = async (
  entry: URL,
  specs: ReadonlyArray<IsolatedSpec>,
  workerData: Readonly<Record<string, unknown>>,
  options: InterleaveOptions & { readonly allocationOps: number; readonly allocationRepeats: number }
): Promise<Array<IsolatedResult>> => {
  const remotes = specs.map((spec) =>
    remoteWorker<Request, Reply>(new Worker(entry, { workerData: { ...workerData, competitor: spec.key }, name: `bench ${spec.key}` }), spec.name)
  )
  try {
    await Promise.all(remotes.map((r) => r.ready))
    const timingOptions: InterleaveOptions = {
      rounds: options.rounds,
      warmupRounds: options.warmupRounds,
      targetRoundMs: options.targetRoundMs,
      defaultBatch: options.defaultBatch,
      ...(options.maxBatchesPerRound === undefined ? {} : { maxBatchesPerRound: options.maxBatchesPerRound })
    }
    const batchesPerRound = specs.map(() => 1)
    for (let w = 0; w < options.warmupRounds; w++) {
      for (const [i, r] of remotes.entries()) {
        batchesPerRound[i] = expectReply(await r.request({ kind: "warmup", options: timingOptions }), "warmup").batchesPerRound
      }
    }
    const samples = specs.map((): Array<number> => [])
    const opsPerRound = specs.map(() => 0)
    for (let round = 0; round < options.rounds; round++) {
      for (const [i, r] of remotes.entries()) {
        const reply = expectReply(await r.request({ kind: "round", batches: batchesPerRound[i]!, options: timingOptions }), "round")
        samples[i]!.push(reply.nsPerOp)
        opsPerRound[i] = reply.ops
      }
    }
    const allocations: Array<Allocation> = []
    for (const r of remotes) {
      const reply = await r.request({ kind: "allocation", ops: options.allocationOps, repeats: options.allocationRepeats, options: timingOptions })
      allocations.push(expectReply(reply, "allocation").allocation)
    }
    const results: Array<IsolatedResult> = []
    for (const [i, r] of remotes.entries()) {
      const finished = expectReply(await r.request({ kind: "finish" }), "finish")
      consume(finished.checksum)
      results.push({ timing: timingOf(specs[i]!.name, samples[i]!, opsPerRound[i]!), allocation: allocations[i]!, report: finished.report })
    }
    return results
  } finally {
    await Promise.all(remotes.map((r) => r.terminate()))
  }
}

// ─── allocation ──────────────────────────────────────────────────────────────────────────────────

export interface Allocation {
  readonly name: string
  readonly ops: number
  /** Bytes allocated on the JS heap in the measured windows, meter overhead subtracted. */
  readonly bytes: number
  readonly bytesPerOp: number
  /** GCs that ran inside the measured windows. */
  readonly gcs: number
  /** Whether a forced GC was available (`--expose-gc` or the vm fallback). */
  readonly forcedGc: boolean
}

interface Window {
  readonly bytes: number
  readonly gcs: number
}

const freedBy = (result: v8.GCProfilerResult | undefined): Window => {
  let bytes = 0
  for (const gc of result?.statistics ?? []) bytes += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize
  return { bytes, gcs: result?.statistics.length ?? 0 }
}

/** Measures what `body` allocates on the JS heap (see the module comment). */
const measureWindow = (body: () => void): Window => {
  const profiler = new v8.GCProfiler()
  profiler.start()
  const before = process.memoryUsage().heapUsed
  body()
  const after = process.memoryUsage().heapUsed
  const freed = freedBy(profiler.stop())
  return { bytes: after - before + freed.bytes, gcs: freed.gcs }
}

const emptyBody = (): void => {}

/** The meter's own bytes per window: the median of empty windows, in this process, now. */
const calibrate = (): number => {
  const samples: Array<number> = []
  for (let i = 0; i < 41; i++) samples.push(measureWindow(emptyBody).bytes)
  return median(samples.slice(10))
}

/** One measurement: the bytes `c` allocates in `batches` batches of `batch` operations, from operation `start`. */
const allocationRun = (c: Competitor, batch: number, batches: number, start: number): Window => {
  // Results go to a preallocated Float64Array: adding them up here (interpreted code, a captured variable)
  // would box every non-Smi sum into a fresh HeapNumber inside the window.
  const results = new Float64Array(batches)
  let bytes = 0
  let gcs = 0
  c.enter?.()
  collectGarbage()
  const overhead = calibrate()
  if (c.beforeBatch === undefined) {
    // No untimed work: ONE call performs every operation inside one window, so no harness loop runs (and
    // tiers up) inside the window.
    const window = measureWindow(() => {
      results[0] = c.ops(start, start + batches * batch)
    })
    bytes = Math.max(0, window.bytes - overhead)
    gcs = window.gcs
  } else {
    const beforeBatch = c.beforeBatch
    for (let b = 0; b < batches; b++) {
      beforeBatch()
      collectYoung() // garbage of the untimed work must not be freed (and counted) inside the window
      const from = start + b * batch
      const window = measureWindow(() => {
        results[b] = c.ops(from, from + batch)
      })
      bytes += Math.max(0, window.bytes - overhead)
      gcs += window.gcs
    }
  }
  c.exit?.()
  for (const r of results) consume(r)
  return { bytes, gcs }
}

/**
 * Bytes per operation of `c` over at least `ops` operations (whole batches), measured `repeats` times; the
 * smallest total is kept. Steady-state allocation per operation is deterministic; what varies between repeats is
 * one-off JIT work (a function tiering up allocates its code and metadata on the heap), which only adds.
 * Run it after timing, on warm code.
 */
export const measureAllocation = (
  c: Competitor,
  ops: number,
  options: { readonly defaultBatch: number; readonly repeats?: number }
): Allocation => {
  const batch = batchOf(c, options)
  const batches = Math.max(1, Math.ceil(ops / batch))
  let best: Window | undefined
  for (let r = 0; r < (options.repeats ?? 1); r++) {
    const start = cursors.get(c) ?? 0
    const run = allocationRun(c, batch, batches, start)
    cursors.set(c, start + batches * batch)
    if (best === undefined || run.bytes < best.bytes) best = run
  }
  const total = batches * batch
  const { bytes, gcs } = best!
  return { name: c.name, ops: total, bytes, bytesPerOp: bytes / total, gcs, forcedGc: getGc() !== undefined }
}

// ─── self-check of the allocation meter ──────────────────────────────────────────────────────────

let calibrationSink: unknown = undefined

const allocateObjects = (start: number, end: number): number => {
  let sum = 0
  for (let i = start; i < end; i++) {
    const o = { x: i, y: i + 1 }
    calibrationSink = o
    sum += o.y
  }
  return sum
}

const allocateNothing = (start: number, end: number): number => {
  let sum = 0
  for (let i = start; i < end; i++) sum += i & 7
  return sum
}

/**
 * Measures two loops whose allocation is known: a two-field object literal (40 B on 64-bit V8 without
 * pointer compression, as Node ships) and none. Reported next to the results as evidence the meter works.
 */
export const allocationSelfCheck = (ops: number, batch: number): { readonly objectLiteral: number; readonly nothing: number } => {
  const objects: Competitor = { name: "calibration: { x, y } literal", ops: allocateObjects, batch }
  const nothing: Competitor = { name: "calibration: no allocation", ops: allocateNothing, batch }
  // Warm both loops to optimized code first: a loop that is still interpreted boxes its numbers.
  runBatches(objects, batch, 8)
  runBatches(nothing, batch, 8)
  const result = {
    objectLiteral: measureAllocation(objects, ops, { defaultBatch: batch }).bytesPerOp,
    nothing: measureAllocation(nothing, ops, { defaultBatch: batch }).bytesPerOp
  }
  calibrationSink = undefined
  return result
}

// ─── small helpers shared by the benchmarks ─────────────────────────────────────────────────────

/** `numerator / denominator` as a reported ratio, checked against `target` (`≤`) when one is given. */
export const ratio = (name: string, numerator: number, denominator: number, target?: number): Ratio => {
  const value = numerator / denominator
  return target === undefined ? { name, value } : { name, value, target, met: value <= target }
}

/**
 * The scenarios named in `PERCORE_SCRAPE_ONLY` (comma-separated labels, e.g. "10k counters,1k histograms"), or all of
 * them when it is unset: a development aid of the scrape benchmarks.
 */
export const onlyScenarios = <S extends { readonly label: string }>(all: ReadonlyArray<S>): ReadonlyArray<S> => {
  const only = process.env["PERCORE_SCRAPE_ONLY"]?.split(",").map((s) => s.trim()).filter((s) => s !== "")
  return only === undefined || only.length === 0 ? all : all.filter((s) => only.includes(s.label))
}

/** A count for notes: thousands separated, "?" when unknown. */
export const count = (n: number | undefined): string => (n === undefined ? "?" : n.toLocaleString("en-US"))

// ─── one module, many isolated competitors ──────────────────────────────────────────────────────

/**
 * Worker side of a benchmark module whose competitors run isolated (see `runIsolated`): when this thread was
 * started for one of `factories` (workerData `{ [tag]: true, smoke, competitor }`), serve it.
 */
export const serveIsolatedCompetitor = async <Sizes>(
  tag: string,
  factories: Readonly<Record<string, (sizes: Sizes) => Promise<IsolatedCompetitor>>>,
  sizesFor: (smoke: boolean) => Sizes
): Promise<void> => {
  const data: unknown = threadData
  if (
    isMainThread || typeof data !== "object" || data === null || !(tag in data) || !("competitor" in data) ||
    typeof data.competitor !== "string" || !Object.hasOwn(factories, data.competitor) || !("smoke" in data) ||
    typeof data.smoke !== "boolean"
  ) return
  const { competitor, smoke } = data
  await serveCompetitor(() => factories[competitor]!(sizesFor(smoke)))
}

/**
 * Main side: runs every competitor of `rows` (key → row name) isolated and interleaved with the standard
 * timing (7 rounds after 2 warm-ups, ~40 ms per turn; smoke: 3 rounds, tiny), plus the allocation meter's
 * self-check.
 */
export const runIsolatedSuite = async <Key extends string>(
  entry: URL,
  tag: string,
  rows: Readonly<Record<Key, string>>,
  sizes: { readonly smoke: boolean; readonly batch: number; readonly otherAllocationOps: number },
  rounds: number | undefined
): Promise<{
  readonly keys: ReadonlyArray<Key>
  readonly results: ReadonlyArray<IsolatedResult>
  readonly selfCheck: ReturnType<typeof allocationSelfCheck>
  readonly timing: InterleaveOptions
}> => {
  const keys = Object.keys(rows) as Array<Key>
  const timing: InterleaveOptions = {
    rounds: rounds ?? (sizes.smoke ? 3 : 7),
    warmupRounds: sizes.smoke ? 1 : 2,
    targetRoundMs: sizes.smoke ? 1 : 40,
    defaultBatch: sizes.batch,
    ...(sizes.smoke ? { maxBatchesPerRound: 2 } : {})
  }
  const results = await runIsolated(
    entry,
    keys.map((key) => ({ name: rows[key], key })),
    { [tag]: true, smoke: sizes.smoke },
    { ...timing, allocationOps: sizes.otherAllocationOps, allocationRepeats: sizes.smoke ? 1 : 2 }
  )
  return { keys, results, timing, selfCheck: allocationSelfCheck(sizes.smoke ? 2048 : 1_000_000, sizes.batch) }
}
