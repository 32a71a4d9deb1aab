/**
 * prom-client's `Registry` on percore. A registry here holds metric objects by name (for `getSingleMetric`,
 * `clear`, duplicate-name checks); the values live in the control plane's aggregate, so `metrics()` is the
 * aggregated page of every thread, rendered by the control plane of this (main) thread.
 */
import { isMainThread } from "node:worker_threads"
import { controlPlane } from "../http/renderHooks.ts"
import { counterFamilyName } from "../domain/names.ts"
import { NoControlPlane } from "./errors.ts"

const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

export type RegistryContentType = typeof PROMETHEUS_CONTENT_TYPE | typeof OPENMETRICS_CONTENT_TYPE

const isContentType = (type: string): type is RegistryContentType =>
  type === PROMETHEUS_CONTENT_TYPE || type === OPENMETRICS_CONTENT_TYPE

/** What a registry needs of a metric (the metric classes implement it). */
export interface RegisteredMetric {
  readonly name: string
  readonly type: "counter" | "gauge" | "histogram"
  get(): Promise<unknown>
  reset(): void
  /** @internal Called when no registry holds the metric any more: its collect() stops running at scrapes. */
  unregistered(registry: Registry): void
}

export class Registry {
  static readonly PROMETHEUS_CONTENT_TYPE = PROMETHEUS_CONTENT_TYPE
  static readonly OPENMETRICS_CONTENT_TYPE = OPENMETRICS_CONTENT_TYPE
  static readonly globalRegistry: Registry = new Registry()

  private readonly byName = new Map<string, RegisteredMetric>()
  private type: RegistryContentType

  constructor(contentType: RegistryContentType = PROMETHEUS_CONTENT_TYPE) {
    if (!isContentType(contentType)) throw new TypeError(`Content type ${String(contentType)} is unsupported`)
    this.type = contentType
  }

  get contentType(): RegistryContentType {
    return this.type
  }

  setContentType(contentType: RegistryContentType): void {
    if (!isContentType(contentType)) throw new Error(`Content type ${String(contentType)} is unsupported`)
    this.type = contentType
  }

  registerMetric(metric: RegisteredMetric): void {
    const existing = this.byName.get(metric.name)
    if (existing !== undefined && existing !== metric) {
      throw new Error(`A metric with the name ${metric.name} has already been registered.`)
    }
    this.byName.set(metric.name, metric)
  }

  getSingleMetric(name: string): RegisteredMetric | undefined {
    return this.byName.get(name)
  }

  removeSingleMetric(name: string): void {
    const metric = this.byName.get(name)
    this.byName.delete(name)
    metric?.unregistered(this)
  }

  /** Forgets every metric (their series stay on the page: percore's aggregate keeps what was recorded). */
  clear(): void {
    const metrics = [...this.byName.values()]
    this.byName.clear()
    for (const metric of metrics) metric.unregistered(this)
  }

  getMetricsAsArray(): Array<RegisteredMetric> {
    return [...this.byName.values()]
  }

  /** Calls `reset()` on every metric (see the metrics' `reset` for what that means across threads). */
  resetMetrics(): void {
    for (const metric of this.byName.values()) metric.reset()
  }

  async getMetricsAsJSON(): Promise<Array<unknown>> {
    return Promise.all(this.getMetricsAsArray().map((metric) => metric.get()))
  }

  /** @internal Whether this registry holds `metric`. */
  holds(metric: RegisteredMetric): boolean {
    return this.byName.get(metric.name) === metric
  }

  /**
   * The aggregated page of every thread, as the control plane renders `/metrics` (collect() callbacks run first).
   * The global registry's page is the whole `/metrics` page; another registry's holds only its own metrics.
   * Rejects with `NoControlPlane` where the control plane does not run (worker threads).
   */
  async metrics(): Promise<string> {
    const bridge = isMainThread ? controlPlane() : undefined
    if (bridge === undefined) throw new NoControlPlane()
    const format = this.type === OPENMETRICS_CONTENT_TYPE ? "openmetrics" : "text"
    if (this === Registry.globalRegistry) return bridge.page(format)
    const families = new Set<string>()
    for (const metric of this.byName.values()) {
      families.add(metric.type === "counter" ? counterFamilyName(metric.name) : metric.name)
    }
    return bridge.page(format, families)
  }
}

export const register: Registry = Registry.globalRegistry
