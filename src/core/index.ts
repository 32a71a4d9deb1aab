/**
 * `percore/core`: the API a data-plane core uses, inside its worker thread.
 *
 * ```ts
 * import { core } from "percore/core"
 * const requests = core.counter("app_requests_total", { help: "Requests handled", labels: { route: "/a" } })
 * requests.inc()
 * ```
 * In a worker spawned by percore's `DataPlane`, `core` attaches itself to the buffers in `workerData` on
 * first use. A host app that spawns its own workers passes `dataPlane.allocateCore()`'s result in
 * `workerData.percore` (then `core` works the same), or calls `attachCore(buffers)` explicitly.
 * Using `core` anywhere else throws a clear error.
 */
import { workerData } from "node:worker_threads"
import { type CoreBuffers, isCoreBuffers } from "../protocol/CoreBuffers.ts"
import {
  type Counter,
  type CounterOptions,
  CoreRuntime,
  type Gauge,
  type GaugeOptions,
  type Histogram,
  type HistogramOptions
} from "./CoreRuntime.ts"

export type { CoreBuffers, CoreSettings } from "../protocol/CoreBuffers.ts"
export type { Counter, CounterOptions, Gauge, GaugeOptions, Histogram, HistogramOptions, Labels } from "./CoreRuntime.ts"

export interface Core {
  /** This core's index. */
  readonly id: number
  /** True once the control plane asked this core to stop: finish up and return. */
  readonly stopping: boolean
  /** Defines (or finds) a counter series. Throws a typed `DefinitionError` for a bad or conflicting definition. */
  counter(name: string, options?: CounterOptions): Counter
  /** Defines (or finds) a gauge series. */
  gauge(name: string, options?: GaugeOptions): Gauge
  /** Defines (or finds) a histogram series. */
  histogram(name: string, options?: HistogramOptions): Histogram
  /** Publishes coalesced updates now (they are also published on their own; see CoreRuntime). */
  flush(): void
}

let runtime: CoreRuntime | undefined

const current = (): CoreRuntime => {
  if (runtime !== undefined) return runtime
  const data: unknown = workerData
  const buffers = typeof data === "object" && data !== null && "percore" in data ? data.percore : undefined
  if (!isCoreBuffers(buffers)) {
    throw new Error(
      "percore/core: this thread is not a percore core. Use it inside a worker spawned by percore's DataPlane, " +
        "or pass dataPlane.allocateCore() to your worker as workerData.percore (or call attachCore)."
    )
  }
  runtime = new CoreRuntime(buffers)
  return runtime
}

/** Attaches this thread to a core's buffers explicitly (host-created workers). At most once per thread. */
export const attachCore = (buffers: CoreBuffers): Core => {
  if (runtime !== undefined) throw new Error("percore/core: this thread is already attached to a core")
  if (!isCoreBuffers(buffers)) throw new TypeError("percore/core: attachCore expects the object returned by allocateCore()")
  runtime = new CoreRuntime(buffers)
  return core
}

/** @internal Final flush of this thread's core (used by percore's worker entry point). */
export const closeCore = (): void => runtime?.close()

export const core: Core = {
  get id() {
    return current().id
  },
  get stopping() {
    return current().stopping
  },
  counter: (name, options) => current().counter(name, options),
  gauge: (name, options) => current().gauge(name, options),
  histogram: (name, options) => current().histogram(name, options),
  flush: () => current().flush()
}
