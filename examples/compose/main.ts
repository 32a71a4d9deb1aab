/**
 * An Effect app with its own routes and its own Effect metrics that adds percore's /metrics, /healthz and
 * /readyz to its own HTTP server. Run it with `npm exec -- node --conditions=percore-source examples/compose/main.ts`
 * (the condition resolves "percore" to this repository's sources; an app that installed percore needs none).
 *
 * - GET /hello answers "hello" and increments the app's own counter `app_hello_requests_total`.
 * - GET /metrics shows that counter next to percore's families (the cores' series and percore_*).
 * - The app listens on APP_HOST:APP_PORT (default 127.0.0.1:3000); percore's own settings (PERCORE_CORES,
 *   PERCORE_WORKER, ...) apply as usual. Without PERCORE_WORKER each core runs percore's demo workload.
 * - SIGINT / SIGTERM: cores stop and are drained, the server closes, the process exits 0.
 */
import { createServer } from "node:http"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Cause, Config, Duration, Effect, Exit, Layer, Metric, Runtime } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { Percore } from "percore"

const helloRequests = Metric.counter("app_hello_requests_total", { description: "GET /hello requests served" })

const AppRoutes = HttpRouter.add(
  "GET",
  "/hello",
  Effect.gen(function*() {
    yield* Metric.update(helloRequests, 1)
    return HttpServerResponse.text("hello\n")
  })
)

// answerEarlyRequests: a request that arrives before the routes are attached gets 503 + Retry-After, not silence.
const Server = NodeHttpServer.layerConfig(() => Percore.answerEarlyRequests(createServer()), {
  host: Config.String("APP_HOST").pipe(Config.withDefault("127.0.0.1")),
  port: Config.Port("APP_PORT").pipe(Config.withDefault(3000)),
  gracefulShutdownTimeout: Config.succeed(Duration.seconds(5))
})

// The app's routes and percore's, served by one router on one server. percore's services start first, so the
// server listens once they are up (`HttpRouter.serve(Layer.mergeAll(AppRoutes, Percore.layer))` works too).
const App = HttpRouter.serve(Layer.mergeAll(AppRoutes, Percore.routes)).pipe(
  Layer.provide(Server),
  Layer.provide(Percore.services)
)

NodeRuntime.runMain(Layer.launch(App), {
  // A stop that was asked for (SIGINT / SIGTERM) is a success: exit 0 rather than 130.
  teardown: (exit, onExit) =>
    Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)
})
