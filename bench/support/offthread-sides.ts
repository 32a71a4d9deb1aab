/**
 * The control plane's side of each off-thread competitor: how this thread consumes what the producers send
 * (percore handles through real CoreChannels into a real AggregateState, raw rings drained into sums, postMessage
 * handlers), when it wakes (a tick, or a ring crossing half full), and the latency markers it sees.
 */
import { performance } from "node:perf_hooks"
import { allocateCoreBuffers } from "../../src/core/CoreBuffers.ts"
import { type RingReader, type SampleSink, TelemetryRing } from "../../src/ring/index.ts"
import type { AggregateSeries, AggregateState } from "../../src/services/AggregateState.ts"
import type { CoreChannel } from "../../src/services/CoreChannel.ts"
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


/** Real CoreRuntime producers; real CoreChannels into one real AggregateState. */
export class HandlesSide implements Side {
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
    const { CoreChannel } = await import("../../src/services/CoreChannel.ts")
    const { AggregateState } = await import("../../src/services/AggregateState.ts")
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
    await Promise.all(this.slots.map(exitProducer))
  }
}

/** Raw ring producers; `RingReader.drain` into a Float64Array sum per id. */
export class RingSide implements Side {
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
      slots.push(await spawnProducer(workerUrl, producerData(kind, i, { ring })))
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
    await Promise.all(this.slots.map(exitProducer))
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
