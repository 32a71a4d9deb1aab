/**
 * CoreRuntime — the data-plane side of percore, one per core (worker thread).
 *
 * Handles coalesce on their core: a counter's increments, a gauge's current value and a histogram's
 * bucket counts and sum accumulate in preallocated typed arrays, and a flush publishes one ring sample
 * per changed component. So a handle call costs a few typed-array writes (no ring record, no atomics,
 * no allocation), and what crosses threads is bounded by the number of series, not the call rate.
 *
 * Flushes happen (a) `flushIntervalMs` after a series first changes since the last flush, on a one-shot timer
 * (armed only then: an idle core wakes for nothing), while the core's event loop turns, (b) from the
 * hot path itself, which looks at the clock every CHECK_EVERY handle calls, so a core that records in a
 * loop without yielding still flushes on time, (c) when the control plane asks (before a scrape) and
 * (d) when the core stops or finishes. Staleness: a recorded value reaches the ring within one flush
 * interval while the core records or its event loop turns, and the Aggregate one drain interval later.
 *
 * The coalescing state (`pending`, `dirty`, the flush's id list) lives in the core's shared `coalesce` buffers,
 * so the control plane can collect what a thread had not flushed when it ended (see `CoreChannel.reconcile`).
 * A flush brackets its appends with the control block's FLUSHING words and resets `pending` only after the
 * ring published them, so a thread that dies inside a flush is neither lost nor counted twice.
 *
 * Series definitions are validated here, synchronously, and appended to the core's intern log before
 * the series' first sample can be flushed, so the control plane always knows a sample's series.
 */
// Modules, not the domain's barrel: the barrel also holds the control plane's Schemas, and cores load no Effect.
import { type DefinitionError, InvalidLabelName, InvalidMetricName, SeriesLimitExceeded } from "../domain/errors.ts"
import { type GaugeAggregation, MetricKind } from "../domain/MetricKind.ts"
import {
  familySampleNames,
  findFamilyConflict,
  findSampleClash,
  findSizeProblem,
  type SeriesDefinition,
  seriesKey,
  validateDefinition
} from "../domain/series.ts"
import {
  bucketIndex,
  CoreControl,
  type CoalesceBuffers,
  type CoreBuffers,
  type CoreSettings,
  MAX_COALESCE_IDS,
  type InternEntry,
  InternLogFull,
  InternLogWriter,
  isReservedFamily,
  InvalidReason,
  RefusalScope,
  SELF_PREFIX,
  seriesLayout,
  WireKind
} from "../protocol/index.ts"
import { threadId } from "node:worker_threads"
import { MAX_METRIC_ID, type RingWriter, TelemetryRing } from "../ring/TelemetryRing.ts"
import { type RuntimeMetrics, startCoreRuntimeMetrics } from "./runtimeMetrics.ts"

/** Handle calls between two looks at the clock (and at stop / flush requests) on the hot path. */
const CHECK_EVERY = 256

export type Labels = Readonly<Record<string, string>>

export interface CounterOptions {
  readonly help?: string
  readonly labels?: Labels
}
export interface GaugeOptions {
  readonly help?: string
  readonly labels?: Labels
  /** How the values of several cores combine (default `sum`). */
  readonly aggregate?: GaugeAggregation
}
export interface HistogramOptions {
  readonly help?: string
  readonly labels?: Labels
  /** Upper bounds, strictly increasing and finite; a final `+Inf` is implied. Default: Prometheus' defaults. */
  readonly buckets?: ReadonlyArray<number>
}

/** Why a sample was refused on the core (counted in the control block, see `Control`). */
export { InvalidReason } from "../protocol/index.ts"

interface FamilyState {
  readonly definition: SeriesDefinition
  readonly aggregate: GaugeAggregation | undefined
  series: number
}

/** A counter series on this core. `inc(v)` adds v ≥ 0 (default 1). */
export class Counter {
  private readonly runtime: CoreRuntime
  readonly id: number
  constructor(runtime: CoreRuntime, id: number) {
    this.runtime = runtime
    this.id = id
  }
  inc(amount = 1): void {
    const rt = this.runtime
    if (typeof amount !== "number" || !(amount >= 0 && amount !== Infinity)) {
      rt.refuse(typeof amount !== "number" ? InvalidReason.NonNumber : amount < 0 ? InvalidReason.NegativeIncrement : InvalidReason.NonFiniteIncrement)
      return
    }
    rt.pending[this.id] = rt.pending[this.id]! + amount
    if (rt.dirty[this.id] === 0) rt.markDirty(this.id)
    if (--rt.budget === 0) rt.checkpoint()
  }
}

/** A gauge series on this core: the core's own current value. Accepts any number, NaN and ±Inf included. */
export class Gauge {
  private readonly runtime: CoreRuntime
  readonly id: number
  constructor(runtime: CoreRuntime, id: number) {
    this.runtime = runtime
    this.id = id
  }
  set(value: number): void {
    const rt = this.runtime
    if (typeof value !== "number") return rt.refuse(InvalidReason.NonNumber)
    rt.pending[this.id] = value
    if (rt.dirty[this.id] === 0) rt.markDirty(this.id)
    if (--rt.budget === 0) rt.checkpoint()
  }
  inc(amount = 1): void {
    const rt = this.runtime
    if (typeof amount !== "number") return rt.refuse(InvalidReason.NonNumber)
    rt.pending[this.id] = rt.pending[this.id]! + amount
    if (rt.dirty[this.id] === 0) rt.markDirty(this.id)
    if (--rt.budget === 0) rt.checkpoint()
  }
  dec(amount = 1): void {
    if (typeof amount !== "number") return this.runtime.refuse(InvalidReason.NonNumber)
    this.inc(-amount)
  }
}

/** A histogram series on this core. `observe(v)` takes any finite v; NaN and ±Inf are refused and counted. */
export class Histogram {
  private readonly runtime: CoreRuntime
  /** Ring id of the first bucket; bucket i is id + i (the last one is +Inf), the sum is id + bounds.length + 1 (`seriesLayout`). */
  readonly id: number
  private readonly bounds: Float64Array
  private readonly sumId: number
  constructor(runtime: CoreRuntime, id: number, bounds: ReadonlyArray<number>) {
    this.runtime = runtime
    this.id = id
    this.bounds = Float64Array.from(bounds)
    this.sumId = id + bounds.length + 1
  }
  observe(value: number): void {
    const rt = this.runtime
    if (typeof value !== "number" || !(value - value === 0)) { // false for NaN and ±Infinity
      rt.refuse(typeof value !== "number" ? InvalidReason.NonNumber : InvalidReason.NonFiniteObservation)
      return
    }
    const id = this.id + bucketIndex(this.bounds, value)
    rt.pending[id] = rt.pending[id]! + 1
    if (rt.dirty[id] === 0) rt.markDirty(id)
    rt.pending[this.sumId] = rt.pending[this.sumId]! + value
    if (rt.dirty[this.sumId] === 0) rt.markDirty(this.sumId)
    if (--rt.budget === 0) rt.checkpoint()
  }
}

/** A definition of one of percore's own series on this core. */
export interface OwnDefinition {
  readonly name: string
  readonly kind: MetricKind
  readonly help: string
  readonly labels: Labels
  readonly buckets?: ReadonlyArray<number>
}

export class CoreRuntime {
  /** The core's slot (its `core` label); -1 for a thread that attached itself until a control plane answered. */
  id: number
  /** The control plane's settings (an attached thread starts with the defaults and gets them on attaching). */
  settings: CoreSettings
  readonly buffers: CoreBuffers
  private readonly writer: RingWriter
  private readonly log: InternLogWriter
  private readonly control: CoreControl

  // Coalescing state, indexed by ring id (one id per counter/gauge, buckets + 2 per histogram). Fixed-length
  // views over the shared, growable `coalesce` buffers, recreated when they grow.
  private readonly shared: CoalesceBuffers
  /** @internal */ pending: Float64Array
  /** @internal */ dirty: Uint8Array
  private wireKind: Uint8Array
  private dirtyList: Int32Array
  private dirtyCount = 0
  private nextId = 0
  /** @internal */ budget = CHECK_EVERY

  private lastFlushAt = 0
  private stopFlushed = false
  private readonly families = new Map<string, FamilyState>()
  private readonly handles = new Map<string, Counter | Gauge | Histogram>()
  /** Every sample name the families defined here render, so a family can never render another's. */
  private readonly samples = new Map<string, SeriesDefinition>()
  private seriesCount = 0
  /** The pending flush timer, armed when a series changes and none is pending. */
  private timer: ReturnType<typeof setTimeout> | undefined
  private closed = false
  private runtimeMetrics: RuntimeMetrics | undefined

  constructor(buffers: CoreBuffers) {
    this.id = buffers.coreId
    this.settings = buffers.settings
    this.buffers = buffers
    this.shared = buffers.coalesce
    const ids = buffers.coalesce.dirty.byteLength
    this.pending = new Float64Array(this.shared.pending, 0, ids)
    this.dirty = new Uint8Array(this.shared.dirty, 0, ids)
    this.dirtyList = new Int32Array(this.shared.flushIds, 0, ids)
    this.wireKind = new Uint8Array(ids)
    this.writer = TelemetryRing.writer(buffers.ring)
    this.log = new InternLogWriter(buffers.log)
    this.control = new CoreControl(buffers.control, threadId)
    this.lastFlushAt = performance.now()
    this.runtimeMetrics = startCoreRuntimeMetrics(this)
    this.startListening()
  }

  /** True once the control plane asked this core to stop. */
  get stopping(): boolean {
    return this.control.stopRequested
  }

  counter(name: string, options: CounterOptions = {}): Counter {
    return this.define({ name, kind: MetricKind.Counter, help: options.help, labels: options.labels }, undefined) as Counter
  }

  gauge(name: string, options: GaugeOptions = {}): Gauge {
    return this.define({ name, kind: MetricKind.Gauge, help: options.help, labels: options.labels }, options.aggregate ?? "sum") as Gauge
  }

  histogram(name: string, options: HistogramOptions = {}): Histogram {
    return this.define(
      { name, kind: MetricKind.Histogram, help: options.help, labels: options.labels, buckets: options.buckets },
      undefined
    ) as Histogram
  }

  /**
   * Publishes every coalesced update into the ring now. The appends leave `pending` and `dirty` untouched and
   * are bracketed by FLUSHING: a thread that dies anywhere in here leaves either its values in `pending` or the
   * proof (the ring's published count past FLUSH_BASE) that they reached the ring (CoreChannel.reconcile).
   */
  flush(): void {
    const writer = this.writer
    const pending = this.pending
    const dirty = this.dirty
    const wireKind = this.wireKind
    const list = this.dirtyList
    const n = this.dirtyCount
    const control = this.control
    control.flushStarts(writer.recorded, n)
    for (let i = 0; i < n; i++) {
      const id = list[i]!
      writer.append(id, wireKind[id]!, pending[id]!)
    }
    writer.publish() // one publishing store per flush, not per sample
    for (let i = 0; i < n; i++) {
      const id = list[i]!
      dirty[id] = 0
      if (wireKind[id] !== WireKind.GaugeValue) pending[id] = 0
    }
    control.flushEnds()
    this.dirtyCount = 0
    this.lastFlushAt = performance.now()
    this.control.flushed(writer.recorded)
  }

  /** Final flush and timer stop; the core's samples are all in its ring afterwards. */
  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.runtimeMetrics?.close() // a last reading, published by the final flush below
    this.answerFlushRequest()
  }

  /** @internal The control plane that claimed this thread's buffers gave it a slot and its settings. */
  attached(slot: number, settings: CoreSettings): void {
    this.id = slot
    this.settings = settings
    // Its runtime metrics start now, with the control plane's interval (their `core` label is rewritten to the slot).
    if (!this.closed) this.runtimeMetrics ??= startCoreRuntimeMetrics(this)
  }

  /** @internal Called by handles every CHECK_EVERY calls. */
  checkpoint(): void {
    this.budget = CHECK_EVERY
    const control = this.control
    if (control.flushRequested) this.answerFlushRequest()
    else if (performance.now() - this.lastFlushAt >= this.settings.flushIntervalMs) this.flush()
    else if (!this.stopFlushed && control.stopRequested) {
      this.stopFlushed = true
      this.flush()
    }
  }

  /** @internal */
  markDirty(id: number): void {
    if (this.timer === undefined && !this.closed) this.armTimer()
    this.dirty[id] = 1
    this.dirtyList[this.dirtyCount++] = id
  }

  /** @internal A sample was invalid: count it in the control block (exact even when the ring overflows), never throw. */
  refuse(reason: InvalidReason): void {
    this.control.countInvalid(reason)
  }

  private answerFlushRequest(): void {
    const request = this.control.latestRequest()
    this.flush()
    this.control.answerFlush(request)
  }

  private startListening(): void {
    // Flush requests (scrapes, stop) are answered by the listener; the timer only bounds how long a change waits.
    void this.listenForFlushRequests()
  }

  /** Event-loop flushes: one timer per batch of changes, none while nothing changes. */
  private armTimer(): void {
    this.timer = setTimeout(this.onTimer, this.settings.flushIntervalMs)
    this.timer.unref()
  }

  private readonly onTimer = (): void => {
    this.timer = undefined
    if (this.dirtyCount > 0 || this.control.flushRequested) this.answerFlushRequest()
  }

  private async listenForFlushRequests(): Promise<void> {
    while (!this.closed) {
      const seen = this.control.latestRequest()
      if (this.control.flushRequested) this.answerFlushRequest()
      // The wait does not keep the event loop alive on its own; the timeout bounds a missed wake-up.
      await this.control.waitForRequest(seen, 1000)
    }
  }

  /** @internal Defines one of percore's own series (runtime metrics): reserved names allowed, not counted against limits. */
  defineOwn(input: OwnDefinition, aggregate: GaugeAggregation | undefined): Counter | Gauge | Histogram {
    return this.define(input, aggregate, true)
  }

  private define(
    input: { name: string; kind: MetricKind; help: string | undefined; labels: Labels | undefined; buckets?: ReadonlyArray<number> | undefined },
    aggregate: GaugeAggregation | undefined,
    internal = false
  ): Counter | Gauge | Histogram {
    const definition = validateDefinition(input)
    if (isError(definition)) throw definition
    if (!internal && isReservedFamily(definition.name)) {
      const reason = definition.name.startsWith(SELF_PREFIX)
        ? `the prefix "${SELF_PREFIX}" is reserved for percore's own metrics`
        : "the name is reserved for percore's runtime metrics"
      throw new InvalidMetricName({ name: input.name, reason })
    }
    if (aggregate === "perCore" && definition.labels.some(([label]) => label === "core")) {
      throw new InvalidLabelName({ metric: definition.name, label: "core", reason: "label name \"core\" is reserved on perCore gauges: percore adds it" })
    }
    const tooLarge = findSizeProblem(input.name, definition, this.settings)
    if (tooLarge !== undefined) throw tooLarge
    const key = seriesKey(definition)
    const existingHandle = this.handles.get(key)
    const family = this.families.get(definition.name)
    if (family !== undefined) {
      const conflict = findFamilyConflict(family.definition, family.aggregate, definition, aggregate)
      if (conflict !== undefined) throw conflict
      if (existingHandle !== undefined) return existingHandle
    } else {
      const clash = findSampleClash(this.samples, definition)
      if (clash !== undefined) throw clash
    }
    const layout = seriesLayout(definition.kind, definition.buckets)
    const components = layout.components
    if (!internal && family !== undefined && family.series >= this.settings.maxSeriesPerFamily) {
      this.control.countRefused(RefusalScope.Family)
      throw new SeriesLimitExceeded({ metric: definition.name, scope: "family", limit: this.settings.maxSeriesPerFamily })
    }
    if ((!internal && this.seriesCount >= this.settings.maxSeriesPerCore) || this.nextId + components - 1 > MAX_METRIC_ID) {
      this.control.countRefused(RefusalScope.Core)
      throw new SeriesLimitExceeded({ metric: definition.name, scope: "core", limit: this.settings.maxSeriesPerCore })
    }
    const id = this.nextId
    const entry: InternEntry = {
      id,
      name: definition.name,
      kind: definition.kind,
      help: definition.help,
      labels: definition.labels,
      ...(definition.buckets !== undefined ? { buckets: definition.buckets } : {}),
      ...(aggregate !== undefined ? { aggregate } : {})
    }
    try {
      this.log.append(entry) // published before any sample of this series can be flushed
    } catch (e) {
      if (e instanceof InternLogFull) {
        this.control.countRefused(RefusalScope.Core)
        throw new SeriesLimitExceeded({ metric: definition.name, scope: "core", limit: this.seriesCount })
      }
      throw e
    }
    this.reserve(id + components)
    this.nextId = id + components
    for (let i = 0; i < components; i++) this.wireKind[id + i] = layout.kindOf(i)
    const handle = definition.kind === MetricKind.Counter
      ? new Counter(this, id)
      : definition.kind === MetricKind.Gauge
      ? new Gauge(this, id)
      : new Histogram(this, id, definition.buckets!)
    if (family === undefined) {
      this.families.set(definition.name, { definition, aggregate, series: 1 })
      for (const sample of familySampleNames(definition)) this.samples.set(sample, definition)
    } else family.series++
    if (!internal) this.seriesCount++
    this.handles.set(key, handle)
    return handle
  }

  /**
   * Grows the coalescing arrays (definition time only, never on the hot path): the shared buffers grow in place
   * (the control plane sees the new length) and the fixed-length views are recreated over them.
   */
  private reserve(ids: number): void {
    if (ids <= this.pending.length) return
    let size = this.pending.length
    while (size < ids) size *= 2
    size = Math.min(size, MAX_COALESCE_IDS)
    const shared = this.shared
    shared.pending.grow(size * 8)
    shared.dirty.grow(size)
    shared.flushIds.grow(size * 4)
    this.pending = new Float64Array(shared.pending, 0, size)
    this.dirty = new Uint8Array(shared.dirty, 0, size)
    this.dirtyList = new Int32Array(shared.flushIds, 0, size)
    const wireKind = new Uint8Array(size)
    wireKind.set(this.wireKind)
    this.wireKind = wireKind
  }
}

const isError = (u: SeriesDefinition | DefinitionError): u is DefinitionError => u instanceof Error
