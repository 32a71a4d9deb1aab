import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Schema } from "effect"
import { Worker } from "node:worker_threads"
import { MAX_CAPACITY, MetricKind, type RingReader, type RingWriter, TelemetryRing, wallClockMs } from "../src/ring/index.ts"

interface Sample {
  readonly id: number
  readonly kind: number
  readonly value: number
  readonly ts: number
}

const drainAll = (reader: RingReader): Array<Sample> => {
  const out: Array<Sample> = []
  const n = reader.drain((id, kind, value, ts) => out.push({ id, kind, value, ts }))
  assert.strictEqual(n, out.length, "drain() returns the number of samples it delivered")
  return out
}

const pair = (): { writer: RingWriter; reader: RingReader; buffer: SharedArrayBuffer } => {
  const buffer = TelemetryRing.allocate(8)
  return { buffer, writer: TelemetryRing.writer(buffer), reader: TelemetryRing.reader(buffer) }
}

describe("TelemetryRing: the seed's tests", () => {
  it("basic record and drain", () => {
    const { writer, reader } = pair()
    writer.record(1, MetricKind.Counter, 100)
    writer.record(2, MetricKind.Counter, 200)
    writer.record(3, MetricKind.Counter, 300)
    const got = drainAll(reader)
    assert.strictEqual(got.length, 3)
    assert.strictEqual(got[0]!.id, 1)
    assert.strictEqual(got[2]!.id, 3)
    assert.deepStrictEqual(got.map((s) => s.value), [100, 200, 300])
  })

  it("overflow drops the oldest", () => {
    const buffer = TelemetryRing.allocate(4)
    const writer = TelemetryRing.writer(buffer)
    const reader = TelemetryRing.reader(buffer)
    for (let i = 0; i < 6; i++) writer.record(i, MetricKind.Counter, i)
    const got = drainAll(reader)
    assert.deepStrictEqual(got.map((s) => s.id), [2, 3, 4, 5], "the most recent samples survive, in order")
    assert.strictEqual(reader.dropped, 2)
    assert.strictEqual(reader.delivered + reader.dropped, writer.recorded)
  })

  it("empty drain returns zero", () => {
    const { reader } = pair()
    assert.strictEqual(reader.drain(() => assert.fail("no sample expected")), 0)
  })
})

describe("TelemetryRing: contract", () => {
  it("rounds capacity up to a power of two and rejects bad capacities", () => {
    assert.strictEqual(TelemetryRing.capacityOf(TelemetryRing.allocate(5)), 8)
    assert.strictEqual(TelemetryRing.capacityOf(TelemetryRing.allocate(2)), 2)
    assert.strictEqual(TelemetryRing.capacityOf(TelemetryRing.allocate(1024)), 1024)
    for (const bad of [1.5, 1, 0, -4, Number.NaN, Number.POSITIVE_INFINITY, MAX_CAPACITY + 1]) {
      assert.throws(() => TelemetryRing.allocate(bad), RangeError)
    }
  })

  it("refuses buffers that are not rings, and a second writer or reader", () => {
    assert.throws(() => TelemetryRing.writer(new SharedArrayBuffer(16)), /too small/)
    assert.throws(() => TelemetryRing.reader(new SharedArrayBuffer(TelemetryRing.byteLength(8))), /not a ring/)
    const ring = TelemetryRing.allocate(8)
    const resized = new SharedArrayBuffer(TelemetryRing.byteLength(16))
    new Int32Array(resized).set(new Int32Array(ring))
    assert.throws(() => TelemetryRing.reader(resized), /capacity 8/)
    assert.throws(() => TelemetryRing.writer(new ArrayBuffer(1024) as unknown as SharedArrayBuffer), /SharedArrayBuffer/)
    TelemetryRing.writer(ring)
    TelemetryRing.reader(ring)
    assert.throws(() => TelemetryRing.writer(ring), /already has a writer/)
    assert.throws(() => TelemetryRing.reader(ring), /already has a reader/)
  })

  it("rejects out-of-range ids and kinds without recording them", () => {
    const { writer, reader } = pair()
    for (const id of [-1, 1.5, 2 ** 24, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.isFalse(writer.record(id, MetricKind.Counter, 1), String(id))
    }
    assert.isFalse(writer.record(1, 256, 1))
    assert.isFalse(writer.record(1, -1, 1))
    assert.isTrue(writer.record(2 ** 24 - 1, 255, 1))
    assert.strictEqual(writer.rejected, 7)
    assert.strictEqual(writer.recorded, 1)
    assert.deepStrictEqual(drainAll(reader).map((s) => [s.id, s.kind]), [[2 ** 24 - 1, 255]])
  })

  it("carries any float64 value bit-exactly", () => {
    const { writer, reader } = pair()
    const values = [0, -0, 1.5, -1e308, 5e-324, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]
    for (const v of values) writer.record(7, MetricKind.Gauge, v)
    const got = drainAll(reader).map((s) => s.value)
    assert.strictEqual(got.length, values.length)
    values.forEach((v, i) => assert.isTrue(Object.is(got[i], v), `${v} round-trips`))
  })

  it("timestamps are wall-clock milliseconds with 1 ms resolution", async () => {
    const { writer, reader } = pair()
    const before = wallClockMs()
    writer.record(1, MetricKind.Gauge, 1)
    await new Promise((resolve) => setTimeout(resolve, 30))
    // The producer reads the clock at its first sample after a publish() (and every 256 positions): no ticker.
    writer.publish()
    writer.record(2, MetricKind.Gauge, 2)
    const after = wallClockMs()
    const [first, second] = drainAll(reader)
    // Allow scheduling slack on a busy machine.
    assert.isTrue(first!.ts >= before - 50 && first!.ts <= after, `first ${first!.ts} in [${before}, ${after}]`)
    assert.isTrue(second!.ts - first!.ts >= 20, `second ${second!.ts} is ~30 ms after first ${first!.ts}`)
    assert.isTrue(second!.ts <= after)
    assert.isTrue(Number.isInteger(first!.ts))
  })

  it("record() re-reads the clock at least every 256 positions, without a publish()", async () => {
    const buffer = TelemetryRing.allocate(1024)
    const writer = TelemetryRing.writer(buffer)
    const reader = TelemetryRing.reader(buffer)
    writer.record(1, MetricKind.Gauge, 1)
    await new Promise((resolve) => setTimeout(resolve, 30))
    for (let i = 0; i < 256; i++) writer.record(2, MetricKind.Gauge, 2)
    const samples = drainAll(reader)
    assert.strictEqual(samples.length, 257)
    assert.isTrue(samples[256]!.ts - samples[0]!.ts >= 20, `the 257th sample is stamped ~30 ms after the first`)
  })
})

/**
 * Reference model: an unbounded log of records; a drain delivers the newest undrained ones — all of them, or
 * after an overflow the last `capacity` less at most window − 1 (see OVERWRITE_WINDOW) — in order, and counts the
 * rest as dropped. Single-threaded, so the ring must match it exactly.
 */
const runAgainstModel = (capacityLog2: number, start: number, ops: ReadonlyArray<number>): void => {
  const capacity = 2 ** capacityLog2
  const buffer = TelemetryRing.allocate(capacity, { startPosition: start })
  const writer = TelemetryRing.writer(buffer)
  const reader = TelemetryRing.reader(buffer)
  let sequence = 0
  let undrained: Array<number> = []
  let modelDropped = 0
  const check = () => {
    const got = drainAll(reader).map((s) => {
      assert.strictEqual(s.id, s.value % 2 ** 24)
      assert.strictEqual(s.kind, s.value % 3)
      return s.value
    })
    // Overflowed: the newest `capacity` samples, less up to window - 1 of the oldest of them (the producer announces
    // a window of positions it may overwrite; the consumer counts those as dropped). Otherwise: all of them.
    const window = Math.max(1, Math.min(1024, capacity >> 3))
    const fewest = undrained.length > capacity ? capacity - (window - 1) : undrained.length
    const expected = undrained.slice(-Math.max(got.length, fewest))
    modelDropped += undrained.length - expected.length
    undrained = []
    assert.deepStrictEqual(got, expected)
    assert.strictEqual(reader.dropped, modelDropped)
    assert.strictEqual(reader.delivered + reader.dropped, writer.recorded)
  }
  for (const op of ops) {
    if (op === 0) {
      check()
      continue
    }
    // op > 0: record op samples; op < 0: append -op samples as one batch, then publish it.
    for (let i = 0; i < Math.abs(op); i++) {
      if (op > 0) writer.record(sequence % 2 ** 24, sequence % 3, sequence)
      else writer.append(sequence % 2 ** 24, sequence % 3, sequence)
      undrained.push(sequence++)
    }
    if (op < 0) writer.publish()
  }
  check()
}

describe("TelemetryRing: model-based", () => {
  const starts = [0, 2 ** 31 - 40, 2 ** 32 - 40, 2 ** 33 - 3, 2 ** 52 - 100]
  it.prop(
    "matches a reference model for random capacities, interleavings and cursors near 2^32",
    [
      Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 6 })),
      Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: starts.length - 1 })),
      Arbitrary.array(Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: -150, maximum: 150 }))), { maxLength: 40 })
    ],
    ([capacityLog2, startIndex, ops]) => runAgainstModel(capacityLog2, starts[startIndex]!, ops),
    { arbitrary: { runs: 300 } }
  )

  it("crosses the 2^32 and 2^33 position boundaries with exact books", () => {
    runAgainstModel(4, 2 ** 32 - 1000, [700, 0, 600, 0, 5000, 0, 1, 0])
    runAgainstModel(1, 2 ** 33 - 5, [3, 0, 3, 0, 100, 0])
    runAgainstModel(4, 2 ** 32 - 1000, [-700, 0, -600, 0, -5000, 0, -1, 0])
  })

  it("appended samples stay invisible until publish(); record() publishes them too", () => {
    const buffer = TelemetryRing.allocate(64)
    const writer = TelemetryRing.writer(buffer)
    const reader = TelemetryRing.reader(buffer)
    for (let i = 0; i < 5; i++) assert.isTrue(writer.append(i, MetricKind.Counter, i))
    assert.strictEqual(writer.recorded, 5)
    assert.strictEqual(reader.pending(), 0)
    assert.deepStrictEqual(drainAll(reader), [])
    writer.publish()
    assert.deepStrictEqual(drainAll(reader).map((s) => s.value), [0, 1, 2, 3, 4])
    writer.append(5, MetricKind.Counter, 5)
    writer.record(6, MetricKind.Counter, 6)
    assert.deepStrictEqual(drainAll(reader).map((s) => s.value), [5, 6])
    assert.isFalse(writer.append(2 ** 24, MetricKind.Counter, 1))
    assert.strictEqual(writer.rejected, 1)
    assert.strictEqual(reader.delivered + reader.dropped, writer.recorded)
  })

  it("stays exact across a consumer stall of more than 2^32 records", () => {
    const head = 5
    const start = 2 ** 32 * 3 + 17 // three epochs (> 12.8 billion positions) ahead of the consumer
    const buffer = TelemetryRing.allocate(16, { startPosition: start, headPosition: head })
    const writer = TelemetryRing.writer(buffer)
    const reader = TelemetryRing.reader(buffer)
    for (let i = 0; i < 10; i++) writer.record(i + 1, MetricKind.Counter, i + 1)
    const got = drainAll(reader)
    assert.strictEqual(got.length, 16)
    assert.deepStrictEqual(got.slice(6).map((s) => s.value), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert.isTrue(got.slice(0, 6).every((s) => s.id === 0 && s.value === 0), "the simulated stall's samples are zeros")
    assert.strictEqual(reader.dropped, start + 10 - head - 16)
    assert.strictEqual(reader.delivered + reader.dropped, start + 10 - head)
    writer.record(99, MetricKind.Counter, 99)
    assert.deepStrictEqual(drainAll(reader).map((s) => s.value), [99])
  })
})

interface StressResult {
  readonly delivered: number
  readonly dropped: number
  readonly recorded: number
  readonly torn: number
  readonly outOfOrder: number
}

/**
 * A real producer thread records `count` self-checking samples while this thread drains with random
 * pauses. With `forceOverflow`, the consumer first waits until the producer is more than a whole ring
 * ahead, so at least one drop is certain without depending on timing.
 */
const stress = (capacity: number, count: number, forceOverflow: boolean, mode: "record" | "append" = "record") =>
  Effect.callback<StressResult>((resume) => {
    const start = 2 ** 32 - 1_000_000 // cross the 32-bit boundary mid-run
    const buffer = TelemetryRing.allocate(capacity, { startPosition: start })
    const reader = TelemetryRing.reader(buffer)
    const worker = new Worker(new URL("./fixtures/ring-producer.ts", import.meta.url), {
      workerData: { buffer, count, start: 0, mode }
    })
    let recorded: number | undefined
    let last = -1
    let torn = 0
    let outOfOrder = 0
    const sink = (id: number, kind: number, value: number) => {
      if (!Number.isInteger(value) || id !== value % 2 ** 24 || kind !== value % 3) torn++
      if (value <= last) outOfOrder++
      last = value
    }
    worker.on("message", (m: { recorded: number }) => {
      recorded = m.recorded
    })
    worker.on("error", (e) => resume(Effect.die(e)))
    let overflowForced = !forceOverflow
    const step = () => {
      if (!overflowForced) {
        if (reader.published() - reader.delivered - reader.dropped <= capacity && recorded === undefined) return setImmediate(step)
        overflowForced = true
      }
      reader.drain(sink)
      if (recorded !== undefined && reader.published() === recorded) {
        reader.drain(sink)
        void worker.terminate()
        return resume(Effect.succeed({ delivered: reader.delivered, dropped: reader.dropped, recorded, torn, outOfOrder }))
      }
      // Random pauses let the producer lap the consumer at random points of a drain.
      const pause = Math.random()
      if (pause < 0.02) {
        const until = performance.now() + Math.random() * 3
        while (performance.now() < until) { /* busy pause */ }
      }
      if (pause < 0.1) setTimeout(step, 1)
      else setImmediate(step)
    }
    step()
    return Effect.sync(() => void worker.terminate())
  })

/** A forced-overflow run of 5 M samples: all recorded, some dropped, some delivered, none torn or reordered, books exact. */
const assertOverflowedExactly = (result: StressResult): void => {
  assert.strictEqual(result.recorded, 5_000_000)
  assert.strictEqual(result.torn, 0)
  assert.strictEqual(result.outOfOrder, 0)
  assert.isAbove(result.dropped, 0)
  assert.isAbove(result.delivered, 0)
  assert.strictEqual(result.delivered + result.dropped, result.recorded)
}

describe("TelemetryRing: two real threads", () => {
  it.effect("small ring: drops happen, books stay exact, no torn or reordered sample", () =>
    Effect.map(stress(64, 5_000_000, true), assertOverflowedExactly))

  // Claimed chunks (1024 slots) a quarter of the ring, overwrite windows (512 positions) an eighth: claims and windows
  // overlap partially, the case where the producer may write only the position its check covered.
  it.effect("4096-slot ring: partial overlaps of claims and overwrite windows, books exact, nothing torn", () =>
    Effect.map(stress(4096, 5_000_000, true), assertOverflowedExactly))

  it.effect("appended in random batches, each then published: drops happen, books stay exact, nothing torn", () =>
    Effect.map(stress(64, 5_000_000, true, "append"), assertOverflowedExactly))

  it.effect("ring larger than the run: nothing dropped, everything delivered in order", () =>
    Effect.gen(function*() {
      const result = yield* stress(2 ** 23, 5_000_000, false)
      assert.strictEqual(result.torn, 0)
      assert.strictEqual(result.outOfOrder, 0)
      assert.strictEqual(result.dropped, 0)
      assert.strictEqual(result.delivered, 5_000_000)
    }))
})
