/**
 * The end-to-end scrape benchmark's workload, shared by every server it starts: which families and series exist
 * and how their values move. Counters: families of 1,000 series with labels `method` and `path`; histograms:
 * families of 100 series with label `route` and 10 buckets.
 */

export type Workload = "counters" | "histograms"

export const BUCKETS: ReadonlyArray<number> = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
export const COUNTER_HELP = "Requests handled, by method and path."
export const HISTOGRAM_HELP = "Request latency in seconds, by route."
const METHODS = ["GET", "POST", "PUT", "DELETE"] as const

/** Series per family. */
const familySize = (workload: Workload): number => (workload === "counters" ? 1_000 : 100)

export interface SeriesSpec {
  /** Counter names carry `_total`. */
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
}

export const seriesSpec = (workload: Workload, i: number): SeriesSpec => {
  const family = Math.floor(i / familySize(workload))
  return workload === "counters"
    ? { name: `app_requests_${family}_total`, labels: { method: METHODS[i & 3]!, path: `/api/v1/items/${i}` } }
    : { name: `app_request_duration_${family}_seconds`, labels: { route: `/api/v1/route/${i}` } }
}

/** The increment of counter i in step k, and the observation of histogram i in step k (every bucket and +Inf). */
export const increment = (i: number, step: number): number => ((i + step) % 7) + 1
export const observation = (i: number, step: number): number => ((i * 7919 + step * 104729) % 3000) / 1000

/** The settings a server reads from its environment. */
export interface WorkloadSettings {
  readonly workload: Workload
  readonly count: number
}

export const workloadFromEnv = (): WorkloadSettings => {
  const workload = process.env["SCRAPE_WORKLOAD"] === "histograms" ? "histograms" : "counters"
  return { workload, count: Number(process.env["SCRAPE_SERIES"] ?? "0") }
}
