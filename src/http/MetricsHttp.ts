/**
 * MetricsHttp — the control plane's HTTP surface: `/metrics` (Prometheus text 0.0.4 or OpenMetrics 1.0,
 * negotiated, gzip when accepted), `/healthz` and `/readyz`. Cores never serve HTTP.
 *
 * A scrape first makes the Aggregate fresh (`Freshness`: every core asked to flush, waited for at most
 * `PERCORE_SCRAPE_FLUSH_WAIT`, every ring drained), so it sees everything recorded before it; then it renders
 * the Aggregate and the host app's own Effect `Metric`s with one renderer, straight to the UTF-8 bytes it sends.
 *
 * Methods, request bodies, credentials and gzip are the shared guard's (`./guard.ts`), as for the dashboard.
 * `MetricsHttp.routes` is a Layer of `HttpRouter` routes: a host app merges it with its own routes.
 */
import { Context, Deferred, Duration, Effect, Layer, Metric, Option } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { MetricKind, SelfMetric } from "../domain/index.ts"
import { sampleNames } from "../domain/names.ts"
import { fromEffectSnapshots } from "../exposition/effectMetrics.ts"
import { contentType, type Family, type Format, negotiate, renderBytes } from "../exposition/index.ts"
import { Aggregate } from "../services/Aggregate.ts"
import { DataPlane } from "../services/DataPlane.ts"
import { Freshness } from "../services/Freshness.ts"
import { SecurityConfig } from "../services/HttpSecurity.ts"
import { makeGuard, respond } from "./guard.ts"
import { PercoreConfig } from "../services/PercoreConfig.ts"

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
}>()("percore/http/MetricsHttp") {
  static readonly layer = Layer.effect(
    MetricsHttp,
    Effect.gen(function*() {
      const aggregate = yield* Aggregate
      const freshness = yield* Freshness
      const { scrapeFlushWait } = yield* HttpConfig
      const warned = new Set<string>()
      const heapUsed = aggregate.own(SelfMetric.heapUsed.name, MetricKind.Gauge, SelfMetric.heapUsed.help, {})
      const resident = aggregate.own(SelfMetric.residentMemory.name, MetricKind.Gauge, SelfMetric.residentMemory.help, {})

      const render = Effect.fnUntraced(function*(format: Format, registry: Metric.MetricRegistry) {
        yield* freshness.refresh(scrapeFlushWait)
        heapUsed.value = process.memoryUsage().heapUsed
        resident.value = process.memoryUsage.rss()
        const claimed = new Set<string>()
        for (const family of aggregate.families.values()) for (const n of sampleNames(family.name, family.type)) claimed.add(n)
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
    const guard = makeGuard(security)
    if (guard.open && !isLoopback(host)) {
      yield* Effect.logWarning(`percore: serving metrics on ${host} without authentication; set PERCORE_AUTH_TOKEN or PERCORE_AUTH_USER/PASSWORD`)
    }
    let inFlight = 0
    const busy = HttpServerResponse.text("too many scrapes in flight\n", { status: 503, headers: { "retry-after": "1" } })
    if (!metricsPath.startsWith("/")) return yield* Effect.die(new Error(`PERCORE_METRICS_PATH must start with "/", got ${JSON.stringify(metricsPath)}`))

    const metrics = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const format = negotiate(request.headers["accept"])
        // Taking a slot and giving it back are one acquire/release pair: an interrupted scrape (a client
        // that went away) can never leak a slot and leave /metrics answering 503 for good.
        const bytes = yield* Effect.acquireUseRelease(
          Effect.sync(() => inFlight < security.maxScrapesInFlight && ++inFlight > 0),
          (slot) => (slot ? Effect.map(scrape(format), Option.some) : Effect.succeed(Option.none<Uint8Array>())),
          (slot) => (slot ? Effect.sync(() => void inFlight--) : Effect.void)
        )
        if (Option.isNone(bytes)) return busy
        return yield* respond(request, bytes.value, { contentType: contentType(format), varyOn: ["Accept"], gzipLevel: METRICS_GZIP_LEVEL })
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
    // Orchestrators probe these without credentials; they reveal nothing.
    const open = { authenticate: false } as const

    return HttpRouter.addAll([
      HttpRouter.route("*", metricsPath as HttpRouter.PathInput, guard.route(metrics, { refuseBody: "requests to the metrics endpoint must not have a body" })),
      HttpRouter.route("*", "/healthz", guard.route(() => Effect.succeed(healthz), open)),
      HttpRouter.route("*", "/readyz", guard.route(() => readyz, open))
    ])
  }))
}

/**
 * zlib's fastest level for /metrics: a page of repetitive sample lines compresses nearly as well as at the default
 * level 6 (10k counters: 59 KB against 54 KB of 659 KB) in about a third of the time, which a scrape waits for.
 */
const METRICS_GZIP_LEVEL = 1

const isLoopback = (host: string): boolean => host === "localhost" || host === "::1" || host.startsWith("127.")
