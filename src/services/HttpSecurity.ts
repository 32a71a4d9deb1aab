/**
 * The HTTP surface's limits and optional authentication, as named settings (client_golang's promhttp
 * style: every limit is an option with a deliberate default).
 *
 * | variable | default | |
 * |---|---|---|
 * | PERCORE_MAX_SCRAPES_IN_FLIGHT | 8 | scrapes rendering at once; more get `503` + `Retry-After` |
 * | PERCORE_AUTH_TOKEN | — | bearer token required on the metrics path (read as `Config.Redacted`) |
 * | PERCORE_AUTH_USER / PERCORE_AUTH_PASSWORD | — | basic-auth credentials, same |
 * | PERCORE_HEADERS_TIMEOUT | 10 seconds | slow clients must send their headers within this |
 * | PERCORE_REQUEST_TIMEOUT | 30 seconds | a whole request must arrive within this |
 * | PERCORE_KEEP_ALIVE_TIMEOUT | 30 seconds | idle keep-alive connections close after this |
 * | PERCORE_MAX_HEADER_SIZE | 16384 bytes | larger request headers get `431` |
 *
 * Credentials are compared in constant time (SHA-256 of both sides, then `timingSafeEqual`), never
 * logged, and only /metrics is protected: /healthz and /readyz reveal nothing and must stay usable
 * by orchestrators.
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { Config, Duration, Option, Redacted } from "effect"

export const SecurityConfig = Config.all({
  maxScrapesInFlight: Config.Int("PERCORE_MAX_SCRAPES_IN_FLIGHT").pipe(Config.withDefault(8)),
  token: Config.Redacted("PERCORE_AUTH_TOKEN").pipe(Config.option),
  user: Config.Redacted("PERCORE_AUTH_USER").pipe(Config.option),
  password: Config.Redacted("PERCORE_AUTH_PASSWORD").pipe(Config.option)
})

export const ServerLimitsConfig = Config.all({
  headersTimeout: Config.Duration("PERCORE_HEADERS_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10))),
  requestTimeout: Config.Duration("PERCORE_REQUEST_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30))),
  keepAliveTimeout: Config.Duration("PERCORE_KEEP_ALIVE_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30))),
  maxHeaderSize: Config.Int("PERCORE_MAX_HEADER_SIZE").pipe(Config.withDefault(16 * 1024))
})

const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest()

/** Constant-time string equality (hashing first makes the time independent of lengths too). */
export const safeEqual = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b))

export interface Authenticator {
  /** True when no credentials are configured. */
  readonly open: boolean
  /** Checks an `Authorization` header. */
  readonly check: (authorization: string | undefined) => boolean
  /** The `WWW-Authenticate` challenge for a 401. */
  readonly challenge: string
}

export const makeAuthenticator = (config: {
  readonly token: Option.Option<Redacted.Redacted<string>>
  readonly user: Option.Option<Redacted.Redacted<string>>
  readonly password: Option.Option<Redacted.Redacted<string>>
}): Authenticator => {
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
