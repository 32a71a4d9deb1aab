/**
 * Worker side of bench/runtime.ts: an idle core (a real CoreRuntime, its event loop waiting on a timer) with or
 * without runtime metrics, reporting the CPU its thread used over a window, and, when asked, the cost of one
 * reading (`collect()` into the core's own series, then the flush that publishes it).
 */
import { parentPort, workerData } from "node:worker_threads"
import { CoreRuntime } from "../../src/core/CoreRuntime.ts"
import { coreSink, startRuntimeCollector } from "../../src/core/runtimeMetrics.ts"
import { allocateCoreBuffers, defaultCoreSettings } from "../../src/protocol/index.ts"

interface Job {
  readonly intervalMs: number
  readonly windowMs: number
  readonly readings: number
}
const { intervalMs, windowMs, readings } = workerData as Job

const cpuSeconds = (): number => {
  const usage = process.threadCpuUsage()
  return (usage.user + usage.system) / 1e6
}

const runtime = new CoreRuntime(allocateCoreBuffers(0, { ringCapacity: 65_536, logBytes: 1 << 20 }, { ...defaultCoreSettings, runtimeMetricsIntervalMs: intervalMs }))
// Settle: module loading and the first definitions are not part of the steady cost.
await new Promise((resolve) => setTimeout(resolve, 200))
const cpu = cpuSeconds()
const wall = performance.now()
await new Promise((resolve) => setTimeout(resolve, windowMs))
const cpuPerSecond = (cpuSeconds() - cpu) / ((performance.now() - wall) / 1000)

let readingMicros = 0
if (readings > 0) {
  const probe = new CoreRuntime(allocateCoreBuffers(1, { ringCapacity: 65_536, logBytes: 1 << 20 }, defaultCoreSettings))
  const collector = startRuntimeCollector(coreSink(probe), "1", undefined)
  const started = performance.now()
  for (let i = 0; i < readings; i++) {
    collector.collect()
    probe.flush()
  }
  readingMicros = (performance.now() - started) * 1000 / readings
  collector.close()
  probe.close()
}
runtime.close()
parentPort?.postMessage({ cpuPerSecond, readingMicros })
