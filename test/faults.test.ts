/**
 * Faults with real threads and a real process: crashing cores, a core that never yields, a stalled
 * control plane, and a final snapshot written on SIGTERM. The books must stay exact through all of it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Aggregate } from "../src/services/Aggregate.ts"
import type { AggregateState } from "../src/engine/AggregateState.ts"
import type { CoreChannel } from "../src/engine/CoreChannel.ts"
import { DataPlane } from "../src/services/DataPlane.ts"
import { Drainer } from "../src/services/Drainer.ts"
import { startPercore } from "./support/e2e.ts"
import { dataPlaneLayer } from "./support/layers.ts"
import { until } from "./support/until.ts"

const percoreLayer = (env: Record<string, string>) => dataPlaneLayer({ PERCORE_WORKER: "test/fixtures/fault-core.ts", ...env })

const valueOf = (aggregate: AggregateState, name: string, labels: Record<string, string> = {}) =>
  aggregate.find(name, labels)?.value ?? 0

/** delivered + dropped == recorded, with `recorded` as the core itself counted it. */
const assertBooksExact = (channel: CoreChannel) => {
  const recorded = channel.recorded()
  assert.strictEqual(channel.reader.delivered + channel.reader.dropped, recorded, `core ${channel.coreId}: delivered + dropped == recorded`)
}

describe("faults", () => {
  it.live("a core that throws keeps what it recorded, is marked down, restarted, and its counters stay monotonic", () =>
    Effect.gen(function*() {
      process.env["FAULT_MODE"] = "crash-once"
      process.env["FAULT_COUNT"] = "5000"
      process.env["FAULT_DIR"] = mkdtempSync(join(tmpdir(), "percore-crash-"))
      const dataPlane = yield* DataPlane
      const aggregate = yield* Aggregate
      yield* until(() => valueOf(aggregate, "percore_core_restarts_total", { core: "0" }) >= 1, "a restart")
      yield* until(() => dataPlane.ready(), "the restarted core to be up")
      yield* until(() => valueOf(aggregate, "fault_requests_total") === 10_000, "both incarnations' samples")
      assert.strictEqual(valueOf(aggregate, "percore_core_crashes_total", { core: "0" }), 1)
      assert.strictEqual(valueOf(aggregate, "percore_core_up", { core: "0" }), 1)
      assert.deepStrictEqual(dataPlane.cores().map((c) => [c.core, c.state, c.restarts]), [[0, "up", 1]])
      assert.strictEqual(valueOf(aggregate, "percore_ring_dropped_total", { core: "0" }), 0)
    }).pipe(Effect.provide(percoreLayer({ PERCORE_CORES: "1" }))))

  for (const [spawn, nice] of [["directly", "0"], ["by the launcher", "10"]] as const) {
    it.live(`a core (started ${spawn}) crashing on SeriesLimitExceeded logs one readable line: core id, tag, message, then the stack`, () =>
      Effect.gen(function*() {
        process.env["FAULT_MODE"] = "series-limit"
        const lines: Array<string> = []
        const capture = Logger.make(({ message }) => {
          lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
        })
        yield* Effect.gen(function*() {
          const aggregate = yield* Aggregate
          yield* until(() => valueOf(aggregate, "percore_core_crashes_total", { core: "0" }) >= 1, "a crash")
          yield* until(() => lines.some((line) => line.startsWith("percore: core 0 crashed")), "the crash log")
        }).pipe(Effect.provide(
          percoreLayer({ PERCORE_CORES: "1", PERCORE_MAX_SERIES_PER_CORE: "3", PERCORE_CONTROL_PLANE_NICE: nice }).pipe(
            Layer.provide(Logger.layer([capture]))
          )
        ))
        const crash = lines.find((line) => line.startsWith("percore: core 0 crashed"))!
        const [headline = "", ...frames] = crash.split("\n")
        assert.strictEqual(
          headline,
          "percore: core 0 crashed: SeriesLimitExceeded: series limit exceeded for metric \"fault_limited\": the core limit of 3 series is reached"
        )
        assert.isAbove(frames.length, 0, "the stack follows")
        for (const frame of frames) assert.match(frame, /^\s+at /)
        assert.isTrue(frames.some((frame) => frame.includes("fault-core.ts")), "the stack reaches the core module")
        assert.notInclude(crash, "'{", "no inspected object")
        assert.strictEqual(crash.split("series limit exceeded").length, 2, "the message appears once")
      }))
  }

  it.live("a core in a hot loop that ignores stop is terminated after the grace period, and its ring is still drained", () =>
    Effect.gen(function*() {
      process.env["FAULT_MODE"] = "hot-loop"
      let channels: ReadonlyArray<CoreChannel> = []
      let aggregate: AggregateState | undefined
      const started = Date.now()
      let stopAsked = 0
      yield* Effect.gen(function*() {
        aggregate = yield* Aggregate
        const drainer = yield* Drainer
        yield* until(() => valueOf(aggregate!, "fault_requests_total") > 0, "samples from the hot loop")
        channels = drainer.channels()
        stopAsked = Date.now()
      }).pipe(Effect.provide(percoreLayer({ PERCORE_CORES: "1", PERCORE_STOP_GRACE: "300 millis", PERCORE_FLUSH_INTERVAL: "2 millis" })))
      const stopTook = Date.now() - stopAsked
      assert.isBelow(stopTook, 5_000, `stopping took ${stopTook} ms (grace 300 ms)`)
      assert.isAbove(stopAsked, started)
      assert.strictEqual(channels.length, 1)
      for (const channel of channels) {
        // Terminated mid-loop (maybe mid-flush): the ring's own count is the reference here.
        assert.strictEqual(channel.reader.pending(), 0, "nothing left in the ring")
        assert.strictEqual(channel.reader.delivered + channel.reader.dropped, channel.reader.published())
      }
      assert.isAbove(valueOf(aggregate!, "fault_requests_total"), 0)
      assert.strictEqual(valueOf(aggregate!, "percore_core_up", { core: "0" }), 0)
    }))

  it.live("a stalled control plane loses only what overflowed, and counts it exactly", () =>
    Effect.gen(function*() {
      process.env["FAULT_MODE"] = "busy"
      let channels: ReadonlyArray<CoreChannel> = []
      let aggregate: AggregateState | undefined
      yield* Effect.gen(function*() {
        aggregate = yield* Aggregate
        const drainer = yield* Drainer
        const dataPlane = yield* DataPlane
        yield* until(() => dataPlane.ready() && valueOf(aggregate!, "fault_busy_total", { i: "0" }) > 0, "busy cores")
        channels = drainer.channels()
        // Block this thread (no drains) until every core has recorded more than two rings' worth since.
        const before = channels.map((c) => c.recorded())
        const deadline = Date.now() + 15_000
        while (channels.some((c, i) => c.recorded() - before[i]! <= c.reader.size * 2) && Date.now() < deadline) { /* stalled */ }
        yield* drainer.drainNow
        for (const channel of channels) {
          assert.isAbove(channel.reader.dropped, 0, `core ${channel.coreId} overflowed while the control plane stalled`)
        }
      }).pipe(Effect.provide(percoreLayer({ PERCORE_CORES: "2", PERCORE_RING_CAPACITY: "1024", PERCORE_FLUSH_INTERVAL: "1 millis" })))
      // The cores stopped normally (final flush) and were drained one last time: check the books against
      // each core's own count, and the self-metrics against the ring's.
      for (const channel of channels) {
        assertBooksExact(channel)
        const core = String(channel.coreId)
        assert.strictEqual(valueOf(aggregate!, "percore_ring_dropped_total", { core }), channel.reader.dropped)
        assert.strictEqual(valueOf(aggregate!, "percore_ring_delivered_total", { core }), channel.reader.delivered)
        assert.strictEqual(valueOf(aggregate!, "percore_ring_recorded_total", { core }), channel.recorded())
      }
    }))
})

describe("the real process", () => {
  it.live("SIGTERM under load exits 0 and writes the final OpenMetrics snapshot atomically", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "percore-snapshot-"))
      const snapshot = join(dir, "final.om")
      const { child } = yield* startPercore({ PERCORE_CORES: "2", PERCORE_DEMO_RATE: "200000", PERCORE_FINAL_SNAPSHOT: snapshot })
      yield* Effect.sleep("500 millis")
      const stoppedAt = Date.now()
      child.process.kill("SIGTERM")
      const { code } = yield* Effect.promise(() => child.exit)
      const took = Date.now() - stoppedAt
      const output = child.stdout() + child.stderr()
      assert.strictEqual(code, 0, output)
      assert.isBelow(took, 10_000)
      assert.notInclude(output, "ERROR", output)
      assert.isTrue(existsSync(snapshot), output)
      const text = readFileSync(snapshot, "utf8")
      assert.isTrue(text.endsWith("# EOF\n"))
      const total = [...text.matchAll(/^demo_http_requests_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0)
      assert.isAbove(total, 0, "the snapshot holds the demo's requests")
      assert.match(text, /^percore_core_up\{core="0"\} 0$/m, "taken after the cores stopped")
    }))
})
