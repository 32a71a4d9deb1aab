/** Content negotiation for /metrics: the Accept header picks the format; Accept-Encoding picks gzip. */
import { assert, describe, it } from "@effect/vitest"
import { acceptsGzip, contentType, negotiate } from "../src/exposition/index.ts"
import type { Format } from "../src/exposition/index.ts"


const prometheus242Accept =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
const prometheus3Accept =
  "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

describe("negotiate", () => {
  const cases: ReadonlyArray<readonly [string | undefined, Format, string]> = [
    [undefined, "text", "missing header"],
    ["", "text", "empty header"],
    [prometheus242Accept, "openmetrics", "Prometheus 2.42"],
    [prometheus3Accept, "openmetrics", "Prometheus 3"],
    ["text/plain;version=0.0.4", "text", "text only"],
    ["*/*", "text", "any (curl)"],
    ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text", "browser"],
    ["application/*", "text", "application/* does not select OpenMetrics"],
    ["application/openmetrics-text", "openmetrics", "no version"],
    ["application/openmetrics-text; version=1.0.0", "openmetrics", "version 1.0.0"],
    ["application/openmetrics-text;version=\"1.0.0\"", "openmetrics", "quoted version"],
    ["Application/OpenMetrics-Text; Version=1.0.0", "openmetrics", "case-insensitive type and parameter names"],
    ["application/openmetrics-text;version=0.0.1", "text", "wrong version 0.0.1"],
    ["application/openmetrics-text;version=2.0.0,text/plain;q=0.1", "text", "wrong version 2.0.0"],
    ["application/openmetrics-text;q=0.5,text/plain;q=0.9", "text", "text preferred by q"],
    ["text/plain;q=0.5,application/openmetrics-text;q=0.5", "openmetrics", "tie goes to OpenMetrics"],
    ["text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0", "openmetrics", "order does not matter"],
    ["application/openmetrics-text;q=0", "text", "q=0 is not acceptable"],
    ["application/openmetrics-text;version=1.0.0;q=0,application/openmetrics-text;q=1", "text", "most specific range decides"],
    ["application/openmetrics-text;version=1.0.0;q=0.75,text/plain", "text", "text at q=1 beats OpenMetrics at 0.75"],
    ["text/*;q=0.9,application/openmetrics-text;q=0.8", "text", "text/* counts for text"],
    ["text/plain;version=1.0.0,application/openmetrics-text;q=0.5", "openmetrics", "text/plain version 1.0.0 is not 0.0.4"],
    ["application/openmetrics-text;q=abc", "text", "malformed q ignores the range"],
    ["application/openmetrics-text;q=2", "text", "q above 1 ignores the range"],
    ["application/openmetrics-text;q=0.9,text/plain;q=oops", "openmetrics", "malformed text range ignored"],
    ["garbage, ;;; ,application/openmetrics-text", "openmetrics", "malformed parts skipped"],
    [",,,,", "text", "only separators"],
    ["openmetrics", "text", "no slash"],
    ["*/openmetrics-text", "text", "invalid wildcard"],
    ["application/openmetrics-text;foo", "text", "parameter without value makes the range malformed"],
    ["application/openmetrics-text;version=\"1.0.0,text/plain", "text", "unterminated quote"]
  ]
  for (const [accept, format, why] of cases) {
    it(`${why}: ${JSON.stringify(accept)} → ${format}`, () => {
      assert.strictEqual(negotiate(accept), format)
    })
  }

  it("never throws on hostile input", () => {
    const inputs = ["\u0000", ";".repeat(10_000), "a/b;" + "q=1;".repeat(5000), "\"".repeat(999), "openmetrics\uD800/x"]
    for (const input of inputs) assert.strictEqual(negotiate(input), "text")
  })

  it("content types are exact", () => {
    assert.strictEqual(contentType("openmetrics"), "application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert.strictEqual(contentType("text"), "text/plain; version=0.0.4; charset=utf-8")
  })
})

describe("acceptsGzip", () => {
  const cases: ReadonlyArray<readonly [string | undefined, boolean]> = [
    [undefined, false],
    ["", false],
    ["gzip", true],
    ["GZIP", true],
    ["gzip, deflate, br", true],
    ["deflate, br", false],
    ["identity", false],
    ["gzip;q=0", false],
    ["gzip; q=0.000", false],
    ["gzip ; q=0.5", true],
    ["x-gzip", true],
    ["*", true],
    ["*;q=0", false],
    ["br;q=1, *;q=0.1", true],
    ["gzip;q=0, *", false],
    ["*;q=0, gzip", true],
    ["gzip;q=bad", false],
    [",,;;", false]
  ]
  for (const [header, expected] of cases) {
    it(`${JSON.stringify(header)} → ${expected}`, () => {
      assert.strictEqual(acceptsGzip(header), expected)
    })
  }
})
