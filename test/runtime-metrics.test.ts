/**
 * Runtime metrics, with real worker threads: the figures mean what they say (a core busy half of the time shows
 * an active share and a CPU rate of about 0.5, an idle core about 0, an allocating core GC pauses and a heap of
 * its own), every thread and the control plane report, the process-wide figures are there once, both formats
 * pass promtool, the switch turns it all off, and users cannot define series under the reserved names.
 *
 * Bounds are wide on purpose: the machines are shared. The figures are compared over a span the threads measure
 * themselves (event-loop active + idle time), so no assertion depends on how long the test waited.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { CoreRuntime } from "../src/core/CoreRuntime.ts"
import { hasThreadCpu } from "../src/core/runtimeMetrics.ts"
import { InvalidMetricName } from "../src/domain/errors.ts"
import { AggregateState } from "../src/engine/AggregateState.ts"
import { CoreChannel } from "../src/engine/CoreChannel.ts"
import { render } from "../src/exposition/index.ts"
import { allocateCoreBuffers, defaultCoreSettings, isReservedFamily, ProcessMetric, RuntimeMetric } from "../src/protocol/index.ts"
import { Aggregate } from "../src/services/Aggregate.ts"
import { DataPlane } from "../src/services/DataPlane.ts"
import { Drainer } from "../src/services/Drainer.ts"
import { RuntimeMetrics } from "../src/services/RuntimeMetrics.ts"
import { aggregateLayer } from "./support/layers.ts"
import { until } from "./support/until.ts"

const layer = (env: Record<string, string>) =>
  Layer.mergeAll(DataPlane.layer, RuntimeMetrics.layer).pipe(Layer.provideMerge(Drainer.layer), Layer.provideMerge(aggregateLayer(env)))

const value = (aggregate: AggregateState, name: string, labels: Record<string, string>): number =>
  aggregate.find(name, labels)?.value ?? NaN

/** One thread's cumulative figures, as the aggregate holds them. */
const reading = (aggregate: AggregateState, core: string) => ({
  active: value(aggregate, RuntimeMetric.eventLoopTime.name, { core, state: "active" }),
  idle: value(aggregate, RuntimeMetric.eventLoopTime.name, { core, state: "idle" }),
  cpu: value(aggregate, RuntimeMetric.threadCpu.name, { core, mode: "user" }) +
    value(aggregate, RuntimeMetric.threadCpu.name, { core, mode: "system" }),
  heapUsed: value(aggregate, RuntimeMetric.heapUsed.name, { core }),
  gcCount: ["major", "minor", "incremental", "weakcb"]
    .map((kind) => aggregate.find(RuntimeMetric.gcDuration.name, { core, kind })?.count ?? 0)
    .reduce((a, b) => a + b, 0),
  delayCount: aggregate.find(RuntimeMetric.eventLoopDelay.name, { core })?.count ?? 0
})

const promtool = "/usr/bin/promtool"

describe("runtime metrics with real threads", () => {
  it.live("a half-busy core, an idle core and an allocating core show what they do; the control plane and the process report too", () =>
    Effect.gen(function*() {
      const aggregate = yield* Aggregate
      const dataPlane = yield* DataPlane
      const runtime = yield* RuntimeMetrics
      assert.isTrue(runtime.enabled())
      yield* until(() => dataPlane.ready(), "cores to start")
      // A baseline once every core reported, then a span of at least 3 s of each core's own loop time.
      yield* until(() => ["0", "1", "2"].every((core) => reading(aggregate, core).active + reading(aggregate, core).idle > 0), "first readings")
      const spinCpu = () => value(aggregate, "runtime_test_spin_seconds_total", { clock: "cpu" })
      const spinWall = () => value(aggregate, "runtime_test_spin_seconds_total", { clock: "wall" })
      const before = ["0", "1", "2"].map((core) => reading(aggregate, core))
      const spunBefore = spinCpu()
      const span = (core: number) => {
        const now = reading(aggregate, String(core))
        const then = before[core]!
        return { loop: now.active + now.idle - then.active - then.idle, active: now.active - then.active, cpu: now.cpu - then.cpu }
      }
      yield* until(() => [0, 1, 2].every((core) => span(core).loop >= 3), "3 s of readings from every core", 60_000)

      const busy = span(0)
      const idle = span(1)
      assert.isTrue(busy.active / busy.loop > 0.3 && busy.active / busy.loop < 0.85, `half-busy core: active share ${busy.active / busy.loop}`)
      assert.isBelow(idle.active / idle.loop, 0.15, "idle core: active share")
      if (hasThreadCpu) {
        // The core's CPU is the CPU it spun (it does little else), whatever share of a CPU the machine gave it.
        const spun = spinCpu() - spunBefore
        assert.isTrue(Math.abs(busy.cpu - spun) <= 0.1 * busy.loop + 0.05, `half-busy core: CPU ${busy.cpu} s, of which spinning ${spun} s`)
        // And about half of a CPU when the machine let it run while it spun.
        const given = spinCpu() / spinWall()
        if (given >= 0.8) assert.isTrue(busy.cpu / busy.loop > 0.3 && busy.cpu / busy.loop < 0.8, `half-busy core: CPU rate ${busy.cpu / busy.loop}`)
        else console.log(`runtime metrics test: the machine gave the spinning core ${given.toFixed(2)} of a CPU; CPU rate ${(busy.cpu / busy.loop).toFixed(2)} checked against its spinning only`)
        assert.isBelow(idle.cpu / idle.loop, 0.1, "idle core: CPU rate")
      }

      const allocating = reading(aggregate, "2")
      const quiet = reading(aggregate, "1")
      assert.isAbove(allocating.gcCount, 0, "an allocating core observes GC pauses")
      assert.isAbove(allocating.heapUsed, quiet.heapUsed + 5e6, "each thread reports its own isolate's heap")
      assert.isAbove(quiet.heapUsed, 0)
      assert.isAbove(quiet.delayCount, 0, "the event-loop delay histogram fills")

      // The control plane, as core="control", and the process-wide figures once.
      yield* runtime.collect
      const control = reading(aggregate, "control")
      assert.isAbove(control.active + control.idle, 0)
      assert.isAbove(control.heapUsed, 0)
      assert.notStrictEqual(control.heapUsed, quiet.heapUsed)
      assert.isAbove(value(aggregate, ProcessMetric.cpu.name, {}), 0)
      assert.isAbove(value(aggregate, ProcessMetric.residentMemory.name, {}), 0)
      assert.closeTo(value(aggregate, ProcessMetric.startTime.name, {}), Date.now() / 1000 - process.uptime(), 2)
      assert.strictEqual(value(aggregate, ProcessMetric.versionInfo.name, { version: process.version, major: process.versions.node.split(".")[0]!, minor: process.versions.node.split(".")[1]!, patch: process.versions.node.split(".")[2]! }), 1)

      // Every table metric for every core and for the control plane, in both formats, promtool-clean.
      const text = render(aggregate.families.values(), "text")
      const openMetrics = render(aggregate.families.values(), "openmetrics")
      for (const core of ["0", "1", "2", "control"]) {
        for (const sample of [
          `nodejs_eventloop_time_seconds_total{core="${core}",state="active"}`,
          `nodejs_heap_size_used_bytes{core="${core}"}`,
          `nodejs_heap_size_total_bytes{core="${core}"}`,
          `nodejs_external_memory_bytes{core="${core}"}`,
          `nodejs_gc_duration_seconds_count{core="${core}",kind="major"}`,
          `nodejs_eventloop_delay_seconds_bucket{core="${core}",le="+Inf"}`,
          ...(hasThreadCpu ? [`nodejs_thread_cpu_seconds_total{core="${core}",mode="user"}`] : [])
        ]) {
          assert.include(text, sample)
          assert.include(openMetrics, sample)
        }
      }
      assert.strictEqual(text.split("\n").filter((line) => line.startsWith("process_cpu_seconds_total ")).length, 1)
      if (existsSync(promtool)) {
        for (const body of [text, openMetrics]) {
          const checked = spawnSync(promtool, ["check", "metrics"], { input: body, encoding: "utf8" })
          // promtool's lint asks for help on OpenMetrics counters that percore's own counters also lack; errors fail.
          assert.notInclude(`${checked.stdout}${checked.stderr}`, "error", checked.stderr)
          assert.notInclude(`${checked.stdout}${checked.stderr}`, "nodejs_eventloop_delay", checked.stdout)
        }
      }
    }).pipe(Effect.provide(layer({
      PERCORE_CORES: "3",
      PERCORE_WORKER: "test/fixtures/runtime-core.ts",
      PERCORE_RUNTIME_METRICS_INTERVAL: "200ms"
    }))), 90_000)

  it.live("PERCORE_RUNTIME_METRICS=false publishes none of them, from cores or the control plane", () =>
    Effect.gen(function*() {
      const aggregate = yield* Aggregate
      const dataPlane = yield* DataPlane
      const drainer = yield* Drainer
      assert.isFalse((yield* RuntimeMetrics).enabled())
      yield* until(() => dataPlane.ready(), "cores to start")
      yield* drainer.drainNow
      // The fixture's own series may be there; no runtime family may.
      const reserved = [...aggregate.families.keys()].filter((name) => !name.startsWith("percore_") && isReservedFamily(name))
      assert.deepStrictEqual(reserved, [])
    }).pipe(Effect.provide(layer({
      PERCORE_CORES: "1",
      PERCORE_WORKER: "test/fixtures/runtime-core.ts",
      PERCORE_RUNTIME_METRICS: "false"
    }))), 60_000)
})

describe("runtime metric names", () => {
  it("are reserved: a user cannot define a series in their families, percore's own prefix stays reserved too", () => {
    const runtime = new CoreRuntime(allocateCoreBuffers(0, { ringCapacity: 64, logBytes: 64 * 1024 }, defaultCoreSettings))
    try {
      for (const [name, define] of [
        ["nodejs_heap_size_used_bytes", () => runtime.gauge("nodejs_heap_size_used_bytes")],
        ["nodejs_eventloop_time_seconds_total", () => runtime.counter("nodejs_eventloop_time_seconds_total")],
        ["nodejs_eventloop_time_seconds", () => runtime.counter("nodejs_eventloop_time_seconds")],
        ["process_cpu_seconds_total", () => runtime.counter("process_cpu_seconds_total")],
        ["nodejs_gc_duration_seconds", () => runtime.histogram("nodejs_gc_duration_seconds")],
        ["percore_mine_total", () => runtime.counter("percore_mine_total")]
      ] as const) {
        assert.throws(define, InvalidMetricName, undefined, name)
      }
      // Names that merely look alike stay the user's.
      runtime.counter("nodejs_my_app_requests_total")
      runtime.gauge("process_queue_depth")
    } finally {
      runtime.close()
    }
    assert.isTrue(isReservedFamily("nodejs_thread_cpu_seconds"))
    assert.isFalse(isReservedFamily("nodejs_thread_cpu_seconds_total"), "families are stored without _total")
  })

  it("a core publishes them only when its settings ask (the DataPlane's do by default; bare buffers do not)", () => {
    const families = (settings: typeof defaultCoreSettings) => {
      const aggregate = new AggregateState({ maxSeries: 1000 })
      const buffers = allocateCoreBuffers(0, { ringCapacity: 1024, logBytes: 64 * 1024 }, settings)
      const channel = new CoreChannel(buffers, aggregate)
      new CoreRuntime(buffers).close()
      channel.drain()
      return [...aggregate.families.keys()].filter((name) => !name.startsWith("percore_")).sort()
    }
    assert.deepStrictEqual(families(defaultCoreSettings), [])
    const on = families({ ...defaultCoreSettings, runtimeMetricsIntervalMs: 60_000 })
    assert.includeMembers(on, ["nodejs_eventloop_delay_seconds", "nodejs_gc_duration_seconds", "nodejs_heap_size_used_bytes", "nodejs_eventloop_time_seconds"])
  })
})
