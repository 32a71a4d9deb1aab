/**
 * The client-library competitors that hotpath.ts, handles.ts and promclient.ts share: prom-client 15 and
 * `@prometheus-io/client` 0.16 counters and histograms (and percore's prom-client facade, which takes the same
 * counter definitions), with the timed loops they run. One definition each, so the three benchmarks measure the
 * same thing under the same row.
 *
 * Every competitor still runs alone in its own worker (isolate), so a loop shared here only ever sees one
 * library's types.
 */
import type { IsolatedCompetitor } from "../harness.ts"

/** prom-client's default histogram buckets (11), also percore's default; OpenTelemetry gets the same boundaries. */
export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** Label values: 4 × 4 = 16 series, chosen by the loop index from preallocated strings. */
export const LABEL_A = ["GET", "POST", "PUT", "DELETE"] as const
export const LABEL_B = ["/api/users", "/api/orders", "/api/items", "/health"] as const

/** The benchmarks' counters; a library adds its `registers`. */
export const COUNTERS = {
  inc: { name: "bench_inc_total", help: "unlabelled" },
  labels: { name: "bench_labels_total", help: "labels(a, b)", labelNames: ["a", "b"] },
  incLabels: { name: "bench_inc_labels_total", help: "inc({ a, b })", labelNames: ["a", "b"] }
} as const

type Ops = IsolatedCompetitor["ops"]

/** `counter.inc()`; the checksum adds what a valued loop would have added minus one. */
export const incLoop = (counter: { inc(): void }): Ops => (start, end) => {
  let sum = 0
  for (let i = start; i < end; i++) {
    counter.inc()
    sum += i & 7
  }
  return sum
}

/** `counter.inc(v)`. */
const incByLoop = (counter: { inc(value: number): void }): Ops => (start, end) => {
  let sum = 0
  for (let i = start; i < end; i++) {
    const v = (i & 7) + 1
    counter.inc(v)
    sum += v
  }
  return sum
}

/** `counter.labels(a, b).inc(v)` over the 16 series. */
export const labelsLoop = (counter: { labels(a: string, b: string): { inc(value: number): void } }): Ops => (start, end) => {
  let sum = 0
  for (let i = start; i < end; i++) {
    const v = (i & 7) + 1
    counter.labels(LABEL_A[i & 3]!, LABEL_B[(i >> 2) & 3]!).inc(v)
    sum += v
  }
  return sum
}

/** `counter.inc({ a, b }, v)` over the 16 series. */
export const incLabelsLoop = (counter: { inc(labels: { a: string; b: string }, value: number): void }): Ops => (start, end) => {
  let sum = 0
  for (let i = start; i < end; i++) {
    const v = (i & 7) + 1
    counter.inc({ a: LABEL_A[i & 3]!, b: LABEL_B[(i >> 2) & 3]! }, v)
    sum += v
  }
  return sum
}

/** `children[i & 15].inc(v)`: one of 16 pre-bound series per call. */
export const childrenLoop = (children: ReadonlyArray<{ inc(value: number): void }>): Ops => (start, end) => {
  let sum = 0
  for (let i = start; i < end; i++) {
    const v = (i & 7) + 1
    children[i & 15]!.inc(v)
    sum += v
  }
  return sum
}

/** `histogram.observe(x)`. */
export const observeLoop = (histogram: { observe(x: number): void }): Ops => (start, end) => {
  let sum = 0
  for (let i = start; i < end; i++) {
    const x = (i & 1023) * 0.0125 // 0 … 12.8 s: every bucket, +Inf included
    histogram.observe(x)
    sum += x
  }
  return sum
}

/** `gauge.set(v)`. */
export const gaugeSetLoop = (gauge: { set(v: number): void }): Ops => (start, end) => {
  let sum = 0
  for (let i = start; i < end; i++) {
    const v = (i & 1023) * 0.5
    gauge.set(v)
    sum += v
  }
  return sum
}

export type ClientLibrary = "prom-client" | "@prometheus-io/client"

/** What a client competitor measures: a counter loop of `COUNTERS`, or an observe on the default buckets. */
export type ClientLoop = "inc" | "incBy" | "labels" | "incLabels" | "observe"

/** What the loops use of a library; prom-client and `@prometheus-io/client` share it, each with its own registry type. */
interface ClientModule<R> {
  readonly Registry: new () => R & { metrics(): Promise<string> }
  readonly Counter: new (config: { name: string; help: string; labelNames?: ReadonlyArray<string>; registers: Array<R> }) => {
    inc(value?: number): void
    inc(labels: { a: string; b: string }, value: number): void
    labels(a: string, b: string): { inc(value: number): void }
  }
  readonly Histogram: new (config: { name: string; help: string; buckets: Array<number>; registers: Array<R> }) => { observe(x: number): void }
}

/** The library's own registry, with the loop's metric registered in it. */
const clientRig = <R>({ Counter, Histogram, Registry }: ClientModule<R>, loop: ClientLoop) => {
  const registry = new Registry()
  const registers = [registry]
  const metrics = () => registry.metrics()
  switch (loop) {
    case "inc":
    case "incBy": {
      const counter = new Counter({ ...COUNTERS.inc, registers })
      return { ops: loop === "inc" ? incLoop(counter) : incByLoop(counter), metrics }
    }
    case "labels":
      return { ops: labelsLoop(new Counter({ ...COUNTERS.labels, registers })), metrics }
    case "incLabels":
      return { ops: incLabelsLoop(new Counter({ ...COUNTERS.incLabels, registers })), metrics }
    case "observe":
      return { ops: observeLoop(new Histogram({ name: "bench_observe_seconds", help: "observe", buckets: DEFAULT_BUCKETS, registers })), metrics }
  }
}

/**
 * The factory of a prom-client or `@prometheus-io/client` row, for a benchmark's `factories`: builds the
 * competitor in its worker, measuring allocation over the sizes' `otherAllocationOps`. With `reportPage`,
 * `finish` reports the size of the library's exposition page (`pageBytes`).
 */
export const clientCompetitor = (library: ClientLibrary, loop: ClientLoop, name: string, { reportPage }: { readonly reportPage: boolean }) =>
  async ({ otherAllocationOps }: { readonly otherAllocationOps: number }): Promise<IsolatedCompetitor> => {
    // Only the library this worker measures is loaded.
    const { ops, metrics } = library === "prom-client" ? clientRig(await import("prom-client"), loop) : clientRig(await import("@prometheus-io/client"), loop)
    const allocationOps = otherAllocationOps
    return reportPage
      ? { name, ops, allocationOps, finish: async () => ({ pageBytes: (await metrics()).length }) }
      : { name, ops, allocationOps }
  }
