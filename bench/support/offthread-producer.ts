/**
 * The producer side of the off-thread benchmarks (`bench/offthread.ts`, `bench/scaling.ts`): what runs in each
 * data-plane worker thread. The benchmark module itself is the worker script (it calls `runProducer` when
 * `!isMainThread` and `workerData` is a `ProducerData`), so a bundle of that one module is self-contained.
 *
 * Every producer emits the same sample content — metric id (100 series, round robin), kind (counter), value (1)
 * and a wall-clock timestamp — through one of four paths:
 * - `handles`: a real percore core (`attachCore` on buffers from `allocateCoreBuffers`), `counter.inc()` on 100
 *   counter series; the runtime coalesces and flushes (timestamps are the ring's, stamped at flush);
 * - `ring`:    `TelemetryRing.writer(buffer).record(id, kind, value)` per sample (the ring's clock stamps it);
 * - `ringBatch`: `writer.append(id, kind, value)` per sample and `writer.publish()` every 1000 samples (and at the
 *   end of a run): the ring's counterpart of the transferred batches, one publishing store per 1000 samples;
 * - `message`: `parentPort.postMessage({ id, kind, value, ts })` per sample;
 * - `batched`: 1000 samples of 4 doubles (id, kind, value, ts) in a `Float64Array`, transferred.
 * `ts` of the postMessage paths is the producer's clock read once per pacing batch (at most 64 samples).
 *
 * Pacing: at a fixed rate R the producer reads `performance.now()` before each batch of at most 64 samples and
 * emits what is due (R × elapsed − produced) — a busy-wait; after a descheduling it catches up at most 10 ms
 * worth of samples (`MAX_DEBT_MS`) and skips the rest, so the offered rate shows the loss and no burst of
 * 100 ms worth overruns a ring; at full speed (rate 0) it emits batches of 1024 without waiting.
 *
 * Latency markers: about once a millisecond (jittered, see `markerGap`) each producer records a distinguished sample that carries its own
 * record time (`performance.timeOrigin + performance.now()`, wall-clock ms, comparable across threads). The ring
 * and postMessage paths carry it as the sample's value (metric id `MARKER_ID + worker index`); handles cannot
 * (a counter's increments coalesce), so the handles producer writes the time into a shared table slot `k` and
 * then increments its marker counter: when the aggregate's marker counter reaches k + 1, marker k is visible.
 *
 * Control (one `Int32Array` per worker, see `Ctl`): the main thread bumps `CMD` (with `OP` and `RATE` set) and
 * notifies; the producer runs until `STOP` equals that command's number, publishes `PRODUCED` (data samples
 * this run, mod 2^32) after every batch, finishes (handles: a final flush; batched: the partial batch) and stores
 * `ACK`. The postMessage producers also read `RECEIVED` (data samples the main thread has consumed from this
 * worker, this run) and sleep while more than `backlogCap` samples are queued, so an overloaded main thread
 * cannot be buried under an unbounded queue (`CAPPED` counts those sleeps).
 */
import { parentPort } from "node:worker_threads"
import type { CoreBuffers } from "../../src/protocol/index.ts"
import { MetricKind, TelemetryRing } from "../../src/ring/index.ts"

export type ProducerKind = "handles" | "ring" | "ringBatch" | "message" | "batched"

/** Data series per producer (ids 0 … SERIES − 1, round robin). */
export const SERIES = 100
/** Ring / message metric id of worker w's latency markers: MARKER_ID + w (never a data id). */
const MARKER_ID = 1000
/** A latency marker about every this many ms, per producer. */
const MARKER_EVERY_MS = 1
/** Slots of the handles producer's marker-time table (a power of two; ~4 s of markers). */
export const STAMP_SLOTS = 4096
/** Samples per transferred batch. */
const BATCH_SAMPLES = 1000
/** Doubles per sample in a batch: id, kind, value, timestamp. */
export const BATCH_STRIDE = 4
/**
 * A paced producer that fell further behind schedule than this (it was descheduled) skips the rest of its debt
 * instead of emitting it in one burst at full speed: bursts would test something else than the rate.
 */
const MAX_DEBT_MS = 10
/** Samples between two looks at the clock (and the stop word) at a fixed rate / at full speed. */
const PACED_BATCH = 64
const FULL_BATCH = 1024

/** Words of a producer's control block (each group on its own 64-byte line). */
export const Ctl = {
  CMD: 0,
  OP: 1,
  RATE: 2,
  STOP: 16,
  ACK: 32,
  PRODUCED: 48,
  CAPPED: 49,
  RECEIVED: 64,
  WORDS: 80
} as const

export const Op = { Run: 1, Exit: 2 } as const

/** The counter families the handles producer defines (100 data series, one marker series per producer). */
export const HANDLE_SERIES = { samples: "bench_offthread_samples_total", markers: "bench_offthread_markers_total" } as const

export interface ProducerData {
  readonly offthreadProducer: 1
  readonly kind: ProducerKind
  readonly index: number
  readonly control: SharedArrayBuffer
  /** Float64 × STAMP_SLOTS: marker record times (handles). */
  readonly stamps: SharedArrayBuffer
  /** The ring (kind "ring") or the core's buffers (kind "handles"). */
  readonly ring?: SharedArrayBuffer
  readonly core?: CoreBuffers
  /** postMessage producers sleep while more than this many of their samples wait on the main thread. */
  readonly backlogCap: number
}

export const isProducerData = (u: unknown): u is ProducerData =>
  typeof u === "object" && u !== null && "offthreadProducer" in u && u.offthreadProducer === 1 &&
  "kind" in u && typeof u.kind === "string" && "control" in u && u.control instanceof SharedArrayBuffer

/** One run: emit at `rate` samples/s (0: full speed) until STOP says `seq`. */
type Run = (rate: number, seq: number) => void

/**
 * The wait until the next marker: uniform in [0.5, 1.5] × MARKER_EVERY_MS, so markers do not lock onto the
 * phase of a periodic mechanism (a batch filling every 1 ms, a flush every 5 ms) and sample it uniformly.
 */
const markerGap = (): number => MARKER_EVERY_MS * (0.5 + Math.random())

const sleepWord = new Int32Array(new SharedArrayBuffer(4))

/** Sleeps while this producer's queued samples exceed the cap; returns whether it had to. */
const waitForBacklog = (ctl: Int32Array, produced: number, cap: number, seq: number): boolean => {
  let capped = false
  while (produced - (Atomics.load(ctl, Ctl.RECEIVED) >>> 0) > cap && Atomics.load(ctl, Ctl.STOP) !== seq) {
    capped = true
    Atomics.wait(sleepWord, 0, 0, 1)
  }
  if (capped) Atomics.add(ctl, Ctl.CAPPED, 1)
  return capped
}

/** What one producer kind emits; its own per-sample loop lives in `samples` (one function literal per kind). */
interface Emitter {
  /** Emits a latency marker recorded at `now` (ms, `performance.now()`). */
  readonly marker: (now: number) => void
  /** Emits `n` data samples, stamped `now` where the path carries a producer timestamp. */
  readonly samples: (n: number, now: number) => void
}

/**
 * Runs `emit` at `rate` samples/s (0: full speed) until STOP says `seq`: a marker about every millisecond, data in
 * batches paced as the module comment says, PRODUCED published after every batch. With `backlogCap` > 0 the
 * producer first sleeps while more than that many of its samples wait on the main thread (postMessage paths).
 */
const drive = (ctl: Int32Array, rate: number, seq: number, backlogCap: number, emit: Emitter): void => {
  const perMs = rate / 1000
  const batch = rate === 0 ? FULL_BATCH : PACED_BATCH
  const start = performance.now()
  let nextMarker = start
  let produced = 0
  let skipped = 0
  const maxDebt = perMs * MAX_DEBT_MS
  while (Atomics.load(ctl, Ctl.STOP) !== seq) {
    let now = performance.now()
    if (backlogCap > 0 && produced - (Atomics.load(ctl, Ctl.RECEIVED) >>> 0) > backlogCap && waitForBacklog(ctl, produced, backlogCap, seq)) {
      now = performance.now()
    }
    if (now >= nextMarker) {
      emit.marker(now)
      nextMarker = now + markerGap()
    }
    let n = batch
    if (perMs > 0) {
      let owed = Math.floor((now - start) * perMs) - skipped - produced
      if (owed > maxDebt) {
        skipped += owed - maxDebt // fell behind schedule (descheduled): skip, do not burst
        owed = maxDebt
      }
      n = Math.min(batch, owed)
      if (n <= 0) continue
    }
    emit.samples(n, now)
    produced += n
    Atomics.store(ctl, Ctl.PRODUCED, produced)
  }
}

const ringRun = (ctl: Int32Array, data: ProducerData): Run => {
  const writer = TelemetryRing.writer(data.ring!)
  const markerId = MARKER_ID + data.index
  const origin = performance.timeOrigin
  let j = 0
  const emit: Emitter = {
    marker: (now) => void writer.record(markerId, MetricKind.Counter, origin + now),
    samples: (n) => {
      for (let k = 0; k < n; k++) {
        writer.record(j, MetricKind.Counter, 1)
        j = j === SERIES - 1 ? 0 : j + 1
      }
    }
  }
  return (rate, seq) => drive(ctl, rate, seq, 0, emit)
}

/** Like `ringRun`, but samples (markers included) are appended and published every BATCH_SAMPLES samples. */
const ringBatchRun = (ctl: Int32Array, data: ProducerData): Run => {
  const writer = TelemetryRing.writer(data.ring!)
  const markerId = MARKER_ID + data.index
  const origin = performance.timeOrigin
  let j = 0
  let unpublished = 0
  const emit: Emitter = {
    marker: (now) => void writer.append(markerId, MetricKind.Counter, origin + now),
    samples: (n) => {
      for (let k = 0; k < n; k++) {
        writer.append(j, MetricKind.Counter, 1)
        j = j === SERIES - 1 ? 0 : j + 1
        if (++unpublished === BATCH_SAMPLES) {
          writer.publish()
          unpublished = 0
        }
      }
    }
  }
  return (rate, seq) => {
    drive(ctl, rate, seq, 0, emit)
    writer.publish() // the partial batch
  }
}

const handlesRun = async (ctl: Int32Array, data: ProducerData): Promise<Run> => {
  const { attachCore } = await import("../../src/core/index.ts")
  const core = attachCore(data.core!)
  const counters = Array.from({ length: SERIES }, (_, j) =>
    core.counter(HANDLE_SERIES.samples, { help: "offthread benchmark samples", labels: { series: String(j) } }))
  const marker = core.counter(HANDLE_SERIES.markers, { help: "offthread benchmark latency markers", labels: { producer: String(data.index) } })
  const stamps = new Float64Array(data.stamps)
  const origin = performance.timeOrigin
  let markers = 0 // markers recorded by this producer, across runs (the aggregate's counter is cumulative too)
  let j = 0
  core.flush()
  const emit: Emitter = {
    marker: (now) => {
      stamps[markers & (STAMP_SLOTS - 1)] = origin + now // plain write, published by the flush's TAIL store
      markers++
      marker.inc()
    },
    samples: (n) => {
      for (let k = 0; k < n; k++) {
        counters[j]!.inc()
        j = j === SERIES - 1 ? 0 : j + 1
      }
    }
  }
  return (rate, seq) => {
    drive(ctl, rate, seq, 0, emit)
    core.flush()
  }
}

const messageRun = (ctl: Int32Array, data: ProducerData): Run => {
  const port = parentPort!
  const markerId = MARKER_ID + data.index
  const origin = performance.timeOrigin
  let j = 0
  const emit: Emitter = {
    marker: (now) => port.postMessage({ id: markerId, kind: MetricKind.Counter, value: origin + now, ts: origin + now }),
    samples: (n, now) => {
      const ts = origin + now
      for (let k = 0; k < n; k++) {
        port.postMessage({ id: j, kind: MetricKind.Counter, value: 1, ts })
        j = j === SERIES - 1 ? 0 : j + 1
      }
    }
  }
  return (rate, seq) => drive(ctl, rate, seq, data.backlogCap, emit)
}

const batchedRun = (ctl: Int32Array, data: ProducerData): Run => {
  const port = parentPort!
  const markerId = MARKER_ID + data.index
  const origin = performance.timeOrigin
  const size = BATCH_SAMPLES * BATCH_STRIDE
  let j = 0
  let buffer = new Float64Array(size)
  let at = 0
  /** Appends one sample; a full batch is transferred. */
  const put = (id: number, value: number, ts: number): void => {
    buffer[at] = id
    buffer[at + 1] = MetricKind.Counter
    buffer[at + 2] = value
    buffer[at + 3] = ts
    at += BATCH_STRIDE
    if (at === size) {
      port.postMessage(buffer, [buffer.buffer])
      buffer = new Float64Array(size)
      at = 0
    }
  }
  const emit: Emitter = {
    marker: (now) => put(markerId, origin + now, origin + now),
    samples: (n, now) => {
      const ts = origin + now
      for (let k = 0; k < n; k++) {
        put(j, 1, ts)
        j = j === SERIES - 1 ? 0 : j + 1
      }
    }
  }
  return (rate, seq) => {
    drive(ctl, rate, seq, data.backlogCap, emit)
    if (at > 0) port.postMessage(buffer.subarray(0, at), [buffer.buffer]) // the partial batch
    buffer = new Float64Array(size)
    at = 0
  }
}

/** The worker's whole life: set up, say "ready", then run commands until told to exit. */
export const runProducer = async (data: ProducerData): Promise<void> => {
  const ctl = new Int32Array(data.control)
  const run = data.kind === "handles"
    ? await handlesRun(ctl, data)
    : data.kind === "ring"
    ? ringRun(ctl, data)
    : data.kind === "ringBatch"
    ? ringBatchRun(ctl, data)
    : data.kind === "message"
    ? messageRun(ctl, data)
    : batchedRun(ctl, data)
  let seen = Atomics.load(ctl, Ctl.CMD) // before "ready": the first command may follow it at once
  parentPort!.postMessage("ready")
  for (;;) {
    for (let cmd = Atomics.load(ctl, Ctl.CMD); cmd === seen; cmd = Atomics.load(ctl, Ctl.CMD)) Atomics.wait(ctl, Ctl.CMD, cmd, 250)
    seen = Atomics.load(ctl, Ctl.CMD)
    if (Atomics.load(ctl, Ctl.OP) === Op.Exit) break
    Atomics.store(ctl, Ctl.PRODUCED, 0)
    Atomics.store(ctl, Ctl.CAPPED, 0)
    run(Atomics.load(ctl, Ctl.RATE), seen)
    Atomics.store(ctl, Ctl.ACK, seen)
    Atomics.notify(ctl, Ctl.ACK)
  }
}
