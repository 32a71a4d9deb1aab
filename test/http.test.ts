/**
 * `Percore.layer` served by a real Node HTTP server on an ephemeral port, with real worker-thread cores, and
 * real requests through `node:http` (raw control over methods, headers and bodies; no automatic Accept or
 * decompression): negotiation, HEAD, gzip, error statuses, readiness, scrape freshness, and the host app's own
 * Effect metrics on the same /metrics.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { NodeHttpServer } from "@effect/platform-node"
import { ConfigProvider, Effect, Layer, Metric } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { createServer, type IncomingHttpHeaders, request as httpRequest, Agent } from "node:http"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import parsePrometheusTextFormat from "parse-prometheus-text-format"
import { Percore } from "../src/Percore.ts"
import { Aggregate } from "../src/services/Aggregate.ts"
import { DataPlane } from "../src/services/DataPlane.ts"
import { freePort, repoRoot, spawnChild } from "./support/e2e.ts"
import { until } from "./support/until.ts"

const FIXTURE = "test/fixtures/http-core.ts"
const OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
const TEXT = "text/plain; version=0.0.4; charset=utf-8"
/** What Prometheus 2.42 sends. */
const PROMETHEUS_ACCEPT =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

/**
 * `Percore.layer` behind a real Node server on 127.0.0.1:0, its services and the `HttpServer` exposed.
 * `registry` is the host app's Effect metric registry, shared by the server and the test.
 */
const serverLayer = (env: Record<string, string>, registry: Metric.MetricRegistry = new Map()) =>
  HttpRouter.serve(Percore.layer, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
    Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, registry)),
    // PERCORE_CONTROL_PLANE_NICE=0: keep this test process at its priority (see test/services.test.ts).
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { PERCORE_CORES: "1", PERCORE_WORKER: FIXTURE, PERCORE_CONTROL_PLANE_NICE: "0", ...env } })))
  )

/** The core module's behaviour (see the fixture): worker threads copy `process.env` when they start. */
const coreMode = (vars: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const previous = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
      Object.assign(process.env, vars)
      return previous
    }),
    (previous) =>
      Effect.sync(() => {
        for (const [k, v] of Object.entries(previous)) {
          if (v === undefined) delete process.env[k]
          else process.env[k] = v
        }
      })
  )

const serverPort = Effect.map(HttpServer.HttpServer, (server) => Number(new URL(HttpServer.formatAddress(server.address)).port))

interface Reply {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  readonly text: string
  readonly reusedSocket: boolean
}

interface RequestOptions {
  readonly method?: string
  readonly headers?: Record<string, string>
  readonly body?: string
  /** Default: a fresh connection per request (`Connection: close`). */
  readonly agent?: Agent
}

/**
 * One raw HTTP request; node:http adds no Accept / Accept-Encoding of its own and never decompresses. A body
 * gets a Content-Length unless the headers frame it (node:http would send a GET's body unframed).
 */
const request = (path: string, options: RequestOptions = {}) =>
  Effect.flatMap(serverPort, (port) =>
    Effect.callback<Reply>((resume) => {
      const headers = { ...options.headers }
      if (options.body !== undefined && headers["content-length"] === undefined && headers["transfer-encoding"] === undefined) {
        headers["content-length"] = String(Buffer.byteLength(options.body))
      }
      const req = httpRequest(
        { host: "127.0.0.1", port, path, method: options.method ?? "GET", headers, agent: options.agent ?? false },
        (res) => {
          const chunks: Array<Buffer> = []
          res.on("data", (chunk: Buffer) => chunks.push(chunk))
          res.on("end", () => {
            const body = Buffer.concat(chunks)
            const reply = { status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString("utf8"), reusedSocket: req.reusedSocket }
            // A turn of the event loop, so a keep-alive agent has its socket back before the next request.
            setImmediate(() => resume(Effect.succeed(reply)))
          })
          res.on("error", (error) => resume(Effect.die(error)))
        }
      )
      req.on("error", (error) => resume(Effect.die(error)))
      if (options.body !== undefined) req.write(options.body)
      req.end()
      return Effect.sync(() => req.destroy())
    }))

interface Sample {
  readonly name: string
  readonly labels: ReadonlyMap<string, string>
  readonly value: number
}

/** Sample lines of a text or OpenMetrics exposition (name, labels, value); comment lines skipped. */
const samplesOf = (text: string): Array<Sample> =>
  text.split("\n").filter((line) => line !== "" && !line.startsWith("#")).map((line) => {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \S+)?$/.exec(line)
    assert.isNotNull(match, `sample line: ${line}`)
    const labels = new Map<string, string>()
    for (const [, k = "", v = ""] of (match![2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels.set(k, v)
    const raw = match![3]!
    return { name: match![1]!, labels, value: raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw) }
  })

/** The value of the one sample with this name and (at least) these labels. */
const valueOf = (text: string, name: string, labels: Record<string, string> = {}): number | undefined => {
  const found = samplesOf(text).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels.get(k) === v))
  assert.isAtMost(found.length, 1, `at most one sample ${name} ${JSON.stringify(labels)}`)
  return found[0]?.value
}

const typeLines = (text: string, name: string) => text.split("\n").filter((line) => line.startsWith(`# TYPE ${name} `))

/** A well-formed text 0.0.4 exposition: parses, ends with one line feed, no OpenMetrics EOF. */
const assertText = (text: string) => {
  assert.isTrue(text.endsWith("\n"), "ends with a line feed")
  assert.notInclude(text, "# EOF")
  const families = parsePrometheusTextFormat(text)
  assert.isAbove(families.length, 0)
  assert.include(families.map((f) => f.name), "percore_core_up")
}

/** A well-formed OpenMetrics exposition: ends with exactly one `# EOF\n`, TYPE lines use family names. */
const assertOpenMetrics = (text: string) => {
  assert.isTrue(text.endsWith("\n# EOF\n"), "ends with # EOF and a line feed")
  assert.strictEqual(text.indexOf("# EOF"), text.length - "# EOF\n".length, "one EOF, at the end")
  assert.lengthOf(typeLines(text, "percore_core_up"), 1)
  assert.include(text, "# TYPE percore_ring_delivered counter")
  assert.isDefined(valueOf(text, "percore_ring_delivered_total", { core: "0" }))
  samplesOf(text) // every sample line parses
}

const hostRegistry: Metric.MetricRegistry = new Map()

layer(serverLayer({}, hostRegistry), { excludeTestServices: true })("Percore.layer on a real Node server", (it) => {
  describe("content negotiation", () => {
    it.effect("Prometheus 2.42's Accept gets OpenMetrics 1.0.0", () =>
      Effect.gen(function*() {
        const reply = yield* request("/metrics", { headers: { accept: PROMETHEUS_ACCEPT } })
        assert.strictEqual(reply.status, 200)
        assert.strictEqual(reply.headers["content-type"], OPENMETRICS)
        assert.isUndefined(reply.headers["content-encoding"])
        assertOpenMetrics(reply.text)
      }))

    it.effect("no Accept, */*, text/plain and text/plain;version=0.0.4 get text 0.0.4", () =>
      Effect.gen(function*() {
        for (const accept of [undefined, "*/*", "text/plain", "text/plain;version=0.0.4", "text/*", "application/*"]) {
          const reply = yield* request("/metrics", accept === undefined ? {} : { headers: { accept } })
          assert.strictEqual(reply.status, 200, `Accept: ${accept}`)
          assert.strictEqual(reply.headers["content-type"], TEXT, `Accept: ${accept}`)
          assertText(reply.text)
        }
      }))

    it.effect("q-values decide: text preferred over OpenMetrics gets text", () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<readonly [string, string]> = [
          ["application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4", TEXT],
          ["application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.9", TEXT],
          ["application/openmetrics-text;q=0.9,*/*;q=0.95", TEXT],
          ["application/openmetrics-text;version=1.0.0;q=0", TEXT],
          ["text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.6", OPENMETRICS],
          ["application/openmetrics-text", OPENMETRICS],
          ["APPLICATION/OPENMETRICS-TEXT; Version=\"1.0.0\"", OPENMETRICS]
        ]
        for (const [accept, expected] of cases) {
          const reply = yield* request("/metrics", { headers: { accept } })
          assert.strictEqual(reply.headers["content-type"], expected, `Accept: ${accept}`)
          if (expected === TEXT) assertText(reply.text)
          else assertOpenMetrics(reply.text)
        }
      }))

    it.effect("OpenMetrics with an unsupported version gets text 0.0.4", () =>
      Effect.gen(function*() {
        for (const accept of ["application/openmetrics-text;version=2.0.0", "application/openmetrics-text;version=0.0.1", "application/openmetrics-text;version=0.0.1,text/plain;q=0.1"]) {
          const reply = yield* request("/metrics", { headers: { accept } })
          assert.strictEqual(reply.status, 200)
          assert.strictEqual(reply.headers["content-type"], TEXT, `Accept: ${accept}`)
          assertText(reply.text)
        }
      }))
  })

  it.effect("HEAD /metrics: same status and Content-Type as GET, no body", () =>
    Effect.gen(function*() {
      const dataPlane = yield* DataPlane
      yield* until(() => dataPlane.ready(), "the core to be up")
      for (const accept of [PROMETHEUS_ACCEPT, "text/plain"]) {
        const get = yield* request("/metrics", { headers: { accept } })
        const head = yield* request("/metrics", { method: "HEAD", headers: { accept } })
        assert.strictEqual(head.status, get.status)
        assert.strictEqual(head.headers["content-type"], get.headers["content-type"])
        assert.strictEqual(head.body.length, 0)
      }
      for (const path of ["/healthz", "/readyz"]) {
        const head = yield* request(path, { method: "HEAD" })
        assert.strictEqual(head.status, 200, path)
        assert.strictEqual(head.body.length, 0, path)
      }
    }))

  describe("gzip", () => {
    it.effect("Accept-Encoding: gzip gets a gzipped, valid exposition in either format", () =>
      Effect.gen(function*() {
        for (const [accept, encoding] of [["text/plain", "gzip"], [PROMETHEUS_ACCEPT, "gzip, deflate, br"], ["text/plain", "br;q=1, *;q=0.5"]] as const) {
          const reply = yield* request("/metrics", { headers: { accept, "accept-encoding": encoding } })
          assert.strictEqual(reply.status, 200)
          assert.strictEqual(reply.headers["content-encoding"], "gzip", `Accept-Encoding: ${encoding}`)
          assert.include(reply.headers["vary"] ?? "", "Accept-Encoding")
          assert.deepStrictEqual([...reply.body.subarray(0, 2)], [0x1f, 0x8b], "gzip magic")
          const text = gunzipSync(reply.body).toString("utf8")
          if (accept === "text/plain") {
            assert.strictEqual(reply.headers["content-type"], TEXT)
            assertText(text)
          } else {
            assert.strictEqual(reply.headers["content-type"], OPENMETRICS)
            assertOpenMetrics(text)
          }
        }
      }))

    it.effect("without Accept-Encoding (or with gzip refused) the body is plain", () =>
      Effect.gen(function*() {
        for (const headers of [{}, { "accept-encoding": "identity" }, { "accept-encoding": "gzip;q=0, deflate" }, { "accept-encoding": "" }]) {
          const reply = yield* request("/metrics", { headers })
          assert.strictEqual(reply.status, 200)
          assert.isUndefined(reply.headers["content-encoding"], JSON.stringify(headers))
          assertText(reply.text)
        }
      }))
  })

  describe("errors", () => {
    it.effect("404 for unknown paths", () =>
      Effect.gen(function*() {
        for (const [method, path] of [["GET", "/api"], ["GET", "/nope"], ["GET", "/metrics/extra"], ["POST", "/nope"], ["HEAD", "/nope"]] as const) {
          const reply = yield* request(path, { method })
          assert.strictEqual(reply.status, 404, `${method} ${path}`)
        }
      }))

    it.effect("405 with Allow: GET, HEAD for other methods on /metrics, /healthz and /readyz", () =>
      Effect.gen(function*() {
        for (const path of ["/metrics", "/healthz", "/readyz"]) {
          for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
            const reply = yield* request(path, { method })
            assert.strictEqual(reply.status, 405, `${method} ${path}`)
            assert.strictEqual(reply.headers["allow"], "GET, HEAD", `${method} ${path}`)
          }
        }
        const withBody = yield* request("/metrics", { method: "POST", body: "x=1", headers: { "content-type": "application/x-www-form-urlencoded" } })
        assert.strictEqual(withBody.status, 405)
      }))

    it.effect("GET /metrics with a body is a 400, and the connection and server keep serving", () =>
      Effect.gen(function*() {
        const agent = yield* Effect.acquireRelease(
          Effect.sync(() => new Agent({ keepAlive: true, maxSockets: 1 })),
          (agent) => Effect.sync(() => agent.destroy())
        )
        const withLength = yield* request("/metrics", { body: "hello", headers: { "content-type": "text/plain" }, agent })
        assert.strictEqual(withLength.status, 400)
        const chunked = yield* request("/metrics", { body: "hello", headers: { "transfer-encoding": "chunked" }, agent })
        assert.strictEqual(chunked.status, 400)
        assert.isTrue(chunked.reusedSocket, "the keep-alive connection survived the first unread body")
        const after = yield* request("/metrics", { agent })
        assert.strictEqual(after.status, 200)
        assert.isTrue(after.reusedSocket, "the keep-alive connection survived the unread bodies")
        assertText(after.text)
        const emptyBody = yield* request("/metrics", { headers: { "content-length": "0" } })
        assert.strictEqual(emptyBody.status, 200, "Content-Length: 0 is no body")
        const fresh = yield* request("/metrics")
        assert.strictEqual(fresh.status, 200)
      }))
  })

  it.effect("/healthz is 200; /readyz is 200 once the core is up", () =>
    Effect.gen(function*() {
      const dataPlane = yield* DataPlane
      yield* until(() => dataPlane.ready(), "the core to be up")
      const healthz = yield* request("/healthz")
      assert.strictEqual(healthz.status, 200)
      assert.strictEqual(healthz.text, "ok\n")
      const readyz = yield* request("/readyz")
      assert.strictEqual(readyz.status, 200)
      assert.strictEqual(readyz.text, "ready\ncore 0: up\n")
    }))

  it.effect("the host app's Effect metrics are on /metrics; one colliding with a percore family is left out", () =>
    Effect.gen(function*() {
      // The test runs in the context the server was built in: the same MetricRegistry (`hostRegistry`).
      const requests = Metric.counter("host_requests_total", { description: "Requests the host app handled" })
      const temperature = Metric.gauge("host_temperature_celsius", { description: "Host temperature" })
      const latency = Metric.histogram("host_latency_seconds", {
        description: "Host latency",
        boundaries: Metric.boundariesFromIterable([0.1, 1])
      })
      const payload = Metric.summary("host_payload_bytes", { description: "Payload sizes", maxAge: "1 minute", maxSize: 100, quantiles: [0.5, 0.9] })
      const statuses = Metric.frequency("host_status", { description: "Response statuses" })
      const tagged = Metric.counter("host_jobs_total", { description: "Jobs", attributes: { queue: "mail" } })
      const collidingGauge = Metric.gauge("percore_series", { description: "collides with percore's own gauge" })
      const collidingCounter = Metric.counter("percore_core_up", { description: "collides with percore's core_up gauge" })
      const collidingTotal = Metric.counter("percore_ring_delivered_total", { description: "collides with percore's counter" })
      const collidingCore = Metric.counter("http_test_requests_total", { description: "collides with the core's counter" })
      const dataPlane = yield* DataPlane
      const aggregate = yield* Aggregate
      yield* until(() => dataPlane.ready(), "the core to be up")
      yield* until(() => aggregate.find("http_test_requests_total", { route: "/a" }) !== undefined, "the core's series")

      yield* Metric.update(requests, 3)
      yield* Metric.update(temperature, 21.5)
      for (const v of [0.05, 0.5, 5]) yield* Metric.update(latency, v)
      for (let v = 1; v <= 10; v++) yield* Metric.update(payload, v)
      for (const s of ["200", "200", "404"]) yield* Metric.update(statuses, s)
      yield* Metric.update(tagged, 2)
      yield* Metric.update(collidingGauge, 12345)
      yield* Metric.update(collidingCounter, 999)
      yield* Metric.update(collidingTotal, 999)
      yield* Metric.update(collidingCore, 999)
      assert.isTrue(hostRegistry.size >= 10, "the metrics registered in the server's registry")

      const text = (yield* request("/metrics")).text
      assertText(text)
      assert.lengthOf(typeLines(text, "host_requests_total"), 1)
      assert.include(text, "# TYPE host_requests_total counter\n")
      assert.include(text, "# HELP host_requests_total Requests the host app handled\n")
      assert.strictEqual(valueOf(text, "host_requests_total"), 3)
      assert.include(text, "# TYPE host_temperature_celsius gauge\n")
      assert.strictEqual(valueOf(text, "host_temperature_celsius"), 21.5)
      assert.include(text, "# TYPE host_latency_seconds histogram\n")
      assert.strictEqual(valueOf(text, "host_latency_seconds_bucket", { le: "0.1" }), 1)
      assert.strictEqual(valueOf(text, "host_latency_seconds_bucket", { le: "1" }), 2)
      assert.strictEqual(valueOf(text, "host_latency_seconds_bucket", { le: "+Inf" }), 3)
      assert.strictEqual(valueOf(text, "host_latency_seconds_count"), 3)
      assert.closeTo(valueOf(text, "host_latency_seconds_sum") ?? NaN, 5.55, 1e-9)
      assert.include(text, "# TYPE host_payload_bytes summary\n")
      assert.strictEqual(valueOf(text, "host_payload_bytes_count"), 10)
      assert.strictEqual(valueOf(text, "host_payload_bytes_sum"), 55)
      assert.isDefined(valueOf(text, "host_payload_bytes", { quantile: "0.5" }))
      assert.isDefined(valueOf(text, "host_payload_bytes", { quantile: "0.9" }))
      assert.include(text, "# TYPE host_status_total counter\n")
      assert.strictEqual(valueOf(text, "host_status_total", { key: "200" }), 2)
      assert.strictEqual(valueOf(text, "host_status_total", { key: "404" }), 1)
      assert.strictEqual(valueOf(text, "host_jobs_total", { queue: "mail" }), 2)

      // Colliding names: percore's family appears once, with percore's values.
      assert.lengthOf(typeLines(text, "percore_series"), 1)
      assert.include(text, "# TYPE percore_series gauge\n")
      assert.lengthOf(samplesOf(text).filter((s) => s.name === "percore_series"), 1)
      assert.notStrictEqual(valueOf(text, "percore_series"), 12345)
      assert.lengthOf(typeLines(text, "percore_core_up"), 1)
      assert.include(text, "# TYPE percore_core_up gauge\n")
      assert.isFalse(samplesOf(text).some((s) => s.value === 12345 || s.value === 999), "no colliding Effect sample rendered")
      assert.strictEqual(valueOf(text, "percore_core_up", { core: "0" }), 1)
      assert.lengthOf(typeLines(text, "percore_ring_delivered_total"), 1)
      assert.lengthOf(typeLines(text, "http_test_requests_total"), 1)
      assert.strictEqual(valueOf(text, "http_test_requests_total", { route: "/a" }), 1)

      // OpenMetrics: the same families, counters under their family name.
      const om = (yield* request("/metrics", { headers: { accept: PROMETHEUS_ACCEPT } })).text
      assertOpenMetrics(om)
      assert.include(om, "# TYPE host_requests counter\n")
      assert.strictEqual(valueOf(om, "host_requests_total"), 3)
      assert.include(om, "# TYPE host_status counter\n")
      assert.include(om, "# TYPE host_latency_seconds histogram\n")
      assert.include(om, "# TYPE host_payload_bytes summary\n")
      assert.lengthOf(typeLines(om, "percore_series"), 1)
      assert.isFalse(samplesOf(om).some((s) => s.value === 12345 || s.value === 999))

      // Updated again: a later scrape sees the new values.
      yield* Metric.update(requests, 4)
      assert.strictEqual(valueOf((yield* request("/metrics")).text, "host_requests_total"), 7)
    }))
})

describe("host Effect metrics whose names map to one family", () => {
  // `x` and `x_total` are both the counter family `x`; `a.b` and `a_b` both sanitize to `a_b`. Each name may be
  // rendered once per label set: a second series with the same labels is a duplicate sample, an invalid
  // exposition (Prometheus rejects or drops it). The later metric must be left out, like any other collision.
  it.live("are rendered once per label set, never as duplicate samples", () =>
    Effect.gen(function*() {
      yield* Metric.update(Metric.counter("host_dup_total", { description: "first" }), 1)
      yield* Metric.update(Metric.counter("host_dup", { description: "second" }), 2)
      yield* Metric.update(Metric.gauge("host.dotted", { description: "first" }), 3)
      yield* Metric.update(Metric.gauge("host_dotted", { description: "second" }), 4)
      yield* Metric.update(Metric.counter("host_split_total", { attributes: { shard: "a" } }), 5)
      yield* Metric.update(Metric.counter("host_split_total", { attributes: { shard: "b" } }), 6)
      const text = (yield* request("/metrics")).text
      for (const name of ["host_dup_total", "host_dotted"]) {
        assert.lengthOf(typeLines(text, name), 1, name)
        assert.lengthOf(samplesOf(text).filter((s) => s.name === name), 1, `one ${name} sample, got:\n${text}`)
      }
      // One metric with several attribute sets is one family with one series per set.
      assert.lengthOf(typeLines(text, "host_split_total"), 1)
      assert.strictEqual(valueOf(text, "host_split_total", { shard: "a" }), 5)
      assert.strictEqual(valueOf(text, "host_split_total", { shard: "b" }), 6)
    }).pipe(Effect.provide(serverLayer({ PERCORE_CORES: "0" }))))
})

describe("readiness with real cores", () => {
  it.live("/readyz is 503 while the core module loads, 200 once it is up; /healthz is 200 throughout", () =>
    Effect.gen(function*() {
      yield* coreMode({ HTTP_CORE_MODE: "slow-start", HTTP_CORE_START_DELAY_MS: "600" })
      yield* Effect.gen(function*() {
        const starting = yield* request("/readyz")
        assert.strictEqual(starting.status, 503)
        assert.strictEqual(starting.text, "not ready\ncore 0: starting\ncore 1: starting\n")
        assert.strictEqual((yield* request("/healthz")).status, 200)
        const scrape = yield* request("/metrics")
        assert.strictEqual(scrape.status, 200, "a scrape while cores start is served")
        assertText(scrape.text)
        const dataPlane = yield* DataPlane
        yield* until(() => dataPlane.ready(), "the cores to be up")
        const up = yield* request("/readyz")
        assert.strictEqual(up.status, 200)
        assert.strictEqual(up.text, "ready\ncore 0: up\ncore 1: up\n")
        assert.strictEqual(valueOf((yield* request("/metrics")).text, "percore_core_up", { core: "1" }), 1)
      }).pipe(Effect.provide(serverLayer({ PERCORE_CORES: "2" })))
    }))

  // A core that returned has finished its work: its totals stay in the aggregate and keep being served, and
  // it is never restarted, so nothing is pending. The control plane is fully able to serve scrapes, so the
  // service is ready (a core that is starting or crashed, awaiting restart, is not). This is also how
  // host-created cores behave: `releaseCore` removes a finished core from readiness.
  it.live("/readyz stays 200 after the cores finish (finished is a final, healthy state)", () =>
    Effect.gen(function*() {
      yield* coreMode({ HTTP_CORE_MODE: "finish", HTTP_CORE_COUNT: "500" })
      yield* Effect.gen(function*() {
        const dataPlane = yield* DataPlane
        yield* until(() => dataPlane.cores().every((c) => c.state === "finished"), "the cores to finish")
        const scrape = (yield* request("/metrics")).text
        assert.strictEqual(valueOf(scrape, "http_test_requests_total", { route: "/a" }), 1000, "a finished core's totals are kept")
        assert.strictEqual(valueOf(scrape, "percore_core_up", { core: "0" }), 0)
        const readyz = yield* request("/readyz")
        assert.strictEqual(readyz.text, "ready\ncore 0: finished\ncore 1: finished\n")
        assert.strictEqual(readyz.status, 200)
      }).pipe(Effect.provide(serverLayer({ PERCORE_CORES: "2" })))
    }))
})

describe("scrape freshness", () => {
  it.live("the first scrape after the cores recorded sees everything they recorded (flush + drain first)", () =>
    Effect.gen(function*() {
      const outDir = mkdtempSync(join(tmpdir(), "percore-http-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(outDir, { recursive: true, force: true })))
      const count = 25_000
      yield* coreMode({ HTTP_CORE_MODE: "known-total", HTTP_CORE_COUNT: String(count), HTTP_CORE_OUT_DIR: outDir })
      yield* Effect.gen(function*() {
        const aggregate = yield* Aggregate
        yield* until(() => existsSync(join(outDir, "core-0.done")) && existsSync(join(outDir, "core-1.done")), "the cores to record")
        // Neither the cores' timers (1 hour) nor the Drainer's schedule (1 hour) moved anything yet.
        assert.isUndefined(aggregate.find("http_test_requests_total", { route: "/a" }), "nothing reached the aggregate before the scrape")
        const text = (yield* request("/metrics")).text
        assert.strictEqual(valueOf(text, "http_test_requests_total", { route: "/a" }), 2 * count)
        assert.strictEqual(valueOf(text, "http_test_latency_seconds_bucket", { le: "0.1" }), count)
        assert.strictEqual(valueOf(text, "http_test_latency_seconds_bucket", { le: "+Inf" }), 2 * count)
        assert.strictEqual(valueOf(text, "http_test_latency_seconds_count"), 2 * count)
        assert.closeTo(valueOf(text, "http_test_latency_seconds_sum") ?? NaN, 2 * (count / 2) * (0.05 + 0.5), 1e-6)
        assert.strictEqual(valueOf(text, "http_test_queue_depth", { core: "0" }), 7)
        assert.strictEqual(valueOf(text, "http_test_queue_depth", { core: "1" }), 8)
        assert.strictEqual(valueOf(text, "percore_ring_dropped_total", { core: "0" }), 0)
      }).pipe(Effect.provide(serverLayer({
        PERCORE_CORES: "2",
        PERCORE_FLUSH_INTERVAL: "1 hour",
        PERCORE_DRAIN_INTERVAL: "1 hour",
        PERCORE_SCRAPE_FLUSH_WAIT: "5 seconds"
      })))
    }))
})

describe("the real process while it starts", () => {
  // Node starts listening before the routes are attached, and holds a request nobody listens for forever: every
  // request from the first accepted connection on must be answered (503 + Retry-After until percore's handler
  // is attached), never held.
  it.live("every request is answered from the first accepted connection on: 503 until the handler is attached", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const child = yield* spawnChild("percore", process.execPath, ["src/main.ts"], {
        cwd: repoRoot,
        env: { ...process.env, PERCORE_HOST: "127.0.0.1", PERCORE_PORT: String(port), PERCORE_CORES: "2" }
      })
      const statuses: Array<number> = []
      const deadline = Date.now() + 20_000
      while (!statuses.includes(200)) {
        if (Date.now() > deadline || child.exited() !== undefined) return assert.fail(`no 200 from /healthz: ${child.describe()}`)
        const answer = yield* Effect.promise(() =>
          fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5_000) }).then(
            (r) => ({ status: r.status, retryAfter: r.headers.get("retry-after") }),
            (e: unknown) => ({ status: -1, retryAfter: null, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) })
          )
        )
        if (answer.status === -1) {
          // Refused (not listening yet) is fine; a request the server accepted and never answered is not.
          assert.notInclude("error" in answer ? answer.error : "", "TimeoutError", `a request was held: ${child.describe()}`)
          yield* Effect.sleep("2 millis")
          continue
        }
        statuses.push(answer.status)
        assert.include([200, 503], answer.status)
        if (answer.status === 503) assert.strictEqual(answer.retryAfter, "1")
      }
    }), 40_000)
})
