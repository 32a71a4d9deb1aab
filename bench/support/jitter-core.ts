/**
 * The jitter benchmark's percore core module: `PERCORE_WORKER=bench/support/jitter-core.ts node src/main.ts`.
 *
 * Runs the shared work loop (`jitter-loop.ts`) on the core's thread, recording every iteration through percore
 * handles (a counter increment and a histogram observation), until the control plane asks the core to stop
 * (SIGTERM to the process) or `JITTER_DEADLINE` passes; then writes its iteration times to `JITTER_OUT` and
 * returns. If the deadline stopped it (the bench is gone), it also asks its own process to stop, so nothing
 * outlives a dead bench for long.
 */
import process from "node:process"
import type { Core } from "../../src/core/index.ts"
import { ITERATION_BUCKETS, readLoopSettings, runLoop, writeSamples } from "./jitter-loop.ts"

export default async function jitterCore(core: Core): Promise<void> {
  const settings = readLoopSettings()
  const iterations = core.counter("jitter_iterations_total", { help: "Work-loop iterations run" })
  const seconds = core.histogram("jitter_iteration_seconds", { help: "Work-loop iteration time", buckets: ITERATION_BUCKETS })
  const outcome = await runLoop(
    settings,
    (previousMs) => {
      iterations.inc()
      seconds.observe(previousMs * 1e-3)
    },
    () => core.stopping
  )
  writeSamples(settings.out, outcome)
  if (outcome.deadlineHit) process.kill(process.pid, "SIGTERM")
}
