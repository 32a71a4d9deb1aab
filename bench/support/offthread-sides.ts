/**
 * The control plane's side of each off-thread competitor: how this thread consumes what the producers send
 * (percore handles through real CoreChannels into a real AggregateState, raw rings drained into sums, postMessage
 * handlers), when it wakes (a tick, or a ring crossing half full), and the latency markers it sees.
 */
import { performance } from "node:perf_hooks"
import { allocateCoreBuffers } from "../../src/protocol/index.ts"
import { type RingReader, type SampleSink, TelemetryRing } from "../../src/ring/index.ts"
import type { AggregateSeries, AggregateState } from "../../src/engine/AggregateState.ts"
import type { CoreChannel } from "../../src/engine/CoreChannel.ts"
import { RING_CAPACITY } from "./offthread-competitors.ts"
import { cappedOf, exitProducer, produced, producerData, type Slot, spawnProducer, startRun, stopRuns } from "./offthread-pool.ts"
import { BATCH_STRIDE, Ctl, HANDLE_SERIES, SERIES, STAMP_SLOTS } from "./offthread-producer.ts"

const wallClock = (): number => performance.timeOrigin + performance.now()

/** Latencies of the markers that became visible while `recording`. */
export class Probe {
  recording = false
  readonly latencies: Array<number> = []
  marker(stampMs: number): void {
    if (this.recording) this.latencies.push(wallClock() - stampMs)
  }
}

export interface Counts {
  readonly delivered: number
  readonly produced: number
  readonly ringRecorded: number
  readonly ringDropped: number
  readonly capped: number
}

export interface Side {
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
 * What the percore sides share: persistent producers and their rings. `begin` starts the first `cores` of them (the
 * active ones); a tick notes the rings' wake counts, then drains (`drain`, the side's own). The Drainer's early
 * wake-up: `wake` resolves when one of the active rings signals half full after the last tick's note (a wake-up
 * during the drain included), or after `timeoutMs`. `end` stops the runs and drains what they published last.
 */
abstract class PercoreSide implements Side {
  protected active = 0
  protected readonly slots: ReadonlyArray<Slot>
  protected readonly readers: ReadonlyArray<RingReader>
  private readonly wakeCounts: Int32Array

  constructor(slots: ReadonlyArray<Slot>, readers: ReadonlyArray<RingReader>) {
    this.slots = slots
    this.readers = readers
    this.wakeCounts = new Int32Array(readers.length)
  }

  /** Takes what the active producers published (the side's periodic work, after the wake counts were noted). */
  protected abstract drain(): void
  /** Data samples that reached this side's aggregate. */
  protected abstract delivered(): number

  async begin(cores: number, rate: number): Promise<void> {
    this.active = cores
    for (let i = 0; i < cores; i++) startRun(this.slots[i]!, rate)
  }

  wake(timeoutMs: number): Promise<unknown> {
    return Promise.race(this.readers.slice(0, this.active).map((reader, i) => reader.waitForWake(this.wakeCounts[i]!, timeoutMs)))
  }

  tick(): void {
    for (let i = 0; i < this.active; i++) this.wakeCounts[i] = this.readers[i]!.wakeCount()
    this.drain()
  }

  counts(): Counts {
    let ringRecorded = 0
    let ringDropped = 0
    for (const reader of this.readers) {
      ringRecorded += reader.published()
      ringDropped += reader.dropped
    }
    return { delivered: this.delivered(), produced: produced(this.slots, this.active), ringRecorded, ringDropped, capped: 0 }
  }

  async end(): Promise<void> {
    await stopRuns(this.slots.slice(0, this.active))
    this.tick() // their final flushes / publishes
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map(exitProducer))
  }
}

/** Real CoreRuntime producers; real CoreChannels into one real AggregateState. */
export class HandlesSide extends PercoreSide {
  private readonly samples: Array<AggregateSeries> = []
  private readonly markerSeries: Array<AggregateSeries | undefined>
  /** Per producer, the markers already read. */
  private readonly markersSeen: Array<number>
  private readonly channels: ReadonlyArray<CoreChannel>
  private readonly aggregate: AggregateState
  private readonly probe: Probe

  constructor(slots: ReadonlyArray<Slot>, channels: ReadonlyArray<CoreChannel>, aggregate: AggregateState, probe: Probe) {
    super(slots, channels.map((c) => c.reader))
    this.channels = channels
    this.aggregate = aggregate
    this.probe = probe
    this.markerSeries = slots.map(() => undefined)
    this.markersSeen = slots.map(() => 0)
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
      slots.push(await spawnProducer(workerUrl, producerData("handles", i, { core: buffers })))
    }
    return new HandlesSide(slots, channels, aggregate, probe)
  }

  protected drain(): void {
    for (let i = 0; i < this.active; i++) this.channels[i]!.drain()
    this.readMarkers()
  }

  private readMarkers(): void {
    for (let w = 0; w < this.active; w++) {
      const series = this.markerSeries[w] ?? this.aggregate.find(HANDLE_SERIES.markers, { producer: String(w) })
      if (series === undefined) continue
      this.markerSeries[w] = series
      const stamps = this.slots[w]!.stamps
      let k = this.markersSeen[w]!
      for (; k < series.value; k++) this.probe.marker(stamps[k & (STAMP_SLOTS - 1)]!)
      this.markersSeen[w] = k
    }
  }

  protected delivered(): number {
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
    return delivered
  }
}

/** Raw ring producers; `RingReader.drain` into a Float64Array sum per id. */
export class RingSide extends PercoreSide {
  private readonly sums = new Float64Array(SERIES)
  private readonly pendingMarkers = new Float64Array(4096)
  private pendingCount = 0
  private readonly sink: SampleSink
  private readonly probe: Probe

  constructor(slots: ReadonlyArray<Slot>, readers: ReadonlyArray<RingReader>, probe: Probe) {
    super(slots, readers)
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
      slots.push(await spawnProducer(workerUrl, producerData(kind, i, { ring })))
    }
    return new RingSide(slots, readers, probe)
  }

  protected drain(): void {
    for (let i = 0; i < this.active; i++) this.readers[i]!.drain(this.sink)
    for (let i = 0; i < this.pendingCount; i++) this.probe.marker(this.pendingMarkers[i]!)
    this.pendingCount = 0
  }

  protected delivered(): number {
    return sumOf(this.sums)
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
export class MessageSide implements Side {
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
      const slot = await spawnProducer(this.workerUrl, producerData(this.kind, i, {}))
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
    await Promise.all(this.slots.map(exitProducer))
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map(exitProducer))
    this.slots = []
  }
}
