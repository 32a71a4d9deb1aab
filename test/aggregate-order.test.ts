import { assert, describe, it } from "@effect/vitest"
import { MetricKind } from "../src/domain/MetricKind.ts"
import { validateDefinition } from "../src/domain/series.ts"
import { AggregateState } from "../src/engine/AggregateState.ts"
import { render } from "../src/exposition/render.ts"

const define = (aggregate: AggregateState, labels: Readonly<Record<string, string>>, core: number): void => {
  const definition = validateDefinition({ name: "queue_depth", kind: MetricKind.Gauge, help: "Queue depth of each core", labels })
  if (definition instanceof Error) throw definition
  const resolved = aggregate.resolve(definition, "perCore", core)
  if (resolved instanceof Error) throw resolved
  resolved.series.value = core * 10
}

describe("perCore gauges", () => {
  it("render their series by core number, whatever order the cores defined them in", () => {
    const aggregate = new AggregateState({ maxSeries: 100 })
    for (const core of [1, 0, 10, 2]) define(aggregate, {}, core)
    const lines = render(aggregate.families.values(), "text").split("\n").filter((l) => l.startsWith("queue_depth"))
    assert.deepStrictEqual(lines, ['queue_depth{core="0"} 0', 'queue_depth{core="1"} 10', 'queue_depth{core="2"} 20', 'queue_depth{core="10"} 100'])
  })

  it("keep label sets in first-seen order, each sorted by core", () => {
    const aggregate = new AggregateState({ maxSeries: 100 })
    define(aggregate, { queue: "b" }, 2)
    define(aggregate, { queue: "a" }, 1)
    define(aggregate, { queue: "b" }, 0)
    define(aggregate, { queue: "a" }, 0)
    define(aggregate, { queue: "b" }, 1)
    const lines = render(aggregate.families.values(), "text").split("\n").filter((l) => l.startsWith("queue_depth"))
    assert.deepStrictEqual(lines, [
      'queue_depth{core="0",queue="b"} 0',
      'queue_depth{core="1",queue="b"} 10',
      'queue_depth{core="2",queue="b"} 20',
      'queue_depth{core="0",queue="a"} 0',
      'queue_depth{core="1",queue="a"} 10'
    ])
  })
})
