/**
 * Content negotiation for /metrics: `Accept` (OpenMetrics 1.0.0 vs text 0.0.4) and `Accept-Encoding` (gzip).
 *
 * Parsing is lenient in the HTTP sense: a malformed element (bad media range, bad q-value) is ignored, never
 * thrown on; the rest of the header still counts.
 */
import type { Format } from "./model.ts"

const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
const TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

/** The exact Content-Type for a rendered format. */
export const contentType = (format: Format): string =>
  format === "openmetrics" ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE

const token = /^[!#$%&'*+.^_`|~0-9a-z-]+$/
const qValue = /^(?:\d+(?:\.\d*)?|\.\d+)$/

/** Splits on `separator` outside double-quoted strings (a quoted parameter may contain `,` or `;`). */
const splitOutsideQuotes = (s: string, separator: string): Array<string> => {
  const parts: Array<string> = []
  let start = 0
  let quoted = false
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (quoted) {
      if (c === "\\") i++
      else if (c === "\"") quoted = false
    } else if (c === "\"") {
      quoted = true
    } else if (c === separator) {
      parts.push(s.slice(start, i))
      start = i + 1
    }
  }
  parts.push(s.slice(start))
  return parts
}

const unquote = (value: string): string =>
  value.length >= 2 && value.startsWith("\"") && value.endsWith("\"")
    ? value.slice(1, -1).replace(/\\(.)/g, "$1")
    : value

/** Parses a q-value; `undefined` when malformed or outside [0, 1]. */
const parseQ = (raw: string): number | undefined => {
  const value = unquote(raw.trim())
  if (!qValue.test(value)) return undefined
  const q = Number(value)
  return q <= 1 ? q : undefined
}

interface Element {
  /** Lower-cased media range (`text/plain`, `text/*`, star/star) or content coding (`gzip`, `*`). */
  readonly name: string
  readonly params: ReadonlyMap<string, string>
  readonly q: number
}

/** Parses a comma-separated header of `name;param=value;q=…` elements, dropping malformed ones. */
const parseElements = (header: string, isMediaRange: boolean): Array<Element> => {
  const out: Array<Element> = []
  for (const part of splitOutsideQuotes(header, ",")) {
    const [head = "", ...rawParams] = splitOutsideQuotes(part, ";")
    const name = head.trim().toLowerCase()
    if (isMediaRange) {
      const slash = name.indexOf("/")
      if (slash < 0) continue
      const type = name.slice(0, slash)
      const subtype = name.slice(slash + 1)
      if (!token.test(type) || !token.test(subtype) || (type === "*" && subtype !== "*")) continue
    } else if (!token.test(name)) {
      continue
    }
    const params = new Map<string, string>()
    let q = 1
    let malformed = false
    for (const rawParam of rawParams) {
      const eq = rawParam.indexOf("=")
      if (eq < 0) {
        if (rawParam.trim() === "") continue
        malformed = true
        break
      }
      const key = rawParam.slice(0, eq).trim().toLowerCase()
      if (!token.test(key)) {
        malformed = true
        break
      }
      if (key === "q") {
        const parsed = parseQ(rawParam.slice(eq + 1))
        if (parsed === undefined) {
          malformed = true
          break
        }
        q = parsed
      } else {
        params.set(key, unquote(rawParam.slice(eq + 1).trim()))
      }
    }
    if (!malformed) out.push({ name, params, q })
  }
  return out
}

/** The q of the most specific matching element (ties: the highest q); `undefined` when none matches. */
const bestQ = (elements: ReadonlyArray<Element>, specificity: (e: Element) => number): number | undefined => {
  let best = -1
  let q: number | undefined
  for (const e of elements) {
    const s = specificity(e)
    if (s < 0) continue
    if (s > best) {
      best = s
      q = e.q
    } else if (s === best && q !== undefined && e.q > q) {
      q = e.q
    }
  }
  return q
}

const openMetricsSpecificity = (e: Element): number => {
  if (e.name !== "application/openmetrics-text") return -1
  const version = e.params.get("version")
  return version === undefined ? 0 : version === "1.0.0" ? 1 : -1
}

const textSpecificity = (e: Element): number => {
  if (e.name === "*/*") return 0
  if (e.name === "text/*") return 1
  if (e.name !== "text/plain") return -1
  const version = e.params.get("version")
  return version === undefined ? 2 : version === "0.0.4" ? 3 : -1
}

/** The last header each of `negotiate` and `acceptsGzip` parsed, and its answer. */
let lastAccept: string | undefined
let lastFormat: Format = "text"
let lastEncoding: string | undefined
let lastAcceptsGzip = false

/**
 * Picks the exposition format from an `Accept` header.
 *
 * OpenMetrics is chosen only when `application/openmetrics-text` is named explicitly (wildcards such as star/star or
 * `application/*` do not select it, so browsers and curl get text), with `version=1.0.0` or no version, with q > 0,
 * and with a q at least as high as text 0.0.4's (`text/plain` with version 0.0.4 or none, `text/*`, star/star; the
 * most specific matching range decides each q, as in RFC 9110). Everything else, including a missing or
 * unparsable header, gets text 0.0.4.
 */
export const negotiate = (accept: string | undefined): Format => {
  if (accept === undefined || !/openmetrics/i.test(accept)) return "text"
  // A Prometheus server sends the same header with every scrape: the last answer is kept, not parsed again.
  if (accept === lastAccept) return lastFormat
  const elements = parseElements(accept, true)
  const openMetrics = bestQ(elements, openMetricsSpecificity) ?? 0
  const text = bestQ(elements, textSpecificity) ?? 0
  lastFormat = openMetrics > 0 && openMetrics >= text ? "openmetrics" : "text"
  lastAccept = accept
  return lastFormat
}

/**
 * Whether an `Accept-Encoding` header accepts gzip: `gzip` (or its alias `x-gzip`) with q > 0, or, when neither is
 * named, `*` with q > 0. `gzip;q=0` refuses it; a missing header means no.
 */
export const acceptsGzip = (acceptEncoding: string | undefined): boolean => {
  if (acceptEncoding === undefined || acceptEncoding === "") return false
  if (acceptEncoding === lastEncoding) return lastAcceptsGzip
  const elements = parseElements(acceptEncoding, false)
  const q = bestQ(elements, (e) => e.name === "gzip" || e.name === "x-gzip" ? 1 : e.name === "*" ? 0 : -1)
  lastAcceptsGzip = q !== undefined && q > 0
  lastEncoding = acceptEncoding
  return lastAcceptsGzip
}
