/**
 * examples/compose/main.ts as a real child process: an Effect app with its own route and metric that adds
 * percore to its server. Its /hello counter and percore's families share one /metrics, and SIGTERM stops it
 * cleanly (exit code 0).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { request as httpRequest } from "node:http"
import { createServer } from "node:net"

/** A port that was free a moment ago: listen on 0, read it, close. */
const freePort = Effect.callback<number>((resume) => {
  const server = createServer()
  server.on("error", (error) => resume(Effect.die(error)))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

interface Reply {
  readonly status: number
  readonly text: string
}

/** One GET on a fresh connection; a connection error is a value (the server may not listen yet). */
const get = (port: number, path: string, headers: Record<string, string> = {}) =>
  Effect.callback<Reply | Error>((resume) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () => resume(Effect.succeed({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") })))
      res.on("error", (error) => resume(Effect.succeed(error)))
    })
    req.on("error", (error) => resume(Effect.succeed(error)))
    req.end()
    return Effect.sync(() => req.destroy())
  })

const getOk = (port: number, path: string, headers: Record<string, string> = {}) =>
  Effect.flatMap(get(port, path, headers), (reply) => {
    if (reply instanceof Error) return Effect.die(reply)
    assert.strictEqual(reply.status, 200, `GET ${path}: ${reply.text}`)
    return Effect.succeed(reply.text)
  })

/** The example as a child process, killed (SIGKILL) by the finalizer if it is still running. */
const launch = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      // `percore-source`: the import of "percore" resolves to the sources, not the built dist/.
      const child = spawn(process.execPath, ["--conditions=percore-source", "examples/compose/main.ts"], {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
      child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once("exit", (code, signal) => resolve({ code, signal }))
      )
      return { child, exited, output: () => output }
    }),
    ({ child }) => Effect.sync(() => void (child.exitCode === null && child.signalCode === null && child.kill("SIGKILL")))
  )

const waitUntilReady = (port: number, child: ChildProcess, output: () => string, timeoutMs = 15_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (true) {
      if (child.exitCode !== null || child.signalCode !== null) {
        return assert.fail(`the example exited early (${child.exitCode ?? child.signalCode}):\n${output()}`)
      }
      const reply = yield* get(port, "/readyz")
      if (!(reply instanceof Error) && reply.status === 200) return
      if (Date.now() > deadline) return assert.fail(`the example did not get ready:\n${output()}`)
      yield* Effect.sleep("25 millis")
    }
  })

const valueOf = (text: string, line: RegExp): number | undefined => {
  const match = line.exec(text)
  return match?.[1] === undefined ? undefined : Number(match[1])
}

describe("examples/compose", () => {
  it.live("the app's own counter and percore's families share /metrics; SIGTERM exits 0", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const { child, exited, output } = yield* launch({
        APP_PORT: String(port),
        APP_HOST: "127.0.0.1",
        PERCORE_CORES: "1",
        PERCORE_DEMO_RATE: "500"
      })
      yield* waitUntilReady(port, child, output)

      for (let i = 0; i < 3; i++) assert.strictEqual(yield* getOk(port, "/hello"), "hello\n")

      const text = yield* getOk(port, "/metrics")
      assert.include(text, "# TYPE app_hello_requests_total counter\n")
      assert.strictEqual(valueOf(text, /^app_hello_requests_total (\S+)$/m), 3)
      assert.strictEqual(valueOf(text, /^percore_core_up\{core="0"\} (\S+)$/m), 1)
      assert.include(text, "# TYPE percore_ring_delivered_total counter\n")
      assert.include(text, "# TYPE demo_http_requests_total counter\n", "the core's own series")
      const openMetrics = yield* getOk(port, "/metrics", { accept: "application/openmetrics-text;version=1.0.0" })
      assert.include(openMetrics, "# TYPE app_hello_requests counter\n")
      assert.isTrue(openMetrics.endsWith("# EOF\n"))

      assert.isTrue(child.kill("SIGTERM"))
      const exit = yield* Effect.promise(() => exited).pipe(
        Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.succeed({ code: null, signal: null }) })
      )
      assert.deepStrictEqual(exit, { code: 0, signal: null }, `exit after SIGTERM; output:\n${output()}`)
      assert.notInclude(output(), "Error", "a clean stop logs no error")
      // The app's own requests are logged; scrapes and probes (every few seconds) are not.
      assert.include(output(), "'http.url': '/hello'")
      for (const path of ["/metrics", "/readyz"]) assert.notInclude(output(), `'http.url': '${path}'`, `no request log for ${path}`)
    }))
})
