/**
 * The guard every percore route stands behind, shared by `/metrics` (MetricsHttp) and the dashboard, so neither
 * arranges these itself:
 *
 * - methods: GET and HEAD only, anything else gets `405` with `Allow: GET, HEAD`;
 * - request bodies: refused with `400` where a route says so (a scrape never has one);
 * - authentication: when a bearer token or basic-auth credentials are configured, a request without them gets
 *   `401` with a `WWW-Authenticate` challenge naming each accepted scheme (a browser prompts for basic auth).
 *   Credentials are compared in constant time (SHA-256 of both sides, then `timingSafeEqual`) and never logged;
 *   /healthz and /readyz reveal nothing and stay open for orchestrators;
 * - compression: `respond` gzips a body when the client accepts it, and always sends `Vary: Accept-Encoding`.
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { promisify } from "node:util"
import { gzip as gzipCallback, gzipSync } from "node:zlib"
import { Effect, Option, Redacted } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { acceptsGzip } from "../exposition/index.ts"

const gzip = promisify(gzipCallback)

/**
 * Bodies up to this size are gzipped on the calling thread: about a millisecond at level 1 (a 10k-series page), no
 * longer than a render step, and without the thread-pool round trip and stream objects of the asynchronous call.
 * Larger ones go to the thread pool, so the event loop is never held for long.
 */
const SYNC_GZIP_BYTES = 1024 * 1024
const GZIP_CHUNK_BYTES = 128 * 1024

const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest()

/** Constant-time string equality (hashing first makes the time independent of lengths too). */
const safeEqual = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b))

/** The credentials a deployment may configure (`PERCORE_AUTH_TOKEN`, `PERCORE_AUTH_USER` / `PERCORE_AUTH_PASSWORD`). */
export interface Credentials {
  readonly token: Option.Option<Redacted.Redacted<string>>
  readonly user: Option.Option<Redacted.Redacted<string>>
  readonly password: Option.Option<Redacted.Redacted<string>>
}

export interface Authenticator {
  /** True when no credentials are configured. */
  readonly open: boolean
  /** Checks an `Authorization` header. */
  readonly check: (authorization: string | undefined) => boolean
  /** The `WWW-Authenticate` challenge for a 401. */
  readonly challenge: string
}

export const makeAuthenticator = (config: Credentials): Authenticator => {
  const token = Option.map(config.token, Redacted.value)
  const basic = Option.isSome(config.user) && Option.isSome(config.password)
    ? Option.some(`${Redacted.value(config.user.value)}:${Redacted.value(config.password.value)}`)
    : Option.none<string>()
  const challenges = [
    ...(Option.isSome(token) ? [`Bearer realm="percore"`] : []),
    ...(Option.isSome(basic) ? [`Basic realm="percore", charset="UTF-8"`] : [])
  ]
  return {
    open: Option.isNone(token) && Option.isNone(basic),
    challenge: challenges.join(", "),
    check: (authorization) => {
      if (Option.isNone(token) && Option.isNone(basic)) return true
      if (authorization === undefined) return false
      const space = authorization.indexOf(" ")
      const scheme = authorization.slice(0, space).toLowerCase()
      const credentials = authorization.slice(space + 1).trim()
      if (scheme === "bearer" && Option.isSome(token)) return safeEqual(credentials, token.value)
      if (scheme === "basic" && Option.isSome(basic)) {
        return safeEqual(Buffer.from(credentials, "base64").toString("utf8"), basic.value)
      }
      return false
    }
  }
}

export type Handler<E, R> = (
  request: HttpServerRequest.HttpServerRequest
) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>

export interface GuardOptions {
  /** Whether the route wants the configured credentials (default: it does). */
  readonly authenticate?: boolean
  /** When set, a request with a body is refused with `400` and this message (default: bodies are ignored). */
  readonly refuseBody?: string
}

export interface Guard {
  /** True when no credentials are configured. */
  readonly open: boolean
  /** The handler behind the guard: method, then body, then credentials are checked, in that order. */
  readonly route: <E, R>(
    handler: Handler<E, R>,
    options?: GuardOptions
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest>
}

const methodNotAllowed = HttpServerResponse.text("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } })

export const makeGuard = (credentials: Credentials): Guard => {
  const auth = makeAuthenticator(credentials)
  const unauthorized = HttpServerResponse.text("unauthorized\n", { status: 401, headers: { "www-authenticate": auth.challenge } })
  return {
    open: auth.open,
    route: (handler, options = {}) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        if (request.method !== "GET" && request.method !== "HEAD") return Effect.succeed(methodNotAllowed)
        if (options.refuseBody !== undefined && hasBody(request.headers)) {
          return Effect.succeed(HttpServerResponse.text(`${options.refuseBody}\n`, { status: 400 }))
        }
        if ((options.authenticate ?? true) && !auth.check(request.headers["authorization"])) return Effect.succeed(unauthorized)
        return handler(request)
      })
  }
}

const hasBody = (headers: Readonly<Record<string, string | undefined>>): boolean => {
  const length = headers["content-length"]
  return (length !== undefined && length !== "0") || headers["transfer-encoding"] !== undefined
}

export interface RespondOptions {
  readonly contentType: string
  readonly headers?: Readonly<Record<string, string>>
  /** Request headers besides `Accept-Encoding` that chose this body (listed in `Vary`). */
  readonly varyOn?: ReadonlyArray<string>
  /** Bodies of at most this many bytes are sent as they are (small ones gain nothing); default: any is gzipped. */
  readonly gzipAbove?: number
  /** zlib compression level (default: zlib's, 6). */
  readonly gzipLevel?: number
}

/** A `200` with `body`, gzipped when the request accepts gzip (and the body is long enough), and the bytes it sends. */
export const respondWith = (
  request: HttpServerRequest.HttpServerRequest,
  body: Uint8Array,
  options: RespondOptions
): Effect.Effect<{ readonly response: HttpServerResponse.HttpServerResponse; readonly sent: Uint8Array }> => {
  const compress = (options.gzipAbove === undefined || body.length > options.gzipAbove) && acceptsGzip(request.headers["accept-encoding"])
  const vary = options.varyOn === undefined ? "Accept-Encoding" : `${options.varyOn.join(", ")}, Accept-Encoding`
  const reply = (sent: Uint8Array) => ({
    response: HttpServerResponse.uint8Array(sent, {
      contentType: options.contentType,
      headers: compress ? { ...options.headers, vary, "content-encoding": "gzip" } : { ...options.headers, vary }
    }),
    sent
  })
  if (!compress) return Effect.succeed(reply(body))
  // A big body's compressed bytes in 128 KiB output chunks (one for a page up to about a megabyte): fewer buffers to
  // concatenate; small bodies keep zlib's 16 KiB chunks.
  const chunkSize = body.length > 2 * GZIP_CHUNK_BYTES ? GZIP_CHUNK_BYTES : undefined
  const zlibOptions = { ...(options.gzipLevel === undefined ? {} : { level: options.gzipLevel }), ...(chunkSize === undefined ? {} : { chunkSize }) }
  if (body.length <= SYNC_GZIP_BYTES) return Effect.sync(() => reply(gzipSync(body, zlibOptions)))
  return Effect.map(Effect.promise(() => gzip(body, zlibOptions)), reply)
}

/** A `200` with `body`, gzipped when the request accepts gzip (and the body is long enough). */
export const respond = (request: HttpServerRequest.HttpServerRequest, body: Uint8Array, options: RespondOptions) =>
  Effect.map(respondWith(request, body, options), ({ response }) => response)
