/**
 * Quantiles from histogram buckets, estimated as Prometheus' `histogram_quantile` does: linear interpolation
 * within the bucket holding the rank. Pure functions; the sampler and the snapshot view share them.
 */

/**
 * The `q`-quantile of a histogram from its CUMULATIVE bucket counts (`cumulative[i]` observations ≤
 * `bounds[i]`, the last entry being `+Inf`, so `cumulative.length === bounds.length + 1`), with Prometheus'
 * `histogram_quantile` rules: linear interpolation inside the bucket holding the rank, the first bucket
 * starting at 0 (or its bound if that is ≤ 0), a rank in the `+Inf` bucket giving the highest finite bound,
 * non-monotonic counts evened out, `NaN` without observations, `±Inf` for q outside [0, 1].
 */
export const histogramQuantile = (q: number, bounds: ReadonlyArray<number>, cumulative: ArrayLike<number>): number => {
  if (Number.isNaN(q)) return Number.NaN
  if (q < 0) return Number.NEGATIVE_INFINITY
  if (q > 1) return Number.POSITIVE_INFINITY
  const n = cumulative.length
  if (n < 2 || n !== bounds.length + 1) return Number.NaN
  let total = 0
  for (let i = 0; i < n; i++) total = Math.max(total, cumulative[i]!)
  if (!(total > 0)) return Number.NaN
  const rank = q * total
  let previous = 0
  let running = 0
  for (let b = 0; b < n; b++) {
    running = Math.max(running, cumulative[b]!)
    if (running >= rank) {
      if (b === n - 1) return bounds[n - 2]!
      const end = bounds[b]!
      if (b === 0 && end <= 0) return end
      const start = b === 0 ? 0 : bounds[b - 1]!
      const inBucket = running - previous
      return inBucket > 0 ? start + (end - start) * ((rank - previous) / inBucket) : start
    }
    previous = running
  }
  return bounds[n - 2]!
}

/** Running sums of per-bucket counts: what `histogramQuantile` takes. */
export const cumulate = (counts: ArrayLike<number>): Float64Array => {
  const out = new Float64Array(counts.length)
  let sum = 0
  for (let i = 0; i < counts.length; i++) out[i] = sum += counts[i]!
  return out
}

/** The quantiles the dashboard shows: p50, p90 and p99. */
export const QUANTILES = [0.5, 0.9, 0.99] as const

export type QuantileTriple = readonly [p50: number, p90: number, p99: number]

/** p50, p90 and p99 from per-bucket counts (`NaN` without observations). */
export const quantilesOf = (bounds: ReadonlyArray<number>, counts: ArrayLike<number>): QuantileTriple => {
  const cumulative = cumulate(counts)
  return [
    histogramQuantile(QUANTILES[0], bounds, cumulative),
    histogramQuantile(QUANTILES[1], bounds, cumulative),
    histogramQuantile(QUANTILES[2], bounds, cumulative)
  ]
}
