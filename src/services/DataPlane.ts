/**
 * DataPlane — spawns and supervises the data-plane cores (one `worker_thread` each), and owns their
 * shared buffers (ring, intern log, control block).
 *
 * Each core is supervised by a fiber in the layer's scope:
 * - The core runs its module's default export. Returning means it finished: its ring is drained one last
 *   time, its totals stay in the Aggregate, it is not restarted.
 * - Throwing, or the thread dying, is a crash: it is logged with the core id and cause, the ring is drained
 *   one last time (the core flushed before dying), `percore_core_up{core}` drops to 0, and the core is
 *   restarted with fresh buffers after an exponential backoff (capped), logged as "restarting in …". Its
 *   series map to the same aggregate series, so counters stay monotonic; `percore_core_crashes_total` shows
 *   crash loops. A crash that cannot go away by itself (the same definition error, e.g. SeriesLimitExceeded,
 *   at three starts in a row) stops the loop: the core stays down and /readyz says why.
 * - `loaded` waits until every core has loaded its module (or ended). A core module that cannot be loaded at
 *   the first start (missing, does not parse, no default-export function) fails it with a `ConfigError` naming
 *   the setting and the module, and that core stays down (logged, and /readyz says why) instead of
 *   crash-looping. `Percore.server` waits on it before it announces serving, so percore refuses to start.
 * - Closing the scope signals stop in shared memory (`core.stopping`), waits `stopGrace`, terminates what is
 *   left, and drains every ring one last time: everything a core recorded before the stop is kept.
 *
 * Cores are started by a launcher thread when the control plane lowers its own priority
 * (`PERCORE_CONTROL_PLANE_NICE`, Linux), so they keep the normal priority; see CoreThreads.ts.
 *
 * Host apps that spawn their own workers use `allocateCore()`: it returns buffers to pass as
 * `workerData.percore`, and the core's ring is drained like any other until `releaseCore()`.
 *
 * Any other thread that uses `percore/core` attaches itself (protocol/Attach.ts): the DataPlane announces
 * itself on the attach channel, claims the buffers a thread offers, gives it the lowest free `core` slot
 * (spawned cores have 0 … cores − 1; the others share the slots above, so at most the live threads plus the
 * ones ending right now ever have a label) and drains it like a core. When the thread's creator reports its
 * end, its ring is drained one last time, what it had not flushed is reconciled, and its slot is free again;
 * counters of a slot stay monotonic across the threads that use it (same aggregate series).
 */
import { pathToFileURL } from "node:url"
import { threadId } from "node:worker_threads"
import { resolve as resolvePath } from "node:path"
import { Cause, Config, ConfigProvider, Context, Duration, Effect, Fiber, Layer, Queue, Schedule, Schema } from "effect"
import { MetricKind, SelfMetric } from "../domain/index.ts"
import { CoreChannel } from "../engine/CoreChannel.ts"
import {
  allocateCoreBuffers,
  ATTACH_CHANNEL,
  type AttachMessage,
  type CoreBuffers,
  type CoreSettings,
  decodeAttachMessage,
  PlaneControl,
  watchThreads
} from "../protocol/index.ts"
import {
  type CoreSpawner,
  type CoreThread,
  describeCrash,
  directSpawner,
  errorTag,
  lowerThreadPriority,
  perThreadPriority,
  startLauncher
} from "../threads/CoreThreads.ts"
import { Aggregate } from "./Aggregate.ts"
import { Drainer } from "./Drainer.ts"
import { PercoreConfig } from "./PercoreConfig.ts"

export class CoreCrashed extends Schema.TaggedError<CoreCrashed>()("CoreCrashed", {
  core: Schema.Number,
  cause: Schema.String
}) {
  override get message(): string {
    return `core ${this.core} crashed: ${this.cause}`
  }
}

/** Where a core is in its life; "starting" until its thread (or its first incarnation's) is up. */
export type CoreState = "starting" | "up" | "finished" | "crashed" | "stopped"

/** What the DataPlane knows of one core: its lifecycle, and its current incarnation's channel once it has one. */
interface CoreEntry {
  state: CoreState
  channel: CoreChannel | undefined
  worker: CoreThread | undefined
  restarts: number
  /** Why a crashed core stays down, once its restarts were given up. */
  downReason?: string
  /** The flush request of the latest scrape (see `flush`). */
  lastRequest?: number
  /** Until when (performance.now()) the core counts as busy: scrapes do not wait for it (see `flush`). */
  busyUntil?: number
}

/**
 * A core that took longer than this to answer its last flush request (or has not answered the previous one yet)
 * runs long synchronous tasks: a scrape does not wait for it. An idle core answers within the time its thread
 * takes to wake up; a busy one only when its task ends, and its own timer publishes what it recorded one flush
 * interval later at most, as soon as its loop turns.
 */
export const BUSY_ANSWER_LAG_MS = 5
/** A core seen busy counts as busy this long (a task that ends just before a scrape does not make it idle). */
export const BUSY_FOR_MS = 1000

export interface CoreStatus {
  readonly core: number
  readonly state: CoreState
  readonly restarts: number
  /** Why a crashed core is not restarted any more (its crash cannot go away by itself). */
  readonly downReason?: string
}

/** Restart delay after the `crashes`-th crash in a row: 100 ms, doubling, at most 10 s. */
export const restartDelay = (crashes: number): Duration.Duration =>
  Duration.millis(Math.min(100 * 2 ** Math.min(Math.max(crashes - 1, 0), 20), 10_000))

/** The same definition error at this many starts in a row stops the restarts: the core module must change. */
export const GIVE_UP_AFTER = 3

/** Errors a core throws while defining series: the same module hits them again at every start. */
const definitionErrorTags: ReadonlySet<string> = new Set([
  "InvalidMetricName",
  "InvalidLabelName",
  "InvalidBuckets",
  "ConflictingDefinition",
  "SeriesLimitExceeded"
])

// Sources run as .ts, the published package as .js: name sibling modules with this module's own extension.
const moduleExtension = import.meta.url.endsWith(".ts") ? ".ts" : ".js"
const workerEntry = new URL(`../core/worker-main${moduleExtension}`, import.meta.url)
const demoModule = new URL(`../core/demo${moduleExtension}`, import.meta.url).href

/** How a core's first start went: its module loaded (or the thread ended before telling), or why it did not load. */
type FirstLoad = { readonly loaded: true } | { readonly loaded: false; readonly reason: string }

/** How one incarnation ended: finished or stopped (nothing more to do), a first load failure, or a crash. */
type Ended =
  | { readonly _tag: "Done" }
  | { readonly _tag: "LoadFailed"; readonly reason: string }
  | { readonly _tag: "Crashed"; readonly cause: string; readonly definitionError: string | undefined }

const endedAs = {
  done: (): Ended => ({ _tag: "Done" }),
  loadFailed: (reason: string): Ended => ({ _tag: "LoadFailed", reason }),
  crashed: (cause: string, definitionError: string | undefined): Ended => ({ _tag: "Crashed", cause, definitionError })
}

export class DataPlane extends Context.Service<DataPlane, {
  /** The spawned cores and their states. */
  readonly cores: () => ReadonlyArray<CoreStatus>
  /**
   * Succeeds once every spawned core has loaded its module (or ended); fails with a `ConfigError` naming the
   * setting and the module when a core's module could not be loaded at its first start.
   */
  readonly loaded: Effect.Effect<void, Config.ConfigError>
  /** True when every spawned core is up (or finished its work); false while one starts, crashed or stopped. */
  readonly ready: () => boolean
  /** Asks every live core to flush its coalesced updates and waits (at most `timeout`) for them. */
  readonly flush: (timeout: Duration.Input) => Effect.Effect<boolean>
  /** Buffers for a core the host app spawns itself: pass them as `workerData.percore`. */
  readonly allocateCore: () => Effect.Effect<CoreBuffers>
  /** Final drain of a host-spawned core whose worker has ended. */
  readonly releaseCore: (buffers: CoreBuffers) => Effect.Effect<void>
}>()("percore/services/DataPlane") {
  static readonly layer = Layer.effect(
    DataPlane,
    Effect.gen(function*() {
      const config = yield* PercoreConfig
      const aggregate = yield* Aggregate
      const drainer = yield* Drainer
      const settings: CoreSettings = {
        flushIntervalMs: Math.max(1, Duration.toMillis(config.flushInterval)),
        maxSeriesPerCore: config.maxSeriesPerCore,
        maxSeriesPerFamily: config.maxSeriesPerFamily,
        runtimeMetricsIntervalMs: config.runtimeMetrics ? Math.max(1, Duration.toMillis(config.runtimeMetricsInterval)) : 0,
        maxNameBytes: config.maxNameBytes,
        maxLabelValueBytes: config.maxLabelValueBytes,
        maxLabelsBytes: config.maxLabelsBytes,
        maxHelpBytes: config.maxHelpBytes,
        maxHistogramBuckets: config.maxHistogramBuckets
      }
      const sizes = { ringCapacity: config.ringCapacity, logBytes: config.internLogBytes }
      const moduleUrl = config.worker === "" ? demoModule : pathToFileURL(resolvePath(config.worker)).href
      const live = new Map<number, CoreEntry>()
      let stopping = false

      // Slots above the spawned cores: host-allocated cores and attached threads, lowest free first.
      const freeSlots: Array<number> = []
      let nextSlot = Math.max(config.cores, 0)
      const takeSlot = (): number => {
        if (freeSlots.length === 0) return nextSlot++
        freeSlots.sort((a, b) => a - b)
        return freeSlots.shift()!
      }

      const selfSeries = (core: number) => ({
        up: aggregate.own(SelfMetric.coreUp.name, MetricKind.Gauge, SelfMetric.coreUp.help, { core: String(core) }),
        crashes: aggregate.own(SelfMetric.coreCrashes.name, MetricKind.Counter, SelfMetric.coreCrashes.help, { core: String(core) }),
        restarts: aggregate.own(SelfMetric.coreRestarts.name, MetricKind.Counter, SelfMetric.coreRestarts.help, { core: String(core) })
      })

      const loadFailureMessage = (reason: string) => `cannot load the core module ${config.worker === "" ? "(the demo)" : config.worker}: ${reason}`

      /** One incarnation of a core, until its thread ends. `firstLoad` hears how the core's first start went. */
      const incarnation = (core: number, self: ReturnType<typeof selfSeries>, firstLoad: (load: FirstLoad) => void) =>
        Effect.gen(function*() {
          const buffers = allocateCoreBuffers(core, sizes, settings)
          const channel = new CoreChannel(buffers, aggregate)
          yield* drainer.register(channel)
          const previous = live.get(core)
          const restarts = previous === undefined || previous.worker === undefined ? 0 : previous.restarts + 1
          if (restarts > 0) self.restarts.value++
          const worker = spawner.spawn(workerEntry, {
            workerData: { percore: buffers, percoreWorker: { moduleUrl } },
            name: `percore-core-${core}`
          })
          const entry: CoreEntry = { state: "starting", channel, worker, restarts }
          live.set(core, entry)
          if (stopping) channel.requestStop()
          const outcome = yield* Effect.callback<{ finished: boolean; error: unknown; code: number; loadFailure: string | undefined }>((resume) => {
            let finished = false
            let error: unknown = undefined
            let loadFailure: string | undefined = undefined
            worker.on("message", (message: unknown) => {
              const type = typeof message === "object" && message !== null && "type" in message ? message.type : undefined
              if (type === "up") {
                entry.state = "up"
                self.up.value = 1
                firstLoad({ loaded: true })
              } else if (type === "load-failed") {
                const reason = typeof message === "object" && message !== null && "reason" in message ? message.reason : undefined
                loadFailure = typeof reason === "string" ? reason : "unknown reason"
              } else if (type === "finished") finished = true
            })
            worker.on("error", (e) => {
              error = e
            })
            worker.on("exit", (code: number) => resume(Effect.succeed({ finished, error, code, loadFailure })))
          })
          self.up.value = 0
          // `exit` comes after the thread was joined: take everything it published, and what it coalesced but had
          // not flushed (terminated, stuck, out of memory).
          yield* drainer.retire(channel, true)
          if (outcome.finished || (stopping && outcome.error === undefined && outcome.loadFailure === undefined)) {
            entry.state = outcome.finished ? "finished" : "stopped"
            firstLoad({ loaded: true })
            return endedAs.done()
          }
          entry.state = "crashed"
          if (outcome.loadFailure !== undefined && restarts === 0) {
            // The first start: a configuration error, reported through `loaded` (not a crash to restart).
            firstLoad({ loaded: false, reason: outcome.loadFailure })
            return endedAs.loadFailed(outcome.loadFailure)
          }
          firstLoad({ loaded: true })
          self.crashes.value++
          const cause = outcome.loadFailure !== undefined
            ? loadFailureMessage(outcome.loadFailure)
            : outcome.error !== undefined
            ? describeCrash(outcome.error)
            : `thread exited with code ${outcome.code} without finishing`
          // One message a person can read: the core, the error's tag (or name) and message, then its stack.
          yield* Effect.logError(`percore: core ${core} crashed: ${cause}`).pipe(Effect.annotateLogs({ core }))
          const tag = errorTag(outcome.error)
          const definitionError = tag !== undefined && definitionErrorTags.has(tag) && outcome.error instanceof Error
            ? `${tag}: ${outcome.error.message}`
            : undefined
          return endedAs.crashed(cause, definitionError)
        })

      let signalStop: () => void = () => {}
      const stopRequested = new Promise<void>((resolve) => (signalStop = resolve))

      /** Runs a core, restarting it after crashes, until it finishes, is stopped, or its crash cannot go away. */
      const supervise = (core: number, firstLoad: (load: FirstLoad) => void) =>
        Effect.gen(function*() {
          const self = selfSeries(core)
          let crashes = 0
          let repeated = { error: "", times: 0 }
          while (!stopping) {
            const ended = yield* incarnation(core, self, firstLoad)
            if (ended._tag === "LoadFailed") {
              const reason = `stays down: ${loadFailureMessage(ended.reason)}`
              const entry = live.get(core)
              if (entry !== undefined) entry.downReason = reason
              yield* Effect.logError(`percore: core ${core} ${reason}`).pipe(Effect.annotateLogs({ core }))
              return
            }
            if (ended._tag !== "Crashed" || stopping) return
            crashes++
            const error = ended.definitionError
            repeated = error !== undefined && error === repeated.error ? { error, times: repeated.times + 1 } : { error: error ?? "", times: 1 }
            if (error !== undefined && repeated.times >= GIVE_UP_AFTER) {
              const reason = `stays down after the same ${error} at ${repeated.times} starts in a row; fix the core module and restart percore`
              const entry = live.get(core)
              if (entry !== undefined) entry.downReason = reason
              yield* Effect.logError(`percore: core ${core} ${reason}`).pipe(Effect.annotateLogs({ core }))
              return
            }
            const delay = restartDelay(crashes)
            yield* Effect.logWarning(`percore: core ${core} restarting in ${Duration.format(delay)}`).pipe(Effect.annotateLogs({ core }))
            // A stop during the wait ends it at once.
            yield* Effect.raceFirst(Effect.sleep(delay), Effect.promise(() => stopRequested))
          }
        })

      // The launcher starts before the control plane lowers its priority, and stops after the cores (finalizers
      // run in reverse order of registration).
      const lowerPriority = config.cores > 0 && config.controlPlaneNice > 0 && perThreadPriority
      const spawner: CoreSpawner = lowerPriority
        ? yield* Effect.acquireRelease(
          Effect.tryPromise({ try: () => startLauncher(), catch: (cause) => cause }).pipe(
            Effect.tapError((cause) => Effect.logWarning("percore: the core launcher did not start; starting cores directly", cause)),
            Effect.orElseSucceed(() => directSpawner)
          ),
          (spawner) => Effect.promise(() => spawner.close())
        )
        : directSpawner

      const supervisors: Array<Fiber.Fiber<void>> = []
      const firstLoads: Array<Promise<FirstLoad>> = []
      for (let core = 0; core < config.cores; core++) {
        // Known (as "starting") before its thread exists, so readiness counts it from the start.
        live.set(core, { state: "starting", channel: undefined, worker: undefined, restarts: 0 })
        let firstLoad: (load: FirstLoad) => void = () => {}
        firstLoads.push(new Promise((resolve) => (firstLoad = resolve)))
        supervisors.push(yield* Effect.forkScoped(supervise(core, firstLoad)))
      }
      if (spawner !== directSpawner) {
        const nice = lowerThreadPriority(config.controlPlaneNice)
        yield* Effect.logDebug(`percore: control-plane thread at nice ${nice}; cores at their launcher's priority`)
      }

      // Runs before the supervisors are interrupted (finalizers run in reverse order of registration).
      yield* Effect.addFinalizer(() =>
        Effect.gen(function*() {
          stopping = true
          signalStop()
          for (const { channel } of live.values()) channel?.requestStop()
          const allEnded = Fiber.joinAll(supervisors)
          const ended = yield* allEnded.pipe(Effect.timeoutOption(Duration.fromInputUnsafe(config.stopGrace)))
          if (ended._tag === "None") {
            const stuck = [...live.entries()].filter(([, e]) => e.state === "up" || e.state === "starting")
            yield* Effect.logWarning(`percore: ${stuck.length} core(s) did not stop within the grace period; terminating them`)
            for (const [, e] of stuck) void e.worker?.terminate()
            yield* allEnded
          }
          // Host-created cores and attached threads still running: they flush when their loop turns (bounded
          // wait), then one last drain of what they published.
          // (Real time, as the cores': the wait does not depend on the Effect clock.)
          const waitMs = Math.min(Duration.toMillis(Duration.fromInputUnsafe(config.stopGrace)), 1000)
          const running = [...live.values()].flatMap((e) => (e.worker === undefined && e.state === "up" && e.channel !== undefined ? [e.channel] : []))
          if (running.length > 0) {
            yield* Effect.promise(() => Promise.all(running.map((channel) => channel.control.waitForFlush(channel.requestFlush(), waitMs))))
          }
          for (const { channel, worker } of live.values()) {
            if (worker === undefined && channel !== undefined) yield* drainer.retire(channel)
          }
        }).pipe(Effect.catchCause((cause) => Effect.logError("percore: stopping cores failed", Cause.pretty(cause))))
      )

      // Every core has loaded its module (or ended): a module that cannot load is a configuration error.
      const allLoaded = Promise.all(firstLoads)
      const loaded = Effect.flatMap(Effect.promise(() => allLoaded), (loads) => {
        const failed = loads.find((load) => !load.loaded)
        if (failed === undefined || failed.loaded) return Effect.void
        return Effect.fail(new Config.ConfigError(new ConfigProvider.SourceError({ message: `worker (PERCORE_WORKER): ${loadFailureMessage(failed.reason)}` })))
      })

      // Waits on each core's FLUSH_DONE word (the core notifies it), raced against an Effect timeout; a core that
      // ends meanwhile stops counting (its final flush is taken by its last drain). A scrape never waits on a busy
      // core (see BUSY_ANSWER_LAG_MS; the core measures its own answer lag): it is asked to flush and its answer
      // reaches a later drain. So a core that just turned busy costs one scrape the full wait, and an idle core
      // (the usual case) is always waited for.
      // Plain promises, one Effect step per flush: a scrape pays for the waiting itself, not for a fiber per core.
      const flushCores = async (timeoutMs: number): Promise<boolean> => {
        const waits: Array<Promise<boolean>> = []
        for (const entry of live.values()) {
          const channel = entry.channel
          if (entry.state !== "up" || channel === undefined) continue
          const asked = performance.now()
          const lagging = (entry.lastRequest !== undefined && !channel.flushed(entry.lastRequest)) ||
            channel.control.answerLagMs() > BUSY_ANSWER_LAG_MS
          // A core on this very thread answers while the scrape waits (it cannot be inside a task meanwhile).
          if (lagging && channel.control.thread() !== threadId) {
            entry.busyUntil = asked + BUSY_FOR_MS
          }
          const request = channel.requestFlush()
          entry.lastRequest = request
          const limit = entry.busyUntil !== undefined && asked < entry.busyUntil ? 0 : timeoutMs
          waits.push(flushAnswered(entry, channel, request, asked, limit))
        }
        if (waits.length === 0) return true
        const answers = await Promise.all(waits)
        return answers.every((answered) => answered)
      }
      const flushAnswered = async (entry: CoreEntry, channel: CoreChannel, request: number, asked: number, limit: number): Promise<boolean> => {
        while (!channel.flushed(request) && entry.state === "up" && entry.channel === channel) {
          const left = limit - (performance.now() - asked)
          if (left <= 0) break
          // Short waits so that a core that ended (it never answers) is noticed; a flush wakes it at once.
          await channel.control.waitForFlush(request, Math.min(left, 50))
        }
        return channel.flushed(request) || entry.state !== "up" || entry.channel !== channel
      }
      const flush = (timeout: Duration.Input): Effect.Effect<boolean> =>
        Effect.promise(() => flushCores(Duration.toMillis(Duration.fromInputUnsafe(timeout))))

      const allocateCore = Effect.fnUntraced(function*() {
        const core = takeSlot()
        const buffers = allocateCoreBuffers(core, sizes, settings)
        const channel = new CoreChannel(buffers, aggregate)
        selfSeries(core).up.value = 1
        live.set(core, { state: "up", channel, worker: undefined, restarts: 0 })
        yield* drainer.register(channel)
        return buffers
      })

      const releaseCore = Effect.fnUntraced(function*(buffers: CoreBuffers) {
        const entry = live.get(buffers.coreId)
        if (entry === undefined || entry.channel === undefined || entry.channel.buffers !== buffers) return
        entry.state = "finished"
        selfSeries(buffers.coreId).up.value = 0
        live.delete(buffers.coreId)
        yield* drainer.retire(entry.channel, true)
        freeSlots.push(buffers.coreId)
      })

      // ── Threads that attach themselves (protocol/Attach.ts) ──
      interface AttachedThread {
        readonly slot: number
        readonly channel: CoreChannel
      }
      const attached = new Map<number, AttachedThread>()
      /** Creator of each thread a watcher reported (for nested workers: they end with their creator). */
      const creatorOf = new Map<number, number>()
      /** Threads reported ended before their offer arrived (messages of different threads are not ordered). */
      const endedBeforeHello = new Set<number>()
      const threadsAttached = aggregate.own(SelfMetric.threadsAttached.name, MetricKind.Counter, SelfMetric.threadsAttached.help, {})
      const threadsEnded = aggregate.own(SelfMetric.threadsEnded.name, MetricKind.Counter, SelfMetric.threadsEnded.help, {})
      const attachChannel = new BroadcastChannel(ATTACH_CHANNEL)
      attachChannel.unref()
      const inbox = yield* Queue.unbounded<AttachMessage>()
      attachChannel.onmessage = (event: MessageEvent) => {
        const message = decodeAttachMessage(event.data)
        if (message !== undefined && message.percore !== "plane" && message.percore !== "attached") Queue.offerUnsafe(inbox, message)
      }

      const attach = Effect.fnUntraced(function*(thread: number, buffers: CoreBuffers) {
        if (stopping || attached.has(thread) || !new PlaneControl(buffers.control).claim()) return
        const slot = takeSlot()
        const channel = new CoreChannel(buffers, aggregate, slot)
        attached.set(thread, { slot, channel })
        live.set(slot, { state: "up", channel, worker: undefined, restarts: 0 })
        selfSeries(slot).up.value = 1
        threadsAttached.value++
        yield* drainer.register(channel)
        attachChannel.postMessage({ percore: "attached", thread, slot, settings } satisfies AttachMessage)
        if (endedBeforeHello.delete(thread)) yield* threadEnded(thread)
      })

      // The thread was joined (its creator saw `exit`): last drain, reconcile, free the slot; its own workers
      // were terminated and joined with it.
      const threadEnded = (thread: number): Effect.Effect<void> =>
        Effect.gen(function*() {
          const entry = attached.get(thread)
          if (entry !== undefined) {
            attached.delete(thread)
            selfSeries(entry.slot).up.value = 0
            live.delete(entry.slot)
            yield* drainer.retire(entry.channel, true)
            freeSlots.push(entry.slot)
            threadsEnded.value++
          } else if (creatorOf.has(thread)) {
            endedBeforeHello.add(thread)
            if (endedBeforeHello.size > 4096) endedBeforeHello.delete(endedBeforeHello.values().next().value!)
          }
          creatorOf.delete(thread)
          for (const [child, creator] of creatorOf) {
            if (creator === thread) yield* threadEnded(child)
          }
        })

      const handle = (message: AttachMessage): Effect.Effect<void> => {
        switch (message.percore) {
          case "hello":
            return attach(message.thread, message.buffers)
          case "spawned":
            return Effect.sync(() => void creatorOf.set(message.thread, message.creator))
          case "ended":
            return threadEnded(message.thread)
          default:
            return Effect.void
        }
      }
      yield* Queue.take(inbox).pipe(Effect.flatMap(handle), Effect.forever, Effect.forkScoped)
      watchThreads()
      attachChannel.postMessage({ percore: "plane" } satisfies AttachMessage) // threads that wait re-offer their buffers
      yield* Effect.addFinalizer(() => Effect.sync(() => attachChannel.close()))

      return DataPlane.of({
        loaded,
        cores: () =>
          [...live.entries()].map(([core, e]) => ({ core, state: e.state, restarts: e.restarts, ...(e.downReason === undefined ? {} : { downReason: e.downReason }) })),
        // A finished core is done, not failing: its totals are served and nothing about it is pending.
        ready: () => [...live.values()].every((e) => e.state === "up" || e.state === "finished"),
        flush,
        allocateCore,
        releaseCore
      })
    })
  )
}
