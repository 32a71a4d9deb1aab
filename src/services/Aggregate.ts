/**
 * Aggregate — the control plane's in-memory metric state (see `AggregateState`), as a service.
 * Drains write into it; /metrics renders from it. Its methods are synchronous on purpose: the
 * control plane is one thread, so a render always sees a state between two drains.
 */
import { Context, Effect, Layer } from "effect"
import { AggregateState } from "../engine/AggregateState.ts"
import { PercoreConfig } from "./PercoreConfig.ts"

export class Aggregate extends Context.Service<Aggregate, AggregateState>()("percore/services/Aggregate") {
  static readonly layer = Layer.effect(
    Aggregate,
    Effect.gen(function*() {
      const { maxSeries } = yield* PercoreConfig
      return new AggregateState({ maxSeries })
    })
  )
}
