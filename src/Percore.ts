/**
 * percore's ready-made Layers.
 *
 * - `Percore.layer`: every service (Aggregate, Drainer, DataPlane, MetricsHttp, Dashboard) plus the HTTP routes
 *   (`/metrics`, `/healthz`, `/readyz`, and the dashboard: `/`, `/assets/*`, `/api/snapshot`), as a
 *   Layer to merge into a host app's `HttpRouter` app: `HttpRouter.serve(Layer.mergeAll(MyRoutes, Percore.layer))`.
 * - `Percore.server`: the same, served by Node's HTTP server on `PERCORE_HOST:PERCORE_PORT`, logging one line
 *   with the URL and the number of cores once it listens. `src/main.ts` launches it.
 */
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Config, Duration, Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { Aggregate } from "./services/Aggregate.ts"
import { Dashboard } from "./services/Dashboard.ts"
import { DataPlane } from "./services/DataPlane.ts"
import { Drainer } from "./services/Drainer.ts"
import { FinalSnapshot } from "./services/FinalSnapshot.ts"
import { ServerLimitsConfig } from "./services/HttpSecurity.ts"
import { HttpConfig, ListenConfig, MetricsHttp } from "./services/MetricsHttp.ts"
import { PercoreConfig } from "./services/PercoreConfig.ts"

/**
 * Aggregate → Drainer → (FinalSnapshot) → DataPlane → MetricsHttp and Dashboard, all exposed. Layers are released in
 * reverse: the DataPlane stops and drains the cores before the final snapshot is written.
 */
const controlPlane = FinalSnapshot.layer.pipe(Layer.provideMerge(Drainer.layer), Layer.provideMerge(Aggregate.layer))
const services = Layer.mergeAll(MetricsHttp.layer, Dashboard.layer).pipe(
  Layer.provideMerge(DataPlane.layer),
  Layer.provideMerge(controlPlane)
)

const layer = Layer.mergeAll(MetricsHttp.routes, Dashboard.routes).pipe(Layer.provideMerge(services))

const announce = Layer.effectDiscard(Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  const { metricsPath } = yield* HttpConfig
  const { cores } = yield* PercoreConfig
  const url = `${HttpServer.formatAddress(server.address)}${metricsPath}`
  yield* Effect.logInfo(`percore: serving ${url} with ${cores} core${cores === 1 ? "" : "s"}`)
}))

// Paths are matched case-sensitively (`/METRICS` is not `/metrics`); duplicate and trailing slashes are ignored.
const server = HttpRouter.serve(layer, { disableLogger: true, disableListenLog: true, routerConfig: { caseSensitive: true } }).pipe(
  Layer.merge(announce),
  Layer.provide(Layer.unwrap(Effect.gen(function*() {
    const limits = yield* ServerLimitsConfig
    // Node's limits, set deliberately: slow or oversized clients are cut off, idle sockets closed.
    const makeServer = () => {
      const server = createServer({
        headersTimeout: Duration.toMillis(limits.headersTimeout),
        requestTimeout: Duration.toMillis(limits.requestTimeout),
        maxHeaderSize: limits.maxHeaderSize,
        // Node enforces the two timeouts above only when it checks connections (every 30 s by default).
        connectionsCheckingInterval: Math.max(50, Math.min(1000, Duration.toMillis(limits.headersTimeout) / 2))
      })
      server.keepAliveTimeout = Duration.toMillis(limits.keepAliveTimeout)
      return server
    }
    return NodeHttpServer.layerConfig(makeServer, {
      ...ListenConfig,
      gracefulShutdownTimeout: Config.succeed(Duration.seconds(5))
    })
  })))
)

export const Percore = { layer, services, server } as const
