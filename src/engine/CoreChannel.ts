/**
 * CoreChannel — the control plane's end of one core incarnation: the ring's reader, the intern log's
 * reader, the plane's side of the control block, and the table that maps the core's ring ids to aggregate
 * series. A plain synchronous engine (no Effect): the Drainer and the DataPlane drive it.
 *
 * `drain()` is the ring's one consumer; only the Drainer calls it, one drain at a time.
 *
 * ## Nothing lost when a thread ends (`reconcile`)
 * A core's coalescing state (`pending`, `dirty`, the ids of the flush in progress) lives in shared memory.
 * Once the core's thread has ended, the control plane drains its ring one last time and adds what the core
 * coalesced but never published:
 * - Why the reads are safe (ECMAScript memory model): the plane calls `reconcile` only after the Worker's
 *   `exit` event, which Node emits after the thread was joined (for a nested worker, after its creator's
 *   environment terminated and joined it, which happens before the creator's own `exit`). Joining is a
 *   synchronization: every write of the ended thread happens-before the plane's reads, so they race with
 *   nothing and see the last value each location got. A thread is terminated only at a V8 interrupt check
 *   (function entry, loop back edge), never inside a store, so what it left is the state at one point of its
 *   program order.
 * - Why nothing is counted twice or missed: a flush (CoreRuntime.flush) stores FLUSH_BASE (its writer's
 *   RECORDED before it), FLUSH_COUNT n and FLUSHING = 1 before its first append, appends the n ids of `flushIds`
 *   in that order without touching `pending`, publishes, then resets `pending` / `dirty` and stores FLUSHING = 0.
 *   So, with FLUSHING = 0, every delta in `pending` is unpublished: the plane adds each non-zero delta and
 *   applies each dirty gauge. With FLUSHING = 1, the ring's published count (positions the final drain saw plus
 *   refused records, the same baseline as RECORDED since both start at position 0) says how many of the n
 *   samples reached the ring, k = published − FLUSH_BASE clamped to [0, n] (an `append` that took the ring's
 *   slow path may have published a prefix): ids `flushIds[0..k)` are already counted and skipped, every
 *   other id is counted from `pending` as above. During a flush nothing else changes `pending` (the flush is
 *   synchronous), and the reset after the publish only clears ids among the k.
 *   The one inexact case: the ring refused a sample of the interrupted flush (its slot was being read while the
 *   ring overwrote, already counted in percore_ring_dropped_total); k then counts it as published.
 * Gauges are idempotent (applying a value the ring already carried changes nothing), so they need only `dirty`.
 */
import type { DefinitionError } from "../domain/errors.ts"
import { type GaugeAggregation, MetricKind } from "../domain/MetricKind.ts"
import { counterSampleName } from "../domain/names.ts"
import { findSizeProblem, validateDefinition } from "../domain/series.ts"
import {
  type CoreBuffers,
  type InternEntry,
  type InvalidReason,
  type RefusalScope,
  InternLogReader,
  invalidReasonLabels,
  isReservedFamily,
  PlaneControl,
  refusalScopeLabels,
  SelfMetric,
  seriesLayout,
  WireKind
} from "../protocol/index.ts"
import { type RingReader, type SampleSink, TelemetryRing } from "../ring/TelemetryRing.ts"
import type { AggregateSeries, AggregateState, GaugeSeries, HistogramSeries } from "./AggregateState.ts"

/** A ring id's role is the wire kind its samples must carry; refused series accept any kind. */
const REFUSED = 255

/** Refusals are logged at most once per this interval per core and reason, with their count. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000

interface PendingRefusals {
  count: number
  /** The first refusal's own words (names the series), for the log line. */
  readonly example: string
}

export class CoreChannel {
  readonly coreId: number
  readonly buffers: CoreBuffers
  readonly reader: RingReader
  readonly control: PlaneControl
  private readonly log: InternLogReader
  private readonly aggregate: AggregateState
  // Where each ring id goes (histograms use one id per bucket and one for the sum), in typed arrays by id: the
  // index of its series in `targets` (-1: not interned yet) and its role; its bucket is its distance from the
  // definition's first id. (An object per id cost ~64 B, a series reference and a bucket per id 12 B.)
  private targetIndex = new Int32Array(64).fill(-1)
  private targetRole = new Uint8Array(64)
  /** Per interned definition: its series (refused ones share `refusedTarget`) and its first ring id. */
  private readonly targets: Array<AggregateSeries> = []
  private targetFirstId = new Int32Array(64)
  private refusedTarget = -1
  private readonly sink: SampleSink
  private reportedDropped = 0
  private reportedRecorded = 0
  /** Definitions the control plane refused since the last call of `takeRefusals` (for logging). */
  private refusals: Array<DefinitionError> = []
  /** Refusals not logged yet, by reason; `lastRefusalLog` is when the last lines were given out. */
  private readonly unlogged = new Map<string, PendingRefusals>()
  private lastRefusalLog = Number.NEGATIVE_INFINITY
  private readonly self: {
    readonly recorded: AggregateSeries
    readonly delivered: AggregateSeries
    readonly dropped: AggregateSeries
    readonly highWater: AggregateSeries
    readonly refusedSamples: AggregateSeries
    readonly unknownSamples: AggregateSeries
    readonly refusedGlobal: AggregateSeries
    readonly refusedConflict: AggregateSeries
    /** Counted by the core in the control block, by `InvalidReason` and by `RefusalScope`. */
    readonly invalid: ReadonlyArray<AggregateSeries>
    readonly refusedOnCore: ReadonlyArray<AggregateSeries>
  }

  /** `slot`: the core's slot (defaults to the one in its buffers; attached threads get theirs from the plane). */
  constructor(buffers: CoreBuffers, aggregate: AggregateState, slot: number = buffers.coreId) {
    this.coreId = slot
    this.buffers = buffers
    this.aggregate = aggregate
    this.reader = TelemetryRing.reader(buffers.ring)
    this.log = new InternLogReader(buffers.log)
    this.control = new PlaneControl(buffers.control)
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
      refusedConflict: counter(SelfMetric.seriesRefused, { scope: "conflict" }),
      invalid: invalidReasonLabels.map((reason) => counter(SelfMetric.invalidSamples, { reason })),
      refusedOnCore: refusalScopeLabels.map((scope) => counter(SelfMetric.seriesRefused, { scope }))
    }
    gauge(SelfMetric.ringCapacity).value = this.reader.size
    const coreId = this.coreId
    this.sink = (id, kind, value, timestampMs) => {
      let target = this.targetOf(id)
      if (target < 0) {
        this.readLog()
        target = this.targetOf(id)
        if (target < 0) {
          this.self.unknownSamples.value++
          return
        }
      }
      const series = this.targets[target]!
      const role = this.targetRole[id]!
      if (kind !== role && role !== REFUSED) {
        this.self.unknownSamples.value++
        return
      }
      switch (role) {
        case WireKind.CounterDelta:
          series.value += value
          break
        case WireKind.GaugeValue:
          ;(series as GaugeSeries).update(coreId, value, timestampMs)
          break
        case WireKind.BucketDelta:
          ;(series as HistogramSeries).addToBucket(id - this.targetFirstId[target]!, value)
          break
        case WireKind.SumDelta: {
          const histogram = series as HistogramSeries
          histogram.addToSum(value)
          // Observations are coalesced per flush: a flush whose sum went down held a negative observation.
          if (value < 0) histogram.negativeObservations = true
          break
        }
        default:
          series.value++ // a refused series: counted in percore_invalid_samples_total
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
    this.readRefusalWords()
    return delivered
  }

  /**
   * Adds what the ended core coalesced but never published (see the module comment). Call it only after the
   * core's thread ended and after its last drain; returns the ids it counted.
   */
  reconcile(): number {
    this.readLog()
    const coalesce = this.buffers.coalesce
    const ids = Math.min(coalesce.dirty.byteLength, this.targetRole.length)
    const pending = new Float64Array(coalesce.pending, 0, ids)
    const dirty = new Uint8Array(coalesce.dirty, 0, ids)
    const published = new Uint8Array(ids)
    const flush = this.control.flushInProgress()
    if (flush !== undefined) {
      const flushIds = new Int32Array(coalesce.flushIds, 0, Math.min(flush.count, coalesce.flushIds.byteLength >> 2))
      const reached = (this.reader.published() - (flush.base >>> 0)) % 4294967296
      const k = Math.max(0, Math.min(flushIds.length, reached < 0 ? reached + 4294967296 : reached))
      for (let i = 0; i < k; i++) {
        const id = flushIds[i]!
        if (id >= 0 && id < ids) published[id] = 1
      }
    }
    const now = Date.now()
    let counted = 0
    for (let id = 0; id < ids; id++) {
      if (published[id] === 1 || this.targetIndex[id]! < 0) continue
      const role = this.targetRole[id]!
      const value = pending[id]!
      const unpublished = role === WireKind.GaugeValue ? dirty[id] === 1 : value !== 0
      if (!unpublished) continue
      this.sink(id, role === REFUSED ? WireKind.CounterDelta : role, value, now)
      counted++
    }
    return counted
  }

  /** The core's own refusal counts, from the control block (where a ring overflow cannot drop them). */
  private readRefusalWords(): void {
    const control = this.control
    for (let reason = 0; reason < this.self.invalid.length; reason++) {
      this.self.invalid[reason]!.value += control.newInvalid(reason as InvalidReason)
    }
    for (let scope = 0; scope < this.self.refusedOnCore.length; scope++) {
      const added = control.newRefused(scope as RefusalScope)
      if (added === 0) continue
      this.self.refusedOnCore[scope]!.value += added
      this.noteRefusals(`the core's ${refusalScopeLabels[scope]} series limit`, added, "")
    }
  }

  private noteRefusals(reason: string, count: number, example: string): void {
    const pending = this.unlogged.get(reason)
    if (pending === undefined) this.unlogged.set(reason, { count, example })
    else pending.count += count
  }

  /**
   * Log lines for the refusals since the last lines (by the core or the control plane), one per reason with its
   * count, at most once per `REFUSAL_LOG_INTERVAL_MS`; none in between. A burst of thousands of refusals is
   * a few lines, while the counters (`percore_series_refused_total`) stay exact.
   */
  refusalLog(nowMs: number): ReadonlyArray<string> {
    for (const error of this.takeRefusals()) {
      this.noteRefusals(error._tag === "SeriesLimitExceeded" ? "the global series limit" : "a conflicting definition", 1, error.message)
    }
    if (this.unlogged.size === 0 || nowMs - this.lastRefusalLog < REFUSAL_LOG_INTERVAL_MS) return []
    this.lastRefusalLog = nowMs
    const lines: Array<string> = []
    for (const [reason, { count, example }] of this.unlogged) {
      const first = example === "" ? "" : ` (first: ${example})`
      lines.push(`percore: core ${this.coreId}: ${count} series definition(s) refused by ${reason}${first}`)
    }
    this.unlogged.clear()
    return lines
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
    return this.control.recorded()
  }

  /** Asks the core to flush its coalesced updates; returns the request number to wait for. */
  requestFlush(): number {
    return this.control.requestFlush()
  }

  /** True once the core flushed for `request` (or a later one). */
  flushed(request: number): boolean {
    return this.control.flushed(request)
  }

  /** Signals the core to stop (`core.stopping` becomes true) and to flush. */
  requestStop(): void {
    this.control.requestStop()
  }

  /** The index in `targets` of the series ring id `id` goes to; -1 when none was interned for it. */
  private targetOf(id: number): number {
    return id < this.targetIndex.length ? this.targetIndex[id]! : -1
  }

  private readLog(): void {
    this.log.readNew((raw) => this.intern(raw as InternEntry))
  }

  private intern(entry: InternEntry): void {
    // The core validated this already; validate again so a corrupted log cannot corrupt the aggregate.
    // percore's own per-core series (self and runtime metrics) carry the slot the control plane gave the core (a thread that attached
    // itself defined them before it had one).
    const labels = isReservedFamily(entry.name) && Array.isArray(entry.labels)
      ? entry.labels.map((pair) => (Array.isArray(pair) && pair[0] === "core" ? ["core", String(this.coreId)] as const : pair))
      : entry.labels
    const definition = validateDefinition({
      // The log holds family names: a counter family `x_total` is the counter the user named `x_total_total`.
      name: entry.kind === MetricKind.Counter ? counterSampleName(entry.name) : entry.name,
      kind: entry.kind,
      help: entry.help,
      labels,
      buckets: entry.buckets
    })
    const layout = seriesLayout(entry.kind, entry.buckets)
    const components = layout.components
    this.reserve(entry.id + components)
    const target = (id: number, index: number, role: number) => {
      this.targetIndex[id] = index
      this.targetRole[id] = role
    }
    const refuse = () => {
      if (this.refusedTarget < 0) this.refusedTarget = this.addTarget(this.self.refusedSamples, 0)
      for (let i = 0; i < components; i++) target(entry.id + i, this.refusedTarget, REFUSED)
    }
    if (definition instanceof Error) return refuse()
    // Cores check the size caps at definition; a log written by other means must not get past them either.
    if (!isReservedFamily(definition.name) && findSizeProblem(definition.name, definition, this.buffers.settings) !== undefined) {
      return refuse()
    }
    const aggregate: GaugeAggregation | undefined = entry.kind === MetricKind.Gauge ? entry.aggregate ?? "sum" : undefined
    const resolved = this.aggregate.resolve(definition, aggregate, this.coreId, isReservedFamily(definition.name))
    if (resolved instanceof Error) {
      this.refusals.push(resolved)
      ;(resolved._tag === "SeriesLimitExceeded" ? this.self.refusedGlobal : this.self.refusedConflict).value++
      return refuse()
    }
    const index = this.addTarget(resolved.series, entry.id)
    // Component i of a histogram is bucket i (its sum is last and ignores the bucket index).
    for (let i = 0; i < components; i++) target(entry.id + i, index, layout.kindOf(i))
  }

  /** Adds a series ring ids can go to; returns its index in `targets`. */
  private addTarget(series: AggregateSeries, firstId: number): number {
    const index = this.targets.push(series) - 1
    if (index >= this.targetFirstId.length) {
      const grown = new Int32Array(this.targetFirstId.length * 2)
      grown.set(this.targetFirstId)
      this.targetFirstId = grown
    }
    this.targetFirstId[index] = firstId
    return index
  }

  /** Grows the per-id arrays (definition time only). */
  private reserve(ids: number): void {
    if (ids <= this.targetRole.length) return
    let size = this.targetRole.length
    while (size < ids) size *= 2
    const index = new Int32Array(size).fill(-1)
    index.set(this.targetIndex)
    this.targetIndex = index
    const role = new Uint8Array(size)
    role.set(this.targetRole)
    this.targetRole = role
  }
}
