/**
 * The off-thread benchmarks' lab (`bench/offthread.ts`, `bench/scaling.ts`): it holds one side per producer kind
 * and runs one timed trial. The pieces: the competitors and what a trial measures (`offthread-competitors.ts`),
 * the producer workers (`offthread-pool.ts`), the control plane's side of each competitor (`offthread-sides.ts`),
 * the statistics and result rows (`offthread-report.ts`); the producers' own side is `offthread-producer.ts`.
 *
 * Competitors (same sample content, same aggregation work: a sum per metric id on this thread):
 * - `handles`: a real `CoreRuntime` per producer; here a real `CoreChannel` per core drains its ring into one
 *   real `AggregateState` every 10 ms (what the Drainer does on its schedule). Delivered = the aggregate's
 *   counter totals (each `inc()` adds 1).
 * - `ring10` / `ring1`: `RingReader.drain` every 10 ms / 1 ms into a `Float64Array` sum per id.
 * - `ringBatch`: the same ring, its producer appending and publishing every 1000 samples; drained every 10 ms.
 * Like the Drainer, every percore competitor also drains as soon as a ring signals that it crossed half full.
 * - `message`: one `postMessage` per sample; the handler sums per id.
 * - `batched`: 1000-sample `Float64Array`s, transferred; the handler sums per id.
 *
 * A trial: start N producers at a rate, let it settle for `warmupMs`, then measure a window of `windowMs`
 * between two snapshots taken right after a drain (or a timer tick): delivered, offered, ring recorded /
 * dropped, this thread's CPU time (`process.threadCpuUsage()`), event-loop utilization, latency markers that
 * became visible inside the window. Then stop the producers and settle (final drain; postMessage producers
 * are terminated, with whatever is still queued).
 *
 * Under a postMessage overload the main thread's timers run only between message batches (Node delivers every
 * message queued on a port in one go), so a window can end late; its real length is what the rates divide by.
 *
 * Worker lifetimes: percore producers (handles, ring) are spawned once and reused by every trial (a core with
 * effect loaded takes ~200 ms to start); postMessage producers are spawned per trial and terminated after it,
 * so no queue backlog of one trial is processed during the next.
 */
import { performance } from "node:perf_hooks"
import { type CompetitorId, COMPETITORS, type Timing, type Trial } from "./offthread-competitors.ts"
import { settle, sleep } from "./offthread-pool.ts"
import type { ProducerKind } from "./offthread-producer.ts"
import { type Counts, HandlesSide, MessageSide, Probe, RingSide, type Side } from "./offthread-sides.ts"

interface Snapshot extends Counts {
  readonly t: number
  readonly cpu: NodeJS.CpuUsage
  readonly elu: ReturnType<typeof performance.eventLoopUtilization>
}

const quantile = (sorted: ReadonlyArray<number>, q: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!

export class Lab {
  private readonly sides: Map<ProducerKind, Side>
  private readonly probe: Probe

  private constructor(sides: Map<ProducerKind, Side>, probe: Probe) {
    this.sides = sides
    this.probe = probe
  }

  /**
   * Spawns the persistent producer pools (`maxCores` workers per percore kind) the competitors need.
   * `workerUrl` is a module that calls `runProducer(workerData)` when it is a worker.
   */
  static async create(workerUrl: URL, maxCores: number, competitors: ReadonlyArray<CompetitorId>): Promise<Lab> {
    const probe = new Probe()
    const kinds = new Set(competitors.map((c) => COMPETITORS[c].kind))
    const sides = new Map<ProducerKind, Side>()
    try {
      if (kinds.has("handles")) sides.set("handles", await HandlesSide.create(workerUrl, maxCores, probe))
      if (kinds.has("ring")) sides.set("ring", await RingSide.create(workerUrl, maxCores, probe, "ring"))
      if (kinds.has("ringBatch")) sides.set("ringBatch", await RingSide.create(workerUrl, maxCores, probe, "ringBatch"))
      if (kinds.has("message")) sides.set("message", new MessageSide("message", workerUrl, probe))
      if (kinds.has("batched")) sides.set("batched", new MessageSide("batched", workerUrl, probe))
    } catch (error) {
      await Promise.all([...sides.values()].map((s) => s.close()))
      throw error
    }
    return new Lab(sides, probe)
  }

  async trial(competitor: CompetitorId, cores: number, rate: number, timing: Timing): Promise<Trial> {
    const info = COMPETITORS[competitor]
    const side = this.sides.get(info.kind)
    if (side === undefined) throw new Error(`offthread bench: no producers for ${competitor}`)
    const probe = this.probe
    probe.latencies.length = 0
    probe.recording = false
    const snapshot = (): Snapshot => ({ ...side.counts(), t: performance.now(), cpu: process.threadCpuUsage(), elu: performance.eventLoopUtilization() })
    const before = side.counts()
    let base: Counts | undefined
    let maxGapMs = 0
    let first: Snapshot | undefined
    let last: Snapshot | undefined
    try {
      await side.begin(cores, rate)
      base = side.counts()
      const started = performance.now()
      let previous = started
      while (last === undefined) {
        await (side.wake === undefined ? sleep(info.intervalMs) : side.wake(info.intervalMs))
        side.tick()
        const now = performance.now()
        if (first !== undefined && now - previous > maxGapMs) maxGapMs = now - previous
        previous = now
        if (first === undefined) {
          if (now - started >= timing.warmupMs) {
            first = snapshot()
            probe.recording = true
          }
        } else if (now - first.t >= timing.windowMs) {
          probe.recording = false
          last = snapshot()
        }
      }
    } finally {
      probe.recording = false
      await side.end()
    }
    const after = side.counts()
    await settle()
    const ms = last.t - first!.t
    const seconds = ms / 1000
    const cpuMs = (last.cpu.user - first!.cpu.user + last.cpu.system - first!.cpu.system) / 1000
    const recorded = last.ringRecorded - first!.ringRecorded
    const dropped = last.ringDropped - first!.ringDropped
    const latencies = [...probe.latencies].sort((a, b) => a - b)
    return {
      competitor,
      cores,
      rate,
      seconds,
      delivered: (last.delivered - first!.delivered) / seconds,
      offered: (last.produced - first!.produced) / seconds,
      dropPct: recorded > 0 ? (dropped / recorded) * 100 : 0,
      ringSamples: recorded / seconds,
      cpuPct: (cpuMs / ms) * 100,
      eluPct: performance.eventLoopUtilization(last.elu, first!.elu).utilization * 100,
      backlog: Math.max(0, last.produced - base!.produced - (last.delivered - base!.delivered)),
      latencyP50Ms: quantile(latencies, 0.5),
      latencyP99Ms: quantile(latencies, 0.99),
      markers: latencies.length,
      capped: last.capped,
      maxGapMs,
      unaccounted: after.produced - (after.delivered - before.delivered)
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.sides.values()].map((s) => s.close()))
  }
}
