/**
 * DataPlane — spawns and supervises the data-plane cores (one `worker_thread` each), and owns their
 * shared buffers (ring, intern log, control block).
 *
 * Each core is supervised by a fiber in the layer's scope:
 * - The core runs its module's default export. Returning means it finished: its ring is drained one last
 *   time, its totals stay in the Aggregate, it is not restarted.
 * - Throwing, or the thread dying, is a crash: it is logged with the core id and cause, the ring is drained
 *   one last time (the core flushed before dying), `percore_core_up{core}` drops to 0, and the core is
 *   restarted with fresh buffers after an exponential backoff (capped). Its series map to the same
 *   aggregate series, so counters stay monotonic; `percore_core_crashes_total` shows crash loops.
 * - Closing the scope signals stop in shared memory (`core.stopping`), waits `stopGrace`, terminates what is
 *   left, and drains every ring one last time: everything a core recorded before the stop is kept.
 *
 * Cores are started by a launcher thread when the control plane lowers its own priority
 * (`PERCORE_CONTROL_PLANE_NICE`, Linux), so they keep the normal priority; see CoreThreads.ts.
 *
 * Host apps that spawn their own workers use `allocateCore()`: it returns buffers to pass as
 * `workerData.percore`, and the core's ring is drained like any other until `releaseCore()`.
 */
import { pathToFileURL } from "node:url"
import { resolve as resolvePath } from "node:path"
import { Cause, Context, Duration, Effect, Fiber, Layer, Schedule, Schema } from "effect"
import { MetricKind, SelfMetric } from "../domain/index.ts"
import { CoreChannel } from "../engine/CoreChannel.ts"
import { allocateCoreBuffers, type CoreBuffers, type CoreSettings } from "../protocol/index.ts"
import {
  type CoreSpawner,
  type CoreThread,
  describeCrash,
  directSpawner,
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
}

export interface CoreStatus {
  readonly core: number
  readonly state: CoreState
  readonly restarts: number
}

/** Restart delays after a crash: 100 ms, doubling, at most 10 s. */
export const restartSchedule = Schedule.exponential("100 millis").pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(10))))
)

const workerEntry = new URL("../core/worker-main.ts", import.meta.url)
const demoModule = new URL("../core/demo.ts", import.meta.url).href

export class DataPlane extends Context.Service<DataPlane, {
  /** The spawned cores and their states. */
  readonly cores: () => ReadonlyArray<CoreStatus>
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
      let nextHostCore = Math.max(config.cores, 0)

      const selfSeries = (core: number) => ({
        up: aggregate.own(SelfMetric.coreUp.name, MetricKind.Gauge, SelfMetric.coreUp.help, { core: String(core) }),
        crashes: aggregate.own(SelfMetric.coreCrashes.name, MetricKind.Counter, SelfMetric.coreCrashes.help, { core: String(core) }),
        restarts: aggregate.own(SelfMetric.coreRestarts.name, MetricKind.Counter, SelfMetric.coreRestarts.help, { core: String(core) })
      })

      /** One incarnation of a core: succeeds when it finished or was stopped, fails with CoreCrashed. */
      const incarnation = (core: number, self: ReturnType<typeof selfSeries>) =>
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
          const outcome = yield* Effect.callback<{ finished: boolean; error: unknown; code: number }>((resume) => {
            let finished = false
            let error: unknown = undefined
            worker.on("message", (message: unknown) => {
              const type = typeof message === "object" && message !== null && "type" in message ? message.type : undefined
              if (type === "up") {
                entry.state = "up"
                self.up.value = 1
              } else if (type === "finished") finished = true
            })
            worker.on("error", (e) => {
              error = e
            })
            worker.on("exit", (code: number) => resume(Effect.succeed({ finished, error, code })))
          })
          self.up.value = 0
          // The core flushed before it ended (or was terminated): take everything it published.
          yield* drainer.retire(channel)
          if (outcome.finished || (stopping && outcome.error === undefined)) {
            entry.state = outcome.finished ? "finished" : "stopped"
            return
          }
          entry.state = "crashed"
          self.crashes.value++
          const cause = outcome.error !== undefined
            ? describeCrash(outcome.error)
            : `thread exited with code ${outcome.code} without finishing`
          // One message a person can read: the core, the error's tag (or name) and message, then its stack.
          yield* Effect.logError(`percore: core ${core} crashed: ${cause}`).pipe(Effect.annotateLogs({ core }))
          if (stopping) return
          return yield* new CoreCrashed({ core, cause })
        })

      const supervise = (core: number) => {
        const self = selfSeries(core)
        return incarnation(core, self).pipe(
          Effect.retry({ schedule: restartSchedule, while: () => !stopping }),
          Effect.catchTag("CoreCrashed", () => Effect.void)
        )
      }

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
      for (let core = 0; core < config.cores; core++) {
        // Known (as "starting") before its thread exists, so readiness counts it from the start.
        live.set(core, { state: "starting", channel: undefined, worker: undefined, restarts: 0 })
        supervisors.push(yield* Effect.forkScoped(supervise(core)))
      }
      if (spawner !== directSpawner) {
        const nice = lowerThreadPriority(config.controlPlaneNice)
        yield* Effect.logDebug(`percore: control-plane thread at nice ${nice}; cores at their launcher's priority`)
      }

      // Runs before the supervisors are interrupted (finalizers run in reverse order of registration).
      yield* Effect.addFinalizer(() =>
        Effect.gen(function*() {
          stopping = true
          for (const { channel } of live.values()) channel?.requestStop()
          const allEnded = Fiber.joinAll(supervisors)
          const ended = yield* allEnded.pipe(Effect.timeoutOption(Duration.fromInputUnsafe(config.stopGrace)))
          if (ended._tag === "None") {
            const stuck = [...live.entries()].filter(([, e]) => e.state === "up" || e.state === "starting")
            yield* Effect.logWarning(`percore: ${stuck.length} core(s) did not stop within the grace period; terminating them`)
            for (const [, e] of stuck) void e.worker?.terminate()
            yield* allEnded
          }
          // Host-created cores: one last drain of what they published.
          for (const { channel, worker } of live.values()) {
            if (worker === undefined && channel !== undefined) yield* drainer.retire(channel)
          }
        }).pipe(Effect.catchCause((cause) => Effect.logError("percore: stopping cores failed", Cause.pretty(cause))))
      )

      // Waits on each core's FLUSH_DONE word (the core notifies it), raced against an Effect timeout; a core that
      // ends meanwhile stops counting (its final flush is taken by its last drain).
      const flush = Effect.fnUntraced(function*(timeout: Duration.Input) {
        const waits = [...live.values()].flatMap((entry) => {
          const channel = entry.channel
          if (entry.state !== "up" || channel === undefined) return []
          const request = channel.requestFlush()
          return [
            Effect.gen(function*() {
              while (!channel.flushed(request) && entry.state === "up" && entry.channel === channel) {
                // Short waits so that a core that ended (it never answers) is noticed; a flush wakes it at once.
                yield* Effect.promise(() => channel.control.waitForFlush(request, 50))
              }
            })
          ]
        })
        const done = yield* Effect.all(waits, { concurrency: "unbounded", discard: true }).pipe(
          Effect.timeoutOption(Duration.fromInputUnsafe(timeout))
        )
        return done._tag === "Some"
      })

      const allocateCore = Effect.fnUntraced(function*() {
        const core = nextHostCore++
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
        yield* drainer.retire(entry.channel)
      })

      return DataPlane.of({
        cores: () => [...live.entries()].map(([core, e]) => ({ core, state: e.state, restarts: e.restarts })),
        // A finished core is done, not failing: its totals are served and nothing about it is pending.
        ready: () => [...live.values()].every((e) => e.state === "up" || e.state === "finished"),
        flush,
        allocateCore,
        releaseCore
      })
    })
  )
}
