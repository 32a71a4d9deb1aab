/**
 * Issue 17's bounded scrapes, through the real service (`node src/main.ts` with test/fixtures/hardening-core.ts
 * in "big" mode, which defines histograms with long label values and many buckets): a page over the cap is
 * refused with a clear 503 and counted, /healthz is answered while a big page renders, a page still being sent is
 * never overwritten by later renders (pages reuse buffers), and clients that stop reading give their scrape slots
 * back after the stall timeout.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { connect, type Socket } from "node:net"
import { join } from "node:path"
import { httpGet, startPercore, tempDir, waitFor } from "./support/e2e.ts"

const worker = "test/fixtures/hardening-core.ts"

const sample = (page: string, series: string): string | undefined =>
  page.split("\n").find((line) => line.startsWith(series + " "))?.slice(series.length + 1)

interface RawScrape {
  readonly socket: Socket
  readonly firstByte: Promise<void>
  /** Everything received, once the connection closed. */
  readonly closed: Promise<Buffer>
}

/** A raw GET of /metrics; resolves with the socket once the request is written. `read: false` reads nothing until resumed. */
const openScrape = (port: number, read: boolean) =>
  new Promise<RawScrape>((resolve) => {
    const socket = connect(port, "127.0.0.1")
    if (!read) socket.pause()
    const received: Array<Buffer> = []
    socket.on("data", (chunk: Buffer) => received.push(chunk))
    const firstByte = new Promise<void>((done) => socket.once("data", () => done()))
    const closed = new Promise<Buffer>((done) => socket.once("close", () => done(Buffer.concat(received))))
    socket.on("error", () => undefined)
    socket.once("connect", () => {
      socket.write(`GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n`)
      resolve({ socket, firstByte, closed })
    })
  })

/**
 * Health checks one after another on one keep-alive connection (each sent when the last is answered) until
 * `stop()` says so; resolves with how many were answered before that.
 */
const healthChecksUntil = (port: number, stop: () => boolean) =>
  new Promise<number>((resolve) => {
    const socket = connect(port, "127.0.0.1")
    let answered = 0
    let pending = ""
    const send = () => socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    socket.on("data", (chunk: Buffer) => {
      pending += chunk.toString("latin1")
      for (let end = pending.indexOf("\r\n\r\nok\n"); end >= 0; end = pending.indexOf("\r\n\r\nok\n")) {
        pending = pending.slice(end + 7)
        if (stop()) {
          socket.destroy()
          return resolve(answered)
        }
        answered++
        send()
      }
    })
    socket.on("error", () => resolve(answered))
    socket.once("connect", send)
  })

const bigLimits = { PERCORE_MAX_LABEL_VALUE_BYTES: "8192", PERCORE_MAX_LABELS_BYTES: "16384" }

/**
 * The real service with pages of about 10 MB (5 histograms × 256 buckets × 8 KB labels): more than the kernel's socket
 * buffers take, so most of a page a client does not read waits in the server. Resolves once the series are defined.
 */
const startTenMegabytePages = (env: Readonly<Record<string, string>>) =>
  Effect.gen(function*() {
    const started = yield* startPercore({
      PERCORE_CORES: "1",
      PERCORE_WORKER: worker,
      HARDEN_MODE: "big",
      HARDEN_SERIES: "5",
      HARDEN_BUCKETS: "256",
      HARDEN_LABEL_BYTES: "8000",
      ...env,
      ...bigLimits
    })
    yield* waitFor(
      "the big series",
      Effect.map(httpGet(`${started.base}/metrics`, {}, 30_000), (r) => (/^harden_done 1$/m.test(r.body) ? r : undefined)),
      { timeoutMs: 30_000, watch: [started.child] }
    )
    return started
  })

describe("bounded scrapes (real process)", () => {
  it.live("a page over PERCORE_MAX_PAGE_BYTES gets 503 with the reason, and every refusal is counted", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("percore-page-cap-")
      const snapshot = join(dir, "final.om")
      // 10 series × 200 buckets × ~1 KB of labels per line: about 2 MB, against a cap of 1 MiB.
      const { base, child } = yield* startPercore({
        PERCORE_CORES: "1",
        PERCORE_WORKER: worker,
        HARDEN_MODE: "big",
        HARDEN_SERIES: "10",
        HARDEN_BUCKETS: "200",
        HARDEN_LABEL_BYTES: "1000",
        PERCORE_MAX_PAGE_BYTES: String(1 << 20),
        PERCORE_FINAL_SNAPSHOT: snapshot
      })
      let refusals = 0
      const refusal = yield* waitFor(
        "a scrape refused for its size",
        Effect.map(httpGet(`${base}/metrics`), (r) => {
          if (r.status !== 503) return undefined
          refusals++
          return r.body
        }),
        { timeoutMs: 20_000, watch: [child] }
      )
      assert.match(refusal, /PERCORE_MAX_PAGE_BYTES \(1048576 bytes/)
      for (let i = 0; i < 2; i++) {
        const again = yield* httpGet(`${base}/metrics`)
        assert.strictEqual(again.status, 503)
        refusals++
      }
      assert.strictEqual((yield* httpGet(`${base}/healthz`)).status, 200)
      // The final snapshot (unbounded: it is a file the operator asked for) shows the books.
      child.process.kill("SIGTERM")
      const { code } = yield* Effect.promise(() => child.exit)
      assert.strictEqual(code, 0, child.describe())
      const final = readFileSync(snapshot, "utf8")
      assert.strictEqual(sample(final, `percore_scrapes_refused_total{reason="page_too_large"}`), String(refusals))
      assert.include(child.stdout() + child.stderr(), "scrape refused: the metrics page passed PERCORE_MAX_PAGE_BYTES")
    }))

  it.live("/healthz is answered during a big render, before the scrape's response starts", () =>
    Effect.gen(function*() {
      // 24 series × 256 buckets × ~8 KB of labels per line: about 50 MB of text.
      const { base, port, child } = yield* startPercore({
        PERCORE_CORES: "1",
        PERCORE_WORKER: worker,
        HARDEN_MODE: "big",
        HARDEN_SERIES: "24",
        HARDEN_BUCKETS: "256",
        HARDEN_LABEL_BYTES: "8000",
        ...bigLimits
      })
      yield* waitFor(
        "the big series",
        Effect.map(httpGet(`${base}/metrics`, {}, 60_000), (r) => (/^harden_done 1$/m.test(r.body) ? r : undefined)),
        { timeoutMs: 60_000, watch: [child] }
      )
      const scrape = yield* Effect.promise(() => openScrape(port, true))
      let started = false
      void scrape.firstByte.then(() => (started = true))
      const answered = yield* Effect.promise(() => healthChecksUntil(port, () => started))
      scrape.socket.destroy()
      // A render that blocked the event loop holds every health check until the page is out: none is answered
      // before the scrape's response begins (0 when measured with one unbroken render); stepped, dozens are.
      assert.isAtLeast(answered, 5, `health checks answered before the scrape's response began: ${answered}`)
    }))

  it.live("a page a slow client is still reading is not overwritten by the renders that come after it", () =>
    Effect.gen(function*() {
      // No scheduled drains: a page's ends then come from one state (only a scrape drains), and drains count scrapes.
      const { base, port, child } = yield* startTenMegabytePages({ PERCORE_SEND_STALL_TIMEOUT: "60s", PERCORE_DRAIN_INTERVAL: "1 hour" })
      const get = Effect.map(httpGet(`${base}/metrics`, {}, 30_000), (r) => {
        assert.strictEqual(r.status, 200)
        return r.body
      })
      const number = (page: string, series: string) => Number(sample(page, series))
      const drains = (page: string) => number(page, "percore_drain_duration_seconds_count")
      const before = drains(yield* get)
      const slow = yield* Effect.promise(() => openScrape(port, false))
      // Renders while the slow client holds its page. First one rendered after it (each scrape drains once, and
      // renders run one at a time), then one whose tick moved past that one's: from then on every render's tick
      // differs from the held page's, and two more renders write both page buffers. A buffer reused while the slow
      // client's page was still being sent from it would leave the page's unsent end with a later tick.
      const after = yield* waitFor("a page rendered after the slow client's", Effect.map(get, (page) => (drains(page) >= before + 2 ? page : undefined)), { timeoutMs: 30_000, watch: [child] })
      const seen = number(after, "harden_tick_tail")
      yield* waitFor("a later tick", Effect.map(get, (page) => (number(page, "harden_tick_tail") > seen ? page : undefined)), { timeoutMs: 30_000, watch: [child] })
      yield* get
      const later = yield* get
      slow.socket.resume()
      slow.socket.end() // done asking: the server closes the connection once the page is out
      const received = (yield* Effect.promise(() => slow.closed)).toString("utf8")
      const head = received.indexOf("\r\n\r\n")
      const length = Number(/content-length: (\d+)/i.exec(received.slice(0, head))?.[1])
      const body = received.slice(head + 4)
      assert.strictEqual(Buffer.byteLength(body), length, "the whole page arrived")
      // The same series, in the same order, with well-formed lines, as a page rendered after it.
      const seriesOf = (page: string) =>
        page.split("\n").filter((line) => line.startsWith("big_hist")).map((line) => {
          const cut = line.lastIndexOf(" ")
          assert.match(line.slice(cut + 1), /^\d+(\.\d+)?$/, "a sample's value")
          return line.slice(0, cut)
        })
      const held = seriesOf(body)
      assert.isAbove(held.length, 5 * 256)
      assert.deepStrictEqual(held, seriesOf(later))
      assert.include(body, "harden_done 1")
      assert.isBelow(number(body, "harden_tick_head"), number(later, "harden_tick_head"), "the slow client's page was rendered before the others")
      assert.strictEqual(number(body, "harden_tick_tail"), number(body, "harden_tick_head"), "the page's end was rendered with its beginning")
    }))

  it.live("clients that stop reading hold their slots only until the stall timeout; other scrapes are answered", () =>
    Effect.gen(function*() {
      const { base, port, child } = yield* startTenMegabytePages({
        PERCORE_MAX_SCRAPES_IN_FLIGHT: "2",
        PERCORE_SEND_STALL_TIMEOUT: "3s" // long enough to see the third scrape turned away on a busy machine
      })
      const stalled = [yield* Effect.promise(() => openScrape(port, false)), yield* Effect.promise(() => openScrape(port, false))]
      // While both stalled sends hold their slots, a third scrape is turned away.
      const busy = yield* waitFor(
        "a scrape turned away while the stalled sends hold both slots",
        Effect.map(httpGet(`${base}/metrics`, {}, 30_000), (r) => (r.status === 503 ? r.body : undefined)),
        { timeoutMs: 20_000, watch: [child] }
      )
      assert.include(busy, "too many scrapes in flight")
      // After the stall timeout the slots are free again …
      const page = yield* waitFor(
        "a scrape answered after the stalled sends were cut off",
        Effect.map(httpGet(`${base}/metrics`, {}, 30_000), (r) =>
          r.status === 200 && sample(r.body, `percore_scrapes_refused_total{reason="send_stalled"}`) === "2" ? r.body : undefined),
        { timeoutMs: 20_000, watch: [child] }
      )
      assert.include(page, "harden_done 1")
      // … because the server closed the stalled connections: reading now gets a cut-off page, then the end.
      for (const { socket, closed } of stalled) {
        socket.resume()
        const received = (yield* Effect.promise(() => closed)).toString("latin1")
        const length = Number(/content-length: (\d+)/i.exec(received)?.[1])
        assert.isAbove(length, 5_000_000)
        assert.isBelow(received.length - received.indexOf("\r\n\r\n") - 4, length, "the stalled send was cut off")
      }
      assert.strictEqual((yield* httpGet(`${base}/metrics`, {}, 30_000)).status, 200)
    }))
})
