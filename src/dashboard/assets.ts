/**
 * The dashboard's static files, read once from disk and served from memory: the page and its script and stylesheet
 * from this folder, the uPlot charting library from the installed `uplot` package (nothing is fetched from the
 * internet). Each is named by its content hash, so the page can link versioned URLs that are cached for good.
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"

export interface Asset {
  readonly body: Uint8Array
  readonly contentType: string
  readonly hash: string
  readonly etag: string
  readonly headers: Readonly<Record<string, string>>
}

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

const makeAsset = (body: Uint8Array, contentType: string, headers: Readonly<Record<string, string>> = {}): Asset => {
  const hash = createHash("sha256").update(body).digest("base64url").slice(0, 16)
  return { body, contentType, hash, etag: `"${hash}"`, headers: { "x-content-type-options": "nosniff", ...headers } }
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;"))

export interface Assets {
  /** The page, its placeholders filled. */
  readonly page: Asset
  /** Everything under `/assets/`, by name. */
  readonly files: ReadonlyMap<string, Asset>
}

/** Reads the page and its assets; `metricsPath` is linked from the page. */
export const loadAssets = (metricsPath: string): Assets => {
  const require = createRequire(import.meta.url)
  const local = (name: string) => readFileSync(new URL(`./${name}`, import.meta.url))
  const files = new Map<string, Asset>([
    ["app.js", makeAsset(local("app.js"), "text/javascript; charset=utf-8")],
    ["app.css", makeAsset(local("app.css"), "text/css; charset=utf-8")],
    ["uPlot.iife.min.js", makeAsset(readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js")), "text/javascript; charset=utf-8")],
    ["uPlot.min.css", makeAsset(readFileSync(require.resolve("uplot/dist/uPlot.min.css")), "text/css; charset=utf-8")]
  ])
  // `{{asset:NAME}}` in the page becomes `assets/NAME?v=HASH` (relative: works behind a path prefix too).
  const html = local("index.html").toString("utf8").replace(/\{\{asset:([^}]+)\}\}/g, (_, name: string) => {
    const file = files.get(name)
    if (file === undefined) throw new Error(`dashboard: index.html names an unknown asset ${name}`)
    return `assets/${name}?v=${file.hash}`
  }).replaceAll("{{metricsPath}}", escapeHtml(metricsPath))
  const page = makeAsset(new TextEncoder().encode(html), "text/html; charset=utf-8", {
    "content-security-policy": CSP,
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY"
  })
  return { page, files }
}
