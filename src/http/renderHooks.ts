/**
 * What code outside Effect (the prom-client facade, `percore/prom-client`) needs from the control plane's
 * render, without importing Effect:
 * - collectors: callbacks run before every render of `/metrics` (prom-client's `collect()`, async allowed), so
 *   values they set on the main thread are on the page they are collected for;
 * - the bridge: the running control plane's page and families as Promises (`register.metrics()`, `get()`),
 *   installed by `MetricsHttp` while its layer is up;
 * - the runtime-metrics switch: `collectDefaultMetrics()` turns percore's runtime metrics on when the running
 *   control plane has them off (`PERCORE_RUNTIME_METRICS=false`), installed by `RuntimeMetrics`.
 *
 * Plain module state: the control plane and the facade share this module in the main thread.
 */
import type { Family, Format } from "../exposition/model.ts"

export type Collector = () => unknown

const collectors = new Set<Collector>()

/** Runs `collector` before every render from now on; the returned function stops it. */
export const addCollector = (collector: Collector): (() => void) => {
  collectors.add(collector)
  return () => void collectors.delete(collector)
}

/** Whether any collector is registered (a render without any skips the step). */
export const hasCollectors = (): boolean => collectors.size > 0

/** Runs every collector (concurrently, awaiting the async ones); resolves with the errors they threw. */
export const runCollectors = async (): Promise<ReadonlyArray<unknown>> => {
  if (collectors.size === 0) return []
  const results = await Promise.allSettled([...collectors].map(async (collector) => collector()))
  return results.flatMap((result) => (result.status === "rejected" ? [result.reason] : []))
}

export interface ControlPlaneBridge {
  /** The page `/metrics` serves in `format` (collectors run, cores flushed, rings drained); only `families` when given. */
  readonly page: (format: Format, families?: ReadonlySet<string>) => Promise<string>
  /** The family of this name after the cores were flushed and the rings drained (no collectors run). */
  readonly family: (name: string) => Promise<Family | undefined>
}

let bridge: ControlPlaneBridge | undefined

/** Installs the running control plane's bridge; the returned function removes it (when the control plane stops). */
export const installBridge = (installed: ControlPlaneBridge): (() => void) => {
  bridge = installed
  return () => {
    if (bridge === installed) bridge = undefined
  }
}

/** The control plane running in this thread, if any. */
export const controlPlane = (): ControlPlaneBridge | undefined => bridge

let runtimeMetricsSwitch: (() => void) | undefined

/** Installs how to turn runtime metrics on (they are off by configuration); the returned function removes it. */
export const installRuntimeMetricsSwitch = (turnOn: () => void): (() => void) => {
  runtimeMetricsSwitch = turnOn
  return () => {
    if (runtimeMetricsSwitch === turnOn) runtimeMetricsSwitch = undefined
  }
}

/** Turns the running control plane's runtime metrics on; nothing when they are on already or none runs here. */
export const turnOnRuntimeMetrics = (): void => runtimeMetricsSwitch?.()
