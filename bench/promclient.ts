/**
 * prom-client facade benchmark: what one `inc()` costs the thread that makes it, through `percore/prom-client`
 * (prom-client's API on percore's core handles, label sets cached) against prom-client 15 and
 * `@prometheus-io/client` 0.16 — unlabelled `inc()`, `labels(a, b).inc(v)` and `inc({ a, b }, v)` over 16 series.
 *
 * The facade runs on a real core (buffers from `allocateCoreBuffers`, attached to the worker's `core`, the
 * service's default flush interval); between timed batches a `CoreChannel` drains the ring into a real
 * `AggregateState`, untimed, and at the end the aggregate must hold what the loops recorded. Method as in
 * handles.ts: every competitor in its own worker thread, interleaved round by round.
 *
 * `npm run bench -- promclient`, or `npm exec -- node --expose-gc bench/promclient.ts` is its worker entry.
 */
import type { AggregateState } from "../src/engine/AggregateState.ts"
import { type BenchmarkOptions, type BenchmarkResult, type IsolatedCompetitor, type IsolatedResult, type Ratio, type ResultRow, count, ratio, runIsolatedSuite, serveIsolatedCompetitor } from "./harness.ts"
import { COUNTERS, clientCompetitor, incLabelsLoop, incLoop, labelsLoop } from "./support/client-competitors.ts"

const FLUSH_INTERVAL_MS = 10
/** The target: the facade's labelled inc() ≤ 0.25× prom-client's. */
const TARGET_RATIO = 0.25

export const PROMCLIENT_ROWS = {
  facadeInc: "percore/prom-client Counter.inc()",
  facadeLabels: "percore/prom-client counter.labels(a, b).inc(v)",
  facadeIncLabels: "percore/prom-client counter.inc({ a, b }, v)",
  promInc: "prom-client Counter.inc()",
  promLabels: "prom-client counter.labels(a, b).inc(v)",
  promIncLabels: "prom-client counter.inc({ a, b }, v)",
  ioInc: "@prometheus-io/client Counter.inc()",
  ioLabels: "@prometheus-io/client counter.labels(a, b).inc(v)",
  ioIncLabels: "@prometheus-io/client counter.inc({ a, b }, v)"
} as const

type Key = keyof typeof PROMCLIENT_ROWS
const FACADE_KEYS: ReadonlyArray<Key> = ["facadeInc", "facadeLabels", "facadeIncLabels"]

interface Sizes {
  readonly smoke: boolean
  readonly batch: number
  readonly otherAllocationOps: number
}
const sizesFor = (smoke: boolean): Sizes => ({ smoke, batch: smoke ? 1024 : 16384, otherAllocationOps: smoke ? 2048 : 1_000_000 })

/** This worker's core (attached by hand) and the control plane's drain of it, untimed between batches. */
const facadeRig = async () => {
  const [{ allocateCoreBuffers, defaultCoreSettings }, { attachCore, closeCore }, { AggregateState }, { CoreChannel }, facade] = await Promise.all([
    import("../src/protocol/index.ts"),
    import("../src/core/index.ts"),
    import("../src/engine/AggregateState.ts"),
    import("../src/engine/CoreChannel.ts"),
    import("../src/prom-client/index.ts")
  ])
  const buffers = allocateCoreBuffers(0, { ringCapacity: 65_536, logBytes: 1 << 20 }, { ...defaultCoreSettings, flushIntervalMs: FLUSH_INTERVAL_MS })
  attachCore(buffers)
  const aggregate = new AggregateState({ maxSeries: 100_000 })
  const channel = new CoreChannel(buffers, aggregate)
  return {
    facade,
    beforeBatch: () => void channel.drain(),
    finish: async (family: string) => {
      closeCore()
      channel.drain()
      return { aggregateTotal: total(aggregate, family), dropped: channel.reader.dropped }
    }
  }
}

const total = (aggregate: AggregateState, name: string): number => {
  let sum = 0
  for (const s of aggregate.families.get(name)?.series ?? []) sum += s.value
  return sum
}

/** A facade counter of `COUNTERS` on this worker's core, its loop, and at the end the aggregate's total. */
const facadeCompetitor = async (name: string, loop: "inc" | "labels" | "incLabels", family: string, allocationOps: number): Promise<IsolatedCompetitor> => {
  const rig = await facadeRig()
  const ops = loop === "inc"
    ? incLoop(new rig.facade.Counter({ ...COUNTERS.inc, registers: [] }))
    : loop === "labels"
    ? labelsLoop(new rig.facade.Counter({ ...COUNTERS.labels, registers: [] }))
    : incLabelsLoop(new rig.facade.Counter({ ...COUNTERS.incLabels, registers: [] }))
  return { name, ops, beforeBatch: rig.beforeBatch, allocationOps, finish: () => rig.finish(family) }
}

const factories: { readonly [K in Key]: (sizes: Sizes) => Promise<IsolatedCompetitor> } = {
  facadeInc: ({ otherAllocationOps }) => facadeCompetitor(PROMCLIENT_ROWS.facadeInc, "inc", "bench_inc", otherAllocationOps),
  facadeLabels: ({ otherAllocationOps }) => facadeCompetitor(PROMCLIENT_ROWS.facadeLabels, "labels", "bench_labels", otherAllocationOps),
  facadeIncLabels: ({ otherAllocationOps }) => facadeCompetitor(PROMCLIENT_ROWS.facadeIncLabels, "incLabels", "bench_inc_labels", otherAllocationOps),
  promInc: clientCompetitor("prom-client", "inc", PROMCLIENT_ROWS.promInc, { reportPage: false }),
  promLabels: clientCompetitor("prom-client", "labels", PROMCLIENT_ROWS.promLabels, { reportPage: false }),
  promIncLabels: clientCompetitor("prom-client", "incLabels", PROMCLIENT_ROWS.promIncLabels, { reportPage: false }),
  ioInc: clientCompetitor("@prometheus-io/client", "inc", PROMCLIENT_ROWS.ioInc, { reportPage: false }),
  ioLabels: clientCompetitor("@prometheus-io/client", "labels", PROMCLIENT_ROWS.ioLabels, { reportPage: false }),
  ioIncLabels: clientCompetitor("@prometheus-io/client", "incLabels", PROMCLIENT_ROWS.ioIncLabels, { reportPage: false })
}

// Worker entry: this module, loaded by runIsolated with workerData naming one competitor.
await serveIsolatedCompetitor("promclient", factories, sizesFor)

export const promclientBench = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const sizes = sizesFor(options.smoke)
  const { keys, results, timing } = await runIsolatedSuite(new URL(import.meta.url), "promclient", PROMCLIENT_ROWS, sizes, options.rounds)
  const byKey = (key: Key): IsolatedResult => results[keys.indexOf(key)]!
  const medianOf = (key: Key): number => byKey(key).timing.median
  const anchor = medianOf("promLabels")
  const rows: Array<ResultRow> = results.map(({ timing: t, allocation, report }) => ({
    name: t.name,
    unit: "ns/op",
    median: t.median,
    min: t.min,
    max: t.max,
    bytesPerOp: allocation.bytesPerOp,
    relative: t.median / anchor,
    detail: { opsPerRound: t.opsPerRound, rounds: t.rounds.length, allocationOps: allocation.ops, ...report }
  }))
  const ratios: Array<Ratio> = [
    ratio("facade labels(a, b).inc(v) / prom-client's", medianOf("facadeLabels"), medianOf("promLabels"), TARGET_RATIO),
    ratio("facade inc({ a, b }, v) / prom-client's", medianOf("facadeIncLabels"), medianOf("promIncLabels"), TARGET_RATIO),
    ratio("facade inc() / prom-client Counter.inc()", medianOf("facadeInc"), medianOf("promInc")),
    ratio("facade labels(a, b).inc(v) / @prometheus-io/client's", medianOf("facadeLabels"), medianOf("ioLabels")),
    ratio("facade inc({ a, b }, v) / @prometheus-io/client's", medianOf("facadeIncLabels"), medianOf("ioIncLabels")),
    ratio("facade inc() / @prometheus-io/client Counter.inc()", medianOf("facadeInc"), medianOf("ioInc"))
  ]
  const books = FACADE_KEYS.map((key) => `${key}: aggregate holds ${count(byKey(key).report["aggregateTotal"])}, ${count(byKey(key).report["dropped"])} dropped`)
  return {
    benchmark: "promclient",
    title: "prom-client facade: one inc() through percore/prom-client vs prom-client and @prometheus-io/client",
    rows,
    relativeTo: PROMCLIENT_ROWS.promLabels,
    ratios,
    notes: [
      "The facade resolves a label set through nested Maps (one per label name, no key string built), then calls the core's handle: a few typed-array writes, coalesced, flushed on the core's schedule (included in the timed loop).",
      `Facade books (ring drained into a real AggregateState between batches): ${books.join("; ")}.`,
      `Each competitor in its own worker thread, interleaved: ${timing.rounds} rounds after ${timing.warmupRounds} warm-up rounds, batches of ${sizes.batch}; 4 × 4 = 16 label sets picked by the loop index.`
    ]
  }
}
