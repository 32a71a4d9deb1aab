/**
 * The HTTP surface's limits and optional authentication, as named settings (client_golang's promhttp
 * style: every limit is an option with a deliberate default).
 *
 * The settings (`PERCORE_MAX_SCRAPES_IN_FLIGHT`, `PERCORE_AUTH_*`, the server timeouts and header size) are
 * read and validated by `PercoreConfig`; README's "Settings" lists them. Half-set or empty credentials refuse
 * to start.
 *
 * The credentials are checked by the HTTP guard (`src/http/guard.ts`), on /metrics and the dashboard.
 */
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
