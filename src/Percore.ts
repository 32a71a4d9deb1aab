/**
 * percore's ready-made Layers.
 *
 * - `Percore.layer`: every service (Aggregate, Drainer, DataPlane, Freshness, MetricsHttp, Dashboard) plus the HTTP routes
 *   (`/metrics`, `/healthz`, `/readyz`, and the dashboard: `/`, `/assets/*`, `/api/snapshot`), as a
 *   Layer to merge into a host app's `HttpRouter` app: `HttpRouter.serve(Layer.mergeAll(MyRoutes, Percore.layer))`.
 * - `Percore.services` and `Percore.routes`: the two halves of `Percore.layer`, for a host app that starts
 *   percore's services before its server listens (see examples/compose) — Node holds a request that arrives
 *   before the routes are attached.
 * - `Percore.server`: the same, served by Node's HTTP server on `PERCORE_HOST:PERCORE_PORT`, logging one line
 *   with the URL and the number of cores once it serves. `src/main.ts` launches it.
 * - `Percore.withOptions(options)`: the same `layer`, `services`, `routes` and `server`, with typed settings
 *   (`PercoreConfig.layerWith`); what the options leave out is read from the environment. The plain Layers
 *   read every setting from the environment (`PercoreConfig.layer`), and expose `PercoreConfig` to the app.
 * - `Percore.answerEarlyRequests(server)`: makes a Node server answer `503` + `Retry-After` to requests that
 *   arrive while no handler is attached (starting, stopping) instead of holding them forever.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Config, Duration, Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { Aggregate } from "./services/Aggregate.ts"
import { Dashboard } from "./dashboard/Dashboard.ts"
import { DataPlane } from "./services/DataPlane.ts"
import { Drainer } from "./services/Drainer.ts"
import { FinalSnapshot } from "./services/FinalSnapshot.ts"
import { Freshness } from "./services/Freshness.ts"
import { ServerLimitsConfig } from "./services/HttpSecurity.ts"
import { ShutdownReport } from "./services/ShutdownReport.ts"
import { HttpConfig, ListenConfig, MetricsHttp } from "./http/MetricsHttp.ts"
import { type OptionLabel, PercoreConfig, type PercoreOptions } from "./services/PercoreConfig.ts"
import { RuntimeMetrics } from "./services/RuntimeMetrics.ts"

/**
 * PercoreConfig → Aggregate → Drainer → ShutdownReport → (FinalSnapshot, RuntimeMetrics) → DataPlane → Freshness → MetricsHttp
 * and Dashboard, all exposed. Layers are released in reverse: the DataPlane stops and drains the cores before the
 * final snapshot is written.
 */
const controlPlane = Layer.mergeAll(FinalSnapshot.layer, RuntimeMetrics.layer).pipe(
  Layer.provideMerge(ShutdownReport.layer), // built first, so it logs the run's totals after the final snapshot was written
  Layer.provideMerge(Drainer.layer),
  Layer.provideMerge(Aggregate.layer)
)
const servicesOf = (config: Layer.Layer<PercoreConfig, Config.ConfigError>) =>
  Layer.mergeAll(MetricsHttp.layer, Dashboard.layer).pipe(
    Layer.provideMerge(Freshness.layer),
    Layer.provideMerge(DataPlane.layer),
    Layer.provideMerge(controlPlane),
    Layer.provideMerge(config)
  )

const routes = Layer.mergeAll(MetricsHttp.routes, Dashboard.routes)

/**
 * Node's server listens before an Effect app attaches its request handler (the app's layers are still building)
 * and after it detaches it (shutting down), and holds a request nobody listens for forever. This answers such a
 * request with 503 + Retry-After instead; once a handler is attached it steps aside.
 */
const answerEarlyRequests = <S extends Server>(server: S): S => {
  server.on("request", (_request: IncomingMessage, response: ServerResponse) => {
    if (server.listenerCount("request") > 1) return // the app's handler is attached and answers
    response.writeHead(503, { "content-type": "text/plain; charset=utf-8", "retry-after": "1", connection: "close" })
    response.end("starting or stopping\n")
  })
  return server
}

// "serving" waits until every core has loaded its module: one that cannot be loaded fails the start (a ConfigError).
const announce = Layer.effectDiscard(Effect.gen(function*() {
  const dataPlane = yield* DataPlane
  yield* dataPlane.loaded
  const server = yield* HttpServer.HttpServer
  const { metricsPath } = yield* HttpConfig
  const { cores } = yield* PercoreConfig
  const url = `${HttpServer.formatAddress(server.address)}${metricsPath}`
  yield* Effect.logInfo(`percore: serving ${url} with ${cores} core${cores === 1 ? "" : "s"}`)
}))

// Paths are matched case-sensitively (`/METRICS` is not `/metrics`); duplicate and trailing slashes are ignored.
// Built in this order: the services, then the server listens, then the routes are attached, then the announcement
// ("serving" means it: a client that waits for the line is answered). Released in reverse.
const serverOf = <E>(services: Layer.Layer<Layer.Success<ReturnType<typeof servicesOf>>, E>) =>
  announce.pipe(
    Layer.provide(HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true, routerConfig: { caseSensitive: true } })),
    // Merged: the server (its address) is part of what `server` offers, for `startPercore`.
    Layer.provideMerge(Layer.unwrap(Effect.gen(function*() {
      const limits = yield* ServerLimitsConfig
      const { host, port } = yield* ListenConfig
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
        return answerEarlyRequests(server)
      }
      return NodeHttpServer.layer(makeServer, { host, port, gracefulShutdownTimeout: Duration.seconds(5) })
    }))),
    Layer.provideMerge(services)
  )

/** `layer`, `services`, `routes` and `server`, with the settings from `config`. */
const withConfig = (config: Layer.Layer<PercoreConfig, Config.ConfigError>) => {
  const services = servicesOf(config)
  return { layer: routes.pipe(Layer.provideMerge(services)), services, routes, server: serverOf(services) } as const
}

export const Percore = {
  ...withConfig(PercoreConfig.layer),
  /** The same Layers with typed options; settings they leave out are read from the `ConfigProvider`. */
  withOptions: (options: PercoreOptions, label?: OptionLabel) => withConfig(PercoreConfig.layerWith(options, label)),
  answerEarlyRequests
} as const
