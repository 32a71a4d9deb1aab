/**
 * Dashboard — a live page at `/`, served by the control plane (cores never serve HTTP): per-core ring fill and
 * delivered/dropped rates, drain duration, control-plane health, the busiest series with their rates, histogram
 * quantiles, and small charts of the last minutes.
 *
 * The service samples once a second into a bounded history (`sampler.ts`) and builds the page's JSON from it
 * (`view.ts`, quantiles by `quantile.ts`); `Dashboard.routes` serves the page, its assets and the JSON
 * (`routes.ts`, `assets.ts`), protected like /metrics when credentials are set (a browser prompts for basic auth;
 * a bearer-only deployment needs a client that sends the header).
 *
 * `PERCORE_DASHBOARD=false` (for host apps that serve `/` themselves) turns the whole dashboard off: no sampling,
 * no routes.
 */
import { Clock, Context, Effect, Layer } from "effect"
import { makeGuard } from "../http/guard.ts"
import { HttpConfig } from "../http/MetricsHttp.ts"
import { Aggregate } from "../services/Aggregate.ts"
import { DataPlane } from "../services/DataPlane.ts"
import { Drainer } from "../services/Drainer.ts"
import { SecurityConfig } from "../services/HttpSecurity.ts"
import { PercoreConfig } from "../services/PercoreConfig.ts"
import { loadAssets } from "./assets.ts"
import { dashboardRoutes } from "./routes.ts"
import { noSamples, type Sources, startSampler } from "./sampler.ts"
import { buildSnapshot, type DashboardSnapshot, type SnapshotOptions } from "./view.ts"

export { cumulate, histogramQuantile } from "./quantile.ts"
export { HISTORY_POINTS, threadPoint, TOP_KEEP, topN } from "./sampler.ts"
export {
  type CoreView,
  DEFAULT_TOP,
  type DashboardSnapshot,
  type HistogramView,
  type Quantiles,
  SATURATED_FOR_MS,
  SATURATED_UTILIZATION,
  saturatedOver,
  type SeriesView,
  type SnapshotOptions,
  type ThreadView
} from "./view.ts"


export class Dashboard extends Context.Service<Dashboard, {
  /** False when `PERCORE_DASHBOARD=false`: nothing is sampled and no route is served. */
  readonly enabled: boolean
  /** What `/api/snapshot` returns (without history when the dashboard is off). */
  readonly snapshot: (options?: SnapshotOptions) => Effect.Effect<DashboardSnapshot>
  /** Takes one history sample now (the layer's fiber does so every second); does nothing when the dashboard is off. */
  readonly sample: Effect.Effect<void>
}>()("percore/dashboard/Dashboard") {
  static readonly layer = Layer.effect(
    Dashboard,
    Effect.gen(function*() {
      const enabled = (yield* PercoreConfig).dashboard
      const sources: Sources = { aggregate: yield* Aggregate, dataPlane: yield* DataPlane, drainer: yield* Drainer }
      const startedAt = yield* Clock.currentTimeMillis
      const { samples, sample } = enabled ? yield* startSampler(sources) : { samples: noSamples, sample: Effect.void }
      const snapshot = Effect.fn("Dashboard.snapshot")(function*(options?: SnapshotOptions) {
        const now = yield* Clock.currentTimeMillis
        return buildSnapshot(samples, sources, { now, startedAt }, options)
      })
      return Dashboard.of({ enabled, snapshot, sample })
    })
  )

  /** The routes (`/`, `/assets/*`, `/api/snapshot`), as a Layer to merge into an `HttpRouter` app; none when off. */
  static readonly routes = Layer.unwrap(Effect.gen(function*() {
    const dashboard = yield* Dashboard
    if (!dashboard.enabled) return Layer.empty
    const guard = makeGuard(yield* SecurityConfig)
    const { metricsPath } = yield* HttpConfig
    const assets = yield* Effect.sync(() => loadAssets(metricsPath))
    return dashboardRoutes(guard, assets, dashboard.snapshot)
  }))
}
