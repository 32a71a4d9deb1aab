/**
 * The `percore` command, run as a real process: help, version, clear errors with a non-zero exit for
 * bad flags, and flags that override the environment.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn, spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "./support/e2e.ts"

const root = join(import.meta.dirname, "..")
const cli = (args: ReadonlyArray<string>) =>
  spawnSync(process.execPath, ["bin/percore.mjs", ...args], { cwd: root, encoding: "utf8", timeout: 30_000 })

describe("percore CLI", () => {
  it("--help lists every flag with its environment variable, and exits 0", () => {
    const { status, stdout } = cli(["--help"])
    assert.strictEqual(status, 0)
    for (const flag of ["--cores", "--port", "--host", "--worker", "--ring-capacity", "--drain-interval", "--auth-token-file", "--control-plane-nice", "--version"]) {
      assert.include(stdout, flag)
    }
    assert.include(stdout, "PERCORE_CORES")
  })

  it("--version prints the package version", () => {
    const { status, stdout } = cli(["--version"])
    assert.strictEqual(status, 0)
    assert.match(stdout, /percore v\d+\.\d+\.\d+/)
  })

  it("bad flags give a clear message and a non-zero exit", () => {
    const cases: Array<[ReadonlyArray<string>, RegExp]> = [
      [["--cores", "abc"], /--cores/],
      [["--cores", "-1"], /--cores/],
      [["--port", "70000"], /--port/],
      [["--drain-interval", "soon"], /duration/],
      [["--control-plane-nice", "20"], /--control-plane-nice/],
      [["--auth-token-file", "/nonexistent/token"], /auth-token-file/],
      [["--bogus"], /Unrecognized flag: --bogus/]
    ]
    for (const [args, message] of cases) {
      const { status, stdout, stderr } = cli(args)
      assert.notStrictEqual(status, 0, args.join(" "))
      assert.match(stdout + stderr, message, args.join(" "))
    }
  })

  it.live("flags override the environment; the token file protects /metrics; SIGTERM exits 0", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const tokenFile = join(mkdtempSync(join(tmpdir(), "percore-cli-")), "token")
      writeFileSync(tokenFile, "cli-secret\n")
      const child = spawn(process.execPath, ["bin/percore.mjs", "--cores", "1", "--port", String(port), "--auth-token-file", tokenFile], {
        cwd: root,
        env: { ...process.env, PERCORE_PORT: "1", PERCORE_CORES: "3" },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      child.stdout.on("data", (d: Buffer) => (output += d.toString()))
      child.stderr.on("data", (d: Buffer) => (output += d.toString()))
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
      const deadline = Date.now() + 20_000
      while (!output.includes("percore: serving")) {
        if (Date.now() > deadline) return assert.fail(output)
        yield* Effect.sleep("20 millis")
      }
      assert.include(output, `127.0.0.1:${port}/metrics with 1 core`)
      assert.strictEqual((yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`))).status, 401)
      const authorized = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: "Bearer cli-secret" } }))
      assert.strictEqual(authorized.status, 200)
      child.kill("SIGTERM")
      assert.strictEqual(yield* Effect.promise(() => exited), 0)
      assert.notInclude(output, "cli-secret")
    }))
})
