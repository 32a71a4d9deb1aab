/**
 * Hot-path benchmark: what one metric update costs the thread that makes it.
 *
 * percore `writer.record(id, kind, value)` against prom-client 15, Effect 4 `Metric` and the OpenTelemetry
 * metrics SDK, plus the ring's drain cost per sample and a reference pair of `Atomics` operations (the two that
 * `record()` cannot avoid: one `Atomics.load` of the shared clock word, one `Atomics.store` of TAIL).
 *
 * Method (see BENCHMARKS.md): every competitor lives in its OWN worker thread — its own V8 isolate, so no
 * competitor's type feedback shapes another's code, not even inside a library they share — and the main thread
 * runs them interleaved round by round (`runIsolated`, harness.ts), one at a time. Every loop has the same shape:
 * values derived from the loop index, a checksum returned and folded into a sink; timed in batches after warm-up;
 * allocation measured afterwards on warm code.
 *
 * `writer.append()` with a `publish()` every 64 samples (the batch path a core's flush uses) is measured like (a):
 * it skips `record()`'s per-sample publishing `Atomics.store`.
 *
 * percore is measured twice: (a) drained on the same thread BETWEEN timed batches (`beforeBatch`, untimed), and
 * (b) drained by a real consumer on another worker thread (woken by the ring's half-full signal, else every 1 ms)
 * while the timed loop runs. (a) is the headline figure; (b) adds sharing cache lines with a consumer on the
 * other core, and shows what a flat-out producer does to the consumer (drops).
 *
 * This module is also the competitors' worker entry (see the bottom of the competitor section).
 * Run alone: `npm run bench -- hotpath` (or `--smoke`).
 */
import { once } from "node:events"
import { Worker } from "node:worker_threads"
import { MetricKind, TelemetryRing } from "../src/ring/index.ts"
import { type BenchmarkOptions, type BenchmarkResult, type IsolatedCompetitor, type IsolatedResult, type Ratio, type ResultRow, runIsolatedSuite, serveIsolatedCompetitor, count, ratio } from "./harness.ts"
import { DEFAULT_BUCKETS, LABEL_A, LABEL_B, clientCompetitor } from "./support/client-competitors.ts"


export const HOTPATH_ROWS = {
  reference: "reference: Atomics.load + Atomics.store",
  record: "percore record() — same thread, drained between batches",
  recordWorker: "percore record() — drained by a worker thread",
  append: "percore append(), publish() every 64 — same thread",
  drain: "percore drain, per sample (same thread)",
  promInc: "prom-client Counter.inc()",
  promLabels: "prom-client counter.labels(a, b).inc()",
  promIncLabels: "prom-client counter.inc({ a, b })",
  promObserve: "prom-client Histogram.observe() (11 buckets)",
  officialInc: "@prometheus-io/client Counter.inc()",
  officialIncLabels: "@prometheus-io/client counter.inc({ a, b })",
  officialObserve: "@prometheus-io/client Histogram.observe() (11 buckets)",
  effectRunSync: "Effect Effect.runSync(Metric.update(counter, v))",
  effectUnsafe: "Effect counter.updateUnsafe(v, context)",
  otelAdd: "OpenTelemetry Counter.add(v)",
  otelAddAttrs: "OpenTelemetry Counter.add(v, { a, b })",
  otelRecord: "OpenTelemetry Histogram.record(x) (11 buckets)"
} as const

/**
 * Targets: the per-sample path — `append()`, publishes batched — ≤ 20 ns median; ≤ 0.25× a labelled prom-client inc
 * and a histogram observe. `record()` (append + a publishing store per sample, for a lone sample that must be
 * visible at once) is reported without a target: its seq-cst store alone costs about as much as the rest.
 */
const TARGET_RECORD_NS = 20
const TARGET_RATIO = 0.25

// ─── the consumer thread for variant (b) ─────────────────────────────────────────────────────────

const IDLE = 0
const ACTIVE = 1
const STOP = 2
// Control words: [0] state; [1] turns ended by the main thread; [2] turns acknowledged (drained) by the worker;
// [3] activations — the idle worker waits on this counter, not on the state, which goes IDLE → ACTIVE → IDLE
// and could return to the value a late waiter expects (a lost wake-up).
const C_STATE = 0
const C_TURN = 1
const C_ACK = 2
const C_ACTIVATIONS = 3

/** CommonJS so it needs no type stripping; it imports the ring module by URL. */
const drainerSource = `
const { workerData, parentPort } = require("node:worker_threads")
const { buffer, control, ringModule } = workerData
const ctl = new Int32Array(control)
import(ringModule).then(async ({ TelemetryRing }) => {
  const reader = TelemetryRing.reader(buffer)
  const sum = new Float64Array(1) // not a captured let: that would box a HeapNumber per sample
  let drains = 0
  const sink = (id, kind, value) => { sum[0] += value }
  // A pending Atomics.waitAsync does not keep a thread's event loop alive; this handle does.
  const keepAlive = setInterval(() => {}, 1 << 30)
  parentPort.postMessage({ ready: true })
  for (;;) {
    // Load the counter before the state: an activation after the state load then changes what we wait on.
    const activations = Atomics.load(ctl, ${C_ACTIVATIONS})
    const state = Atomics.load(ctl, ${C_STATE})
    if (state === ${STOP}) break
    if (state === ${IDLE}) {
      reader.drain(sink)
      Atomics.store(ctl, ${C_ACK}, Atomics.load(ctl, ${C_TURN}))
      Atomics.notify(ctl, ${C_ACK})
      const idle = Atomics.waitAsync(ctl, ${C_ACTIVATIONS}, activations)
      if (idle.async) await idle.value
      continue
    }
    const seen = reader.wakeCount()
    reader.drain(sink)
    drains++
    await reader.waitForWake(seen, 1)
  }
  reader.drain(sink)
  clearInterval(keepAlive)
  parentPort.postMessage({ delivered: reader.delivered, dropped: reader.dropped, drains, sum: sum[0] })
})
`

interface DrainerReport {
  readonly delivered: number
  readonly dropped: number
  readonly drains: number
  readonly sum: number
}

interface Drainer {
  /** The consumer drains while the producer's turn lasts. */
  readonly activate: () => void
  /** Ends the turn and blocks until the consumer has drained everything and gone idle. */
  readonly deactivate: () => void
  readonly stop: () => Promise<DrainerReport>
  readonly terminate: () => Promise<number>
}

const startDrainer = async (buffer: SharedArrayBuffer): Promise<Drainer> => {
  const control = new Int32Array(new SharedArrayBuffer(64))
  const worker = new Worker(drainerSource, {
    eval: true,
    name: "percore-bench-drainer",
    workerData: { buffer, control: control.buffer, ringModule: new URL("../src/ring/index.ts", import.meta.url).href }
  })
  await once(worker, "message")
  return {
    activate: () => {
      Atomics.store(control, C_STATE, ACTIVE)
      Atomics.add(control, C_ACTIVATIONS, 1)
      Atomics.notify(control, C_ACTIVATIONS)
    },
    deactivate: () => {
      const turn = Atomics.add(control, C_TURN, 1) + 1
      Atomics.store(control, C_STATE, IDLE)
      const deadline = performance.now() + 10_000
      for (let ack = Atomics.load(control, C_ACK); ack < turn; ack = Atomics.load(control, C_ACK)) {
        if (performance.now() > deadline) throw new Error(`hotpath: the drainer thread stopped answering (control ${control.join(",")}, turn ${turn})`)
        Atomics.wait(control, C_ACK, ack, 100)
      }
    },
    stop: async () => {
      const report = once(worker, "message")
      Atomics.store(control, C_STATE, STOP)
      Atomics.add(control, C_ACTIVATIONS, 1)
      Atomics.notify(control, C_ACTIVATIONS)
      const [message] = (await report) as [DrainerReport]
      return message
    },
    terminate: () => worker.terminate()
  }
}

// ─── the competitors, one per worker thread ──────────────────────────────────────────────────────

type Key = keyof typeof HOTPATH_ROWS

interface Sizes {
  readonly smoke: boolean
  readonly capacity: number
  readonly batch: number
  readonly recordAllocationOps: number
  readonly otherAllocationOps: number
}

const sizesFor = (smoke: boolean): Sizes => ({
  smoke,
  capacity: smoke ? 4096 : 65536,
  batch: smoke ? 1024 : 16384,
  recordAllocationOps: smoke ? 2048 : 10_000_000,
  otherAllocationOps: smoke ? 2048 : 1_000_000
})

/**
 * The one sink of every same-thread drain in a worker (drain()'s call site stays monomorphic). It accumulates
 * into a Float64Array: a module-level `let` holding a non-Smi number would box a fresh HeapNumber per sample.
 */
const drainedSum = new Float64Array(1)
const drainSink = (metricId: number, _kind: number, value: number, timestampMs: number): void => {
  drainedSum[0]! += metricId + value + (timestampMs & 1)
}

const pairOfRing = (capacity: number) => {
  const buffer = TelemetryRing.allocate(capacity)
  return { buffer, writer: TelemetryRing.writer(buffer), reader: TelemetryRing.reader(buffer) }
}

/**
 * Builds each competitor inside its own worker. Every loop has the same shape — a value derived from the index,
 * a checksum returned — and libraries are imported only by the worker that measures them.
 */
const factories: { readonly [K in Key]: (sizes: Sizes) => Promise<IsolatedCompetitor> } = {
  reference: async () => {
    const words = new Int32Array(new SharedArrayBuffer(256))
    return {
      name: HOTPATH_ROWS.reference,
      ops: (start, end) => {
        let sum = 0
        for (let i = start; i < end; i++) {
          const v = (i & 7) + 1
          sum += Atomics.load(words, 32) + v // another 64-byte line than the store, like CLOCK and TAIL
          Atomics.store(words, 16, i)
        }
        return sum
      }
    }
  },

  record: async ({ capacity, recordAllocationOps }) => {
    const { writer, reader } = pairOfRing(capacity)
    return {
      name: HOTPATH_ROWS.record,
      ops: (start, end) => {
        let sum = 0
        for (let i = start; i < end; i++) {
          const v = (i & 7) + 1
          if (writer.record(i & 1023, MetricKind.Counter, v)) sum += v
        }
        return sum
      },
      beforeBatch: () => {
        reader.drain(drainSink)
      },
      allocationOps: recordAllocationOps,
      finish: async () => {
        reader.drain(drainSink)
        return { recorded: writer.recorded, delivered: reader.delivered, dropped: reader.dropped, drained: drainedSum[0]! }
      }
    }
  },

  append: async ({ capacity, recordAllocationOps }) => {
    const { writer, reader } = pairOfRing(capacity)
    return {
      name: HOTPATH_ROWS.append,
      ops: (start, end) => {
        let sum = 0
        for (let i = start; i < end; i++) {
          const v = (i & 7) + 1
          if (writer.append(i & 1023, MetricKind.Counter, v)) sum += v
          if ((i & 63) === 63) writer.publish()
        }
        return sum
      },
      beforeBatch: () => {
        writer.publish()
        reader.drain(drainSink)
      },
      allocationOps: recordAllocationOps,
      finish: async () => {
        writer.publish()
        reader.drain(drainSink)
        return { recorded: writer.recorded, delivered: reader.delivered, dropped: reader.dropped, drained: drainedSum[0]! }
      }
    }
  },

  recordWorker: async ({ capacity, recordAllocationOps }) => {
    const buffer = TelemetryRing.allocate(capacity)
    const writer = TelemetryRing.writer(buffer)
    const drainer = await startDrainer(buffer)
    return {
      name: HOTPATH_ROWS.recordWorker,
      ops: (start, end) => {
        let sum = 0
        for (let i = start; i < end; i++) {
          const v = (i & 7) + 1
          if (writer.record(i & 1023, MetricKind.Counter, v)) sum += v
        }
        return sum
      },
      enter: drainer.activate,
      exit: drainer.deactivate,
      allocationOps: recordAllocationOps,
      finish: async () => {
        const report = await drainer.stop()
        await drainer.terminate()
        return { recorded: writer.recorded, ...report }
      }
    }
  },

  drain: async ({ capacity, otherAllocationOps }) => {
    const { writer, reader } = pairOfRing(capacity)
    return {
      name: HOTPATH_ROWS.drain,
      batch: capacity,
      // The timed batch drains exactly `capacity` samples, which `beforeBatch` wrote (untimed).
      ops: () => reader.drain(drainSink),
      beforeBatch: () => {
        for (let i = 0; i < capacity; i++) writer.record(i & 1023, MetricKind.Counter, (i & 7) + 1)
      },
      allocationOps: otherAllocationOps,
      finish: async () => ({ recorded: writer.recorded, delivered: reader.delivered, dropped: reader.dropped, drained: drainedSum[0]! })
    }
  },

  promInc: clientCompetitor("prom-client", "incBy", HOTPATH_ROWS.promInc, { reportPage: true }),
  promLabels: clientCompetitor("prom-client", "labels", HOTPATH_ROWS.promLabels, { reportPage: true }),
  promIncLabels: clientCompetitor("prom-client", "incLabels", HOTPATH_ROWS.promIncLabels, { reportPage: true }),
  promObserve: clientCompetitor("prom-client", "observe", HOTPATH_ROWS.promObserve, { reportPage: true }),
  officialInc: clientCompetitor("@prometheus-io/client", "incBy", HOTPATH_ROWS.officialInc, { reportPage: true }),
  officialIncLabels: clientCompetitor("@prometheus-io/client", "incLabels", HOTPATH_ROWS.officialIncLabels, { reportPage: true }),
  officialObserve: clientCompetitor("@prometheus-io/client", "observe", HOTPATH_ROWS.officialObserve, { reportPage: true }),

  effectRunSync: async ({ smoke, otherAllocationOps }) => {
    const { Effect, Metric } = await import("effect")
    const counter = Metric.counter("bench_effect_run_sync")
    return {
      name: HOTPATH_ROWS.effectRunSync,
      ops: (start, end) => {
        let sum = 0
        for (let i = start; i < end; i++) {
          const v = (i & 7) + 1
          Effect.runSync(Metric.update(counter, v))
          sum += v
        }
        return sum
      },
      allocationOps: smoke ? otherAllocationOps : 262_144,
      finish: async () => ({ count: Effect.runSync(Metric.value(counter)).count })
    }
  },

  effectUnsafe: async ({ otherAllocationOps }) => {
    const { Context, Metric } = await import("effect")
    const counter = Metric.counter("bench_effect_update_unsafe")
    const context = Context.make(Metric.MetricRegistry, new Map())
    return {
      name: HOTPATH_ROWS.effectUnsafe,
      ops: (start, end) => {
        let sum = 0
        for (let i = start; i < end; i++) {
          const v = (i & 7) + 1
          counter.updateUnsafe(v, context)
          sum += v
        }
        return sum
      },
      allocationOps: otherAllocationOps,
      finish: async () => ({ count: counter.valueUnsafe(context).count })
    }
  },

  otelAdd: async ({ otherAllocationOps }) => {
    const { meter, finish } = await otelMeter()
    const counter = meter.createCounter("bench_otel_add")
    return {
      name: HOTPATH_ROWS.otelAdd,
      ops: (start, end) => {
        let sum = 0
        for (let i = start; i < end; i++) {
          const v = (i & 7) + 1
          counter.add(v)
          sum += v
        }
        return sum
      },
      allocationOps: otherAllocationOps,
      finish
    }
  },

  otelAddAttrs: async ({ otherAllocationOps }) => {
    const { meter, finish } = await otelMeter()
    const counter = meter.createCounter("bench_otel_add_attrs")
    return {
      name: HOTPATH_ROWS.otelAddAttrs,
      ops: (start, end) => {
        let sum = 0
        for (let i = start; i < end; i++) {
          const v = (i & 7) + 1
          counter.add(v, { a: LABEL_A[i & 3]!, b: LABEL_B[(i >> 2) & 3]! })
          sum += v
        }
        return sum
      },
      allocationOps: otherAllocationOps,
      finish
    }
  },

  otelRecord: async ({ otherAllocationOps }) => {
    const { meter, finish } = await otelMeter()
    const histogram = meter.createHistogram("bench_otel_record", { advice: { explicitBucketBoundaries: DEFAULT_BUCKETS } })
    return {
      name: HOTPATH_ROWS.otelRecord,
      ops: (start, end) => {
        let sum = 0
        for (let i = start; i < end; i++) {
          const x = (i & 1023) * 0.0125
          histogram.record(x)
          sum += x
        }
        return sum
      },
      allocationOps: otherAllocationOps,
      finish
    }
  }
}

/** A MeterProvider with a reader that never exports: the SDK keeps real metric storage, as in a deployment. */
const otelMeter = async () => {
  const { MeterProvider, MetricReader } = await import("@opentelemetry/sdk-metrics")
  class ManualReader extends MetricReader {
    protected override onShutdown(): Promise<void> {
      return Promise.resolve()
    }
    protected override onForceFlush(): Promise<void> {
      return Promise.resolve()
    }
  }
  const reader = new ManualReader()
  const provider = new MeterProvider({ readers: [reader] })
  return {
    meter: provider.getMeter("percore-bench"),
    finish: async (): Promise<Readonly<Record<string, number>>> => {
      // Proves the instruments recorded into live storage (no exporter-less no-op path was measured).
      const collected = await reader.collect()
      const points = collected.resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).reduce((n, m) => n + m.dataPoints.length, 0)
      await provider.shutdown()
      return { dataPoints: points }
    }
  }
}

// Worker entry: this module, loaded by runIsolated with workerData naming one competitor.
await serveIsolatedCompetitor("hotpath", factories, sizesFor)

// ─── the benchmark (main thread) ─────────────────────────────────────────────────────────────────


export const hotpathBench = async (options: BenchmarkOptions): Promise<BenchmarkResult> => {
  const sizes = sizesFor(options.smoke)
  const { keys, results, selfCheck, timing: timingOptions } = await runIsolatedSuite(new URL(import.meta.url), "hotpath", HOTPATH_ROWS, sizes, options.rounds)
  const byKey = (key: Key): IsolatedResult => results[keys.indexOf(key)]!
  const medianOf = (key: Key): number => byKey(key).timing.median
  const record = medianOf("record")

  const rows: Array<ResultRow> = results.map(({ timing, allocation }) => ({
    name: timing.name,
    unit: "ns/op",
    median: timing.median,
    min: timing.min,
    max: timing.max,
    bytesPerOp: allocation.bytesPerOp,
    relative: timing.median / record,
    detail: {
      opsPerRound: timing.opsPerRound,
      rounds: timing.rounds.length,
      allocationOps: allocation.ops,
      allocatedBytes: allocation.bytes,
      gcsDuringAllocationRun: allocation.gcs
    }
  }))
  const ratios: Array<Ratio> = [
    ratio("record / prom-client Counter.inc()", record, medianOf("promInc")),
    ratio("record / prom-client counter.labels(a, b).inc()", record, medianOf("promLabels"), TARGET_RATIO),
    ratio("record / prom-client counter.inc({ a, b })", record, medianOf("promIncLabels"), TARGET_RATIO),
    ratio("record / prom-client Histogram.observe()", record, medianOf("promObserve"), TARGET_RATIO),
    ratio("append / @prometheus-io/client Counter.inc()", medianOf("append"), medianOf("officialInc")),
    ratio("append / @prometheus-io/client counter.inc({ a, b })", medianOf("append"), medianOf("officialIncLabels")),
    ratio("append / @prometheus-io/client Histogram.observe()", medianOf("append"), medianOf("officialObserve")),
    ratio("record / Effect counter.updateUnsafe()", record, medianOf("effectUnsafe")),
    ratio("record / OpenTelemetry Counter.add(v)", record, medianOf("otelAdd")),
    ratio("record median, ns (publishes every sample; no target)", record, 1),
    ratio(`append (publish every 64) median, ns: the per-sample path (target ≤ ${TARGET_RECORD_NS})`, medianOf("append"), 1, TARGET_RECORD_NS),
    ratio("append (publish every 64) / record", medianOf("append"), record),
    ratio("record (worker-drained) / record (same thread)", medianOf("recordWorker"), record),
    ratio("record / reference Atomics.load + Atomics.store", record, medianOf("reference"))
  ]
  const same = byKey("record")
  const worker = byKey("recordWorker")
  const dropped = worker.report["dropped"] ?? 0
  const delivered = worker.report["delivered"] ?? 0
  const notes = [
    `record() allocated ${same.allocation.bytes} B in ${count(same.allocation.ops)} calls (same thread) and ${worker.allocation.bytes} B in ${count(worker.allocation.ops)} calls (worker-drained); one 16-byte HeapNumber per call would be ${count(16 * same.allocation.ops)} B.`,
    `Worker-drained ring: ${count(delivered)} samples delivered, ${count(dropped)} dropped (${((100 * dropped) / Math.max(1, delivered + dropped)).toFixed(2)}%; the producer runs flat out), ${count(worker.report["drains"])} drains while active.`,
    `Same-thread ring: ${count(same.report["delivered"])} delivered, ${count(same.report["dropped"])} dropped; drain benchmark: ${count(byKey("drain").report["delivered"])} delivered, ${count(byKey("drain").report["dropped"])} dropped.`,
    `OpenTelemetry storage live: ${["otelAdd", "otelAddAttrs", "otelRecord"].map((k) => count(byKey(k as Key).report["dataPoints"])).join(" / ")} data points collected.`,
    `Allocation meter self-check: { x, y } literal ${selfCheck.objectLiteral.toFixed(2)} B/op, empty loop ${selfCheck.nothing.toFixed(4)} B/op; forced GC ${same.allocation.forcedGc ? "available" : "NOT available (figures less reliable)"}.`,
    `Each competitor in its own worker thread (own V8 isolate), interleaved: ${timingOptions.rounds} rounds after ${timingOptions.warmupRounds} warm-up rounds, ~${timingOptions.targetRoundMs} ms per competitor per round, batches of ${sizes.batch} (drain: ${sizes.capacity}); ring capacity ${sizes.capacity}.`
  ]
  return {
    benchmark: "hotpath",
    title: "Hot path: cost of one metric update on the recording thread",
    rows,
    relativeTo: "percore record() (same thread)",
    ratios,
    notes
  }
}
