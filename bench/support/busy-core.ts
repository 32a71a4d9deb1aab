/**
 * A core for the busy-scrape benchmark. BUSY_CORE_MODE:
 * - "busy": back-to-back 50 ms synchronous tasks (1,000 increments, then computing without recording), its event
 *   loop turning only between tasks, as a CPU-bound request handler does;
 * - "idle": 1,000 increments every 50 ms from a timer (its event loop is free almost all the time).
 */
import { setImmediate as yieldToLoop, setTimeout as sleep } from "node:timers/promises"
import type { Core } from "../../src/core/index.ts"

const TASK_MS = 50

export default async function run(core: Core): Promise<void> {
  const jobs = core.counter("busy_jobs_total", { help: "Jobs done" })
  const busy = process.env["BUSY_CORE_MODE"] === "busy"
  let sink = 0
  while (!core.stopping) {
    for (let i = 0; i < 1000; i++) jobs.inc()
    if (busy) {
      const started = performance.now()
      while (performance.now() - started < TASK_MS) sink += Math.sqrt(sink + 1)
      await yieldToLoop()
    } else {
      await sleep(TASK_MS)
    }
  }
  if (sink < 0) console.log(sink)
}
