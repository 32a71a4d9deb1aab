/**
 * prom-client's metric classes (`Counter`, `Gauge`, `Histogram`) on percore's `core`: every label set is one
 * of this thread's core handles, found through a cache (one nested Map level per label name, so no label value
 * can collide with another and a lookup allocates nothing), so a labelled call costs a few Map lookups and a
 * handle call. Values add up across threads in the control plane's aggregate.
 *
 * Each handle also keeps this thread's own value, for `get()` off the main thread. Errors prom-client throws
 * at a call (a label not in `labelNames`, a wrong number of positional labels, a negative increment, a value
 * that is not a number) are thrown here at the same call, with prom-client's messages.
 */
import { format, inspect } from "node:util"
import { isMainThread } from "node:worker_threads"
import { core, type Counter as CoreCounter, type Gauge as CoreGauge, type Histogram as CoreHistogram } from "../core/index.ts"
import type { GaugeAggregation } from "../domain/MetricKind.ts"
import { MetricKind } from "../domain/MetricKind.ts"
import { InvalidLabelName } from "../domain/errors.ts"
import { counterFamilyName, familyBaseName, labelNameProblem } from "../domain/names.ts"
import type { Family } from "../exposition/model.ts"
import { addCollector, controlPlane } from "../http/renderHooks.ts"
import { bucketIndex } from "../protocol/wire.ts"
import { SummaryNotSupported, UnsupportedAggregator } from "./errors.ts"
import { type RegisteredMetric, Registry } from "./registry.ts"

export type LabelValue = string | number
export type LabelValues<T extends string> = Partial<Record<T, LabelValue>>
/** A labels object from the app, or a child's own (every label name, values as strings). */
export type SomeLabels<T extends string> = LabelValues<T> | Readonly<Record<string, string>>
export type Aggregator = "sum" | "max" | "min" | "first" | "average" | "omit"

export interface MetricValue<T extends string> {
  value: number
  labels: LabelValues<T>
}
export interface MetricValueWithName<T extends string> extends MetricValue<T> {
  metricName: string
}
export interface MetricObjectWithValues<V> {
  name: string
  help: string
  type: "counter" | "gauge" | "histogram"
  aggregator: Aggregator
  values: Array<V>
}

/** The options prom-client's constructors take; `collect` is called with the metric as `this`. */
export interface MetricConfiguration<T extends string, M = unknown> {
  name: string
  help: string
  labelNames?: ReadonlyArray<T>
  registers?: ReadonlyArray<Registry>
  aggregator?: Aggregator
  collect?: (this: M) => void | Promise<void>
}
export interface CounterConfiguration<T extends string> extends MetricConfiguration<T, Counter<T>> {}

/** The cache of one metric's label sets: a Map level per label name, the handle at the leaf. */
interface Node<C> {
  readonly next: Map<string, Node<C>>
  child: C | undefined
}
const node = <C>(): Node<C> => ({ next: new Map(), child: undefined })

const valueOf = <T extends string>(labels: SomeLabels<T>, name: T): LabelValue | undefined =>
  (labels as Partial<Record<string, LabelValue>>)[name]
const isObject = (u: unknown): u is object => u !== null && typeof u === "object"
const keyOf = (value: LabelValue | undefined): string =>
  typeof value === "string" ? value : value === undefined ? "" : String(value)

const metricRegexp = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const labelRegexp = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** What prom-client's base class checks and holds; label sets resolve to children of type C. */
abstract class Metric<T extends string, C> implements RegisteredMetric {
  abstract readonly type: "counter" | "gauge" | "histogram"
  readonly name: string
  readonly help: string
  readonly labelNames: ReadonlyArray<T>
  readonly aggregator: Aggregator
  readonly registers: ReadonlyArray<Registry>
  readonly collect: ((this: never) => void | Promise<void>) | undefined
  private readonly labelSet: ReadonlySet<string>
  private tree: Node<C> = node()
  private stopCollecting: (() => void) | undefined

  constructor(config: MetricConfiguration<T, never>) {
    if (!isObject(config)) throw new TypeError("constructor expected a config object")
    if (!config.help) throw new Error("Missing mandatory help parameter")
    if (!config.name) throw new Error("Missing mandatory name parameter")
    if (!metricRegexp.test(config.name)) throw new Error("Invalid metric name")
    const labelNames = config.labelNames ?? []
    if (!labelNames.every((label) => labelRegexp.test(label))) throw new Error("Invalid label name")
    if (config.collect !== undefined && typeof config.collect !== "function") {
      throw new Error('Optional "collect" parameter must be a function')
    }
    this.name = config.name
    this.help = config.help
    this.labelNames = [...labelNames]
    this.labelSet = new Set(labelNames)
    this.aggregator = config.aggregator ?? "sum"
    this.registers = config.registers ?? [Registry.globalRegistry]
    this.collect = config.collect
  }

  /**
   * Registers in `registers` and defines the unlabelled series up front, as prom-client's constructors do. A name
   * percore refuses (one OpenMetrics would make ambiguous, e.g. a gauge ending in `_total`) or a label name it
   * reserves (`le`, `quantile`, `__*`) throws here, not at the first call that uses it.
   */
  protected init(): void {
    const kind = this.type === "counter" ? MetricKind.Counter : this.type === "gauge" ? MetricKind.Gauge : MetricKind.Histogram
    const names = familyBaseName(this.name, kind)
    if (names instanceof Error) throw names
    for (const label of this.labelNames) {
      const problem = labelNameProblem(label)
      if (problem !== undefined) throw new InvalidLabelName({ metric: this.name, label, reason: problem })
    }
    for (const registry of this.registers) registry.registerMetric(this)
    const collect = this.collect
    // On the main thread collect() runs before every render of the page; elsewhere only in get().
    if (collect !== undefined && isMainThread) this.stopCollecting = addCollector(() => this.runCollect())
    if (this.labelNames.length === 0) this.unlabelled()
  }

  protected abstract makeChild(labels: Readonly<Record<string, string>>): C

  /** The child with no labels (every label name empty when there are label names). */
  protected unlabelled(): C {
    const root = this.tree
    if (this.labelNames.length === 0) return root.child ?? (root.child = this.makeChild({}))
    return this.childOf({})
  }

  /** The child of a labels object; throws prom-client's error for a label not in `labelNames`. */
  protected childOf(labels: SomeLabels<T>): C {
    const names = this.labelNames
    let at = this.tree
    let present = 0
    for (let i = 0; i < names.length; i++) {
      const value = valueOf(labels, names[i]!)
      if (value !== undefined) present++
      const next = at.next.get(keyOf(value))
      if (next === undefined) return this.create(this.checked(labels))
      at = next
    }
    // Every key of `labels` must be a label name: counting its keys is enough when it has no more than it
    // has label names set (the full check runs, and throws, only otherwise).
    let keys = 0
    for (const _ in labels) keys++
    if (keys !== present) this.checked(labels)
    return at.child ?? this.create(labels)
  }

  /** `labels`, after prom-client's check that each of its keys is a label name. */
  private checked<L extends SomeLabels<T>>(labels: L): L {
    for (const label in labels) {
      if (!this.labelSet.has(label)) {
        throw new Error(`Added label "${label}" is not included in initial labelset: ${inspect(this.labelNames)}`)
      }
    }
    return labels
  }

  /**
   * The child of up to four positional label values (`labels("a", 200)`), or of a labels object passed first;
   * `count` is how many arguments were passed. No array is built on this path.
   */
  protected childAt4(
    count: number,
    v0: LabelValue | LabelValues<T> | undefined,
    v1: LabelValue | undefined,
    v2: LabelValue | undefined,
    v3: LabelValue | undefined
  ): C {
    if (isObject(v0)) return this.childOf(v0)
    const names = this.labelNames
    if (count !== names.length) return this.childAt([v0, v1, v2, v3].slice(0, count)) // throws prom-client's error
    let at = this.tree
    for (let i = 0; i < count; i++) {
      const next = at.next.get(keyOf(i === 0 ? v0 : i === 1 ? v1 : i === 2 ? v2 : v3))
      if (next === undefined) return this.create(this.labelsAt([v0, v1, v2, v3]))
      at = next
    }
    return at.child ?? this.create(this.labelsAt([v0, v1, v2, v3]))
  }

  /** The child of positional label values (`labels("a", 200)`), or of a labels object passed first. */
  protected childAt(values: ReadonlyArray<LabelValue | LabelValues<T> | undefined>): C {
    const first = values[0]
    if (isObject(first)) return this.childOf(first)
    const names = this.labelNames
    if (values.length !== names.length) {
      throw new Error(
        `Invalid number of arguments (${values.length}): "${values.join(", ")}" for label names (${names.length}): "${names.join(", ")}".`
      )
    }
    let at = this.tree
    for (let i = 0; i < names.length; i++) {
      const value = values[i]
      const next = at.next.get(keyOf(isObject(value) ? undefined : value))
      if (next === undefined) return this.create(this.labelsAt(values))
      at = next
    }
    return at.child ?? this.create(this.labelsAt(values))
  }

  private labelsAt(values: ReadonlyArray<LabelValue | LabelValues<T> | undefined>): LabelValues<T> {
    const labels: LabelValues<T> = {}
    this.labelNames.forEach((name, i) => {
      const value = values[i]
      if (!isObject(value)) labels[name] = value
    })
    return labels
  }

  /** Defines the label set's core handle (off the hot path: once per label set and thread). */
  private create(labels: SomeLabels<T>): C {
    const strings: Record<string, string> = {}
    for (const name of this.labelNames) strings[name] = keyOf(valueOf(labels, name))
    const child = this.makeChild(strings)
    let at = this.tree
    for (const name of this.labelNames) {
      const key = strings[name]!
      let next = at.next.get(key)
      if (next === undefined) at.next.set(key, next = node())
      at = next
    }
    at.child = child
    return child
  }

  /** The children this thread has used, with their label sets. */
  protected children(): Array<C> {
    const found: Array<C> = []
    const walk = (at: Node<C>): void => {
      if (at.child !== undefined) found.push(at.child)
      for (const next of at.next.values()) walk(next)
    }
    walk(this.tree)
    return found
  }

  /** Forgets this thread's children (their series stay in the aggregate); the unlabelled one is defined again. */
  protected forgetAll(): void {
    this.tree = node()
    if (this.labelNames.length === 0) this.unlabelled()
  }

  /** Forgets one label set's child and returns it. */
  protected forget(values: ReadonlyArray<LabelValue | LabelValues<T>>): C | undefined {
    const first = values[0]
    const labels = isObject(first) ? first : this.labelsAt(values)
    if (!isObject(first) && values.length !== this.labelNames.length) this.childAt(values) // throws prom-client's error
    this.checked(labels)
    let parent: Node<C> | undefined
    let at = this.tree
    let key = ""
    for (const name of this.labelNames) {
      key = keyOf(valueOf(labels, name))
      const next = at.next.get(key)
      if (next === undefined) return undefined
      parent = at
      at = next
    }
    const child = at.child
    if (parent === undefined) at.child = undefined
    else parent.next.delete(key)
    return child
  }

  protected async runCollect(): Promise<void> {
    const collect = this.collect
    // prom-client calls collect with the metric as `this`.
    if (collect !== undefined) await Reflect.apply(collect, this, [])
  }

  /** The aggregate's family of this metric, when this is the main thread and its control plane runs. */
  protected async aggregated(): Promise<Family | undefined | null> {
    const bridge = isMainThread ? controlPlane() : undefined
    if (bridge === undefined) return null
    return bridge.family(this.type === "counter" ? counterFamilyName(this.name) : this.name)
  }

  /** The child of a label set: `labels("a", 200)`, or `labels({ route: "a" })`. */
  labels(...values: Array<LabelValue>): C
  labels(labels: LabelValues<T>): C
  labels(v0?: LabelValue | LabelValues<T>, v1?: LabelValue, v2?: LabelValue, v3?: LabelValue): C {
    // Up to four label values take the allocation-free path; more are rare.
    if (arguments.length <= 4) return this.childAt4(arguments.length, v0, v1, v2, v3)
    const values: Array<LabelValue> = Array.from(arguments)
    return this.childAt(values)
  }
  /**
   * Forgets this thread's own view of the series; what was recorded stays in the aggregate, so a counter's or a
   * histogram's series stays on the page (counters never go down there; see README). Gauge sets it to 0 first.
   */
  remove(...values: Array<LabelValue | LabelValues<T>>): void {
    this.forget(values)
  }
  /** Forgets this thread's own view of every series; what was recorded stays in the aggregate. */
  reset(): void {
    this.forgetAll()
  }
  abstract get(): Promise<unknown>

  /** @internal */
  unregistered(registry: Registry): void {
    if (this.registers.some((r) => r !== registry && r.holds(this))) return
    this.stopCollecting?.()
    this.stopCollecting = undefined
  }
}

const labelsObject = (pairs: ReadonlyArray<readonly [string, string]>): Record<string, string> => {
  const labels: Record<string, string> = {}
  for (const [name, value] of pairs) labels[name] = value
  return labels
}

const notANumber = (what: string, value: unknown): TypeError => new TypeError(`${what} is not a valid number: ${format(value)}`)

// ---------------------------------------------------------------------------------------------------------
// Counter

export class CounterChild<T extends string> {
  /** This thread's total since the child was created. */
  value = 0
  readonly labels: Readonly<Record<string, string>>
  private readonly handle: CoreCounter
  constructor(handle: CoreCounter, labels: Readonly<Record<string, string>>) {
    this.handle = handle
    this.labels = labels
  }
  inc(value?: number): void {
    if (value === undefined) value = 1
    else if (!(value >= 0 && value !== Infinity)) {
      if (value < 0) throw new Error("It is not possible to decrease a counter")
      throw notANumber("Value", value)
    }
    this.value += value
    this.handle.inc(value)
  }
}

export class Counter<T extends string = string> extends Metric<T, CounterChild<T>> {
  readonly type = "counter"
  constructor(config: CounterConfiguration<T>) {
    super(config)
    this.init()
  }
  protected makeChild(labels: Readonly<Record<string, string>>): CounterChild<T> {
    return new CounterChild(core.counter(this.name, { help: this.help, labels }), labels)
  }

  /** `inc()`, `inc(2)`, `inc({ route: "/a" })`, `inc({ route: "/a" }, 2)`. */
  inc(labels?: LabelValues<T> | number, value?: number): void {
    if (isObject(labels)) this.childOf(labels).inc(value)
    else this.unlabelled().inc(labels)
  }
  async get(): Promise<MetricObjectWithValues<MetricValue<string>>> {
    await this.runCollect()
    const family = await this.aggregated()
    const values = family === null
      ? this.children().map((child) => ({ value: child.value, labels: { ...child.labels } }))
      : [...(family?.series ?? [])].map((series) => ({ value: series.value, labels: labelsObject(series.labels) }))
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Gauge

const gaugeAggregation = (name: string, aggregator: Aggregator): GaugeAggregation => {
  switch (aggregator) {
    case "sum":
    case "max":
    case "min":
      return aggregator
    case "first":
      return "latest"
    default:
      throw new UnsupportedAggregator(name, aggregator)
  }
}

export class GaugeChild<T extends string> {
  readonly labels: Readonly<Record<string, string>>
  private readonly handle: CoreGauge
  private readonly gauge: Gauge<T>
  /** This thread's value. */
  value = 0
  constructor(gauge: Gauge<T>, handle: CoreGauge, labels: Readonly<Record<string, string>>) {
    this.gauge = gauge
    this.handle = handle
    this.labels = labels
  }
  set(value: number): void {
    if (typeof value !== "number") throw notANumber("Value", value)
    this.value = value
    this.handle.set(value)
  }
  inc(value?: number): void {
    if (value === undefined) value = 1
    else if (typeof value !== "number") throw notANumber("Delta", value)
    this.value += value
    this.handle.inc(value)
  }
  dec(value?: number): void {
    if (value === undefined) value = 1
    else if (typeof value !== "number") throw notANumber("Delta", value)
    this.value -= value
    this.handle.dec(value)
  }
  setToCurrentTime(): void {
    this.set(Date.now() / 1000)
  }
  /** The end function sets the seconds elapsed, under these labels merged with the end's labels (read when it ends). */
  startTimer(): (endLabels?: LabelValues<T>) => number {
    return this.gauge.startTimer(this.labels)
  }
}

export interface GaugeConfiguration<T extends string> extends MetricConfiguration<T, Gauge<T>> {}

export class Gauge<T extends string = string> extends Metric<T, GaugeChild<T>> {
  readonly type = "gauge"
  private readonly aggregation: GaugeAggregation
  constructor(config: GaugeConfiguration<T>) {
    super(config)
    this.aggregation = gaugeAggregation(this.name, this.aggregator)
    this.init()
  }
  protected makeChild(labels: Readonly<Record<string, string>>): GaugeChild<T> {
    return new GaugeChild(this, core.gauge(this.name, { help: this.help, labels, aggregate: this.aggregation }), labels)
  }

  set(labels: LabelValues<T> | number, value?: number): void {
    if (isObject(labels)) {
      if (typeof value !== "number") throw notANumber("Value", value)
      this.childOf(labels).set(value)
    }
    else this.unlabelled().set(labels)
  }
  inc(labels?: LabelValues<T> | number, value?: number): void {
    if (isObject(labels)) this.childOf(labels).inc(value)
    else this.unlabelled().inc(labels)
  }
  dec(labels?: LabelValues<T> | number, value?: number): void {
    if (isObject(labels)) this.childOf(labels).dec(value)
    else this.unlabelled().dec(labels)
  }
  setToCurrentTime(labels?: LabelValues<T>): void {
    if (labels === undefined) this.unlabelled().setToCurrentTime()
    else this.childOf(labels).setToCurrentTime()
  }
  startTimer(labels?: SomeLabels<T>): (endLabels?: LabelValues<T>) => number {
    const start = performance.now()
    return (endLabels) => {
      const seconds = (performance.now() - start) / 1000
      this.childOf({ ...labels, ...endLabels }).set(seconds)
      return seconds
    }
  }
  /** Sets this thread's value of the series to 0 and forgets it (the series stays on the page). */
  override remove(...values: Array<LabelValue | LabelValues<T>>): void {
    this.forget(values)?.set(0)
  }
  /** Sets this thread's value of every series it used to 0 and forgets them. */
  override reset(): void {
    for (const child of this.children()) child.set(0)
    this.forgetAll()
  }
  async get(): Promise<MetricObjectWithValues<MetricValue<string>>> {
    await this.runCollect()
    const family = await this.aggregated()
    const values = family === null
      ? this.children().map((child) => ({ value: child.value, labels: { ...child.labels } }))
      : [...(family?.series ?? [])].map((series) => ({ value: series.value, labels: labelsObject(series.labels) }))
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Histogram

const defaultBuckets: ReadonlyArray<number> = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export class HistogramChild<T extends string> {
  readonly labels: Readonly<Record<string, string>>
  private readonly handle: CoreHistogram
  private readonly histogram: Histogram<T>
  /** This thread's non-cumulative bucket counts (the last one is `+Inf`), sum and count. */
  readonly bucketCounts: Float64Array
  sum = 0
  count = 0
  constructor(histogram: Histogram<T>, handle: CoreHistogram, labels: Readonly<Record<string, string>>) {
    this.histogram = histogram
    this.handle = handle
    this.labels = labels
    this.bucketCounts = new Float64Array(histogram.upperBounds.length + 1)
  }
  observe(value: number): void {
    if (!Number.isFinite(value)) throw notANumber("Value", value)
    const bucket = bucketIndex(this.histogram.upperBounds, value)
    this.bucketCounts[bucket]!++
    this.sum += value
    this.count++
    this.handle.observe(value)
  }
  /** The end function observes the seconds elapsed, under these labels merged with the end's labels. */
  startTimer(): (endLabels?: LabelValues<T>) => number {
    return this.histogram.startTimer(this.labels)
  }
}

export interface HistogramConfiguration<T extends string> extends MetricConfiguration<T, Histogram<T>> {
  buckets?: ReadonlyArray<number>
}

export class Histogram<T extends string = string> extends Metric<T, HistogramChild<T>> {
  readonly type = "histogram"
  readonly upperBounds: ReadonlyArray<number>
  constructor(config: HistogramConfiguration<T>) {
    super(config)
    for (const label of this.labelNames) {
      if (label === "le") throw new Error("le is a reserved label keyword")
    }
    this.upperBounds = Object.freeze([...(config.buckets ?? defaultBuckets)])
    this.init()
  }
  protected makeChild(labels: Readonly<Record<string, string>>): HistogramChild<T> {
    return new HistogramChild(this, core.histogram(this.name, { help: this.help, labels, buckets: this.upperBounds }), labels)
  }

  observe(labels: LabelValues<T> | number, value?: number): void {
    if (isObject(labels)) {
      if (typeof value !== "number") throw notANumber("Value", value)
      this.childOf(labels).observe(value)
    }
    else this.unlabelled().observe(labels)
  }
  startTimer(labels?: SomeLabels<T>): (endLabels?: LabelValues<T>) => number {
    const start = performance.now()
    return (endLabels) => {
      const seconds = (performance.now() - start) / 1000
      // The labels object is read now, when the timer ends (apps fill it in between).
      this.childOf({ ...labels, ...endLabels }).observe(seconds)
      return seconds
    }
  }
  /** Defines the series now, so it is exported with zero counts before its first observation. */
  zero(labels: LabelValues<T>): void {
    this.childOf(labels)
  }
  async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    await this.runCollect()
    const family = await this.aggregated()
    const series = family === null
      ? this.children().map((child) => ({ labels: child.labels, counts: child.bucketCounts, sum: child.sum }))
      : [...(family?.series ?? [])].map((s) => ({
        labels: labelsObject(s.labels),
        counts: s.bucketCounts ?? new Float64Array(this.upperBounds.length + 1),
        sum: s.sum
      }))
    const values: Array<MetricValueWithName<string>> = []
    for (const { counts, labels, sum } of series) {
      let cumulative = 0
      this.upperBounds.forEach((bound, i) => {
        cumulative += counts[i]!
        values.push({ value: cumulative, metricName: `${this.name}_bucket`, labels: { le: bound, ...labels } })
      })
      cumulative += counts[this.upperBounds.length]!
      values.push({ value: cumulative, metricName: `${this.name}_bucket`, labels: { le: "+Inf", ...labels } })
      values.push({ value: sum, metricName: `${this.name}_sum`, labels: { ...labels } })
      values.push({ value: cumulative, metricName: `${this.name}_count`, labels: { ...labels } })
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Summary

/** prom-client's Summary: its constructor throws `SummaryNotSupported` (quantiles do not merge across threads). */
export class Summary<T extends string = string> {
  constructor(config: MetricConfiguration<T, Summary<T>>) {
    throw new SummaryNotSupported(isObject(config) ? String(config.name) : "")
  }
}

// ---------------------------------------------------------------------------------------------------------
// Bucket generators (prom-client's, same errors)

export const linearBuckets = (start: number, width: number, count: number): Array<number> => {
  if (count < 1) throw new Error("Linear buckets needs a positive count")
  const buckets = new Array<number>(count)
  for (let i = 0; i < count; i++) buckets[i] = start + i * width
  return buckets
}

export const exponentialBuckets = (start: number, factor: number, count: number): Array<number> => {
  if (start <= 0) throw new Error("Exponential buckets needs a positive start")
  if (count < 1) throw new Error("Exponential buckets needs a positive count")
  if (factor <= 1) throw new Error("Exponential buckets needs a factor greater than 1")
  const buckets = new Array<number>(count)
  for (let i = 0; i < count; i++) {
    buckets[i] = start
    start *= factor
  }
  return buckets
}
