/**
 * Drainer — the one consumer of every core's ring.
 *
 * A fiber forked in the layer's scope drains every registered channel into the Aggregate on
 * `Schedule.spaced(drainInterval)`. Each ring also wakes it early: the producer bumps and notifies the
 * ring's WAKE word when the ring crosses half full, and a fiber per channel waits on it with
 * `Atomics.waitAsync`, so a burst is drained before it overflows even if the interval is long.
 *
 * While nothing arrives the schedule backs off (`drainSchedule`): after a second of drains that delivered
 * nothing, the delay doubles per empty drain up to one second, and the first delivery brings it back to the
 * interval. An idle service then wakes about once a second instead of a hundred times; scrapes drain on demand
 * and rings still wake the drainer at half full, so neither freshness nor overflow depends on the schedule.
 *
 * Exactly one consumer per ring, ever: scheduled drains, early wake-ups, on-demand drains (before a
 * scrape) and final drains (a core that ended) all run on the control-plane thread, each as one synchronous
 * block, so no two ever interleave (no permit needed: a scrape pays no semaphore). Closing the layer's scope
 * stops the fiber and runs one last drain.
 */
import { Context, Duration, Effect, Fiber, Layer, Schedule } from "effect"
import { MetricKind, SelfMetric } from "../domain/index.ts"
import { Aggregate } from "./Aggregate.ts"
import { observe } from "../engine/AggregateState.ts"
import type { CoreChannel } from "../engine/CoreChannel.ts"
import { PercoreConfig } from "./PercoreConfig.ts"

export interface DrainReport {
  readonly delivered: number
  readonly rings: number
}

/** One core's ring as its last drain left it (what the dashboard shows per core). */
export interface RingFigures {
  readonly core: number
  /** Slots in the ring. */
  readonly capacity: number
  /** Samples waiting in the ring when it was last drained. */
  readonly backlog: number
  readonly delivered: number
  readonly dropped: number
  /** Samples the core has published: delivered, dropped, or not yet drained. */
  readonly published: number
}

/** Empty drains in a row (at the interval) before the schedule starts backing off. */
const IDLE_AFTER = 100
/** The longest delay between two scheduled drains while nothing arrives. */
const IDLE_MAX = Duration.seconds(1)

/**
 * `interval` while drains deliver; after IDLE_AFTER empty drains in a row, twice the last delay per empty drain,
 * up to IDLE_MAX (never below `interval`); the first drain that delivers resets it.
 */
export const drainSchedule = (interval: Duration.Duration): Schedule.Schedule<unknown, DrainReport> => {
  const longest = Duration.max(interval, IDLE_MAX)
  let empty = 0
  let delay = interval
  return Schedule.spaced(interval).pipe(
    Schedule.modifyDelay(({ input }: Schedule.Metadata<unknown, DrainReport>) => {
      if (input.delivered > 0) {
        empty = 0
        delay = interval
      } else if (++empty > IDLE_AFTER) delay = Duration.min(Duration.times(delay, 2), longest)
      return Effect.succeed(delay)
    })
  )
}

export class Drainer extends Context.Service<Drainer, {
  /** Drains every ring now (waiting for a drain in progress to finish first). */
  readonly drainNow: Effect.Effect<DrainReport>
  /** Starts draining a core's channel (scheduled and on wake-up). */
  readonly register: (channel: CoreChannel) => Effect.Effect<void>
  /**
   * Drains a channel one last time and stops draining it. `threadEnded`: its thread is known to have ended
   * (joined), so what it coalesced but never published is added too (`CoreChannel.reconcile`).
   */
  readonly retire: (channel: CoreChannel, threadEnded?: boolean) => Effect.Effect<void>
  /** The channels being drained. */
  readonly channels: () => ReadonlyArray<CoreChannel>
  /** Drains completed since the layer started. */
  readonly drains: () => number
  /** The rings being drained, one entry per channel. */
  readonly ringFigures: () => ReadonlyArray<RingFigures>
}>()("percore/services/Drainer") {
  static readonly layer = Layer.effect(
    Drainer,
    Effect.gen(function*() {
      const aggregate = yield* Aggregate
      const { drainInterval } = yield* PercoreConfig
      const scope = yield* Effect.scope
      const channels = new Map<CoreChannel, Fiber.Fiber<void>>()
      const drainBuckets = [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5]
      const drainDuration = aggregate.own(SelfMetric.drainDuration.name, MetricKind.Histogram, SelfMetric.drainDuration.help, {}, {
        buckets: drainBuckets
      })
      const seriesCount = aggregate.own(SelfMetric.series.name, MetricKind.Gauge, SelfMetric.series.help, {})
      let drains = 0

      const drainNow = Effect.suspend(() => {
        const started = performance.now()
        let delivered = 0
        for (const channel of channels.keys()) delivered += channel.drain()
        observe(drainDuration, drainBuckets, (performance.now() - started) / 1000)
        seriesCount.value = aggregate.seriesCount
        drains++
        // Rate-limited: one line per core and reason per interval, with counts (the counters stay exact).
        const refusals: Array<string> = []
        const now = performance.now()
        for (const channel of channels.keys()) refusals.push(...channel.refusalLog(now))
        const report: DrainReport = { delivered, rings: channels.size }
        return refusals.length === 0
          ? Effect.succeed(report)
          : Effect.forEach(refusals, (line) => Effect.logWarning(line)).pipe(Effect.as(report))
      })

      // Early wake-ups: the producer notifies when its ring crosses half full.
      // The count is read before each drain: a wake-up signalled while that drain runs (the ring crossed half
      // full again) then ends the next wait at once instead of waiting for the one after it.
      const wakeLoop = (channel: CoreChannel) =>
        Effect.gen(function*() {
          let seen = channel.reader.wakeCount()
          while (true) {
            const woke = yield* Effect.promise(() => channel.reader.waitForWake(seen, 1000))
            seen = channel.reader.wakeCount()
            if (woke !== "timed-out") yield* drainNow
          }
        })

      const register = Effect.fnUntraced(function*(channel: CoreChannel) {
        const fiber = yield* Effect.forkIn(wakeLoop(channel), scope)
        channels.set(channel, fiber)
      })

      const retire = Effect.fnUntraced(function*(channel: CoreChannel, threadEnded = false) {
        const fiber = channels.get(channel)
        yield* Effect.sync(() => {
          channel.drain()
          if (threadEnded) channel.reconcile()
          channels.delete(channel)
        })
        if (fiber !== undefined) yield* Fiber.interrupt(fiber)
      })

      yield* drainNow.pipe(
        Effect.repeat(drainSchedule(Duration.fromInputUnsafe(drainInterval))),
        Effect.forkScoped
      )
      yield* Effect.addFinalizer(() => drainNow)

      return Drainer.of({
        drainNow,
        register,
        retire,
        channels: () => [...channels.keys()],
        drains: () => drains,
        ringFigures: () =>
          [...channels.keys()].map(({ coreId, reader }) => ({
            core: coreId,
            capacity: reader.size,
            backlog: reader.lastBacklog,
            delivered: reader.delivered,
            dropped: reader.dropped,
            published: reader.published()
          }))
      })
    })
  )
}
