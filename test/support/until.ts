/** Polling helpers shared by the tests that run real threads and processes. */
import { assert } from "@effect/vitest"
import { Effect } from "effect"

/** Waits (live clock) until `condition` holds; fails the test with `what` after `timeoutMs`. */
export const until = (condition: () => boolean, what: string, timeoutMs = 20_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
      if (Date.now() > deadline) return assert.fail(`timed out waiting for ${what}`)
      yield* Effect.sleep("5 millis")
    }
  })
