/**
 * MetricsHttp — the control plane's HTTP surface: `/metrics` (Prometheus text 0.0.4 or OpenMetrics 1.0,
 * negotiated, gzip when accepted), `/healthz` and `/readyz`. Cores never serve HTTP.
 *
 * A scrape first asks every core to flush and waits a bounded time for them (`PERCORE_SCRAPE_FLUSH_WAIT`),
 * then drains every ring, so it sees everything recorded before it; then it renders the Aggregate and the
 * host app's own Effect `Metric`s with one renderer, straight to the UTF-8 bytes it sends (gzipped when accepted).
 *
 * `MetricsHttp.routes` is a Layer of `HttpRouter` routes: a host app merges it with its own routes.
 */
import { promisify } from "node:util"
import { gzip as gzipCallback } from "node:zlib"
import { Context, Deferred, Duration, Effect, Layer, Metric, Option } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { MetricKind, SelfMetric } from "../domain/index.ts"
import { claimedNames, fromEffectSnapshots } from "../exposition/effectMetrics.ts"
import { acceptsGzip, contentType, type Family, type Format, negotiate, renderBytes } from "../exposition/index.ts"
import { Aggregate } from "./Aggregate.ts"
import { DataPlane } from "./DataPlane.ts"
import { makeAuthenticator, SecurityConfig } from "./HttpSecurity.ts"
import { Drainer } from "./Drainer.ts"
import { PercoreConfig } from "./PercoreConfig.ts"

const gzip = promisify(gzipCallback)

/** The HTTP surface's settings, a view of `PercoreConfig`. */
export const HttpConfig = PercoreConfig.useSync((config) => ({
  host: config.host,
  port: config.port,
  metricsPath: config.metricsPath,
  scrapeFlushWait: config.scrapeFlushWait
}))

/** Where Node's HTTP server listens, a view of `PercoreConfig`. */
export const ListenConfig = PercoreConfig.useSync((config) => ({ host: config.host, port: config.port }))

export class MetricsHttp extends Context.Service<MetricsHttp, {
  /**
   * Flush (bounded), drain, and render everything in one format: the page's UTF-8 bytes, as sent (before any gzip).
   * The caller owns the returned buffer (a later scrape never writes to it).
   */
  readonly scrape: (format: Format) => Effect.Effect<Uint8Array>
}>()("percore/services/MetricsHttp") {
  static readonly layer = Layer.effect(
    MetricsHttp,
    Effect.gen(function*() {
      const aggregate = yield* Aggregate
      const dataPlane = yield* DataPlane
      const drainer = yield* Drainer
      const { scrapeFlushWait } = yield* HttpConfig
      const warned = new Set<string>()
      const heapUsed = aggregate.own(SelfMetric.heapUsed.name, MetricKind.Gauge, SelfMetric.heapUsed.help, {})
      const resident = aggregate.own(SelfMetric.residentMemory.name, MetricKind.Gauge, SelfMetric.residentMemory.help, {})

      const render = Effect.fnUntraced(function*(format: Format, registry: Metric.MetricRegistry) {
        yield* dataPlane.flush(scrapeFlushWait)
        yield* drainer.drainNow
        heapUsed.value = process.memoryUsage().heapUsed
        resident.value = process.memoryUsage.rss()
        const claimed = new Set<string>()
        for (const family of aggregate.families.values()) for (const n of claimedNames(family.name, family.type)) claimed.add(n)
        const effect = fromEffectSnapshots(yield* Metric.snapshot.pipe(Effect.provideService(Metric.MetricRegistry, registry)), claimed)
        for (const id of effect.skipped) {
          if (warned.has(id)) continue
          warned.add(id)
          yield* Effect.logWarning(`percore: Effect metric "${id}" is not exported: its name collides with another family`)
        }
        const families: Array<Family> = [...aggregate.families.values(), ...effect.families]
        return renderBytes(families, format)
      })

      // Concurrent scrapes share renders, and every scrape still sees everything recorded before it arrived:
      // a scrape arriving while a render runs waits for the NEXT render, which starts after the current one
      // and serves every scrape that queued meanwhile. A storm of N clients costs about one render (and one
      // flush request to the cores) at a time instead of N. Renders run in the layer's scope, so a client
      // hanging up never leaves waiting scrapes without their result.
      const scope = yield* Effect.scope
      const running: Record<Format, boolean> = { text: false, openmetrics: false }
      const queued: Record<Format, Deferred.Deferred<Uint8Array> | undefined> = { text: undefined, openmetrics: undefined }
      const start = (format: Format, registry: Metric.MetricRegistry, result: Deferred.Deferred<Uint8Array>): Effect.Effect<void> =>
        Effect.suspend(() => {
          running[format] = true
          return render(format, registry).pipe(
            Effect.exit,
            Effect.flatMap((exit) => Deferred.done(result, exit)),
            Effect.flatMap(() => {
              running[format] = false
              const next = queued[format]
              queued[format] = undefined
              return next === undefined ? Effect.void : start(format, registry, next)
            }),
            Effect.forkIn(scope),
            Effect.asVoid
          )
        })

      const scrape = Effect.fn("MetricsHttp.scrape")(function*(format: Format) {
        const registry = yield* Metric.MetricRegistry
        if (!running[format]) {
          const result = yield* Deferred.make<Uint8Array>()
          yield* start(format, registry, result)
          return yield* Deferred.await(result)
        }
        const next = queued[format] ?? (queued[format] = Deferred.makeUnsafe<Uint8Array>())
        return yield* Deferred.await(next)
      })

      return MetricsHttp.of({ scrape })
    })
  )

  /** The routes, as a Layer to merge into an `HttpRouter` app. */
  static readonly routes = Layer.unwrap(Effect.gen(function*() {
    const { host, metricsPath } = yield* HttpConfig
    const security = yield* SecurityConfig
    const { scrape } = yield* MetricsHttp
    const dataPlane = yield* DataPlane
    const auth = makeAuthenticator(security)
    if (auth.open && !isLoopback(host)) {
      yield* Effect.logWarning(`percore: serving metrics on ${host} without authentication; set PERCORE_AUTH_TOKEN or PERCORE_AUTH_USER/PASSWORD`)
    }
    let inFlight = 0
    const busy = HttpServerResponse.text("too many scrapes in flight\n", { status: 503, headers: { "retry-after": "1" } })
    const unauthorized = HttpServerResponse.text("unauthorized\n", { status: 401, headers: { "www-authenticate": auth.challenge } })
    if (!metricsPath.startsWith("/")) return yield* Effect.die(new Error(`PERCORE_METRICS_PATH must start with "/", got ${JSON.stringify(metricsPath)}`))
    const methodNotAllowed = HttpServerResponse.text("method not allowed\n", {
      status: 405,
      headers: { allow: "GET, HEAD" }
    })
    const onlyGet = <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        request.method === "GET" || request.method === "HEAD" ? handler : Effect.succeed(methodNotAllowed))

    const metrics = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (hasBody(request.headers)) {
        return HttpServerResponse.text("requests to the metrics endpoint must not have a body\n", { status: 400 })
      }
      if (!auth.check(request.headers["authorization"])) return unauthorized
      const format = negotiate(request.headers["accept"])
      // Taking a slot and giving it back are one acquire/release pair: an interrupted scrape (a client
      // that went away) can never leak a slot and leave /metrics answering 503 for good.
      const bytes = yield* Effect.acquireUseRelease(
        Effect.sync(() => inFlight < security.maxScrapesInFlight && ++inFlight > 0),
        (slot) => (slot ? Effect.map(scrape(format), Option.some) : Effect.succeed(Option.none<Uint8Array>())),
        (slot) => (slot ? Effect.sync(() => void inFlight--) : Effect.void)
      )
      if (Option.isNone(bytes)) return busy
      const compress = acceptsGzip(request.headers["accept-encoding"])
      const body = compress ? yield* Effect.promise(() => gzip(bytes.value)) : bytes.value
      return HttpServerResponse.uint8Array(body, {
        contentType: contentType(format),
        headers: compress ? { "content-encoding": "gzip", vary: "Accept, Accept-Encoding" } : { vary: "Accept, Accept-Encoding" }
      })
    }).pipe(
      Effect.catchDefect((defect) =>
        Effect.logError("percore: rendering /metrics failed", defect).pipe(
          Effect.as(HttpServerResponse.text("internal error while rendering metrics\n", { status: 500 }))
        )
      )
    )

    const healthz = HttpServerResponse.text("ok\n")
    const readyz = Effect.suspend(() => {
      const cores = dataPlane.cores()
      const ready = dataPlane.ready()
      return Effect.succeed(HttpServerResponse.text(
        `${ready ? "ready" : "not ready"}\n${cores.map((c) => `core ${c.core}: ${c.state}`).join("\n")}\n`,
        { status: ready ? 200 : 503 }
      ))
    })

    return HttpRouter.addAll([
      HttpRouter.route("*", metricsPath as HttpRouter.PathInput, onlyGet(metrics)),
      HttpRouter.route("*", "/healthz", onlyGet(Effect.succeed(healthz))),
      HttpRouter.route("*", "/readyz", onlyGet(readyz))
    ])
  }))
}

const isLoopback = (host: string): boolean => host === "localhost" || host === "::1" || host.startsWith("127.")

const hasBody = (headers: Readonly<Record<string, string | undefined>>): boolean => {
  const length = headers["content-length"]
  return (length !== undefined && length !== "0") || headers["transfer-encoding"] !== undefined
}
