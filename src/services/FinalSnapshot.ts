/**
 * FinalSnapshot — for batch jobs that end before the next scrape: with `PERCORE_FINAL_SNAPSHOT=path` (relative
 * paths start from the directory percore was started in), the final OpenMetrics exposition is written to
 * `path` when percore shuts down, after the cores were stopped and drained one last time. Atomic: written to a temporary file beside it, then renamed over it.
 *
 * It sits below the DataPlane in the layer graph, so its finalizer runs after the DataPlane's (which stops
 * and drains the cores) and before the Drainer's.
 */
import { renameSync, writeFileSync } from "node:fs"
import { Cause, Effect, Layer, Option } from "effect"
import { renderBytes } from "../exposition/index.ts"
import { Aggregate } from "./Aggregate.ts"
import { Drainer } from "./Drainer.ts"
import { PercoreConfig } from "./PercoreConfig.ts"

export const FinalSnapshot = {
  layer: Layer.effectDiscard(Effect.gen(function*() {
    const { finalSnapshot } = yield* PercoreConfig
    if (Option.isNone(finalSnapshot)) return
    const path = finalSnapshot.value
    const drainer = yield* Drainer
    const aggregate = yield* Aggregate
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* drainer.drainNow
        const bytes = renderBytes(aggregate.families.values(), "openmetrics")
        const temporary = `${path}.${process.pid}.tmp`
        yield* Effect.sync(() => {
          writeFileSync(temporary, bytes)
          renameSync(temporary, path)
        })
        yield* Effect.logInfo(`percore: final snapshot written to ${path}`)
      }).pipe(Effect.catchCause((cause) => Effect.logError(`percore: writing the final snapshot to ${path} failed`, Cause.pretty(cause))))
    )
  }))
} as const
