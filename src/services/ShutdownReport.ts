/**
 * ShutdownReport — one log line when percore stops, so a person reading the logs sees how the run ended: the
 * samples the cores delivered and dropped over the whole run, the series held, and where the final snapshot
 * went (or that none was asked for).
 *
 * It sits below FinalSnapshot in the layer graph (see Percore.ts): its finalizer runs after the DataPlane's
 * final drain and after the snapshot was written.
 */
import { Effect, Layer, Option } from "effect"
import { counterFamilyName, SelfMetric } from "../domain/index.ts"
import type { AggregateState } from "../engine/AggregateState.ts"
import { Aggregate } from "./Aggregate.ts"
import { Drainer } from "./Drainer.ts"
import { PercoreConfig } from "./PercoreConfig.ts"

/** The sum of a counter family's series (every core's), 0 if it has none. */
const familyTotal = (aggregate: AggregateState, name: string): number => {
  let total = 0
  for (const series of aggregate.families.get(counterFamilyName(name))?.series ?? []) total += series.value
  return total
}

/** The line logged at shutdown, from the aggregate after its final drain. */
export const shutdownSummary = (aggregate: AggregateState, finalSnapshot: Option.Option<string>): string => {
  const delivered = familyTotal(aggregate, SelfMetric.ringDelivered.name)
  const dropped = familyTotal(aggregate, SelfMetric.ringDropped.name)
  const snapshot = Option.match(finalSnapshot, {
    onNone: () => "no final snapshot (PERCORE_FINAL_SNAPSHOT is not set)",
    onSome: (path) => `final snapshot at ${path}`
  })
  return `percore: stopped: ${delivered} samples delivered, ${dropped} dropped over the run, ${aggregate.seriesCount} series; ${snapshot}`
}

export const ShutdownReport = {
  layer: Layer.effectDiscard(Effect.gen(function*() {
    const { finalSnapshot } = yield* PercoreConfig
    const drainer = yield* Drainer
    const aggregate = yield* Aggregate
    yield* Effect.addFinalizer(() =>
      drainer.drainNow.pipe(Effect.andThen(Effect.suspend(() => Effect.logInfo(shutdownSummary(aggregate, finalSnapshot)))))
    )
  }))
} as const
