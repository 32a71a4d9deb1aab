/**
 * MetricsHttp — the control plane's HTTP surface: `/metrics` (Prometheus text 0.0.4 or OpenMetrics 1.0,
 * negotiated, gzip when accepted), `/healthz` and `/readyz`. Cores never serve HTTP.
 *
 * A scrape first makes the Aggregate fresh (`Freshness`: every core asked to flush, waited for at most
 * `PERCORE_SCRAPE_FLUSH_WAIT`, every ring drained), so it sees everything recorded before it; then it renders
 * the Aggregate and the host app's own Effect `Metric`s with one renderer, straight to the UTF-8 bytes it sends.
 *
 * Bounded work per scrape: the page is rendered in steps of about `RENDER_STEP_BYTES`, with a turn of the event
 * loop between them, so `/healthz` and other requests are answered during a huge render; a page that passes
 * `PERCORE_MAX_PAGE_BYTES` stops rendering at once and the scrape gets `503` with the reason (counted in
 * `percore_scrapes_refused_total{reason="page_too_large"}`).
 *
 * Bounded slow clients: a scrape holds one of `PERCORE_MAX_SCRAPES_IN_FLIGHT` slots until its page is fully handed
 * to the connection or the client is gone. The page is sent in chunks; when no chunk goes out for
 * `PERCORE_SEND_STALL_TIMEOUT` (a client that stopped reading), the connection is closed and the slot released
 * (`reason="send_stalled"`), so stalled clients cannot pin pages and slots forever.
 *
 * Methods, request bodies, credentials and gzip are the shared guard's (`./guard.ts`), as for the dashboard.
 * `MetricsHttp.routes` is a Layer of `HttpRouter` routes: a host app merges it with its own routes.
 */
import { IncomingMessage } from "node:http"
import { Clock, Context, Deferred, Duration, Effect, Exit, Layer, Metric, Option, Schedule, Schema, Stream } from "effect"
import { HttpMiddleware, HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { MetricKind, SelfMetric } from "../domain/index.ts"
import { fromEffectSnapshots } from "../exposition/effectMetrics.ts"
import { contentType, type Family, type Format, negotiate, PageLimitExceeded, renderBytes, renderSteps } from "../exposition/index.ts"
import { Aggregate } from "../services/Aggregate.ts"
import { DataPlane } from "../services/DataPlane.ts"
import { Freshness } from "../services/Freshness.ts"
import { SecurityConfig } from "../services/HttpSecurity.ts"
import { makeGuard, respond } from "./guard.ts"
import { hasCollectors, installBridge, runCollectors } from "./renderHooks.ts"
import { PercoreConfig } from "../services/PercoreConfig.ts"

/** The HTTP surface's settings, a view of `PercoreConfig`. */
export const HttpConfig = PercoreConfig.useSync((config) => ({
  host: config.host,
  port: config.port,
  metricsPath: config.metricsPath,
  scrapeFlushWait: config.scrapeFlushWait,
  maxPageBytes: config.maxPageBytes,
  sendStallTimeout: config.sendStallTimeout
}))

/** A render yields to the event loop after about this many bytes (well under a millisecond of copying). */
export const RENDER_STEP_BYTES = 256 * 1024
/** A page is sent in chunks of this size, so the send's progress is visible. */
const SEND_CHUNK_BYTES = 64 * 1024

/** The page passed `PERCORE_MAX_PAGE_BYTES`; the render stopped there. */
export class PageTooLarge extends Schema.TaggedError<PageTooLarge>()("PageTooLarge", {
  rendered: Schema.Number,
  limit: Schema.Number
}) {
  override get message(): string {
    return `the metrics page passed PERCORE_MAX_PAGE_BYTES (${this.limit} bytes; ${this.rendered} rendered when it stopped)`
  }
}

/** One turn of the event loop (`setImmediate` runs after pending I/O), so requests are served between render steps. */
const yieldToEventLoop: Effect.Effect<void> = Effect.callback<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** Closes the request's connection (Node only: elsewhere a stalled send is left to the platform). */
const closeConnection = (request: HttpServerRequest.HttpServerRequest): void => {
  const source = request.source
  if (source instanceof IncomingMessage) source.socket.destroy()
}

/** Where Node's HTTP server listens, a view of `PercoreConfig`. */
export const ListenConfig = PercoreConfig.useSync((config) => ({ host: config.host, port: config.port }))

export class MetricsHttp extends Context.Service<MetricsHttp, {
  /**
   * Flush (bounded), drain, and render everything in one format: the page's UTF-8 bytes, as sent (before any gzip).
   * The caller owns the returned buffer (a later scrape never writes to it).
   */
  readonly scrape: (format: Format) => Effect.Effect<Uint8Array, PageTooLarge>
}>()("percore/http/MetricsHttp") {
  static readonly layer = Layer.effect(
    MetricsHttp,
    Effect.gen(function*() {
      const aggregate = yield* Aggregate
      const freshness = yield* Freshness
      const { maxPageBytes, scrapeFlushWait } = yield* HttpConfig
      const warned = new Set<string>()
      const heapUsed = aggregate.own(SelfMetric.heapUsed.name, MetricKind.Gauge, SelfMetric.heapUsed.help, {})
      const resident = aggregate.own(SelfMetric.residentMemory.name, MetricKind.Gauge, SelfMetric.residentMemory.help, {})

      // Callbacks registered through `renderHooks` (prom-client's `collect()`) set their values first.
      const collect = Effect.suspend(() =>
        hasCollectors()
          ? Effect.promise(runCollectors).pipe(
            Effect.flatMap((errors) => Effect.forEach(errors, (error) => Effect.logWarning("percore: a collect() callback failed", error))),
            Effect.asVoid
          )
          : Effect.void
      )

      const render = Effect.fnUntraced(function*(format: Format, registry: Metric.MetricRegistry) {
        yield* collect
        yield* freshness.refresh(scrapeFlushWait)
        heapUsed.value = process.memoryUsage().heapUsed
        resident.value = process.memoryUsage.rss()
        // A copy: the Effect-metric bridge adds the names it takes.
        const claimed = new Set(aggregate.sampleNamesInUse())
        const effect = fromEffectSnapshots(yield* Metric.snapshot.pipe(Effect.provideService(Metric.MetricRegistry, registry)), claimed)
        for (const id of effect.skipped) {
          if (warned.has(id)) continue
          warned.add(id)
          yield* Effect.logWarning(`percore: Effect metric "${id}" is not exported: its name collides with another family`)
        }
        const families: Array<Family> = [...aggregate.families.values(), ...effect.families]
        const steps = renderSteps(families, format, { maxBytes: maxPageBytes, stepBytes: RENDER_STEP_BYTES })
        for (;;) {
          const step = nextStep(steps)
          if (step instanceof PageLimitExceeded) return yield* new PageTooLarge({ rendered: step.rendered, limit: step.limit })
          if (step.done === true) return step.value
          yield* yieldToEventLoop
        }
      })

      // Concurrent scrapes share renders, and every scrape still sees everything recorded before it arrived:
      // a scrape arriving while a render runs waits for the NEXT render, which starts after the current one
      // and serves every scrape that queued meanwhile. A storm of N clients costs about one render (and one
      // flush request to the cores) at a time instead of N. Renders run in the layer's scope, so a client
      // hanging up never leaves waiting scrapes without their result.
      const scope = yield* Effect.scope
      const running: Record<Format, boolean> = { text: false, openmetrics: false }
      const queued: Record<Format, Deferred.Deferred<Uint8Array, PageTooLarge> | undefined> = { text: undefined, openmetrics: undefined }
      const start = (format: Format, registry: Metric.MetricRegistry, result: Deferred.Deferred<Uint8Array, PageTooLarge>): Effect.Effect<void> =>
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
          const result = yield* Deferred.make<Uint8Array, PageTooLarge>()
          yield* start(format, registry, result)
          return yield* Deferred.await(result)
        }
        const next = queued[format] ?? (queued[format] = Deferred.makeUnsafe<Uint8Array, PageTooLarge>())
        return yield* Deferred.await(next)
      })

      // The same page and families for code outside Effect in this thread (`percore/prom-client`).
      const context = yield* Effect.context<never>()
      const run = Effect.runPromiseWith(context)
      const decoder = new TextDecoder()
      const subset = Effect.fnUntraced(function*(format: Format, names: ReadonlySet<string>) {
        yield* collect
        yield* freshness.refresh(scrapeFlushWait)
        return renderBytes([...aggregate.families.values()].filter((family) => names.has(family.name)), format)
      })
      yield* Effect.acquireRelease(
        Effect.sync(() =>
          installBridge({
            page: (format, names) => run(names === undefined ? scrape(format) : subset(format, names)).then((bytes) => decoder.decode(bytes)),
            family: (name) => run(freshness.refresh(scrapeFlushWait).pipe(Effect.map(() => aggregate.families.get(name))))
          })
        ),
        (uninstall) => Effect.sync(uninstall)
      )

      return MetricsHttp.of({ scrape })
    })
  )

  /** The routes, as a Layer to merge into an `HttpRouter` app. */
  static readonly routes = Layer.unwrap(Effect.gen(function*() {
    const { host, metricsPath, sendStallTimeout } = yield* HttpConfig
    const security = yield* SecurityConfig
    const { scrape } = yield* MetricsHttp
    const dataPlane = yield* DataPlane
    const aggregate = yield* Aggregate
    const scope = yield* Effect.scope
    const refused = (reason: string) =>
      aggregate.own(SelfMetric.scrapesRefused.name, MetricKind.Counter, SelfMetric.scrapesRefused.help, { reason })
    const pageTooLarge = refused("page_too_large")
    const sendStalled = refused("send_stalled")
    const stallMillis = Duration.toMillis(Duration.fromInputUnsafe(sendStallTimeout))
    const guard = makeGuard(security)
    if (guard.open && !isLoopback(host)) {
      yield* Effect.logWarning(`percore: serving metrics on ${host} without authentication; set PERCORE_AUTH_TOKEN or PERCORE_AUTH_USER/PASSWORD`)
    }
    let inFlight = 0
    const busy = HttpServerResponse.text("too many scrapes in flight\n", { status: 503, headers: { "retry-after": "1" } })
    if (!metricsPath.startsWith("/")) return yield* Effect.die(new Error(`PERCORE_METRICS_PATH must start with "/", got ${JSON.stringify(metricsPath)}`))

    /**
     * Sends a page in chunks and gives the slot back once the last chunk is handed to the connection, the client is
     * gone (the platform interrupts the stream), or no chunk went out for the stall timeout (the connection is
     * closed). A watchdog in the layer's scope covers a stream the platform never starts (the client left first).
     */
    const sendWithin = Effect.fnUntraced(function*(request: HttpServerRequest.HttpServerRequest, release: () => void) {
      let lastProgress = yield* Clock.currentTimeMillis
      let done = false
      const finish = Effect.sync(() => {
        done = true
        release()
      })
      const stalled = Effect.gen(function*() {
        if (done) return true
        const now = yield* Clock.currentTimeMillis
        if (now - lastProgress < stallMillis) return false
        sendStalled.value++
        yield* Effect.logWarning(`percore: a scrape's client stopped reading for ${Duration.format(Duration.millis(stallMillis))}; closing its connection`)
        closeConnection(request)
        yield* finish
        return true
      })
      yield* stalled.pipe(
        Effect.repeat({ schedule: Schedule.spaced(Duration.millis(Math.max(1, stallMillis / 4))), until: (over) => over }),
        Effect.forkIn(scope)
      )
      return (body: Uint8Array): Stream.Stream<Uint8Array> =>
        // One chunk per pull: the platform pulls the next only once the connection took the last one.
        Stream.fromIterable(chunksOf(body, SEND_CHUNK_BYTES), { chunkSize: 1 }).pipe(
          Stream.tap(() => Effect.map(Clock.currentTimeMillis, (now) => void (lastProgress = now))),
          Stream.ensuring(finish)
        )
    })

    const metrics = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const format = negotiate(request.headers["accept"])
        if (inFlight >= security.maxScrapesInFlight) return busy
        inFlight++
        let released = false
        const release = () => {
          if (released) return
          released = true
          inFlight--
        }
        // Every way out gives the slot back exactly once: a failed or interrupted scrape (a client that went away)
        // here, a HEAD at once, a sent page when its send ends (or stalls).
        return yield* Effect.gen(function*() {
          const bytes = yield* scrape(format)
          const options = { contentType: contentType(format), varyOn: ["Accept"], gzipLevel: METRICS_GZIP_LEVEL }
          if (request.method === "HEAD") {
            release()
            return yield* respond(request, bytes, options)
          }
          return yield* respond(request, bytes, { ...options, send: yield* sendWithin(request, release) })
        }).pipe(Effect.onExit((exit) => (Exit.isFailure(exit) ? Effect.sync(release) : Effect.void)))
      }).pipe(
        Effect.catchTag("PageTooLarge", (error) =>
          Effect.gen(function*() {
            pageTooLarge.value++
            yield* Effect.logWarning(`percore: scrape refused: ${error.message}`)
            return HttpServerResponse.text(`${error.message}\n`, { status: 503 })
          })),
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
        `${ready ? "ready" : "not ready"}\n${cores.map((c) => `core ${c.core}: ${c.state}${c.downReason === undefined ? "" : ` (${c.downReason})`}`).join("\n")}\n`,
        { status: ready ? 200 : 503 }
      ))
    })
    // Orchestrators probe these without credentials; they reveal nothing.
    const open = { authenticate: false } as const

    // Scrapes and probes arrive every few seconds: they stay out of a host app's request log.
    return HttpRouter.addAll([
      HttpRouter.route(
        "*",
        metricsPath as HttpRouter.PathInput,
        HttpMiddleware.withLoggerDisabled(guard.route(metrics, { refuseBody: "requests to the metrics endpoint must not have a body" }))
      ),
      HttpRouter.route("*", "/healthz", HttpMiddleware.withLoggerDisabled(guard.route(() => Effect.succeed(healthz), open))),
      HttpRouter.route("*", "/readyz", HttpMiddleware.withLoggerDisabled(guard.route(() => readyz, open)))
    ])
  }))
}

/**
 * zlib's fastest level for /metrics: a page of repetitive sample lines compresses nearly as well as at the default
 * level 6 (10k counters: 59 KB against 54 KB of 659 KB) in about a third of the time, which a scrape waits for.
 */
const METRICS_GZIP_LEVEL = 1

/** Views of `body`, `size` bytes each (the last one shorter): no copy. */
const chunksOf = (body: Uint8Array, size: number): Array<Uint8Array> => {
  const chunks: Array<Uint8Array> = []
  for (let at = 0; at < body.length; at += size) chunks.push(body.subarray(at, Math.min(body.length, at + size)))
  return chunks
}

/** The generator's next step, or the page cap it hit (any other error is a defect and thrown on). */
const nextStep = (steps: Generator<number, Uint8Array, void>): IteratorResult<number, Uint8Array> | PageLimitExceeded => {
  try {
    return steps.next()
  } catch (error) {
    if (error instanceof PageLimitExceeded) return error
    throw error
  }
}

const isLoopback = (host: string): boolean => host === "localhost" || host === "::1" || host.startsWith("127.")
