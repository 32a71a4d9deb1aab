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
 * The credentials are checked by the HTTP guard (`src/http/guard.ts`), on /metrics and the dashboard.
 */
import { Config, Duration } from "effect"

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
