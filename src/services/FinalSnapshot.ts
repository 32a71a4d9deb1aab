/**
 * FinalSnapshot — for batch jobs that end before the next scrape: with `PERCORE_FINAL_SNAPSHOT=path` (relative
 * paths start from the directory percore was started in), the final OpenMetrics exposition is written to
 * `path` when percore shuts down, after the cores were stopped and drained one last time.
 *
 * Atomic and safe in a shared directory: the page goes to a temporary file beside the target, under an
 * unpredictable name, created exclusively without following symlinks (`O_CREAT | O_EXCL | O_NOFOLLOW`) with mode
 * 0600 (the page may be behind HTTP credentials), then renamed over the target. A rename replaces a symlink
 * planted at the target itself instead of writing through it.
 *
 * It sits below the DataPlane in the layer graph, so its finalizer runs after the DataPlane's (which stops
 * and drains the cores) and before the Drainer's.
 */
import { randomBytes } from "node:crypto"
import { closeSync, constants, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { Cause, Effect, Layer, Option } from "effect"
import { renderBytes } from "../exposition/index.ts"
import { Aggregate } from "./Aggregate.ts"
import { Drainer } from "./Drainer.ts"
import { PercoreConfig } from "./PercoreConfig.ts"

const exclusive = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

/** Writes `bytes` to `path` through an exclusively created, owner-only temporary file and a rename. */
export const writeFileSafely = (path: string, bytes: Uint8Array): void => {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(12).toString("hex")}.tmp`)
  const fd = openSync(temporary, exclusive, 0o600)
  try {
    try {
      let written = 0
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temporary, path)
  } catch (error) {
    rmSync(temporary, { force: true })
    throw error
  }
}

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
        yield* Effect.sync(() => writeFileSafely(path, bytes))
        yield* Effect.logInfo(`percore: final snapshot written to ${path}`)
      }).pipe(Effect.catchCause((cause) => Effect.logError(`percore: writing the final snapshot to ${path} failed`, Cause.pretty(cause))))
    )
  }))
} as const
