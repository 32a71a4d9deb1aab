/**
 * Effect `Metric`s of the host app, as exposition families, so an app that composes percore gets its
 * own counters, gauges, histograms, summaries and frequencies on the same /metrics, rendered by the
 * same renderer.
 *
 * Names: characters outside Prometheus' name rules become `_`; a metric whose family name or any of its
 * sample names would collide with a family already claimed (percore's, or an earlier Effect metric) is
 * left out and reported in `skipped`, never rendered twice. Attributes become labels (invalid label
 * names are sanitized the same way; `le`/`quantile` and `__*` are renamed with a trailing `_`).
 * Counters are counters; frequencies are counters with one series per observed value (label `key`).
 */
import type { Metric } from "effect"
import { counterFamilyName, sampleNames } from "../domain/names.ts"
import type { Family, Series } from "./model.ts"

const sanitizeMetricName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[0-9]/.test(cleaned) ? `_${cleaned}` : cleaned
}

const sanitizeLabelName = (name: string): string => {
  let cleaned = name.replace(/[^a-zA-Z0-9_]/g, "_")
  if (/^[0-9]/.test(cleaned) || cleaned === "") cleaned = `_${cleaned}`
  if (cleaned === "le" || cleaned === "quantile" || cleaned.startsWith("__")) cleaned = `${cleaned.replace(/^_+/, "")}_`
  return cleaned
}

const labelsOf = (attributes: Metric.Metric.AttributeSet | undefined, extra?: readonly [string, string]) => {
  const pairs = new Map<string, string>()
  for (const [k, v] of Object.entries(attributes ?? {})) pairs.set(sanitizeLabelName(k), String(v))
  if (extra !== undefined) pairs.set(extra[0], extra[1])
  return [...pairs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

const plain = (labels: Series["labels"], value: number): Series => ({ labels, value, sum: 0, count: 0 })

interface EffectFamilies {
  readonly families: ReadonlyArray<Family>
  /** Effect metric ids left out because their names collide with a family already claimed. */
  readonly skipped: ReadonlyArray<string>
}

/**
 * Converts Effect metric snapshots into families. `claimed` holds the sample names already in use
 * (see `sampleNames` in domain/names); it is extended with the names of the families returned.
 */
export const fromEffectSnapshots = (snapshots: ReadonlyArray<Metric.Metric.Snapshot>, claimed: Set<string>): EffectFamilies => {
  interface Building {
    readonly id: string
    type: Family["type"]
    help: string
    buckets?: ReadonlyArray<number>
    quantiles?: ReadonlyArray<number>
    readonly series: Array<Series>
  }
  const building = new Map<string, Building>()
  const skipped: Array<string> = []
  for (const snapshot of snapshots) {
    const base = sanitizeMetricName(snapshot.id)
    const type: Family["type"] = snapshot.type === "Counter" || snapshot.type === "Frequency"
      ? "counter"
      : snapshot.type === "Gauge"
      ? "gauge"
      : snapshot.type === "Histogram"
      ? "histogram"
      : "summary"
    const name = type === "counter" ? counterFamilyName(base) : base
    let family = building.get(name)
    if (family === undefined) {
      if (name === "" || sampleNames(name, type).some((n) => claimed.has(n))) {
        skipped.push(snapshot.id)
        continue
      }
      family = { id: snapshot.id, type, help: snapshot.description ?? "", series: [] }
      building.set(name, family)
    } else if (family.type !== type || family.id !== snapshot.id) {
      // Another metric (e.g. "x" beside "x_total", "a.b" beside "a_b") mapped to a name already taken.
      skipped.push(snapshot.id)
      continue
    }
    switch (snapshot.type) {
      case "Counter":
        family.series.push(plain(labelsOf(snapshot.attributes), Number(snapshot.state.count)))
        break
      case "Gauge":
        family.series.push(plain(labelsOf(snapshot.attributes), Number(snapshot.state.value)))
        break
      case "Frequency":
        for (const [key, count] of snapshot.state.occurrences) {
          family.series.push(plain(labelsOf(snapshot.attributes, ["key", key]), count))
        }
        break
      case "Histogram": {
        // Effect reports cumulative counts per finite boundary; the model wants per-bucket counts.
        const bounds = snapshot.state.buckets.map(([bound]) => bound).filter((b) => Number.isFinite(b))
        family.buckets ??= bounds
        if (family.buckets.length !== bounds.length || family.buckets.some((b, i) => b !== bounds[i])) break
        const counts = new Float64Array(bounds.length + 1)
        let previous = 0
        snapshot.state.buckets.forEach(([bound, cumulative], i) => {
          if (!Number.isFinite(bound)) return
          counts[i] = cumulative - previous
          previous = cumulative
        })
        counts[bounds.length] = snapshot.state.count - previous
        family.series.push({ labels: labelsOf(snapshot.attributes), value: 0, bucketCounts: counts, sum: snapshot.state.sum, count: snapshot.state.count })
        break
      }
      case "Summary": {
        const quantiles = snapshot.state.quantiles.map(([q]) => q)
        family.quantiles ??= quantiles
        if (family.quantiles.length !== quantiles.length || family.quantiles.some((q, i) => q !== quantiles[i])) break
        family.series.push({
          labels: labelsOf(snapshot.attributes),
          value: 0,
          sum: snapshot.state.sum,
          count: snapshot.state.count,
          quantileValues: Float64Array.from(snapshot.state.quantiles, ([, v]) => v ?? Number.NaN)
        })
        break
      }
    }
  }
  const families: Array<Family> = []
  for (const [name, f] of building) {
    for (const n of sampleNames(name, f.type)) claimed.add(n)
    families.push({
      name,
      help: f.help,
      type: f.type,
      series: f.series,
      ...(f.buckets !== undefined ? { buckets: f.buckets } : {}),
      ...(f.quantiles !== undefined ? { quantiles: f.quantiles } : {})
    })
  }
  return { families, skipped }
}
