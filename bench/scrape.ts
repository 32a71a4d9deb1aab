/**
 * Scrape benchmark: percore's `render` vs prom-client's `registry.metrics()` on the same data.
 *
 * Two workloads: `series` labelled counters (2 labels) and `series / 10` histogram series with 10 buckets each.
 * Each round times every contender once, interleaved, after changing every value (so nothing can serve a cached
 * page); medians over the rounds. Timed: producing the page and encoding it to UTF-8 bytes, as an HTTP response
 * would (this also flattens V8's lazy concatenation ropes, so neither side defers work past the timer). Run: `npm exec -- node bench/scrape.ts [series] [rounds]`.
 */
import { Counter, Histogram, Registry } from "prom-client"
import type { OpenMetricsContentType } from "prom-client"
import { render } from "../src/exposition/render.ts"
import type { Family, Format, Series } from "../src/exposition/model.ts"

export interface ScrapeResult {
  readonly name: string
  readonly medianMs: number
  readonly minMs: number
  readonly maxMs: number
}

const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
const METHODS = ["GET", "POST", "PUT", "DELETE"]

interface Workload {
  readonly families: ReadonlyArray<Family>
  readonly mutate: (round: number) => void
  readonly registry: Registry
  readonly openMetricsRegistry: Registry<OpenMetricsContentType>
}

const openMetricsRegistry = (): Registry<OpenMetricsContentType> => {
  const registry = new Registry<OpenMetricsContentType>()
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
  return registry
}

const counterWorkload = (count: number): Workload => {
  const registry = new Registry()
  const omRegistry = openMetricsRegistry()
  const help = "Requests handled, by method and path."
  const promCounter = new Counter({ name: "app_requests_total", help, labelNames: ["method", "path"], registers: [registry] })
  const omCounter = new Counter({
    name: "app_requests",
    help,
    labelNames: ["method", "path"],
    registers: [omRegistry]
  })
  const series: Array<Series> = []
  const labels: Array<{ method: string; path: string }> = []
  for (let i = 0; i < count; i++) {
    const l = { method: METHODS[i % METHODS.length]!, path: `/api/v1/items/${i}` }
    labels.push(l)
    series.push({ labels: [["method", l.method], ["path", l.path]], value: 0, sum: 0, count: 0 })
  }
  const mutate = (round: number): void => {
    for (let i = 0; i < count; i++) {
      const inc = (i + round) % 7 + 1
      series[i]!.value += inc
      promCounter.inc(labels[i]!, inc)
      omCounter.inc(labels[i]!, inc)
    }
  }
  return {
    families: [{ name: "app_requests", help, type: "counter", series }],
    mutate,
    registry,
    openMetricsRegistry: omRegistry
  }
}

const histogramWorkload = (count: number): Workload => {
  const registry = new Registry()
  const omRegistry = openMetricsRegistry()
  const help = "Request latency in seconds, by route."
  const config = { name: "app_request_duration_seconds", help, labelNames: ["route"], buckets: BUCKETS }
  const promHistogram = new Histogram({ ...config, registers: [registry] })
  const omHistogram = new Histogram({ ...config, registers: [omRegistry] })
  const series: Array<Series> = []
  const labels: Array<{ route: string }> = []
  for (let i = 0; i < count; i++) {
    const l = { route: `/api/v1/route/${i}` }
    labels.push(l)
    series.push({
      labels: [["route", l.route]],
      value: 0,
      sum: 0,
      count: 0,
      bucketCounts: new Float64Array(BUCKETS.length + 1)
    })
  }
  const mutate = (round: number): void => {
    for (let i = 0; i < count; i++) {
      const v = ((i * 7919 + round * 104729) % 3000) / 1000 // 0 .. 3 s: every bucket, +Inf included
      const s = series[i]!
      let b = 0
      while (b < BUCKETS.length && v > BUCKETS[b]!) b++
      s.bucketCounts![b]! += 1
      s.sum += v
      s.count += 1
      promHistogram.observe(labels[i]!, v)
      omHistogram.observe(labels[i]!, v)
    }
  }
  return {
    families: [{ name: "app_request_duration_seconds", help, type: "histogram", buckets: BUCKETS, series }],
    mutate,
    registry,
    openMetricsRegistry: omRegistry
  }
}

const stats = (name: string, samples: Array<number>): ScrapeResult => {
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const medianMs = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { name, medianMs, minMs: sorted[0]!, maxMs: sorted[sorted.length - 1]! }
}

/** Keeps results alive so the work cannot be optimised away. */
let sink = 0

export async function scrapeBench(options: {
  series: number
  rounds: number
  smoke?: boolean
}): Promise<Array<ScrapeResult>> {
  const seriesCount = options.smoke === true ? Math.min(options.series, 200) : options.series
  const rounds = options.smoke === true ? Math.min(options.rounds, 3) : options.rounds
  const warmup = options.smoke === true ? 1 : 5
  const workloads: Array<[string, Workload]> = [
    ["counters", counterWorkload(seriesCount)],
    ["histograms", histogramWorkload(Math.max(1, Math.round(seriesCount / 10)))]
  ]
  const results: Array<ScrapeResult> = []
  for (const [label, workload] of workloads) {
    const contenders: Array<[string, () => Promise<string> | string]> = [
      [`${label}: percore text`, () => render(workload.families, "text" satisfies Format)],
      [`${label}: prom-client text`, () => workload.registry.metrics()],
      [`${label}: percore openmetrics`, () => render(workload.families, "openmetrics")],
      [`${label}: prom-client openmetrics`, () => workload.openMetricsRegistry.metrics()]
    ]
    const samples = contenders.map((): Array<number> => [])
    for (let round = 0; round < warmup + rounds; round++) {
      workload.mutate(round)
      for (let c = 0; c < contenders.length; c++) {
        const start = performance.now()
        const page = await contenders[c]![1]()
        const bytes = Buffer.from(page, "utf8") // what the HTTP layer sends; also flattens concatenation ropes
        const elapsed = performance.now() - start
        sink += bytes.length
        if (round >= warmup) samples[c]!.push(elapsed)
      }
    }
    contenders.forEach(([name], c) => results.push(stats(name, samples[c]!)))
  }
  if (sink < 0) console.log(sink)
  return results
}

const printTable = (results: ReadonlyArray<ScrapeResult>): void => {
  const byName = new Map(results.map((r) => [r.name, r]))
  const rows = results.map((r) => {
    const baseline = r.name.includes("percore") ? byName.get(r.name.replace("percore", "prom-client")) : undefined
    return {
      scenario: r.name,
      "median ms": r.medianMs.toFixed(3),
      "min ms": r.minMs.toFixed(3),
      "max ms": r.maxMs.toFixed(3),
      "prom-client / percore": baseline === undefined ? "" : `${(baseline.medianMs / r.medianMs).toFixed(1)}x`
    }
  })
  console.table(rows)
}

if (import.meta.main) {
  const series = Number(process.argv[2] ?? 10_000)
  const rounds = Number(process.argv[3] ?? 30)
  console.log(`scrape bench: ${series} counter series (2 labels), ${Math.round(series / 10)} histogram series x ${BUCKETS.length} buckets, ${rounds} rounds, node ${process.version}`)
  printTable(await scrapeBench({ series, rounds }))
}
