/**
 * The HTTP surface under hostile or careless clients, against the real process (`src/main.ts`) on
 * 127.0.0.1: authentication, the scrape concurrency limit, Node's server limits, and a fuzz of
 * malformed requests. After every abuse the server must still answer. And the guard's credential check on its own.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import { spawn } from "node:child_process"
import { connect } from "node:net"
import { makeAuthenticator } from "../src/http/guard.ts"
import { repoRoot, startPercore } from "./support/e2e.ts"


/** The real service (`src/main.ts`, one core unless `env` says otherwise), ready, stopped with the scope. */
const startPercoreWith = (env: Record<string, string>) =>
  Effect.map(startPercore({ PERCORE_CORES: "1", ...env }), ({ child, port }) => ({
    port,
    child: child.process,
    output: () => child.stdout() + child.stderr()
  }))

/** Sends raw bytes, returns what came back before the server closed or `waitMs` passed. */
const raw = (port: number, request: string | Buffer, waitMs = 2000) =>
  Effect.promise(() =>
    new Promise<string>((resolve) => {
      const socket = connect(port, "127.0.0.1")
      let response = ""
      const done = () => {
        socket.destroy()
        resolve(response)
      }
      let settle: ReturnType<typeof setTimeout> | undefined
      socket.on("data", (d) => {
        response += d.toString("latin1")
        settle ??= setTimeout(done, 100) // the status line is in the first chunk; keep-alive would hold the socket
      })
      socket.on("error", done)
      socket.on("close", done)
      socket.setTimeout(waitMs, done)
      socket.write(request)
    })
  )

const statusOf = (response: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0)

const get = (port: number, path: string, headers: Record<string, string> = {}) =>
  Effect.promise(() => fetch(`http://127.0.0.1:${port}${path}`, { headers }))

describe("the guard's authenticator", () => {
  const secret = (value: string) => Option.some(Redacted.make(value))
  const basic = (credentials: string) => `Basic ${Buffer.from(credentials, "utf8").toString("base64")}`

  it("accepts exactly the configured bearer token or basic credentials; the challenge names both schemes", () => {
    const auth = makeAuthenticator({ token: secret("s3cret"), user: secret("ops"), password: secret("pa:ss") })
    assert.isFalse(auth.open)
    assert.strictEqual(auth.challenge, `Bearer realm="percore", Basic realm="percore", charset="UTF-8"`)
    for (const good of ["Bearer s3cret", "bearer s3cret", "Bearer  s3cret ", basic("ops:pa:ss"), `BASIC ${basic("ops:pa:ss").slice(6)}`]) {
      assert.isTrue(auth.check(good), good)
    }
    const bad = [undefined, "", "Bearer", "Bearer s3cre", "Bearer s3cret2", "Token s3cret", `Bearer ${basic("ops:pa:ss").slice(6)}`, basic("ops:pa"), basic("ops:pa:ss2"), "Basic s3cret"]
    for (const header of bad) assert.isFalse(auth.check(header), String(header))
  })

  it("is open without credentials; one scheme configured challenges with that scheme only", () => {
    const open = makeAuthenticator({ token: Option.none(), user: Option.none(), password: Option.none() })
    assert.isTrue(open.open)
    assert.isTrue(open.check(undefined))
    const bearerOnly = makeAuthenticator({ token: secret("s3cret"), user: Option.none(), password: Option.none() })
    assert.strictEqual(bearerOnly.challenge, `Bearer realm="percore"`)
    assert.isFalse(bearerOnly.check(basic("ops:pa:ss")))
    const basicOnly = makeAuthenticator({ token: Option.none(), user: secret("ops"), password: secret("pa:ss") })
    assert.strictEqual(basicOnly.challenge, `Basic realm="percore", charset="UTF-8"`)
    assert.isFalse(basicOnly.check("Bearer s3cret"))
    assert.isTrue(basicOnly.check(basic("ops:pa:ss")))
  })
})

/** Runs the real service with `env`; resolves with its exit code and output once it exits (or after 60 s). */
const runToExit = (env: Record<string, string>) =>
  new Promise<{ readonly code: number | null; readonly output: string }>((resolve) => {
    const child = spawn(process.execPath, ["src/main.ts"], {
      cwd: repoRoot,
      env: { ...process.env, PERCORE_CORES: "0", PERCORE_HOST: "127.0.0.1", PERCORE_PORT: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (d: Buffer) => (output += d.toString("utf8")))
    child.stderr.on("data", (d: Buffer) => (output += d.toString("utf8")))
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.on("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, output: output.trim() })
    })
  })

describe("settings that cannot work stop the real service at start", () => {
  it.live("half-set, empty or blank credentials and impossible limits: exit 1 with one line naming the variable", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
        [{ PERCORE_AUTH_USER: "admin" }, "PERCORE_AUTH_USER is set but PERCORE_AUTH_PASSWORD is not"],
        [{ PERCORE_AUTH_PASSWORD: "pa:ss" }, "PERCORE_AUTH_PASSWORD is set but PERCORE_AUTH_USER is not"],
        [{ PERCORE_AUTH_USER: "admin", PERCORE_AUTH_PASSWORD: "" }, "PERCORE_AUTH_PASSWORD is set but empty"],
        [{ PERCORE_AUTH_TOKEN: "" }, "PERCORE_AUTH_TOKEN is set but empty"],
        [{ PERCORE_AUTH_TOKEN: "   " }, "PERCORE_AUTH_TOKEN: expected a non-empty value"],
        [{ PERCORE_INTERN_LOG_BYTES: "256" }, "PERCORE_INTERN_LOG_BYTES: expected at least 1024 bytes"],
        [{ PERCORE_MAX_PAGE_BYTES: "1000" }, "PERCORE_MAX_PAGE_BYTES: expected a number of bytes from 65536"],
        [{ PERCORE_MAX_HISTOGRAM_BUCKETS: "0" }, "PERCORE_MAX_HISTOGRAM_BUCKETS: expected a number of buckets from 1"],
        [{ PERCORE_MAX_LABEL_VALUE_BYTES: "10" }, "PERCORE_MAX_LABEL_VALUE_BYTES: expected a number of bytes from 64"],
        [{ PERCORE_SEND_STALL_TIMEOUT: "0s" }, "PERCORE_SEND_STALL_TIMEOUT: expected"]
      ]
      const results = yield* Effect.forEach(cases, ([env]) => Effect.promise(() => runToExit(env)), { concurrency: 3 })
      cases.forEach(([env, message], i) => {
        const { code, output } = results[i]!
        assert.strictEqual(code, 1, `${JSON.stringify(env)}: ${output}`)
        assert.include(output, message, JSON.stringify(env))
        assert.strictEqual(output.split("\n").length, 1, output)
        assert.notInclude(output, "serving")
      })
    }), 180_000)
})

describe("HTTP security and limits (real process)", () => {
  it.live("authentication: 401 with a challenge, bearer and basic accepted, secrets never logged", () =>
    Effect.gen(function*() {
      const token = "t0ken-very-secret-4f9a"
      const { port, output } = yield* startPercoreWith({
        PERCORE_AUTH_TOKEN: token,
        PERCORE_AUTH_USER: "prom",
        PERCORE_AUTH_PASSWORD: "pa:ss"
      })
      const denied = yield* get(port, "/metrics")
      assert.strictEqual(denied.status, 401)
      assert.include(denied.headers.get("www-authenticate") ?? "", "Bearer realm=\"percore\"")
      assert.include(denied.headers.get("www-authenticate") ?? "", "Basic realm=\"percore\"")
      assert.strictEqual((yield* get(port, "/metrics", { authorization: "Bearer wrong" })).status, 401)
      assert.strictEqual((yield* get(port, "/metrics", { authorization: `Bearer ${token}x` })).status, 401)
      assert.strictEqual((yield* get(port, "/metrics", { authorization: "Basic " + Buffer.from("prom:nope").toString("base64") })).status, 401)
      assert.strictEqual((yield* get(port, "/metrics", { authorization: "Digest abc" })).status, 401)
      assert.strictEqual((yield* get(port, "/metrics", { authorization: `Bearer ${token}` })).status, 200)
      assert.strictEqual((yield* get(port, "/metrics", { authorization: "Basic " + Buffer.from("prom:pa:ss").toString("base64") })).status, 200)
      assert.strictEqual((yield* get(port, "/healthz")).status, 200, "health checks stay open")
      assert.notInclude(output(), token)
      assert.notInclude(output(), "pa:ss")
    }))

  it.live("binding beyond loopback without authentication logs a warning", () =>
    Effect.gen(function*() {
      const { output } = yield* startPercoreWith({ PERCORE_HOST: "0.0.0.0" })
      assert.include(output(), "without authentication")
    }))

  it.live("at most N scrapes render at once; the rest get 503 with Retry-After, and the server keeps serving", () =>
    Effect.gen(function*() {
      // A core that never yields never answers flush requests, so every scrape waits its full flush wait.
      const { port } = yield* startPercoreWith({
        PERCORE_WORKER: "test/fixtures/spin-core.ts",
        PERCORE_MAX_SCRAPES_IN_FLIGHT: "1",
        PERCORE_SCRAPE_FLUSH_WAIT: "1500 millis"
      })
      const first = Effect.runPromise(get(port, "/metrics"))
      yield* Effect.sleep("300 millis")
      const second = yield* get(port, "/metrics")
      assert.strictEqual(second.status, 503)
      assert.strictEqual(second.headers.get("retry-after"), "1")
      assert.strictEqual((yield* Effect.promise(() => first)).status, 200)
      assert.strictEqual((yield* get(port, "/metrics")).status, 200, "the slot is free again")
      // Clients that hang up mid-scrape must not leak the slot (or /metrics would answer 503 for good).
      for (let i = 0; i < 3; i++) {
        const controller = new AbortController()
        const aborted = fetch(`http://127.0.0.1:${port}/metrics`, { signal: controller.signal }).catch(() => undefined)
        yield* Effect.sleep("200 millis")
        controller.abort()
        yield* Effect.promise(() => aborted)
        yield* Effect.sleep("1600 millis")
      }
      assert.strictEqual((yield* get(port, "/metrics")).status, 200, "no slot leaked by hung-up clients")
    }))

  it.live("slow and oversized clients are cut off by Node's limits, and the server keeps serving", () =>
    Effect.gen(function*() {
      const { port } = yield* startPercoreWith({ PERCORE_HEADERS_TIMEOUT: "500 millis", PERCORE_REQUEST_TIMEOUT: "1 second" })
      const started = Date.now()
      const slow = yield* raw(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n", 5000) // headers never finish
      assert.isBelow(Date.now() - started, 4500, "a client that never finishes its headers is closed")
      assert.include([0, 408], statusOf(slow))
      const huge = yield* raw(port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(64 * 1024)}\r\n\r\n`)
      assert.strictEqual(statusOf(huge), 431)
      const body = yield* raw(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
      assert.strictEqual(statusOf(body), 400, "requests with bodies are refused")
      assert.strictEqual((yield* get(port, "/healthz")).status, 200)
    }))

  it.live("fuzz: malformed requests all get a proper status, and the server keeps serving", () =>
    Effect.gen(function*() {
      const { port, child } = yield* startPercoreWith({})
      const requests: Array<[string, ReadonlyArray<number>]> = [
        ["BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n", [400, 404, 405]],
        ["GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n", [400, 505]],
        ["GET  HTTP/1.1\r\n\r\n", [400]],
        ["\x00\x01\x02garbage\r\n\r\n", [400]],
        ["GET /metrics HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", [400]],
        ["GET //metrics HTTP/1.1\r\nHost: x\r\n\r\n", [200]],
        ["GET /METRICS HTTP/1.1\r\nHost: x\r\n\r\n", [404]],
        ["GET /metrics/../x HTTP/1.1\r\nHost: x\r\n\r\n", [404]],
        ["GET /%6Detrics HTTP/1.1\r\nHost: x\r\n\r\n", [200]],
        ["GET /metrics%00 HTTP/1.1\r\nHost: x\r\n\r\n", [404]],
        ["GET /%ZZ HTTP/1.1\r\nHost: x\r\n\r\n", [400, 404]],
        ["GET /metrics?x=%ZZ HTTP/1.1\r\nHost: x\r\n\r\n", [200, 400]],
        ["GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: ;;;,,q=abc,*/*;q=-1,application/openmetrics-text;version=\r\n\r\n", [200]],
        ["GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip;q=nan, br;q=2\r\n\r\n", [200]],
        ["DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n", [405]],
        ["OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", [400, 404, 405]],
        [`GET /${"a".repeat(8000)} HTTP/1.1\r\nHost: x\r\n\r\n`, [404, 414, 431]],
        ["GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", [400]]
      ]
      let seed = 42
      const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
      for (let i = 0; i < 30; i++) {
        const bytes = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 200) }, () => Math.floor(random() * 256)))
        requests.push([`GET /metrics HTTP/1.1\r\nHost: x\r\nX-Fuzz: ${bytes.toString("latin1").replace(/[\r\n]/g, "")}\r\n\r\n`, [200, 400]])
      }
      for (const [request, allowed] of requests) {
        const response = yield* raw(port, request)
        assert.include(allowed, statusOf(response), `${JSON.stringify(request.slice(0, 60))} → ${JSON.stringify(response.slice(0, 40))}`)
      }
      assert.isNull(child.exitCode, "the server is still running")
      assert.strictEqual((yield* get(port, "/metrics")).status, 200)
    }))
})
