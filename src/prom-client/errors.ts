/**
 * The facade's own errors: what prom-client code asks for that percore cannot merge across threads.
 * Plain `Error` subclasses with a readonly `_tag` (the facade runs in hot threads and loads no Effect).
 * Errors prom-client itself throws (a wrong label, a negative increment) keep prom-client's classes and messages.
 */

/** `new Summary(...)`: quantiles of several threads cannot be merged; a Histogram's buckets can. */
export class SummaryNotSupported extends Error {
  readonly _tag = "SummaryNotSupported"
  readonly metric: string
  constructor(metric: string) {
    super(
      `percore/prom-client: Summary "${metric}" is not supported: quantiles computed on different threads cannot be ` +
        `merged. Use a Histogram (its buckets add up across threads; Prometheus' histogram_quantile() gives the quantiles).`
    )
    this.metric = metric
  }
}

/** A gauge `aggregator` percore has no equivalent for (`average`, `omit`). */
export class UnsupportedAggregator extends Error {
  readonly _tag = "UnsupportedAggregator"
  readonly metric: string
  readonly aggregator: string
  constructor(metric: string, aggregator: string) {
    super(
      `percore/prom-client: aggregator "${aggregator}" of "${metric}" is not supported; ` +
        `use "sum", "max", "min" or "first" (the most recently set value)`
    )
    this.metric = metric
    this.aggregator = aggregator
  }
}

/** `register.metrics()` where no control plane runs in this thread (a worker thread, or before percore started). */
export class NoControlPlane extends Error {
  readonly _tag = "NoControlPlane"
  constructor() {
    super(
      "percore/prom-client: register.metrics() renders the aggregated page of the control plane, which runs on the " +
        "main thread; it is not running in this thread (scrape /metrics instead, or call it on the main thread after percore started)"
    )
  }
}
