/**
 * `percore/core`: the API a data-plane core uses, inside its worker thread.
 *
 * ```ts
 * import { core } from "percore/core"
 * const requests = core.counter("app_requests_total", { help: "Requests handled", labels: { route: "/a" } })
 * requests.inc()
 * ```
 * `core` works in any thread of the process, on first use:
 * - in a worker spawned by percore's `DataPlane` (or one given `dataPlane.allocateCore()`'s result as
 *   `workerData.percore`, or after `attachCore(buffers)`), it uses those buffers;
 * - anywhere else (a hand-made `new Worker`, a piscina / tinypool / workerpool thread, the main thread) it
 *   allocates its own buffers and offers them to the control plane on the attach channel (protocol/Attach.ts).
 *   Handles work at once and never throw: until a control plane claims the buffers, updates coalesce and the
 *   ring keeps the latest samples. With no control plane after a second, the thread warns once
 *   (`PERCORE_NO_CONTROL_PLANE`); it attaches when one starts later (a control plane announces itself).
 */
import process from "node:process"
import { threadId, workerData } from "node:worker_threads"
import { ATTACH_CHANNEL, type AttachMessage, decodeAttachMessage } from "../protocol/Attach.ts"
import { allocateCoreBuffers, type CoreBuffers, isCoreBuffers } from "../protocol/CoreBuffers.ts"
import { watchThreads } from "../protocol/ThreadWatch.ts"
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
  /** This core's index (its `core` label); -1 in a thread that attached itself, until a control plane answered. */
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

/** How long a thread waits for a control plane before it warns (once). */
const WARN_AFTER_MS = 1000

const current = (): CoreRuntime => {
  if (runtime !== undefined) return runtime
  watchThreads() // report the workers this thread creates (nested workers' liveness)
  const data: unknown = workerData
  const buffers = typeof data === "object" && data !== null && "percore" in data ? data.percore : undefined
  runtime = isCoreBuffers(buffers) ? new CoreRuntime(buffers) : attachItself()
  return runtime
}

/** A thread with no buffers allocates its own and offers them on the attach channel until a control plane claims them. */
const attachItself = (): CoreRuntime => {
  const buffers = allocateCoreBuffers(-1)
  const attaching = new CoreRuntime(buffers)
  const channel = new BroadcastChannel(ATTACH_CHANNEL)
  channel.unref() // never keeps the thread alive
  const hello: AttachMessage = { percore: "hello", thread: threadId, buffers }
  let warned = false
  const warning = setTimeout(() => {
    if (attaching.id >= 0 || warned) return
    warned = true
    process.emitWarning(
      "percore/core: no percore control plane runs in this process; metrics are recorded in this thread and " +
        "attach when one starts (start it with Percore.layer or startPercore, cores: 0 to spawn none)",
      { code: "PERCORE_NO_CONTROL_PLANE" }
    )
  }, WARN_AFTER_MS)
  warning.unref()
  channel.onmessage = (event: MessageEvent) => {
    const message = decodeAttachMessage(event.data)
    if (message === undefined) return
    if (message.percore === "plane" && attaching.id < 0) channel.postMessage(hello)
    else if (message.percore === "attached" && message.thread === threadId && attaching.id < 0) {
      clearTimeout(warning)
      attaching.attached(message.slot, message.settings)
    }
  }
  channel.postMessage(hello)
  return attaching
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
