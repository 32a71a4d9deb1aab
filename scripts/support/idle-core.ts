/**
 * A core module that defines a counter, records once and then waits forever without recording: what an idle
 * service's cores look like (scripts/footprint.ts measures the process's idle CPU with it).
 */
import type { Core } from "../../src/core/index.ts"

export default async function idle(core: Core): Promise<void> {
  core.counter("idle_started_total", { help: "Idle cores started" }).inc()
  // A pending timer keeps the thread's event loop alive (a bare never-settling promise would let the thread end),
  // and it never fires: nothing on this core wakes up unless percore does.
  for (;;) await new Promise((resolve) => setTimeout(resolve, 2 ** 31 - 1))
}
