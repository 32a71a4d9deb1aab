/**
 * Freshness — makes the Aggregate fresh for a reader: asks every live core to flush its coalesced updates,
 * waits a bounded time for them, then drains every ring. What a core recorded before the call is in the
 * Aggregate afterwards (unless the core missed the wait).
 *
 * Readers that must see everything recorded before they asked (a scrape of `/metrics`) call `refresh`
 * instead of arranging the flush and the drain themselves.
 */
import { Context, Duration, Effect, Layer } from "effect"
import { DataPlane } from "./DataPlane.ts"
import { type DrainReport, Drainer } from "./Drainer.ts"

export interface Refreshed extends DrainReport {
  /** False when some live core did not answer the flush request within the wait. */
  readonly flushed: boolean
}

export class Freshness extends Context.Service<Freshness, {
  /** Flush (waiting at most `flushWait` for the cores), then drain every ring. */
  readonly refresh: (flushWait: Duration.Input) => Effect.Effect<Refreshed>
}>()("percore/services/Freshness") {
  static readonly layer = Layer.effect(
    Freshness,
    Effect.gen(function*() {
      const dataPlane = yield* DataPlane
      const drainer = yield* Drainer
      // Untraced: every scrape refreshes, and a span per call is garbage the scrape's own span already covers.
      const refresh = Effect.fnUntraced(function*(flushWait: Duration.Input) {
        const flushed = yield* dataPlane.flush(flushWait)
        const report = yield* drainer.drainNow
        return { ...report, flushed }
      })
      return Freshness.of({ refresh })
    })
  )
}
