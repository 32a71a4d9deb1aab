/**
 * What ring samples mean between a core and the control plane: the wire kinds, and how a series' ring ids
 * are laid out. Cores write this layout (`CoreRuntime`), the control plane reads it (`CoreChannel`).
 */
import { MetricKind } from "../domain/MetricKind.ts"

/**
 * What a ring sample means, as written by percore's core runtime (`percore/core`). Handles coalesce
 * on their core and publish one sample per changed component per flush:
 * - `CounterDelta`: value added to a counter since the last flush (same number as `MetricKind.Counter`).
 * - `GaugeValue`: the core's current value of a gauge (same number as `MetricKind.Gauge`).
 * - `Observation`: one raw histogram observation (same number as `MetricKind.Histogram`; raw ring users).
 * - `BucketDelta`: observations added to one histogram bucket since the last flush.
 * - `SumDelta`: amount added to a histogram's sum since the last flush.
 */
export const WireKind = {
  CounterDelta: 0,
  GaugeValue: 1,
  Observation: 2,
  BucketDelta: 3,
  SumDelta: 4
} as const

export type WireKind = typeof WireKind[keyof typeof WireKind]

/**
 * The ring ids of one series, from its first id on: one for a counter or a gauge; for a histogram, one per
 * bucket (bucket i at `id + i`, the implied `+Inf` bucket last) and then its sum, so `bounds + 2` in all.
 * `components` is how many ids the series takes; `kindOf(i)` is the wire kind component i carries.
 */
export const seriesLayout = (
  kind: MetricKind,
  buckets: ReadonlyArray<number> | undefined
): { readonly components: number; readonly kindOf: (component: number) => WireKind } => {
  if (kind === MetricKind.Histogram && buckets !== undefined) {
    const sum = buckets.length + 1
    return { components: sum + 1, kindOf: (i) => (i === sum ? WireKind.SumDelta : WireKind.BucketDelta) }
  }
  const only = kind === MetricKind.Counter ? WireKind.CounterDelta : WireKind.GaugeValue
  return { components: 1, kindOf: () => only }
}

/**
 * The bucket a histogram observation falls in: the first bound ≥ `value`, or `bounds.length` (the `+Inf`
 * bucket). Binary search from 8 bounds on, so the cost does not depend on where values fall (a linear scan
 * costs up to n mispredicted compares for values in the top buckets). Allocation-free: it runs on the hot path.
 */
export const bucketIndex = (bounds: ArrayLike<number>, value: number): number => {
  const n = bounds.length
  let bucket = 0
  if (n < 8) {
    while (bucket < n && value > bounds[bucket]!) bucket++
    return bucket
  }
  let hi = n
  while (bucket < hi) {
    const mid = (bucket + hi) >>> 1
    if (value > bounds[mid]!) bucket = mid + 1
    else hi = mid
  }
  return bucket
}
