/**
 * Handles benchmark: what one call of a percore handle costs the core (worker thread) that makes it.
 *
 * percore's `percore/core` handles — `counter.inc()`, `counter.inc(v)` on a pre-bound labelled series,
 * `gauge.set(v)`, `gauge.inc()`, `histogram.observe(x)` with 11 and with 4 buckets — on a real `CoreRuntime`
 * (buffers from `allocateCoreBuffers`, the service's default flush interval), against prom-client 15's
 * `Counter.inc()`, `labels(a, b).inc(v)`, `inc({ a, b }, v)`, a pre-bound `labels(a, b)` child's `inc(v)`,
 * `Histogram.observe(x)` (11 default buckets) and `Gauge.set(v)`.
 *
 * Handle calls coalesce: a call adds into the core's preallocated typed arrays and writes no ring record.
 * The runtime publishes one ring sample per changed series on its own schedule: every 256 handle calls it looks
 * at the clock (and at flush / stop requests) and flushes when the flush interval has passed — inside the timed
 * loop, so that cost is in the figures. Between timed batches (untimed, like hotpath's same-thread ring) a
 * `CoreChannel` drains the ring into a real `AggregateState`, as the control plane would; at the end every
 * percore worker checks the aggregate really holds what its loop recorded.
 *
 * Method as in hotpath.ts / BENCHMARKS.md: every competitor in its own worker thread (own V8 isolate),
 * interleaved round by round; each loop its own function literal, values derived from the loop index, a checksum
 * returned; allocation measured afterwards on warm code with the harness's GC ledger.
 *
 * This module is also the competitors' worker entry. Run alone: `npm run bench -- handles` once registered, or
 * `npm exec -- node --expose-gc bench/handles.ts [--smoke] [--rounds N]`.
 */
import type { CoreRuntime } from "../src/core/CoreRuntime.ts"
import type { AggregateState } from "../src/engine/AggregateState.ts"
import { type BenchmarkOptions, type BenchmarkResult, type IsolatedCompetitor, type IsolatedResult, type Ratio, type ResultRow, runIsolatedSuite, serveIsolatedCompetitor, count, ratio } from "./harness.ts"
import { DEFAULT_BUCKETS, LABEL_A, LABEL_B, childrenLoop, clientCompetitor, gaugeSetLoop, incLoop, observeLoop } from "./support/client-competitors.ts"

/** 4 buckets that the values below (0 … 12.8) all reach, +Inf included. */
const FOUR_BUCKETS = [1, 2.5, 5, 10]
/** The service's default `PERCORE_FLUSH_INTERVAL` (10 millis). */
const FLUSH_INTERVAL_MS = 10

export const HANDLES_ROWS = {
  pcInc: "percore counter.inc() (unlabelled)",
  pcIncLabelled: "percore counter.inc(v), pre-bound labelled handle (16 series)",
  pcGaugeSet: "percore gauge.set(v)",
  pcGaugeInc: "percore gauge.inc()",
  pcObserve11: "percore histogram.observe(x) (11 buckets)",
  pcObserve4: "percore histogram.observe(x) (4 buckets)",
  promInc: "prom-client Counter.inc()",
  promLabels: "prom-client counter.labels(a, b).inc(v)",
  promIncLabels: "prom-client counter.inc({ a, b }, v)",
  promChild: "prom-client pre-bound labels(a, b) child .inc(v) (16 children)",
  promObserve: "prom-client Histogram.observe(x) (11 buckets)",
  promGaugeSet: "prom-client Gauge.set(v)"
} as const

type Key = keyof typeof HANDLES_ROWS

const PERCORE_KEYS: ReadonlyArray<Key> = ["pcInc", "pcIncLabelled", "pcGaugeSet", "pcGaugeInc", "pcObserve11", "pcObserve4"]

/** Targets from the design: a handle call ≤ 20 ns median, 0 B; ≤ 0.25× prom-client's labelled inc and observe. */
const TARGET_HANDLE_NS = 20
const TARGET_RATIO = 0.25

interface Sizes {
  readonly smoke: boolean
  readonly batch: number
  readonly percoreAllocationOps: number
  readonly otherAllocationOps: number
}

const sizesFor = (smoke: boolean): Sizes => ({
  smoke,
  batch: smoke ? 1024 : 16384,
  percoreAllocationOps: smoke ? 2048 : 10_000_000,
  otherAllocationOps: smoke ? 2048 : 1_000_000
})

// ─── percore: a real CoreRuntime, drained into a real AggregateState between batches ─────────────

interface Rig {
  readonly runtime: CoreRuntime
  /** Untimed, between batches: the control plane's drain of this core's ring. */
  readonly beforeBatch: () => void
  /**
   * Around every turn (and around the allocation run, the last one before `finish`): counts the flushes in the
   * span, so the allocation run's bytes can be put per flush.
   */
  readonly enter: () => void
  readonly exit: () => void
  /** Final flush + drain; the books of the ring and what the aggregate holds. */
  readonly finish: (check: (aggregate: AggregateState) => number) => Promise<Readonly<Record<string, number>>>
}

/** percore's modules are imported by percore's workers only (they load Effect; prom-client's workers need none of it). */
const percoreRig = async (): Promise<Rig> => {
  const [{ allocateCoreBuffers, Control, defaultCoreSettings }, { CoreRuntime }, { render }, { AggregateState }, { CoreChannel }] = await Promise.all([
    import("../src/protocol/index.ts"),
    import("../src/core/CoreRuntime.ts"),
    import("../src/exposition/render.ts"),
    import("../src/engine/AggregateState.ts"),
    import("../src/engine/CoreChannel.ts")
  ])
  const buffers = allocateCoreBuffers(0, { ringCapacity: 65_536, logBytes: 1 << 20 }, { ...defaultCoreSettings, flushIntervalMs: FLUSH_INTERVAL_MS })
  const runtime = new CoreRuntime(buffers)
  const aggregate = new AggregateState({ maxSeries: 100_000 })
  const channel = new CoreChannel(buffers, aggregate)
  const control = new Int32Array(buffers.control)
  let flushesAtEnter = 0
  let flushesInSpan = 0
  return {
    runtime,
    beforeBatch: () => {
      channel.drain()
    },
    enter: () => {
      flushesAtEnter = Atomics.load(control, Control.FLUSHES)
    },
    exit: () => {
      flushesInSpan = Atomics.load(control, Control.FLUSHES) - flushesAtEnter
    },
    finish: async (check) => {
      runtime.close() // final flush, timer stopped
      channel.drain()
      return {
        flushesInAllocationRun: flushesInSpan,
        flushes: Atomics.load(control, Control.FLUSHES),
        recorded: channel.recorded(),
        delivered: channel.reader.delivered,
        dropped: channel.reader.dropped,
        aggregateValue: check(aggregate),
        pageBytes: render(aggregate.families.values(), "text").length
      }
    }
  }
}

/** Sum of a family's series values (counters, gauges) or of its observation counts (histograms). */
const familyTotal = (aggregate: AggregateState, name: string): number => {
  let total = 0
  for (const s of aggregate.families.get(name)?.series ?? []) total += s.bucketCounts === undefined ? s.value : s.count
  return total
}

// ─── the competitors, one per worker thread ──────────────────────────────────────────────────────

/** A percore row on its rig: drained between batches, flushes counted per span, `check` read from the aggregate. */
const rigCompetitor = (rig: Rig, name: string, allocationOps: number, check: (aggregate: AggregateState) => number, ops: IsolatedCompetitor["ops"]): IsolatedCompetitor => ({
  name,
  ops,
  beforeBatch: rig.beforeBatch,
  enter: rig.enter,
  exit: rig.exit,
  allocationOps,
  finish: () => rig.finish(check)
})

/**
 * Builds each competitor inside its own worker. Every loop has the same shape — a value derived from the index, a
 * checksum returned — and libraries are imported only by the worker that uses them. The client libraries' rows are
 * the ones hotpath.ts and promclient.ts measure too (support/client-competitors.ts).
 */
const factories: { readonly [K in Key]: (sizes: Sizes) => Promise<IsolatedCompetitor> } = {
  pcInc: async ({ percoreAllocationOps }) => {
    const rig = await percoreRig()
    const counter = rig.runtime.counter("bench_inc_total", { help: "unlabelled" })
    return rigCompetitor(rig, HANDLES_ROWS.pcInc, percoreAllocationOps, (aggregate) => familyTotal(aggregate, "bench_inc"), incLoop(counter))
  },

  pcIncLabelled: async ({ percoreAllocationOps }) => {
    const rig = await percoreRig()
    const handles = Array.from({ length: 16 }, (_, s) =>
      rig.runtime.counter("bench_labelled_total", { help: "pre-bound labelled", labels: { a: LABEL_A[s & 3]!, b: LABEL_B[(s >> 2) & 3]! } }))
    return rigCompetitor(rig, HANDLES_ROWS.pcIncLabelled, percoreAllocationOps, (aggregate) => familyTotal(aggregate, "bench_labelled"), childrenLoop(handles))
  },

  pcGaugeSet: async ({ percoreAllocationOps }) => {
    const rig = await percoreRig()
    const gauge = rig.runtime.gauge("bench_gauge_set", { help: "set" })
    // The check adds 1: the last value set may be 0.
    return rigCompetitor(rig, HANDLES_ROWS.pcGaugeSet, percoreAllocationOps, (aggregate) => familyTotal(aggregate, "bench_gauge_set") + 1, gaugeSetLoop(gauge))
  },

  pcGaugeInc: async ({ percoreAllocationOps }) => {
    const rig = await percoreRig()
    const gauge = rig.runtime.gauge("bench_gauge_inc", { help: "inc" })
    return rigCompetitor(rig, HANDLES_ROWS.pcGaugeInc, percoreAllocationOps, (aggregate) => familyTotal(aggregate, "bench_gauge_inc"), incLoop(gauge))
  },

  pcObserve11: async ({ percoreAllocationOps }) => {
    const rig = await percoreRig()
    const histogram = rig.runtime.histogram("bench_observe_seconds", { help: "observe", buckets: DEFAULT_BUCKETS })
    return rigCompetitor(rig, HANDLES_ROWS.pcObserve11, percoreAllocationOps, (aggregate) => familyTotal(aggregate, "bench_observe_seconds"), observeLoop(histogram))
  },

  pcObserve4: async ({ percoreAllocationOps }) => {
    const rig = await percoreRig()
    const histogram = rig.runtime.histogram("bench_observe4_seconds", { help: "observe, 4 buckets", buckets: FOUR_BUCKETS })
    return rigCompetitor(rig, HANDLES_ROWS.pcObserve4, percoreAllocationOps, (aggregate) => familyTotal(aggregate, "bench_observe4_seconds"), observeLoop(histogram))
  },

  promInc: clientCompetitor("prom-client", "inc", HANDLES_ROWS.promInc, { reportPage: true }),
  promLabels: clientCompetitor("prom-client", "labels", HANDLES_ROWS.promLabels, { reportPage: true }),
  promIncLabels: clientCompetitor("prom-client", "incLabels", HANDLES_ROWS.promIncLabels, { reportPage: true }),

  promChild: async ({ otherAllocationOps }) => {
    const { Counter, Registry } = await import("prom-client")
    const registry = new Registry()
    const counter = new Counter({ name: "bench_child_total", help: "pre-bound child", labelNames: ["a", "b"], registers: [registry] })
    const children = Array.from({ length: 16 }, (_, s) => counter.labels(LABEL_A[s & 3]!, LABEL_B[(s >> 2) & 3]!))
    return {
      name: HANDLES_ROWS.promChild,
      ops: childrenLoop(children),
      allocationOps: otherAllocationOps,
      finish: async () => ({ pageBytes: (await registry.metrics()).length })
    }
  },

  promObserve: clientCompetitor("prom-client", "observe", HANDLES_ROWS.promObserve, { reportPage: true }),

  promGaugeSet: async ({ otherAllocationOps }) => {
    const { Gauge, Registry } = await import("prom-client")
    const registry = new Registry()
    const gauge = new Gauge({ name: "bench_gauge_set", help: "set", registers: [registry] })
    return {
      name: HANDLES_ROWS.promGaugeSet,
      ops: gaugeSetLoop(gauge),
      allocationOps: otherAllocationOps,
      finish: async () => ({ pageBytes: (await registry.metrics()).length })
    }
  }
}

// Worker entry: this module, loaded by runIsolated with workerData naming one competitor.
await serveIsolatedCompetitor("handles", factories, sizesFor)

// ─── the benchmark (main thread) ─────────────────────────────────────────────────────────────────


export const handlesBench = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const sizes = sizesFor(options.smoke)
  const { keys, results, selfCheck, timing: timingOptions } = await runIsolatedSuite(new URL(import.meta.url), "handles", HANDLES_ROWS, sizes, options.rounds)
  const byKey = (key: Key): IsolatedResult => results[keys.indexOf(key)]!
  const medianOf = (key: Key): number => byKey(key).timing.median
  const anchor = medianOf("pcInc")

  const rows: Array<ResultRow> = results.map(({ timing, allocation, report }) => ({
    name: timing.name,
    unit: "ns/op",
    median: timing.median,
    min: timing.min,
    max: timing.max,
    bytesPerOp: allocation.bytesPerOp,
    relative: timing.median / anchor,
    detail: {
      opsPerRound: timing.opsPerRound,
      rounds: timing.rounds.length,
      allocationOps: allocation.ops,
      allocatedBytes: allocation.bytes,
      gcsDuringAllocationRun: allocation.gcs,
      ...report
    }
  }))
  const ratios: Array<Ratio> = [
    ratio("percore labelled inc(v) / prom-client counter.labels(a, b).inc(v)", medianOf("pcIncLabelled"), medianOf("promLabels"), TARGET_RATIO),
    ratio("percore labelled inc(v) / prom-client counter.inc({ a, b }, v)", medianOf("pcIncLabelled"), medianOf("promIncLabels"), TARGET_RATIO),
    ratio("percore observe (11) / prom-client Histogram.observe() (11)", medianOf("pcObserve11"), medianOf("promObserve"), TARGET_RATIO),
    ratio("percore labelled inc(v) / prom-client pre-bound child inc(v)", medianOf("pcIncLabelled"), medianOf("promChild")),
    ratio("percore counter.inc() / prom-client Counter.inc()", medianOf("pcInc"), medianOf("promInc")),
    ratio("percore gauge.set(v) / prom-client Gauge.set(v)", medianOf("pcGaugeSet"), medianOf("promGaugeSet")),
    ratio("percore labelled inc(v) / unlabelled inc()", medianOf("pcIncLabelled"), medianOf("pcInc")),
    ratio("percore observe: 11 buckets / 4 buckets", medianOf("pcObserve11"), medianOf("pcObserve4")),
    ...PERCORE_KEYS.map((key) => ratio(`${HANDLES_ROWS[key]}: median ns`, medianOf(key), 1, TARGET_HANDLE_NS))
  ]
  const percoreAllocation = PERCORE_KEYS.map((key) => ({ key, allocation: byKey(key).allocation, flushes: byKey(key).report["flushesInAllocationRun"] ?? 0 }))
  const worstBytes = Math.max(...percoreAllocation.map((a) => a.allocation.bytesPerOp))
  // A per-call allocation is at least one 16-byte object: ≥ 16 B/op, or ≥ 0.1 B/op even if only every 160th call allocated.
  const perCallFree = worstBytes < 0.1
  const books = PERCORE_KEYS.map((key) => {
    const r = byKey(key).report
    return `${key}: ${count(r["flushes"])} flushes, ${count(r["recorded"])} samples recorded, ${count(r["delivered"])} delivered, ${count(r["dropped"])} dropped, aggregate holds ${count(r["aggregateValue"])}`
  })
  const notes = [
    "Handle calls coalesce: a call adds into the core's typed arrays and writes NO ring record; a flush publishes one ring sample per changed series.",
    `Flushes run on the runtime's own schedule inside the timed loop (every 256 handle calls a checkpoint reads the clock and flushes when ${FLUSH_INTERVAL_MS} ms — the service's default PERCORE_FLUSH_INTERVAL — have passed); their cost is included. Between timed batches, untimed, a CoreChannel drains the ring into a real AggregateState.`,
    `percore allocation, target 0 B per call: ${perCallFree ? "met" : "MISSED"} (worst ${worstBytes === 0 ? "0" : worstBytes.toPrecision(2)} B/op; any per-call allocation would be ≥ 16 B/op). ` +
      `${percoreAllocation.map(({ key, allocation, flushes }) => `${key}: ${count(allocation.bytes)} B in ${count(allocation.ops)} calls and ${count(flushes)} flushes`).join("; ")}.` +
      (perCallFree
        ? " What remains is per flush, not per call: flush() runs ~100 times a second, too rarely for V8 to optimize it, and unoptimized code boxes the doubles it handles (clock reads, sample values) as heap numbers."
        : ""),
    `percore books (ring and aggregate): ${books.join("; ")}.`,
    `Allocation meter self-check: { x, y } literal ${selfCheck.objectLiteral.toFixed(2)} B/op, empty loop ${selfCheck.nothing.toFixed(4)} B/op; forced GC ${byKey("pcInc").allocation.forcedGc ? "available" : "NOT available (figures less reliable)"}.`,
    `Each competitor in its own worker thread (own V8 isolate), interleaved: ${timingOptions.rounds} rounds after ${timingOptions.warmupRounds} warm-up rounds, ~${timingOptions.targetRoundMs} ms per competitor per round, batches of ${sizes.batch}. Labelled series: 4 × 4 = 16, picked by the loop index (percore and the prom-client child: from 16 pre-bound handles).`
  ]
  return {
    benchmark: "handles",
    title: "Handles: cost of one percore/core handle call on the core",
    rows,
    relativeTo: "percore counter.inc()",
    ratios,
    notes
  }
}
