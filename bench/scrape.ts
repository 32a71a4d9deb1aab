/**
 * Scrape benchmark: rendering a /metrics page — percore's `renderBytes` against prom-client's `registry.metrics()` on
 * the same series — in time per scrape, heap bytes allocated per scrape, and memory retained per series.
 *
 * Workloads ("scenarios"): counters with 2 labels (`method`, `path`) — 1k, 10k, 100k series — and histograms with
 * 10 buckets and 1 label (`route`) — 100, 1k, 10k series (12 sample lines each: 11 `le` lines, `_sum`, `_count`).
 * Each in both formats (Prometheus text 0.0.4 and OpenMetrics 1.0.0).
 *
 * Competitors, each in its OWN worker thread (its own V8 isolate and heap: no shared type feedback, and each one's
 * GCs only see its own objects):
 * - **percore** — the realistic path: a `CoreRuntime` on one worker defines the series and records through its
 *   handles; another worker holds the control plane's end, a `CoreChannel` draining the ring into a real
 *   `AggregateState`, and renders `aggregate.families.values()` with `renderBytes` — the very objects and the very
 *   call the service uses (it also holds ~15 of percore's own self-metric series, as the service does).
 * - **renderBytes() on plain model objects** — the same renderer over plain `Family` / `Series` literals: the
 *   renderer alone, without the aggregate's classes.
 * - **prom-client** 15 — a `Registry` per format (`setContentType`: prom-client renames counters in place for
 *   OpenMetrics, so one registry cannot serve both), one `Counter` / `Histogram` with the same label values.
 *
 * Rounds: every round first changes every series' value in every competitor (untimed; nothing can serve a cached
 * page; for percore: handle calls, a flush, and the control plane's drain — timed separately, reported as a
 * detail), then times one scrape per competitor per format, interleaved, the order rotating from round to round.
 * Timed: producing the page as the UTF-8 bytes an HTTP response sends (before any gzip). percore: `renderBytes`, which
 * writes the bytes directly, as `MetricsHttp` does; prom-client: `metrics()` awaited, then encoded with a
 * `TextEncoder` (which also flattens V8's concatenation ropes, so it defers no work past the timer). Both sides
 * produce a `Uint8Array` of the page. Compression is not timed.
 *
 * Allocation per scrape: the harness's ledger (`heapUsed` after − before + what every GC inside the window freed,
 * from `v8.GCProfiler`), around 8 scrapes after a forced full GC, per scrape; the median of a few repeats. JavaScript heap
 * only: the page's bytes (either side's) live in an off-heap backing store and are not counted.
 *
 * Memory per series: in each competitor's worker, (V8 used heap + external memory) after full GCs, before building
 * the series and after (cold), then after an OpenMetrics scrape (what a Prometheus server's scrapes leave), then
 * after a text scrape too — all before any timed scrape. percore caches each series' escaped line prefixes (UTF-8,
 * shared by both formats, in one arena per aggregate) on its first render. External memory matters: percore's
 * histogram rows and prefix arenas are typed arrays whose bytes live off-heap. With the largest two tiers of a
 * workload, the marginal bytes per series (fixed costs cancel out).
 *
 * This module is also the competitors' worker entry. Run: `npm run bench -- scrape`, or alone
 * `npm exec -- node --expose-gc bench/scrape.ts [--smoke] [--rounds N]`.
 */
import v8 from "node:v8"
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads"
import type { CoreBuffers } from "../src/protocol/index.ts"
import type { Counter as CoreCounter, Histogram as CoreHistogram } from "../src/core/CoreRuntime.ts"
import type { Family, Format, Series } from "../src/exposition/model.ts"
import type { OpenMetricsContentType, Registry as PromRegistry } from "prom-client"
import {
  type BenchmarkOptions,
  type BenchmarkResult,
  checksum,
  collectGarbage,
  consume,
  expectReply,
  median,
  onlyScenarios,
  type Ratio,
  remoteWorker,
  type RemoteWorker,
  type ResultRow,
  summarize
} from "./harness.ts"

// ─── workloads ───────────────────────────────────────────────────────────────────────────────────

const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
const METHODS = ["GET", "POST", "PUT", "DELETE"] as const
const COUNTER_HELP = "Requests handled, by method and path."
const HISTOGRAM_HELP = "Request latency in seconds, by route."
const FORMATS: ReadonlyArray<Format> = ["text", "openmetrics"]
/** The service's default `PERCORE_FLUSH_INTERVAL`. */
const FLUSH_INTERVAL_MS = 10
/** percore / prom-client time per scrape at the 10k tier (10k counters, 1k histograms): ≥ 5× faster. */
const TARGET_RATIO = 0.2

type WorkloadKind = "counters" | "histograms"

interface Scenario {
  readonly workload: WorkloadKind
  readonly count: number
  /** Row-name prefix, e.g. "10k counters". */
  readonly label: string
  /** The 10k tier, where the ≥ 5× target applies. */
  readonly targeted: boolean
  readonly rounds: number
  readonly warmup: number
}

const counterLabels = (i: number): { readonly method: string; readonly path: string } => ({ method: METHODS[i & 3]!, path: `/api/v1/items/${i}` })
const histogramLabels = (i: number): { readonly route: string } => ({ route: `/api/v1/route/${i}` })
/** The increment of counter i in round r (every series changes every round). */
const counterIncrement = (i: number, round: number): number => ((i + round) % 7) + 1
/** The observation of histogram i in round r: 0 … 3 s, every bucket and +Inf. */
const observation = (i: number, round: number): number => ((i * 7919 + round * 104729) % 3000) / 1000

// ─── the competitors (worker side) ───────────────────────────────────────────────────────────────

type Role = "percore" | "model" | "prom" | "core"

interface Subject {
  /** Builds the series (measured: retained memory). */
  readonly build: () => Promise<void> | void
  /** Changes every series (untimed before the scrapes); returns a duration worth reporting, if any, in ms. */
  readonly mutate: (round: number) => number | undefined
  /** The page: percore's bytes, or prom-client's string (encoded by the timer, as a response would). */
  readonly scrape: (format: Format) => Uint8Array | string | Promise<string>
  readonly report: () => Readonly<Record<string, number>>
}

interface WorkerSetup {
  readonly scrape: true
  readonly role: Role
  readonly workload: WorkloadKind
  readonly count: number
  readonly format?: Format
  readonly buffers?: CoreBuffers
}

// Each worker imports only what its role uses (percore's modules load Effect; prom-client workers need none of it).

/** Plain `Family` / `Series` literals, mutated in place like the aggregate's objects. */
const modelSubject = async (workload: WorkloadKind, count: number): Promise<Subject> => {
  const { renderBytes } = await import("../src/exposition/render.ts")
  const series: Array<Series> = []
  let families: ReadonlyArray<Family> = []
  const update = (round: number): void => {
    for (let i = 0; i < count; i++) {
      const s = series[i]!
      if (workload === "counters") s.value += counterIncrement(i, round)
      else {
        const v = observation(i, round)
        let b = 0
        while (b < BUCKETS.length && v > BUCKETS[b]!) b++
        s.bucketCounts![b]! += 1
        s.sum += v
        s.count += 1
      }
    }
  }
  return {
    build: () => {
      for (let i = 0; i < count; i++) {
        if (workload === "counters") {
          const l = counterLabels(i)
          series.push({ labels: [["method", l.method], ["path", l.path]], value: 0, sum: 0, count: 0 })
        } else {
          series.push({ labels: [["route", histogramLabels(i).route]], value: 0, sum: 0, count: 0, bucketCounts: new Float64Array(BUCKETS.length + 1) })
        }
      }
      families = workload === "counters"
        ? [{ name: "app_requests", help: COUNTER_HELP, type: "counter", series }]
        : [{ name: "app_request_duration_seconds", help: HISTOGRAM_HELP, type: "histogram", buckets: BUCKETS, series }]
      update(0)
    },
    mutate: (round) => {
      update(round)
      return undefined
    },
    scrape: (format) => renderBytes(families, format),
    report: () => ({ series: series.length })
  }
}

/** prom-client: one registry in one format, one metric, `count` label sets. */
const promSubject = async (workload: WorkloadKind, count: number, format: Format): Promise<Subject> => {
  const { Counter, Histogram, Registry } = await import("prom-client")
  const openMetricsRegistry = (): PromRegistry<OpenMetricsContentType> => {
    const r = new Registry<OpenMetricsContentType>()
    r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
    return r
  }
  let registry: PromRegistry | PromRegistry<OpenMetricsContentType> | undefined
  let mutate: (round: number) => void = () => {}
  return {
    build: () => {
      const r = format === "openmetrics" ? openMetricsRegistry() : new Registry()
      registry = r
      if (workload === "counters") {
        const counter = new Counter({ name: "app_requests_total", help: COUNTER_HELP, labelNames: ["method", "path"], registers: [r] })
        const labels = Array.from({ length: count }, (_, i) => counterLabels(i))
        mutate = (round) => {
          for (let i = 0; i < count; i++) counter.inc(labels[i]!, counterIncrement(i, round))
        }
      } else {
        const histogram = new Histogram({ name: "app_request_duration_seconds", help: HISTOGRAM_HELP, labelNames: ["route"], buckets: BUCKETS, registers: [r] })
        const labels = Array.from({ length: count }, (_, i) => histogramLabels(i))
        mutate = (round) => {
          for (let i = 0; i < count; i++) histogram.observe(labels[i]!, observation(i, round))
        }
      }
      mutate(0) // every series exists (prom-client creates a label set's series on its first update)
    },
    mutate: (round) => {
      mutate(round)
      return undefined
    },
    scrape: () => registry!.metrics(),
    report: () => ({})
  }
}

/** The data plane of the realistic percore path: one core recording through its handles, then flushing. */
const coreSubject = async (workload: WorkloadKind, count: number, buffers: CoreBuffers): Promise<Subject> => {
  const { CoreRuntime } = await import("../src/core/CoreRuntime.ts")
  const { Control } = await import("../src/protocol/index.ts")
  const runtime = new CoreRuntime(buffers)
  const counters: Array<CoreCounter> = []
  const histograms: Array<CoreHistogram> = []
  const mutate = (round: number): void => {
    if (workload === "counters") for (let i = 0; i < count; i++) counters[i]!.inc(counterIncrement(i, round))
    else for (let i = 0; i < count; i++) histograms[i]!.observe(observation(i, round))
    runtime.flush()
  }
  return {
    build: () => {
      for (let i = 0; i < count; i++) {
        if (workload === "counters") counters.push(runtime.counter("app_requests_total", { help: COUNTER_HELP, labels: counterLabels(i) }))
        else histograms.push(runtime.histogram("app_request_duration_seconds", { help: HISTOGRAM_HELP, labels: histogramLabels(i), buckets: BUCKETS }))
      }
      mutate(0)
    },
    mutate: (round) => {
      mutate(round)
      return undefined
    },
    scrape: () => "",
    report: () => {
      runtime.close()
      return { recorded: Atomics.load(new Int32Array(buffers.control), Control.RECORDED) }
    }
  }
}

/** The control plane of the realistic percore path: a CoreChannel draining into a real AggregateState. */
const percoreSubject = async (buffers: CoreBuffers): Promise<Subject> => {
  const { renderBytes } = await import("../src/exposition/render.ts")
  const { AggregateState } = await import("../src/engine/AggregateState.ts")
  const { CoreChannel } = await import("../src/engine/CoreChannel.ts")
  const aggregate = new AggregateState({ maxSeries: 1_000_000 })
  const channel = new CoreChannel(buffers, aggregate)
  const drain = (): number => {
    const t0 = performance.now()
    channel.drain()
    return performance.now() - t0
  }
  return {
    build: () => {
      drain()
    },
    mutate: drain,
    scrape: (format) => renderBytes(aggregate.families.values(), format),
    report: () => ({
      series: aggregate.seriesCount,
      delivered: channel.reader.delivered,
      dropped: channel.reader.dropped,
      recorded: channel.recorded()
    })
  }
}

// ─── worker protocol ─────────────────────────────────────────────────────────────────────────────

type Request =
  | { readonly kind: "baseline" }
  | { readonly kind: "build" }
  | { readonly kind: "mutate"; readonly round: number }
  | { readonly kind: "scrape"; readonly format: Format }
  | { readonly kind: "memory"; readonly format: Format }
  | { readonly kind: "allocation"; readonly format: Format; readonly repeats: number }
  | { readonly kind: "finish" }

type Reply =
  | { readonly kind: "ready" }
  | { readonly kind: "done"; readonly value: number }
  | { readonly kind: "scrape"; readonly ms: number; readonly pageBytes: number }
  | { readonly kind: "allocation"; readonly bytes: number; readonly gcs: number }
  | { readonly kind: "finish"; readonly report: Readonly<Record<string, number>>; readonly checksum: number }
  | { readonly kind: "error"; readonly message: string }

/** V8 used heap + external memory of this isolate (percore's histogram rows and prefix arenas are external). */
const heapAndExternal = (): number => {
  const stats = v8.getHeapStatistics()
  return stats.used_heap_size + stats.external_memory
}

const settledHeap = (): number => {
  collectGarbage()
  collectGarbage()
  return heapAndExternal()
}

const encoder = new TextEncoder()

/** The page as bytes: percore renders bytes; a string (prom-client) is UTF-8-encoded, as a response would be. */
const toBytes = (page: Uint8Array | string): Uint8Array => (typeof page === "string" ? encoder.encode(page) : page)

const timedScrape = async (subject: Subject, format: Format): Promise<{ ms: number; pageBytes: number }> => {
  const t0 = performance.now()
  const bytes = toBytes(await subject.scrape(format)) // what an HTTP response sends (before gzip)
  const ms = performance.now() - t0
  consume(bytes.length)
  return { ms, pageBytes: bytes.length }
}

/**
 * One scrape, in a function of its own: once it returns, no register of the caller's frame can still
 * hold a page (an interpreted frame keeps dead registers alive, and a page is megabytes).
 */
const untimedScrape = async (subject: Subject, format: Format): Promise<void> => {
  consume((await subject.scrape(format)).length)
}

/** Scrapes per allocation window: background sweeping after the forced GC can shift heapUsed by ~100 KB, which
 * would swamp a single small scrape (it made the ledger negative); spread over several scrapes it averages out. */
const SCRAPES_PER_ALLOCATION_WINDOW = 8

/** Heap bytes one scrape allocates, averaged over a window of scrapes (the harness's ledger; see the module comment). */
const allocationOfScrape = async (subject: Subject, format: Format): Promise<{ bytes: number; gcs: number }> => {
  collectGarbage()
  collectGarbage()
  const profiler = new v8.GCProfiler()
  profiler.start()
  const before = process.memoryUsage().heapUsed
  let length = 0
  for (let i = 0; i < SCRAPES_PER_ALLOCATION_WINDOW; i++) length += toBytes(await subject.scrape(format)).length
  const after = process.memoryUsage().heapUsed
  const result = profiler.stop()
  let freed = 0
  for (const gc of result?.statistics ?? []) freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize
  consume(length)
  return { bytes: (after - before + freed) / SCRAPES_PER_ALLOCATION_WINDOW, gcs: result?.statistics.length ?? 0 }
}

const serve = async (setup: WorkerSetup): Promise<void> => {
  const port = parentPort!
  const reply = (message: Reply): void => port.postMessage(message)
  let subject: Subject
  try {
    subject = setup.role === "model"
      ? await modelSubject(setup.workload, setup.count)
      : setup.role === "prom"
      ? await promSubject(setup.workload, setup.count, setup.format ?? "text")
      : setup.role === "core"
      ? await coreSubject(setup.workload, setup.count, setup.buffers!)
      : await percoreSubject(setup.buffers!)
  } catch (error) {
    reply({ kind: "error", message: error instanceof Error ? (error.stack ?? error.message) : String(error) })
    return
  }
  let baseline = 0
  const handle = async (message: Request): Promise<Reply> => {
    switch (message.kind) {
      case "baseline":
        baseline = settledHeap()
        return { kind: "done", value: baseline }
      case "build":
        await subject.build()
        return { kind: "done", value: settledHeap() - baseline }
      case "mutate":
        return { kind: "done", value: subject.mutate(message.round) ?? 0 }
      case "scrape":
        return { kind: "scrape", ...(await timedScrape(subject, message.format)) }
      case "memory": {
        // Steady state: after a scrape in this format (percore caches every series' escaped prefixes on its first
        // render). Before any timed scrape: the pages of timed scrapes are external memory, whose accounting would
        // blur this figure.
        await untimedScrape(subject, message.format)
        return { kind: "done", value: settledHeap() - baseline }
      }
      case "allocation": {
        // One warm scrape first (no tier-up inside the window), then the median of `repeats` windows (the
        // smallest would favour a window that background sweeping made look too small).
        await timedScrape(subject, message.format)
        const runs: Array<{ bytes: number; gcs: number }> = []
        for (let r = 0; r < message.repeats; r++) runs.push(await allocationOfScrape(subject, message.format))
        runs.sort((a, b) => a.bytes - b.bytes)
        return { kind: "allocation", ...runs[Math.floor(runs.length / 2)]! }
      }
      case "finish":
        return { kind: "finish", report: subject.report(), checksum: checksum() }
    }
  }
  port.on("message", (message: Request) => {
    handle(message).then(reply, (error: unknown) => reply({ kind: "error", message: error instanceof Error ? (error.stack ?? error.message) : String(error) }))
  })
  reply({ kind: "ready" })
}

const isWorkerSetup = (data: unknown): data is WorkerSetup =>
  typeof data === "object" && data !== null && "scrape" in data && data.scrape === true && "role" in data && "workload" in data && "count" in data

const setup: unknown = workerData
if (!isMainThread && isWorkerSetup(setup)) await serve(setup)

// ─── the benchmark (main thread) ─────────────────────────────────────────────────────────────────

type Remote = RemoteWorker<Request, Reply>

const spawn = (name: string, data: WorkerSetup): Remote =>
  remoteWorker<Request, Reply>(new Worker(new URL(import.meta.url), { workerData: data, name: `scrape ${name}` }), name)

const done = async (remote: Remote, message: Request): Promise<number> => expectReply(await remote.request(message), "done").value

type Competitor = "percore" | "model" | "prom"
const COMPETITORS: ReadonlyArray<Competitor> = ["percore", "model", "prom"]
const competitorName: Readonly<Record<Competitor, string>> = {
  percore: "percore",
  model: "renderBytes() on plain model objects",
  prom: "prom-client"
}

interface Measured {
  readonly samples: Array<number>
  pageBytes: number
  allocation: { bytes: number; gcs: number }
}

interface ScenarioResult {
  readonly scenario: Scenario
  /** [competitor][format] */
  readonly measured: Readonly<Record<Competitor, Readonly<Record<Format, Measured>>>>
  /** Retained bytes per series: cold (after building), steady (after an OpenMetrics scrape), both (and a text one). */
  readonly retained: Readonly<Record<Competitor, { readonly cold: number; readonly steady: number; readonly both: number }>>
  readonly drainMs: ReadonlyArray<number>
  readonly books: Readonly<Record<string, number>>
}

const nextPowerOfTwo = (n: number): number => 2 ** Math.ceil(Math.log2(n))

const runScenario = async (scenario: Scenario, allocationRepeats: number): Promise<ScenarioResult> => {
  const { allocateCoreBuffers, defaultCoreSettings } = await import("../src/protocol/index.ts")
  const { workload, count } = scenario
  // The core flushes one ring sample per changed component: counters 1 per series, histograms 2 per round.
  const perRound = workload === "counters" ? count : 2 * count
  const buffers = allocateCoreBuffers(
    0,
    { ringCapacity: Math.max(65_536, nextPowerOfTwo(2 * perRound)), logBytes: count * 320 + (1 << 20) },
    { ...defaultCoreSettings, flushIntervalMs: FLUSH_INTERVAL_MS, maxSeriesPerCore: count + 100, maxSeriesPerFamily: count + 100 }
  )
  const base = { scrape: true, workload, count } as const
  const remotes = {
    percore: spawn(`${scenario.label} percore`, { ...base, role: "percore", buffers }),
    core: spawn(`${scenario.label} core`, { ...base, role: "core", buffers }),
    model: spawn(`${scenario.label} model`, { ...base, role: "model" }),
    promText: spawn(`${scenario.label} prom-client text`, { ...base, role: "prom", format: "text" }),
    promOpenMetrics: spawn(`${scenario.label} prom-client openmetrics`, { ...base, role: "prom", format: "openmetrics" })
  }
  const all = Object.values(remotes)
  const target = (c: Competitor, format: Format): Remote =>
    c === "percore" ? remotes.percore : c === "model" ? remotes.model : format === "text" ? remotes.promText : remotes.promOpenMetrics
  try {
    await Promise.all(all.map((r) => r.ready))
    // Build, one worker at a time: retained memory (cold).
    const cold: Record<string, number> = {}
    for (const [key, r] of [["model", remotes.model], ["promText", remotes.promText], ["promOpenMetrics", remotes.promOpenMetrics]] as const) {
      await done(r, { kind: "baseline" })
      cold[key] = await done(r, { kind: "build" })
    }
    await done(remotes.percore, { kind: "baseline" })
    await done(remotes.core, { kind: "baseline" })
    cold["core"] = await done(remotes.core, { kind: "build" })
    cold["percore"] = await done(remotes.percore, { kind: "build" }) // drains: interns every series
    // Steady: after an OpenMetrics scrape (what a Prometheus server negotiates), then after a text scrape too.
    const steady: Record<string, number> = {}
    const both: Record<string, number> = {}
    for (const [key, r] of [["model", remotes.model], ["promText", remotes.promText], ["percore", remotes.percore]] as const) {
      steady[key] = await done(r, { kind: "memory", format: "openmetrics" })
      both[key] = await done(r, { kind: "memory", format: "text" })
    }
    const fresh = (): Record<Format, Measured> => ({
      text: { samples: [], pageBytes: 0, allocation: { bytes: 0, gcs: 0 } },
      openmetrics: { samples: [], pageBytes: 0, allocation: { bytes: 0, gcs: 0 } }
    })
    const measured: Record<Competitor, Record<Format, Measured>> = { percore: fresh(), model: fresh(), prom: fresh() }
    const drainMs: Array<number> = []
    const order: Array<[Competitor, Format]> = FORMATS.flatMap((f) => COMPETITORS.map((c): [Competitor, Format] => [c, f]))
    for (let round = 0; round < scenario.warmup + scenario.rounds; round++) {
      // Round 0 of the values was applied by build.
      for (const r of [remotes.model, remotes.promText, remotes.promOpenMetrics, remotes.core]) await done(r, { kind: "mutate", round: round + 1 })
      const drained = await done(remotes.percore, { kind: "mutate", round: round + 1 })
      if (round >= scenario.warmup) drainMs.push(drained)
      for (let k = 0; k < order.length; k++) {
        const [c, format] = order[(k + round) % order.length]!
        const reply = expectReply(await target(c, format).request({ kind: "scrape", format }), "scrape")
        const m = measured[c][format]
        m.pageBytes = reply.pageBytes
        if (round >= scenario.warmup) m.samples.push(reply.ms)
      }
    }
    for (const [c, format] of order) {
      const reply = expectReply(await target(c, format).request({ kind: "allocation", format, repeats: allocationRepeats }), "allocation")
      measured[c][format].allocation = { bytes: reply.bytes, gcs: reply.gcs }
    }
    const books: Record<string, number> = {}
    for (const r of all) {
      const finished = expectReply(await r.request({ kind: "finish" }), "finish")
      consume(finished.checksum)
      if (r === remotes.percore) Object.assign(books, finished.report)
    }
    const perSeries = (n: number | undefined): number => (n ?? 0) / count
    return {
      scenario,
      measured,
      retained: {
        percore: { cold: perSeries(cold["percore"]), steady: perSeries(steady["percore"]), both: perSeries(both["percore"]) },
        model: { cold: perSeries(cold["model"]), steady: perSeries(steady["model"]), both: perSeries(both["model"]) },
        prom: { cold: perSeries(cold["promText"]), steady: perSeries(steady["promText"]), both: perSeries(both["promText"]) }
      },
      drainMs,
      books
    }
  } finally {
    await Promise.all(all.map((r) => r.terminate()))
  }
}

const scenariosFor = (options: BenchmarkOptions): ReadonlyArray<Scenario> => {
  const tier = (workload: WorkloadKind, count: number, label: string, targeted: boolean, rounds: number, warmup: number): Scenario => ({
    workload,
    count,
    label,
    targeted,
    rounds: options.rounds ?? rounds,
    warmup
  })
  if (options.smoke) return [tier("counters", 1_000, "1k counters", false, 3, 1), tier("histograms", 100, "100 histograms", false, 3, 1)]
  const all = [
    tier("counters", 1_000, "1k counters", false, 30, 5),
    tier("counters", 10_000, "10k counters", true, 20, 5),
    tier("counters", 100_000, "100k counters", false, 10, 3),
    tier("histograms", 100, "100 histograms", false, 30, 5),
    tier("histograms", 1_000, "1k histograms", true, 20, 5),
    tier("histograms", 10_000, "10k histograms", false, 10, 3)
  ]
  return onlyScenarios(all)
}

const rowName = (scenario: Scenario, format: Format, c: Competitor): string => `${scenario.label}, ${format}: ${competitorName[c]}`

const bytes = (n: number): string => (n >= 10 * 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : n >= 10 * 1024 ? `${(n / 1024).toFixed(0)} KiB` : `${Math.round(n)} B`)

export const scrapeBench = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const scenarios = scenariosFor(options)
  const results: Array<ScenarioResult> = []
  for (const scenario of scenarios) results.push(await runScenario(scenario, options.smoke ? 1 : 3))
  const rows: Array<ResultRow> = []
  const ratios: Array<Ratio> = []
  const memoryNotes: Array<string> = []
  for (const { scenario, measured, retained, drainMs, books } of results) {
    for (const format of FORMATS) {
      const prom = summarize(measured.prom[format].samples)
      for (const c of COMPETITORS) {
        const m = measured[c][format]
        const s = summarize(m.samples)
        rows.push({
          name: rowName(scenario, format, c),
          unit: "ms",
          median: s.median,
          min: s.min,
          max: s.max,
          bytesPerOp: m.allocation.bytes,
          relative: s.median / prom.median,
          detail: {
            series: scenario.count,
            rounds: m.samples.length,
            pageBytes: m.pageBytes,
            allocatedBytesPerScrape: m.allocation.bytes,
            gcsDuringAllocationRun: m.allocation.gcs,
            retainedBytesPerSeriesCold: retained[c].cold,
            retainedBytesPerSeriesAfterOpenMetrics: retained[c].steady,
            retainedBytesPerSeriesAfterBothFormats: retained[c].both,
            ...(c === "percore" ? { drainMsMedian: median(drainMs), ...books } : {})
          }
        })
      }
      const value = summarize(measured.percore[format].samples).median / prom.median
      ratios.push(
        scenario.targeted
          ? { name: `${scenario.label}, ${format}: percore / prom-client (ms per scrape)`, value, target: TARGET_RATIO, met: value <= TARGET_RATIO }
          : { name: `${scenario.label}, ${format}: percore / prom-client (ms per scrape)`, value }
      )
    }
    ratios.push({ name: `${scenario.label}: percore / prom-client (retained bytes per series, after an OpenMetrics scrape)`, value: retained.percore.steady / retained.prom.steady })
    const trio = (r: { readonly cold: number; readonly steady: number; readonly both: number }): string => `${Math.round(r.cold)} → ${Math.round(r.steady)} → ${Math.round(r.both)} B`
    memoryNotes.push(
      `${scenario.label}: retained per series, cold → after an OpenMetrics scrape → after a text scrape too: percore ${trio(retained.percore)}, ` +
        `plain model objects ${trio(retained.model)}, prom-client ${trio(retained.prom)}; ` +
        `page ${bytes(measured.percore.text.pageBytes)} text (prom-client ${bytes(measured.prom.text.pageBytes)}); ` +
        `percore's drain of the ${(scenario.workload === "counters" ? scenario.count : 2 * scenario.count).toLocaleString("en-US")} samples of a round: median ${median(drainMs).toFixed(2)} ms; ` +
        `ring ${(books["delivered"] ?? Number.NaN).toLocaleString("en-US")} delivered, ${books["dropped"] ?? "?"} dropped.`
    )
  }
  // Marginal memory per series between the two largest tiers of a workload: fixed costs (compiled code, module
  // state) cancel out.
  for (const workload of ["counters", "histograms"] as const) {
    const tiers = results.filter((r) => r.scenario.workload === workload).sort((a, b) => a.scenario.count - b.scenario.count)
    const small = tiers.at(-2)
    const large = tiers.at(-1)
    if (small === undefined || large === undefined) continue
    const slope = (c: Competitor, key: "cold" | "steady" | "both"): number =>
      (large.retained[c][key] * large.scenario.count - small.retained[c][key] * small.scenario.count) / (large.scenario.count - small.scenario.count)
    const trio = (c: Competitor): string => `${Math.round(slope(c, "cold"))} → ${Math.round(slope(c, "steady"))} → ${Math.round(slope(c, "both"))} B`
    memoryNotes.push(
      `${workload}, marginal bytes per series between ${small.scenario.label} and ${large.scenario.label} (cold → after an OpenMetrics scrape → after a text scrape too): ` +
        `percore ${trio("percore")}, plain model objects ${trio("model")}, prom-client ${trio("prom")}.`
    )
    ratios.push({ name: `${workload}: percore / prom-client (marginal retained bytes per series, after an OpenMetrics scrape)`, value: slope("percore", "steady") / slope("prom", "steady") })
  }
  const notes = [
    "percore = the realistic path: a CoreRuntime (one worker) records through its handles and flushes; a CoreChannel (another worker) drains its ring into a real AggregateState, whose families are rendered with renderBytes() — the objects and the call the service uses (plus ~15 self-metric series). \"renderBytes() on plain model objects\" = the same renderer over plain Family / Series literals.",
    "Each competitor in its own worker (own isolate and heap); rounds interleaved, order rotating; every series changes before every round (untimed). Timed: the page as UTF-8 bytes (gzip not timed) — percore: renderBytes(), which writes bytes directly, as MetricsHttp does; prom-client: metrics() awaited, then TextEncoder.encode. relative = × prom-client, same scenario and format.",
    "bytes/op = JS-heap bytes allocated by one scrape (GC ledger, smallest of the repeats; the page's bytes are an off-heap backing store, not counted, on either side).",
    "Retained memory = V8 used heap + external memory after full GCs, per series, measured before any timed scrape; percore's histogram rows and prefix arenas are external. prom-client on its text registry (its format does not change what it keeps). percore caches each series' escaped line prefixes as UTF-8 bytes (shared by both formats, one arena per aggregate) on first render.",
    ...memoryNotes,
    `Target: percore ≥ 5× faster than prom-client at the 10k tier (10k counters; 1k histograms = 12k sample lines), i.e. percore / prom-client ≤ ${TARGET_RATIO}.`
  ]
  return {
    benchmark: "scrape",
    title: "Scrape: rendering a /metrics page, percore vs prom-client",
    rows,
    relativeTo: "prom-client, same scenario and format",
    ratios,
    notes
  }
}
