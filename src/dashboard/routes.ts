/**
 * The dashboard's HTTP routes, behind the same guard as /metrics (GET and HEAD only, the same credentials):
 *
 * - `GET /`: the page; `GET /assets/*`: its script and stylesheet, and uPlot. The page links them with their
 *   content hash (`?v=`), so those answers may be cached for good; the rest is revalidated by ETag.
 * - `GET /api/snapshot[?top=N&points=M]`: the view as JSON (gzipped when accepted and worth it). `top` (default
 *   20, at most 100) bounds the busiest-series list, `points` (default and at most 300) the history returned.
 */
import { Effect, Layer } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { type Guard, respond } from "../http/guard.ts"
import type { Asset, Assets } from "./assets.ts"
import type { DashboardSnapshot, SnapshotOptions } from "./view.ts"

/** A JSON body this small is sent as it is: gzip would save next to nothing. */
const GZIP_ABOVE_BYTES = 1024

const serveAsset = (asset: Asset, request: HttpServerRequest.HttpServerRequest, cacheControl: string) => {
  const headers = { ...asset.headers, "cache-control": cacheControl, etag: asset.etag }
  if (request.headers["if-none-match"] === asset.etag) return HttpServerResponse.empty({ status: 304, headers })
  return HttpServerResponse.uint8Array(asset.body, { contentType: asset.contentType, headers })
}

/** `/`, `/assets/*` and `/api/snapshot`, as a Layer to merge into an `HttpRouter` app. */
export const dashboardRoutes = (
  guard: Guard,
  assets: Assets,
  snapshot: (options: SnapshotOptions) => Effect.Effect<DashboardSnapshot>
): Layer.Layer<never, never, HttpRouter.HttpRouter> => {
  const page = guard.route((request) => Effect.succeed(serveAsset(assets.page, request, "no-cache")))
  const asset = guard.route((request) =>
    Effect.map(HttpRouter.params, (params) => {
      const found = assets.files.get(params["*"] ?? "")
      if (found === undefined) return HttpServerResponse.text("not found\n", { status: 404 })
      const versioned = new URL(request.url, "http://localhost").searchParams.get("v") === found.hash
      return serveAsset(found, request, versioned ? "private, max-age=31536000, immutable" : "no-cache")
    })
  )
  const api = guard.route((request) =>
    Effect.gen(function*() {
      const query = new URL(request.url, "http://localhost").searchParams
      const number = (name: string): { readonly [k: string]: number } => {
        const raw = query.get(name)
        const n = raw === null ? NaN : Number(raw)
        return Number.isFinite(n) ? { [name]: n } : {}
      }
      const result = yield* snapshot({ ...number("top"), ...number("points") })
      return yield* respond(request, new TextEncoder().encode(JSON.stringify(result)), {
        contentType: "application/json; charset=utf-8",
        headers: { "cache-control": "no-store", "x-content-type-options": "nosniff" },
        gzipAbove: GZIP_ABOVE_BYTES
      })
    })
  )
  return HttpRouter.addAll([
    HttpRouter.route("*", "/", page),
    HttpRouter.route("*", "/assets/*", asset),
    HttpRouter.route("*", "/api/snapshot", api)
  ])
}
