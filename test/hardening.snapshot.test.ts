/**
 * The final snapshot file through the real service: symlinks planted at the old predictable temporary name and
 * at the target are never written through, and the file is readable by its owner only.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { lstatSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { startPercore, tempDir } from "./support/e2e.ts"

describe("final snapshot (real process)", () => {
  it.live("planted symlinks are replaced, not followed; the file is mode 0600 and no temporary file is left", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("percore-snapshot-safe-")
      const snapshot = join(dir, "final.om")
      const victimTemp = join(dir, "victim-temp.txt")
      const victimTarget = join(dir, "victim-target.txt")
      writeFileSync(victimTemp, "precious 1\n")
      writeFileSync(victimTarget, "precious 2\n")
      const { child } = yield* startPercore({ PERCORE_CORES: "1", PERCORE_FINAL_SNAPSHOT: snapshot })
      // The name the temporary file used to have, and the target itself, both point at files percore must not touch.
      symlinkSync(victimTemp, `${snapshot}.${child.process.pid}.tmp`)
      symlinkSync(victimTarget, snapshot)
      child.process.kill("SIGTERM")
      const { code } = yield* Effect.promise(() => child.exit)
      const output = child.stdout() + child.stderr()
      assert.strictEqual(code, 0, output)
      assert.include(output, "final snapshot written", output)
      assert.strictEqual(readFileSync(victimTemp, "utf8"), "precious 1\n")
      assert.strictEqual(readFileSync(victimTarget, "utf8"), "precious 2\n")
      const stat = lstatSync(snapshot)
      assert.isTrue(stat.isFile(), "the target is a regular file now, not the planted symlink")
      assert.strictEqual(stat.mode & 0o777, 0o600)
      assert.isTrue(readFileSync(snapshot, "utf8").endsWith("# EOF\n"))
      const left = readdirSync(dir).filter((name) => name.endsWith(".tmp") && !name.includes(String(child.process.pid)))
      assert.deepStrictEqual(left, [], "no temporary file is left behind")
    }))
})
