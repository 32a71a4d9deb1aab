/**
 * The control-plane side of the off-thread benchmarks (`bench/offthread.ts`, `bench/scaling.ts`): producer
 * worker pools, the main-thread consumers, one timed trial, and the statistics and result rows built from
 * trials. The producers' side is `offthread-producer.ts`.
 *
 * Competitors (same sample content, same aggregation work: a sum per metric id on this thread):
 * - `handles`: a real `CoreRuntime` per producer; here a real `CoreChannel` per core drains its ring into one
 *   real `AggregateState` every 10 ms (what the Drainer does on its schedule). Delivered = the aggregate's
 *   counter totals (each `inc()` adds 1).
 * - `ring10` / `ring1`: `RingReader.drain` every 10 ms / 1 ms into a `Float64Array` sum per id.
 * - `ringBatch`: the same ring, its producer appending and publishing every 1000 samples; drained every 10 ms.
 * Like the Drainer, every percore competitor also drains as soon as a ring signals that it crossed half full.
 * - `message`: one `postMessage` per sample; the handler sums per id.
 * - `batched`: 1000-sample `Float64Array`s, transferred; the handler sums per id.
 *
 * A trial: start N producers at a rate, let it settle for `warmupMs`, then measure a window of `windowMs`
 * between two snapshots taken right after a drain (or a timer tick): delivered, offered, ring recorded /
 * dropped, this thread's CPU time (`process.threadCpuUsage()`), event-loop utilization, latency markers that
 * became visible inside the window. Then stop the producers and settle (final drain; postMessage producers
 * are terminated, with whatever is still queued).
 *
 * Under a postMessage overload the main thread's timers run only between message batches (Node delivers every
 * message queued on a port in one go), so a window can end late; its real length is what the rates divide by.
 *
 * Worker lifetimes: percore producers (handles, ring) are spawned once and reused by every trial (a core with
 * effect loaded takes ~200 ms to start); postMessage producers are spawned per trial and terminated after it,
 * so no queue backlog of one trial is processed during the next.
 */
import os from "node:os"
import { performance } from "node:perf_hooks"
import { Worker } from "node:worker_threads"
import { allocateCoreBuffers, type CoreBuffers, defaultCoreSettings } from "../../src/protocol/index.ts"
import { type RingReader, type SampleSink, TelemetryRing } from "../../src/ring/index.ts"
import type { AggregateSeries, AggregateState } from "../../src/engine/AggregateState.ts"
import type { CoreChannel } from "../../src/engine/CoreChannel.ts"
import type { BenchmarkResult, Ratio, ResultRow } from "../harness.ts"
import {
  BATCH_STRIDE,
  Ctl,
  HANDLE_SERIES,
  Op,
  type ProducerData,
  type ProducerKind,
  SERIES,
  STAMP_SLOTS
} from "./offthread-producer.ts"

// ─── competitors ─────────────────────────────────────────────────────────────────────────────────

export type CompetitorId = "handles" | "ring10" | "ring1" | "ringBatch" | "message" | "batched"

export interface CompetitorInfo {
  readonly label: string
  readonly kind: ProducerKind
  /** The main thread's tick: drain interval (percore), snapshot granularity (postMessage). */
  readonly intervalMs: number
  readonly percore: boolean
}

export const COMPETITORS: { readonly [K in CompetitorId]: CompetitorInfo } = {
  handles: { label: "percore handles (10 ms drains)", kind: "handles", intervalMs: 10, percore: true },
  ring10: { label: "percore raw ring, 10 ms drains", kind: "ring", intervalMs: 10, percore: true },
  ring1: { label: "percore raw ring, 1 ms drains", kind: "ring", intervalMs: 1, percore: true },
  ringBatch: { label: "percore raw ring, 1000-sample publishes", kind: "ringBatch", intervalMs: 10, percore: true },
  message: { label: "postMessage per sample", kind: "message", intervalMs: 10, percore: false },
  batched: { label: "postMessage, 1000-sample batches", kind: "batched", intervalMs: 10, percore: false }
}

/** Ring capacity of every percore ring here: the default (`PERCORE_RING_CAPACITY`). */
export const RING_CAPACITY = 65_536
/** postMessage producers sleep while more than this many of their samples are queued (memory bound). */
const BACKLOG_CAP: { readonly [K in ProducerKind]: number } = { handles: 0, ring: 0, ringBatch: 0, message: 200_000, batched: 2_000_000 }

export interface Timing {
  readonly warmupMs: number
  readonly windowMs: number
}

/** One measured window. Rates are samples per second over all producers. */
export interface Trial {
  readonly competitor: CompetitorId
  readonly cores: number
  /** Per producer, samples/s; 0 = full speed. */
  readonly rate: number
  readonly seconds: number
  readonly delivered: number
  readonly offered: number
  /** percore: ring samples dropped / recorded in the window, %. postMessage: 0 (nothing is dropped; see backlog). */
  readonly dropPct: number
  /** percore: ring samples/s that crossed threads (handles: coalesced, ≤ one per changed series per flush). */
  readonly ringSamples: number
  /** Control-plane (main) thread CPU time / wall time, %. */
  readonly cpuPct: number
  /** Control-plane event-loop utilization, %. */
  readonly eluPct: number
  /** Data samples produced in the trial but not in the aggregate at the window's end (postMessage: still queued). */
  readonly backlog: number
  readonly latencyP50Ms: number
  readonly latencyP99Ms: number
  readonly markers: number
  /** Times a postMessage producer slept because its queue reached the cap. */
  readonly capped: number
  /** Longest time between two consecutive ticks (drains) of this thread inside the window, ms. */
  readonly maxGapMs: number
  /**
   * After the producers stopped and everything they published was drained: data samples produced in the trial
   * that never reached the aggregate. handles: must be 0 (the books are exact: no ring drops, final flush);
   * raw ring: the data samples dropped; postMessage: still queued when the producers were terminated.
   */
  readonly unaccounted: number
}

// ─── workers ─────────────────────────────────────────────────────────────────────────────────────

interface Slot {
  readonly worker: Worker
  readonly ctl: Int32Array
  readonly stamps: Float64Array
  seq: number
  failure: unknown
}

const spawn = async (workerUrl: URL, data: ProducerData): Promise<Slot> => {
  const worker = new Worker(workerUrl, { workerData: data, name: `percore-bench-${data.kind}-${data.index}` })
  const slot: Slot = { worker, ctl: new Int32Array(data.control), stamps: new Float64Array(data.stamps), seq: 0, failure: undefined }
  worker.on("error", (error) => {
    slot.failure = error
  })
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`offthread bench: ${data.kind} producer ${data.index} exited (${code}) before it was ready: ${String(slot.failure)}`))
    worker.once("exit", onExit)
    worker.once("message", () => {
      worker.off("exit", onExit)
      resolve()
    })
  })
  return slot
}

const producerData = (kind: ProducerKind, index: number, extra: { ring?: SharedArrayBuffer; core?: CoreBuffers }): ProducerData => ({
  offthreadProducer: 1,
  kind,
  index,
  control: new SharedArrayBuffer(Ctl.WORDS * 4),
  stamps: new SharedArrayBuffer(STAMP_SLOTS * 8),
  backlogCap: BACKLOG_CAP[kind],
  ...(extra.ring === undefined ? {} : { ring: extra.ring }),
  ...(extra.core === undefined ? {} : { core: extra.core })
})

const startRun = (slot: Slot, rate: number): void => {
  const ctl = slot.ctl
  Atomics.store(ctl, Ctl.PRODUCED, 0)
  Atomics.store(ctl, Ctl.RECEIVED, 0)
  Atomics.store(ctl, Ctl.RATE, rate)
  Atomics.store(ctl, Ctl.OP, Op.Run)
  slot.seq = Atomics.add(ctl, Ctl.CMD, 1) + 1
  Atomics.notify(ctl, Ctl.CMD)
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Between trials (untimed): a full GC where `gc` is exposed, then wait (≤ 1 s) until this thread's event loop is
 * quiet — a postMessage overload leaves messages and transferred buffers behind that the next trial must not pay.
 */
const settle = async (): Promise<void> => {
  const gc: unknown = Reflect.get(globalThis, "gc")
  if (typeof gc === "function") gc()
  const deadline = performance.now() + 1000
  for (;;) {
    const from = performance.eventLoopUtilization()
    await sleep(20)
    if (performance.eventLoopUtilization(from).utilization < 0.05 || performance.now() > deadline) return
  }
}

/** Signals every slot to stop its run and waits (event loop turning) until each acknowledged. */
const stopRuns = async (slots: ReadonlyArray<Slot>): Promise<void> => {
  for (const slot of slots) Atomics.store(slot.ctl, Ctl.STOP, slot.seq)
  const deadline = performance.now() + 10_000
  while (!slots.every((s) => Atomics.load(s.ctl, Ctl.ACK) === s.seq)) {
    const failed = slots.find((s) => s.failure !== undefined)
    if (failed !== undefined) throw new Error(`offthread bench: a producer failed: ${String(failed.failure)}`)
    if (performance.now() > deadline) {
      const state = slots.map((s) => `seq ${s.seq} ack ${Atomics.load(s.ctl, Ctl.ACK)} cmd ${Atomics.load(s.ctl, Ctl.CMD)} produced ${Atomics.load(s.ctl, Ctl.PRODUCED)}`)
      throw new Error(`offthread bench: producers did not stop within 10 s (${state.join("; ")})`)
    }
    await sleep(1)
  }
}

const exit = async (slot: Slot): Promise<void> => {
  Atomics.store(slot.ctl, Ctl.OP, Op.Exit)
  Atomics.add(slot.ctl, Ctl.CMD, 1)
  Atomics.notify(slot.ctl, Ctl.CMD)
  await slot.worker.terminate()
}

/** Data samples the first `active` producers produced in their current (or last) run. Idle ones keep a stale count. */
const produced = (slots: ReadonlyArray<Slot>, active: number): number => {
  let total = 0
  for (let i = 0; i < active; i++) total += Atomics.load(slots[i]!.ctl, Ctl.PRODUCED) >>> 0
  return total
}

// ─── the main thread's side of each competitor ───────────────────────────────────────────────────

const wallClock = (): number => performance.timeOrigin + performance.now()

/** Latencies of the markers that became visible while `recording`. */
class Probe {
  recording = false
  readonly latencies: Array<number> = []
  marker(stampMs: number): void {
    if (this.recording) this.latencies.push(wallClock() - stampMs)
  }
}

interface Counts {
  readonly delivered: number
  readonly produced: number
  readonly ringRecorded: number
  readonly ringDropped: number
  readonly capped: number
}

interface Side {
  /** Starts `cores` producers at `rate` (spawning them first where they are per trial). */
  begin(cores: number, rate: number): Promise<void>
  /** The main thread's periodic work: drain and read markers (percore); nothing (postMessage). */
  tick(): void
  /**
   * percore: resolves when a ring of an active producer crossed half full (the Drainer's wake-up), or after
   * `timeoutMs`. Absent: the tick waits for its interval only.
   */
  wake?(timeoutMs: number): Promise<unknown>
  counts(): Counts
  /** Stops the producers, takes what they published, releases per-trial workers. */
  end(): Promise<void>
  close(): Promise<void>
}

const sumOf = (values: Float64Array): number => {
  let total = 0
  for (let i = 0; i < values.length; i++) total += values[i]!
  return total
}

/**
 * The Drainer's early wake-up for a side's rings: `note` their wake counts before a drain, then `wait` resolves
 * when one of the first `active` rings signals half full after that (a wake-up during the drain included), or
 * after `timeoutMs`.
 */
class WakeWatch {
  private readonly readers: ReadonlyArray<RingReader>
  private readonly seen: Int32Array

  constructor(readers: ReadonlyArray<RingReader>) {
    this.readers = readers
    this.seen = new Int32Array(readers.length)
  }

  note(active: number): void {
    for (let i = 0; i < active; i++) this.seen[i] = this.readers[i]!.wakeCount()
  }

  wait(active: number, timeoutMs: number): Promise<unknown> {
    return Promise.race(this.readers.slice(0, active).map((reader, i) => reader.waitForWake(this.seen[i]!, timeoutMs)))
  }
}

const cappedOf = (slots: ReadonlyArray<Slot>): number => slots.reduce((n, s) => n + Atomics.load(s.ctl, Ctl.CAPPED), 0)

/** Real CoreRuntime producers; real CoreChannels into one real AggregateState. */
class HandlesSide implements Side {
  private active = 0
  private readonly samples: Array<AggregateSeries> = []
  private readonly markerSeries: Array<AggregateSeries | undefined>
  private readonly seen: Array<number>
  private readonly slots: ReadonlyArray<Slot>
  private readonly channels: ReadonlyArray<CoreChannel>
  private readonly wakes: WakeWatch
  private readonly aggregate: AggregateState
  private readonly probe: Probe

  constructor(slots: ReadonlyArray<Slot>, channels: ReadonlyArray<CoreChannel>, aggregate: AggregateState, probe: Probe) {
    this.slots = slots
    this.channels = channels
    this.wakes = new WakeWatch(channels.map((c) => c.reader))
    this.aggregate = aggregate
    this.probe = probe
    this.markerSeries = slots.map(() => undefined)
    this.seen = slots.map(() => 0)
  }

  static async create(workerUrl: URL, cores: number, probe: Probe): Promise<HandlesSide> {
    const { CoreChannel } = await import("../../src/engine/CoreChannel.ts")
    const { AggregateState } = await import("../../src/engine/AggregateState.ts")
    const aggregate = new AggregateState({ maxSeries: 100_000 })
    const slots: Array<Slot> = []
    const channels: Array<CoreChannel> = []
    for (let i = 0; i < cores; i++) {
      const buffers = allocateCoreBuffers(i) // default sizes and settings, as the benchmark's "default settings"
      channels.push(new CoreChannel(buffers, aggregate))
      slots.push(await spawn(workerUrl, producerData("handles", i, { core: buffers })))
    }
    return new HandlesSide(slots, channels, aggregate, probe)
  }

  async begin(cores: number, rate: number): Promise<void> {
    this.active = cores
    for (let i = 0; i < cores; i++) startRun(this.slots[i]!, rate)
  }

  wake(timeoutMs: number): Promise<unknown> {
    return this.wakes.wait(this.active, timeoutMs)
  }

  tick(): void {
    this.wakes.note(this.active)
    for (let i = 0; i < this.active; i++) this.channels[i]!.drain()
    this.readMarkers()
  }

  private readMarkers(): void {
    for (let w = 0; w < this.active; w++) {
      const series = this.markerSeries[w] ?? this.aggregate.find(HANDLE_SERIES.markers, { producer: String(w) })
      if (series === undefined) continue
      this.markerSeries[w] = series
      const stamps = this.slots[w]!.stamps
      let k = this.seen[w]!
      for (; k < series.value; k++) this.probe.marker(stamps[k & (STAMP_SLOTS - 1)]!)
      this.seen[w] = k
    }
  }

  counts(): Counts {
    if (this.samples.length < SERIES) {
      this.samples.length = 0
      for (let j = 0; j < SERIES; j++) {
        const series = this.aggregate.find(HANDLE_SERIES.samples, { series: String(j) })
        if (series !== undefined) this.samples.push(series)
      }
      if (this.samples.length < SERIES) this.samples.length = 0 // not all interned yet: count none
    }
    let delivered = 0
    for (const s of this.samples) delivered += s.value
    let ringRecorded = 0
    let ringDropped = 0
    for (const channel of this.channels) {
      ringRecorded += channel.reader.published()
      ringDropped += channel.reader.dropped
    }
    return { delivered, produced: produced(this.slots, this.active), ringRecorded, ringDropped, capped: 0 }
  }

  async end(): Promise<void> {
    await stopRuns(this.slots.slice(0, this.active))
    this.tick() // their final flushes
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map(exit))
  }
}

/** Raw ring producers; `RingReader.drain` into a Float64Array sum per id. */
class RingSide implements Side {
  private active = 0
  private readonly sums = new Float64Array(SERIES)
  private readonly pendingMarkers = new Float64Array(4096)
  private pendingCount = 0
  private readonly sink: SampleSink
  private readonly slots: ReadonlyArray<Slot>
  private readonly readers: ReadonlyArray<RingReader>
  private readonly wakes: WakeWatch
  private readonly probe: Probe

  constructor(slots: ReadonlyArray<Slot>, readers: ReadonlyArray<RingReader>, probe: Probe) {
    this.slots = slots
    this.readers = readers
    this.wakes = new WakeWatch(readers)
    this.probe = probe
    const sums = this.sums
    const markers = this.pendingMarkers
    this.sink = (id, _kind, value) => {
      if (id < SERIES) sums[id] = sums[id]! + value
      else if (this.pendingCount < markers.length) markers[this.pendingCount++] = value
    }
  }

  static async create(workerUrl: URL, cores: number, probe: Probe, kind: "ring" | "ringBatch"): Promise<RingSide> {
    const slots: Array<Slot> = []
    const readers: Array<RingReader> = []
    for (let i = 0; i < cores; i++) {
      const ring = TelemetryRing.allocate(RING_CAPACITY)
      readers.push(TelemetryRing.reader(ring))
      slots.push(await spawn(workerUrl, producerData(kind, i, { ring })))
    }
    return new RingSide(slots, readers, probe)
  }

  async begin(cores: number, rate: number): Promise<void> {
    this.active = cores
    for (let i = 0; i < cores; i++) startRun(this.slots[i]!, rate)
  }

  wake(timeoutMs: number): Promise<unknown> {
    return this.wakes.wait(this.active, timeoutMs)
  }

  tick(): void {
    this.wakes.note(this.active)
    for (let i = 0; i < this.active; i++) this.readers[i]!.drain(this.sink)
    for (let i = 0; i < this.pendingCount; i++) this.probe.marker(this.pendingMarkers[i]!)
    this.pendingCount = 0
  }

  counts(): Counts {
    let ringRecorded = 0
    let ringDropped = 0
    for (const reader of this.readers) {
      ringRecorded += reader.published()
      ringDropped += reader.dropped
    }
    return { delivered: sumOf(this.sums), produced: produced(this.slots, this.active), ringRecorded, ringDropped, capped: 0 }
  }

  async end(): Promise<void> {
    await stopRuns(this.slots.slice(0, this.active))
    this.tick()
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map(exit))
  }
}

/** One sample per message, as the producer posts it. */
interface SampleMessage {
  readonly id: number
  readonly kind: number
  readonly value: number
  readonly ts: number
}

/** postMessage producers, spawned per trial; the handlers sum per id. */
class MessageSide implements Side {
  private slots: Array<Slot> = []
  private readonly sums = new Float64Array(SERIES)
  private readonly kind: "message" | "batched"
  private readonly workerUrl: URL
  private readonly probe: Probe

  constructor(kind: "message" | "batched", workerUrl: URL, probe: Probe) {
    this.kind = kind
    this.workerUrl = workerUrl
    this.probe = probe
  }

  private perSampleHandler(ctl: Int32Array): (m: SampleMessage) => void {
    const sums = this.sums
    const probe = this.probe
    let received = 0
    return (m) => {
      if (m.id < SERIES) {
        sums[m.id] = sums[m.id]! + m.value
        if ((++received & 63) === 0) Atomics.store(ctl, Ctl.RECEIVED, received)
      } else probe.marker(m.value)
    }
  }

  private batchHandler(ctl: Int32Array): (batch: Float64Array) => void {
    const sums = this.sums
    const probe = this.probe
    let received = 0
    return (batch) => {
      for (let i = 0; i < batch.length; i += BATCH_STRIDE) {
        const id = batch[i]! | 0
        if (id < SERIES) {
          sums[id] = sums[id]! + batch[i + 2]!
          received++
        } else probe.marker(batch[i + 2]!)
      }
      Atomics.store(ctl, Ctl.RECEIVED, received)
    }
  }

  async begin(cores: number, rate: number): Promise<void> {
    this.slots = [] // the last trial's (terminated) workers
    for (let i = 0; i < cores; i++) {
      const slot = await spawn(this.workerUrl, producerData(this.kind, i, {}))
      slot.worker.on("message", this.kind === "message" ? this.perSampleHandler(slot.ctl) : this.batchHandler(slot.ctl))
      this.slots.push(slot)
    }
    for (const slot of this.slots) startRun(slot, rate)
  }

  tick(): void {}

  counts(): Counts {
    return { delivered: sumOf(this.sums), produced: produced(this.slots, this.slots.length), ringRecorded: 0, ringDropped: 0, capped: cappedOf(this.slots) }
  }

  async end(): Promise<void> {
    await stopRuns(this.slots)
    for (const slot of this.slots) slot.worker.removeAllListeners("message")
    // Whatever is still queued goes with the worker. The slots stay until the next trial: their control
    // blocks still say what the producers produced.
    await Promise.all(this.slots.map(exit))
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map(exit))
    this.slots = []
  }
}

// ─── the lab: pools and trials ───────────────────────────────────────────────────────────────────

interface Snapshot extends Counts {
  readonly t: number
  readonly cpu: NodeJS.CpuUsage
  readonly elu: ReturnType<typeof performance.eventLoopUtilization>
}

const quantile = (sorted: ReadonlyArray<number>, q: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!

export class Lab {
  private readonly sides: Map<ProducerKind, Side>
  private readonly probe: Probe

  private constructor(sides: Map<ProducerKind, Side>, probe: Probe) {
    this.sides = sides
    this.probe = probe
  }

  /**
   * Spawns the persistent producer pools (`maxCores` workers per percore kind) the competitors need.
   * `workerUrl` is a module that calls `runProducer(workerData)` when it is a worker.
   */
  static async create(workerUrl: URL, maxCores: number, competitors: ReadonlyArray<CompetitorId>): Promise<Lab> {
    const probe = new Probe()
    const kinds = new Set(competitors.map((c) => COMPETITORS[c].kind))
    const sides = new Map<ProducerKind, Side>()
    try {
      if (kinds.has("handles")) sides.set("handles", await HandlesSide.create(workerUrl, maxCores, probe))
      if (kinds.has("ring")) sides.set("ring", await RingSide.create(workerUrl, maxCores, probe, "ring"))
      if (kinds.has("ringBatch")) sides.set("ringBatch", await RingSide.create(workerUrl, maxCores, probe, "ringBatch"))
      if (kinds.has("message")) sides.set("message", new MessageSide("message", workerUrl, probe))
      if (kinds.has("batched")) sides.set("batched", new MessageSide("batched", workerUrl, probe))
    } catch (error) {
      await Promise.all([...sides.values()].map((s) => s.close()))
      throw error
    }
    return new Lab(sides, probe)
  }

  async trial(competitor: CompetitorId, cores: number, rate: number, timing: Timing): Promise<Trial> {
    const info = COMPETITORS[competitor]
    const side = this.sides.get(info.kind)
    if (side === undefined) throw new Error(`offthread bench: no producers for ${competitor}`)
    const probe = this.probe
    probe.latencies.length = 0
    probe.recording = false
    const snapshot = (): Snapshot => ({ ...side.counts(), t: performance.now(), cpu: process.threadCpuUsage(), elu: performance.eventLoopUtilization() })
    const before = side.counts()
    let base: Counts | undefined
    let maxGapMs = 0
    let first: Snapshot | undefined
    let last: Snapshot | undefined
    try {
      await side.begin(cores, rate)
      base = side.counts()
      const started = performance.now()
      let previous = started
      while (last === undefined) {
        await (side.wake === undefined ? sleep(info.intervalMs) : side.wake(info.intervalMs))
        side.tick()
        const now = performance.now()
        if (first !== undefined && now - previous > maxGapMs) maxGapMs = now - previous
        previous = now
        if (first === undefined) {
          if (now - started >= timing.warmupMs) {
            first = snapshot()
            probe.recording = true
          }
        } else if (now - first.t >= timing.windowMs) {
          probe.recording = false
          last = snapshot()
        }
      }
    } finally {
      probe.recording = false
      await side.end()
    }
    const after = side.counts()
    await settle()
    const ms = last.t - first!.t
    const seconds = ms / 1000
    const cpuMs = (last.cpu.user - first!.cpu.user + last.cpu.system - first!.cpu.system) / 1000
    const recorded = last.ringRecorded - first!.ringRecorded
    const dropped = last.ringDropped - first!.ringDropped
    const latencies = [...probe.latencies].sort((a, b) => a - b)
    return {
      competitor,
      cores,
      rate,
      seconds,
      delivered: (last.delivered - first!.delivered) / seconds,
      offered: (last.produced - first!.produced) / seconds,
      dropPct: recorded > 0 ? (dropped / recorded) * 100 : 0,
      ringSamples: recorded / seconds,
      cpuPct: (cpuMs / ms) * 100,
      eluPct: performance.eventLoopUtilization(last.elu, first!.elu).utilization * 100,
      backlog: Math.max(0, last.produced - base!.produced - (last.delivered - base!.delivered)),
      latencyP50Ms: quantile(latencies, 0.5),
      latencyP99Ms: quantile(latencies, 0.99),
      markers: latencies.length,
      capped: last.capped,
      maxGapMs,
      unaccounted: after.produced - (after.delivered - before.delivered)
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.sides.values()].map((s) => s.close()))
  }
}

// ─── statistics and result rows ──────────────────────────────────────────────────────────────────

const medianOf = (values: ReadonlyArray<number>): number => {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (finite.length === 0) return Number.NaN
  const mid = finite.length >> 1
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2
}

/** The rounds of one (competitor, cores, rate) cell, summarized by medians. */
export interface Cell {
  readonly competitor: CompetitorId
  readonly cores: number
  readonly rate: number
  readonly rounds: number
  readonly delivered: number
  readonly deliveredMin: number
  readonly deliveredMax: number
  readonly offered: number
  readonly dropPct: number
  readonly ringSamples: number
  readonly cpuPct: number
  readonly eluPct: number
  readonly backlog: number
  readonly latencyP50Ms: number
  readonly latencyP99Ms: number
  /** Rounds in which a postMessage producer hit its queue cap. */
  readonly cappedRounds: number
  /** Largest `Trial.unaccounted` of the rounds (handles: must be 0). */
  readonly unaccounted: number
  /** Longest gap between two drains (ticks) in any round, ms. */
  readonly maxGapMs: number
}

export const summarize = (trials: ReadonlyArray<Trial>): Array<Cell> => {
  const groups = new Map<string, Array<Trial>>()
  for (const t of trials) {
    const key = `${t.competitor}|${t.cores}|${t.rate}`
    const group = groups.get(key)
    if (group === undefined) groups.set(key, [t])
    else group.push(t)
  }
  return [...groups.values()].map((group) => {
    const first = group[0]!
    const of = (f: (t: Trial) => number) => medianOf(group.map(f))
    const delivered = group.map((t) => t.delivered)
    return {
      competitor: first.competitor,
      cores: first.cores,
      rate: first.rate,
      rounds: group.length,
      delivered: of((t) => t.delivered),
      deliveredMin: Math.min(...delivered),
      deliveredMax: Math.max(...delivered),
      offered: of((t) => t.offered),
      dropPct: of((t) => t.dropPct),
      ringSamples: of((t) => t.ringSamples),
      cpuPct: of((t) => t.cpuPct),
      eluPct: of((t) => t.eluPct),
      backlog: of((t) => t.backlog),
      latencyP50Ms: of((t) => t.latencyP50Ms),
      latencyP99Ms: of((t) => t.latencyP99Ms),
      cappedRounds: group.filter((t) => t.capped > 0).length,
      unaccounted: Math.max(...group.map((t) => t.unaccounted)),
      maxGapMs: Math.max(...group.map((t) => t.maxGapMs))
    }
  })
}

export const rateLabel = (rate: number): string =>
  rate === 0 ? "full speed" : rate >= 1e6 ? `${rate / 1e6} M/s per core` : `${rate / 1e3} k/s per core`

export const coresLabel = (cores: number): string => `${cores} ${cores === 1 ? "core" : "cores"}`

export const cellName = (c: Pick<Cell, "competitor" | "cores" | "rate">): string =>
  `${COMPETITORS[c.competitor].label} · ${coresLabel(c.cores)} · ${rateLabel(c.rate)}`

/** Delivered / offered ≥ this counts as keeping up (with no ring drops and no queue cap). */
const KEEPS_UP = 0.97

/** No drops, no capped queue, and delivered within 3 % of offered. */
export const sustained = (c: Cell): boolean => c.dropPct === 0 && c.cappedRounds === 0 && c.delivered >= KEEPS_UP * c.offered

const fmt = (n: number): string => {
  if (!Number.isFinite(n)) return "n/a"
  const abs = Math.abs(n)
  if (abs === 0) return "0"
  if (abs >= 100) return n.toFixed(0)
  if (abs >= 10) return n.toFixed(1)
  if (abs >= 1) return n.toFixed(2)
  if (abs >= 0.01) return n.toFixed(3)
  return n.toPrecision(2)
}

export const mps = (samplesPerSecond: number): string => fmt(samplesPerSecond / 1e6)

/** Control-plane CPU (% of one core) per 1 M delivered samples/s. */
export const cpuPerMillion = (c: Cell): number => c.cpuPct / (c.delivered / 1e6)

const finiteDetail = (entries: Record<string, number | string>): Record<string, number | string> =>
  Object.fromEntries(Object.entries(entries).filter(([, v]) => typeof v === "string" || Number.isFinite(v)))

/** A result row: delivered M samples/s (median, min, max of rounds), relative to `anchor`'s median. */
export const rowOf = (c: Cell, anchor: Cell | undefined): ResultRow => {
  const relative = anchor === undefined || anchor === c || !(anchor.delivered > 0) ? undefined : c.delivered / anchor.delivered
  return {
    name: cellName(c),
    unit: "M samples/s delivered",
    median: c.delivered / 1e6,
    min: c.deliveredMin / 1e6,
    max: c.deliveredMax / 1e6,
    ...(relative === undefined || !Number.isFinite(relative) || relative <= 0 ? {} : { relative }),
    detail: finiteDetail({
      rounds: c.rounds,
      offeredMps: c.offered / 1e6,
      dropPct: c.dropPct,
      ringSamplesPerSec: c.ringSamples,
      controlPlaneCpuPct: c.cpuPct,
      controlPlaneCpuPctPerMps: cpuPerMillion(c),
      eventLoopPct: c.eluPct,
      backlogSamples: c.backlog,
      latencyP50Ms: c.latencyP50Ms,
      latencyP99Ms: c.latencyP99Ms,
      cappedRounds: c.cappedRounds,
      unaccountedSamples: c.unaccounted,
      maxDrainGapMs: c.maxGapMs
    })
  }
}

/** The row's other figures, one line (a note: the runner prints notes, not details). */
export const detailLine = (c: Cell): string => {
  const parts = [
    `offered ${mps(c.offered)} M/s`,
    COMPETITORS[c.competitor].percore
      ? `dropped ${fmt(c.dropPct)} %${
        c.competitor === "handles"
          ? ` (ring ${mps(c.ringSamples)} M samples/s; ${c.unaccounted === 0 ? "books exact: every inc() reached the aggregate" : `BOOKS OFF: ${c.unaccounted} inc() never reached the aggregate`})`
          : ""
      }`
      : `backlog ${fmt(c.backlog)} samples${c.cappedRounds > 0 ? ` (queue cap hit in ${c.cappedRounds}/${c.rounds} rounds)` : ""}`,
    `control plane ${fmt(c.cpuPct)} % CPU = ${fmt(cpuPerMillion(c))} % per M/s, event loop ${fmt(c.eluPct)} % busy` +
    (COMPETITORS[c.competitor].percore ? `, longest gap between drains ${fmt(c.maxGapMs)} ms` : ""),
    `latency p50 ${fmt(c.latencyP50Ms)} ms, p99 ${fmt(c.latencyP99Ms)} ms`
  ]
  return `${cellName(c)}: ${parts.join("; ")}`
}

/** A ratio `value ≤ target` (met), dropped when it cannot be computed (a zero or missing figure). */
export const ratioOf = (name: string, value: number, target?: number): Array<Ratio> => {
  if (!Number.isFinite(value) || value <= 0) return []
  return [target === undefined ? { name, value } : { name, value, target, met: value <= target }]
}

export const find = (cells: ReadonlyArray<Cell>, competitor: CompetitorId, cores: number, rate: number): Cell | undefined =>
  cells.find((c) => c.competitor === competitor && c.cores === cores && c.rate === rate)

export const machineLabel = (): string =>
  `${os.cpus()[0]?.model.trim() ?? "unknown CPU"}, ${os.availableParallelism()} CPUs (availableParallelism), node ${process.version} ${process.platform} ${process.arch}`

/** The machine's 1-minute load average at the start and the end of a run (other work competes for the CPUs). */
export const loadNote = (before: number, after: number): string =>
  `1-minute load average ${before.toFixed(2)} at the start, ${after.toFixed(2)} at the end (this run itself keeps N + 1 threads busy, ` +
  `plus the ring clock's ticker); anything above that is other work sharing the ${os.availableParallelism()} CPUs.`

export const loadAverage = (): number => os.loadavg()[0] ?? 0

/** Whole-machine and this-process CPU time, to tell how much of the machine other work took during a run. */
export interface CpuSample {
  readonly machineBusyMs: number
  readonly machineTotalMs: number
  readonly processMs: number
  readonly wallMs: number
}

export const cpuSample = (): CpuSample => {
  let machineBusyMs = 0
  let machineTotalMs = 0
  for (const cpu of os.cpus()) {
    const t = cpu.times
    machineBusyMs += t.user + t.nice + t.sys + t.irq
    machineTotalMs += t.user + t.nice + t.sys + t.irq + t.idle
  }
  const own = process.cpuUsage()
  return { machineBusyMs, machineTotalMs, processMs: (own.user + own.system) / 1000, wallMs: performance.now() }
}

/** "the machine's CPUs were X % busy, this process Y % of them": other work = the difference. */
export const cpuNote = (from: CpuSample, to: CpuSample): string => {
  const total = to.machineTotalMs - from.machineTotalMs
  if (!(total > 0)) return ""
  const cpus = os.cpus().length
  const busy = ((to.machineBusyMs - from.machineBusyMs) / total) * 100
  const own = ((to.processMs - from.processMs) / ((to.wallMs - from.wallMs) * cpus)) * 100
  return `During the run the machine's ${cpus} CPUs were ${busy.toFixed(0)} % busy, this benchmark process ${own.toFixed(0)} % of them: ` +
    `other work took about ${Math.max(0, busy - own).toFixed(0)} % (it competes with producers and control plane alike; ratios in one run stay comparable).`
}

/**
 * A plain-text rendering of a result, for a bundled build where `bench/run.ts` (and its `formatResult`) is not
 * next to the bundle.
 */
export const plainFormat = (result: BenchmarkResult): string => {
  const lines = [`## ${result.title}`, ""]
  for (const r of result.rows) {
    const rel = r.relative === undefined ? "" : `  (${r.relative.toFixed(3)}× ${result.relativeTo ?? "anchor"})`
    lines.push(`${r.name}: ${r.median.toPrecision(3)} ${r.unit} (${r.min.toPrecision(3)}–${r.max.toPrecision(3)})${rel}`)
  }
  if (result.ratios.length > 0) lines.push("")
  for (const r of result.ratios) {
    lines.push(`${r.name}: ${r.value.toPrecision(3)}${r.target === undefined ? "" : ` (target ≤ ${r.target}: ${r.met === true ? "met" : "MISSED"})`}`)
  }
  if (result.notes.length > 0) lines.push("")
  for (const n of result.notes) lines.push(`- ${n}`)
  return lines.join("\n")
}

export const settingsNote = (): string =>
  `percore settings: ring capacity ${RING_CAPACITY} samples, core flush interval ${defaultCoreSettings.flushIntervalMs} ms ` +
  `(allocateCoreBuffers' default), control-plane drain every 10 ms (handles, ring10, ringBatch) or 1 ms (ring1), and at once when a ring crosses half full (as the Drainer); producers emit 100 series ` +
  `round robin plus a latency marker each ~1 ms; postMessage queues are capped at ${BACKLOG_CAP.message.toLocaleString("en-US")} ` +
  `(per sample) / ${BACKLOG_CAP.batched.toLocaleString("en-US")} (batched) samples per producer, after which the producer sleeps 1 ms at a time.`

/** Result rows and detail lines for every measured cell, each row relative to batched postMessage in its cell. */
export const tableOf = (
  cells: ReadonlyArray<Cell>,
  coreCounts: ReadonlyArray<number>,
  rates: ReadonlyArray<number>,
  order: ReadonlyArray<CompetitorId>
): { readonly rows: Array<ResultRow>; readonly lines: Array<string> } => {
  const rows: Array<ResultRow> = []
  const lines: Array<string> = []
  for (const cores of coreCounts) {
    for (const rate of rates) {
      const anchor = find(cells, "batched", cores, rate)
      for (const competitor of order) {
        const cell = find(cells, competitor, cores, rate)
        if (cell === undefined) continue
        rows.push(rowOf(cell, anchor))
        lines.push(detailLine(cell))
      }
    }
  }
  return { rows, lines }
}
