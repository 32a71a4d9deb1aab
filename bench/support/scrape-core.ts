/**
 * The percore core of the end-to-end scrape benchmark (`PERCORE_WORKER`): defines the workload's series, then
 * changes a slice of them every 20 ms (at most 5,000 per tick, every series within a few ticks), so a scrape never
 * serves values it has served before; stops changing them while `SCRAPE_PAUSE_FILE` exists (allocation windows).
 */
import { existsSync } from "node:fs"
import type { Core, Counter, Histogram } from "../../src/core/index.ts"
import { BUCKETS, COUNTER_HELP, HISTOGRAM_HELP, increment, observation, seriesSpec, workloadFromEnv } from "./scrape-workload.ts"

const TICK_MS = 20
const PER_TICK = 5_000

export default async function scrapeCore(core: Core): Promise<void> {
  const { workload, count } = workloadFromEnv()
  const pauseFile = process.env["SCRAPE_PAUSE_FILE"] ?? ""
  const counters: Array<Counter> = []
  const histograms: Array<Histogram> = []
  for (let i = 0; i < count; i++) {
    const { name, labels } = seriesSpec(workload, i)
    if (workload === "counters") counters.push(core.counter(name, { help: COUNTER_HELP, labels }))
    else histograms.push(core.histogram(name, { help: HISTOGRAM_HELP, labels, buckets: BUCKETS }))
  }
  let next = 0
  let step = 0
  while (!core.stopping) {
    if (count > 0 && (pauseFile === "" || !existsSync(pauseFile))) {
      for (let k = 0; k < Math.min(PER_TICK, count); k++) {
        if (workload === "counters") counters[next]!.inc(increment(next, step))
        else histograms[next]!.observe(observation(next, step))
        if (++next === count) {
          next = 0
          step++
        }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, TICK_MS))
  }
}
