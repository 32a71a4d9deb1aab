/** The workers benchmark's task as a percore core (`PERCORE_WORKER`): one unlabelled counter. */
import type { Core } from "../../src/core/index.ts"
import { runTask } from "./workers-task.ts"

export default async function workersCore(core: Core): Promise<void> {
  const counter = core.counter("work_done_total", { help: "Units of work done." })
  await runTask(core.id, () => counter.inc(), () => core.stopping)
}
