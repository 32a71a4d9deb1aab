/**
 * What each worker of the workers benchmark does, for percore's cores and the official client's workers alike
 * (`WORKERS_MODE`): `count` (increment one counter as fast as it can, in 5 ms slices between event-loop turns),
 * `idle`, `busy` (50 ms synchronous tasks back to back, counting inside them), or `exit` / `throw` (worker 0 counts
 * `WORKERS_EXACT` increments, waits 100 ms, then ends its thread with `process.exit(1)` or an uncaught throw; the
 * others count `WORKERS_EXACT` and stay idle). A marker file keeps a restarted worker from counting again.
 */
import { existsSync, writeFileSync } from "node:fs"
import { setTimeout as sleep } from "node:timers/promises"

export type WorkerMode = "count" | "idle" | "busy" | "exit" | "throw"

const workerMode = (): WorkerMode => {
  const mode = process.env["WORKERS_MODE"]
  return mode === "idle" || mode === "busy" || mode === "exit" || mode === "throw" ? mode : "count"
}

export const runTask = async (id: number, inc: () => void, stopping: () => boolean): Promise<void> => {
  const mode = workerMode()
  const marker = `${process.env["WORKERS_MARKER"] ?? "/tmp/percore-workers"}-${id}`
  if (mode === "exit" || mode === "throw") {
    if (existsSync(marker)) return // a restart of the worker that already ended: its counts are in
    const exact = Number(process.env["WORKERS_EXACT"] ?? "100000")
    for (let i = 0; i < exact; i++) {
      inc()
      if ((i & 1023) === 1023) await sleep(0)
    }
    await sleep(100)
    writeFileSync(marker, "")
    if (id === 0) {
      if (mode === "exit") process.exit(1)
      throw new Error("worker 0 throws mid-run")
    }
    while (!stopping()) await sleep(50)
    return
  }
  inc() // the counter shows from the start, idle or not
  while (!stopping()) {
    if (mode === "idle") {
      await sleep(50)
      continue
    }
    const slice = mode === "busy" ? 50 : 5
    const end = performance.now() + slice
    while (performance.now() < end) for (let i = 0; i < 256; i++) inc()
    await sleep(0)
  }
}
