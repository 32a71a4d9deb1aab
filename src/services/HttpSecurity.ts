/**
 * The HTTP surface's limits and optional authentication, as named settings (client_golang's promhttp
 * style: every limit is an option with a deliberate default).
 *
 * The settings (`PERCORE_MAX_SCRAPES_IN_FLIGHT`, `PERCORE_AUTH_*`, the server timeouts and header size) are
 * read and validated by `PercoreConfig`; README's "Settings" lists them. Half-set or empty credentials refuse
 * to start.
 *
 * Credentials are compared in constant time (SHA-256 of both sides, then `timingSafeEqual`), never
 * logged, and only /metrics is protected: /healthz and /readyz reveal nothing and must stay usable
 * by orchestrators.
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { Option, Redacted } from "effect"
import { PercoreConfig } from "./PercoreConfig.ts"

/** The guard's settings, a view of `PercoreConfig` (see README's "Settings"). */
export const SecurityConfig = PercoreConfig.useSync((config) => ({
  maxScrapesInFlight: config.maxScrapesInFlight,
  token: config.authToken,
  user: config.authUser,
  password: config.authPassword
}))

/** Node's server limits, a view of `PercoreConfig`. */
export const ServerLimitsConfig = PercoreConfig.useSync((config) => ({
  headersTimeout: config.headersTimeout,
  requestTimeout: config.requestTimeout,
  keepAliveTimeout: config.keepAliveTimeout,
  maxHeaderSize: config.maxHeaderSize
}))

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
