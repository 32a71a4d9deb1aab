/**
 * CoreChannel — the control plane's end of one core incarnation: the ring's reader, the intern log's
 * reader, the control block, and the table that maps the core's ring ids to aggregate series.
 *
 * `drain()` is the ring's one consumer; only the Drainer calls it, one drain at a time.
 */
import {
  type DefinitionError,
  type GaugeAggregation,
  MetricKind,
  SelfMetric,
  validateDefinition,
  WireKind
} from "../domain/index.ts"
import { Control, type CoreBuffers } from "../core/CoreBuffers.ts"
import { type InternEntry, SELF_PREFIX } from "../core/CoreRuntime.ts"
import { InternLogReader } from "../core/InternLog.ts"
import { type RingReader, type SampleSink, TelemetryRing } from "../ring/index.ts"
import type { AggregateSeries, AggregateState, GaugeSeries } from "./AggregateState.ts"

const Role = { Counter: 0, Gauge: 1, Bucket: 2, Sum: 3, Refused: 4 } as const
type Role = typeof Role[keyof typeof Role]

interface Target {
  readonly role: Role
  readonly wire: number
  readonly series: AggregateSeries
  readonly bucket: number
}

export type CoreState = "starting" | "up" | "finished" | "crashed" | "stopped"

export class CoreChannel {
  readonly coreId: number
  readonly buffers: CoreBuffers
  readonly reader: RingReader
  readonly control: Int32Array
  state: CoreState = "starting"
  private readonly log: InternLogReader
  private readonly aggregate: AggregateState
  private readonly targets: Array<Target | undefined> = []
  private readonly sink: SampleSink
  private reportedDropped = 0
  private reportedRecorded = 0
  /** Definitions the control plane refused since the last call of `takeRefusals` (for logging). */
  private refusals: Array<DefinitionError> = []
  private flushRequest = 0
  private recordedLow = 0
  private recordedTotal = 0
  private readonly self: {
    readonly recorded: AggregateSeries
    readonly delivered: AggregateSeries
    readonly dropped: AggregateSeries
    readonly highWater: AggregateSeries
    readonly refusedSamples: AggregateSeries
    readonly unknownSamples: AggregateSeries
    readonly refusedGlobal: AggregateSeries
    readonly refusedConflict: AggregateSeries
  }

  constructor(buffers: CoreBuffers, aggregate: AggregateState) {
    this.coreId = buffers.coreId
    this.buffers = buffers
    this.aggregate = aggregate
    this.reader = TelemetryRing.reader(buffers.ring)
    this.log = new InternLogReader(buffers.log)
    this.control = new Int32Array(buffers.control)
    const core = String(this.coreId)
    const counter = (metric: { name: string; help: string }, labels: Record<string, string>) =>
      aggregate.own(metric.name, MetricKind.Counter, metric.help, { core, ...labels })
    const gauge = (metric: { name: string; help: string }) => aggregate.own(metric.name, MetricKind.Gauge, metric.help, { core })
    this.self = {
      recorded: counter(SelfMetric.ringRecorded, {}),
      delivered: counter(SelfMetric.ringDelivered, {}),
      dropped: counter(SelfMetric.ringDropped, {}),
      highWater: gauge(SelfMetric.ringHighWater),
      refusedSamples: counter(SelfMetric.invalidSamples, { reason: "refused_series" }),
      unknownSamples: counter(SelfMetric.invalidSamples, { reason: "unknown_series" }),
      refusedGlobal: counter(SelfMetric.seriesRefused, { scope: "global" }),
      refusedConflict: counter(SelfMetric.seriesRefused, { scope: "conflict" })
    }
    gauge(SelfMetric.ringCapacity).value = this.reader.size
    const coreId = this.coreId
    this.sink = (id, kind, value, timestampMs) => {
      let target = this.targets[id]
      if (target === undefined) {
        this.readLog()
        target = this.targets[id]
        if (target === undefined) {
          this.self.unknownSamples.value++
          return
        }
      }
      if (kind !== target.wire && target.role !== Role.Refused) {
        this.self.unknownSamples.value++
        return
      }
      const series = target.series
      switch (target.role) {
        case Role.Counter:
          series.value += value
          break
        case Role.Gauge:
          ;(series as GaugeSeries).update(coreId, value, timestampMs)
          break
        case Role.Bucket:
          series.bucketCounts![target.bucket] = series.bucketCounts![target.bucket]! + value
          series.count += value
          break
        case Role.Sum:
          series.sum += value
          break
        case Role.Refused:
          series.value++
          break
      }
    }
  }

  /** Drains the ring into the aggregate; returns samples delivered. Only the Drainer calls this. */
  drain(): number {
    const reader = this.reader
    const delivered = reader.drain(this.sink)
    // The ring's own count (published positions + refused records): consistent with delivered and
    // dropped at every instant, so delivered + dropped + backlog == recorded on every scrape.
    const recorded = reader.published()
    this.self.recorded.value += recorded - this.reportedRecorded
    this.reportedRecorded = recorded
    this.self.delivered.value += delivered
    this.self.dropped.value += reader.dropped - this.reportedDropped
    this.reportedDropped = reader.dropped
    if (reader.lastBacklog > this.self.highWater.value) this.self.highWater.value = reader.lastBacklog
    return delivered
  }

  /** Definitions refused since the last call (a conflict with another core, or the global limit). */
  takeRefusals(): ReadonlyArray<DefinitionError> {
    const taken = this.refusals
    if (taken.length > 0) this.refusals = []
    return taken
  }

  /**
   * Samples the core itself says it recorded into its ring (control block, mod 2^32 there, unwrapped here;
   * the core stores it after each flush). An independent check of the ring's books: once the core has
   * stopped normally and the ring is drained, `reader.delivered + reader.dropped` equals it exactly.
   */
  recorded(): number {
    const low = Atomics.load(this.control, Control.RECORDED) >>> 0
    this.recordedTotal += (low - this.recordedLow) >>> 0
    this.recordedLow = low
    return this.recordedTotal
  }

  /** Asks the core to flush its coalesced updates; returns the request number to wait for. */
  requestFlush(): number {
    this.flushRequest = Atomics.add(this.control, Control.FLUSH_REQUEST, 1) + 1
    Atomics.notify(this.control, Control.FLUSH_REQUEST)
    return this.flushRequest
  }

  /** True once the core flushed for `request` (or a later one). */
  flushed(request: number): boolean {
    return Atomics.load(this.control, Control.FLUSH_DONE) - request >= 0
  }

  /** Signals the core to stop (`core.stopping` becomes true) and to flush. */
  requestStop(): void {
    Atomics.store(this.control, Control.STOP, 1)
    Atomics.notify(this.control, Control.STOP)
    this.requestFlush()
  }

  private readLog(): void {
    this.log.readNew((raw) => this.intern(raw as InternEntry))
  }

  private intern(entry: InternEntry): void {
    // The core validated this already; validate again so a corrupted log cannot corrupt the aggregate.
    const definition = validateDefinition({
      name: entry.name,
      kind: entry.kind,
      help: entry.help,
      labels: entry.labels,
      buckets: entry.buckets
    })
    const components = entry.kind === MetricKind.Histogram && entry.buckets !== undefined ? entry.buckets.length + 2 : 1
    const refuse = (series: AggregateSeries) => {
      for (let i = 0; i < components; i++) this.targets[entry.id + i] = { role: Role.Refused, wire: -1, series, bucket: 0 }
    }
    if (definition instanceof Error) return refuse(this.self.refusedSamples)
    const aggregate: GaugeAggregation | undefined = entry.kind === MetricKind.Gauge ? entry.aggregate ?? "sum" : undefined
    const resolved = this.aggregate.resolve(definition, aggregate, this.coreId, definition.name.startsWith(SELF_PREFIX))
    if (resolved instanceof Error) {
      this.refusals.push(resolved)
      ;(resolved._tag === "SeriesLimitExceeded" ? this.self.refusedGlobal : this.self.refusedConflict).value++
      return refuse(this.self.refusedSamples)
    }
    const series = resolved.series
    switch (entry.kind) {
      case MetricKind.Counter:
        this.targets[entry.id] = { role: Role.Counter, wire: WireKind.CounterDelta, series, bucket: 0 }
        return
      case MetricKind.Gauge:
        this.targets[entry.id] = { role: Role.Gauge, wire: WireKind.GaugeValue, series, bucket: 0 }
        return
      case MetricKind.Histogram:
        for (let i = 0; i < components - 1; i++) {
          this.targets[entry.id + i] = { role: Role.Bucket, wire: WireKind.BucketDelta, series, bucket: i }
        }
        this.targets[entry.id + components - 1] = { role: Role.Sum, wire: WireKind.SumDelta, series, bucket: 0 }
        return
    }
  }
}
