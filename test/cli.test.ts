/**
 * The `percore` command, run as a real process: help (every flag with its variable and default), version,
 * short clear errors with a non-zero exit for bad flags and settings, flags that override the environment,
 * and relative paths resolved against the directory the user started from.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort, spawnChild, waitFor } from "./support/e2e.ts"
import type { Child } from "./support/process.ts"

const root = join(import.meta.dirname, "..")

/**
 * Runs `node <args>` from the repository root with `env` (stopped when the test's scope closes) and waits, 20 s at
 * most, until it logs "percore: serving".
 */
const serving = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
  Effect.gen(function*() {
    const child = yield* spawnChild("percore", process.execPath, args, { cwd: root, env })
    yield* waitFor("percore: serving", Effect.sync(() => (output(child).includes("percore: serving") ? true : undefined)), { timeoutMs: 20_000, watch: [child] })
    return child
  })
/** Its stdout and stderr so far. */
const output = (child: Child): string => child.stdout() + child.stderr()
const cli = (args: ReadonlyArray<string>) =>
  spawnSync(process.execPath, ["bin/percore.mjs", ...args], { cwd: root, encoding: "utf8", timeout: 30_000 })
/** src/cli.ts itself, on this test's Node (24). */
const cliSource = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ["src/cli.ts", ...args], { cwd: root, encoding: "utf8", timeout: 30_000, env: { ...process.env, ...env } })

describe("percore CLI", () => {
  it("--help lists every flag with its environment variable, and exits 0", () => {
    const { status, stdout } = cli(["--help"])
    assert.strictEqual(status, 0)
    for (const flag of ["--cores", "--port", "--host", "--worker", "--ring-capacity", "--drain-interval", "--auth-token-file", "--control-plane-nice", "--version"]) {
      assert.include(stdout, flag)
    }
    assert.include(stdout, "PERCORE_CORES")
  })

  it("--help shows each setting flag's variable and default", () => {
    const { status, stdout } = cliSource(["--help"])
    assert.strictEqual(status, 0)
    for (
      const line of [
        "[PERCORE_PORT, default 9464]",
        "[PERCORE_HOST, default 127.0.0.1]",
        "[PERCORE_METRICS_PATH, default /metrics]",
        "[PERCORE_DRAIN_INTERVAL, default 10ms]",
        "[PERCORE_FLUSH_INTERVAL, default 10ms]",
        "[PERCORE_SCRAPE_FLUSH_WAIT, default 100ms]",
        "[PERCORE_STOP_GRACE, default 5s]",
        "[PERCORE_RING_CAPACITY, default 65536]",
        "[PERCORE_INTERN_LOG_BYTES, default 4194304]",
        "[PERCORE_MAX_SCRAPES_IN_FLIGHT, default 8]",
        "[PERCORE_CONTROL_PLANE_NICE, default 10]",
        "[PERCORE_DASHBOARD, default true]",
        "[PERCORE_FINAL_SNAPSHOT, default none]"
      ]
    ) assert.include(stdout, line)
    // Every flag of a setting names its variable and default.
    const flagLines = stdout.split("\n").filter((line) => /^\s+--[a-z-]+ /.test(line) && line.includes("PERCORE_"))
    assert.isAtLeast(flagLines.length, 25)
    for (const line of flagLines) assert.match(line, /\[PERCORE_[A-Z_]+, default [^\]]+\]$/, line)
  })

  it("a bad flag value is explained in a line or two, with an example for durations, and exits 2", () => {
    const { status, stdout, stderr } = cliSource(["--drain-interval", "soon", "--port", "70000"])
    assert.strictEqual(status, 2)
    const output = (stdout + stderr).trim()
    assert.include(output, `--drain-interval: expected a duration such as 10ms, 5s or "10 millis", got "soon"`)
    assert.include(output, `--port: expected a port from 0 to 65535 (0 picks a free one), got "70000"`)
    assert.isAtMost(output.split("\n").length, 3, output)
    assert.notInclude(output, "FLAGS")
  })

  it("a setting in the environment that cannot work is one line naming the variable, and exit 1", () => {
    for (
      const [env, message] of [
        [{ PERCORE_DRAIN_INTERVAL: "soon" }, `PERCORE_DRAIN_INTERVAL: expected a duration such as 10ms, 5s or "10 millis", got "soon"`],
        [{ PERCORE_AUTH_USER: "admin" }, "PERCORE_AUTH_USER is set but PERCORE_AUTH_PASSWORD is not"],
        [{ PERCORE_AUTH_TOKEN: "" }, "PERCORE_AUTH_TOKEN is set but empty"],
        [{ PERCORE_INTERN_LOG_BYTES: "256" }, "PERCORE_INTERN_LOG_BYTES: expected at least 1024 bytes"]
      ] as const
    ) {
      const { status, stdout, stderr } = cliSource(["--cores", "0", "--port", "0"], env)
      const output = (stdout + stderr).trim()
      assert.strictEqual(status, 1, output)
      assert.include(output, message)
      assert.strictEqual(output.split("\n").length, 1, output)
    }
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
      [["--metrics-path", "metrics"], /--metrics-path: expected a path starting with "\/"/],
      [["--intern-log-bytes", "256"], /--intern-log-bytes: expected at least 1024 bytes/],
      [["--auth-user", "admin", "--cores", "0"], /--auth-user \(PERCORE_AUTH_USER\) is set but PERCORE_AUTH_PASSWORD is not/],
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
      const child = yield* serving(["bin/percore.mjs", "--cores", "1", "--port", String(port), "--auth-token-file", tokenFile, "--drain-interval", "5ms", "--flush-interval", "2.5ms"], {
        ...process.env,
        PERCORE_PORT: "1",
        PERCORE_CORES: "3"
      })
      assert.include(output(child), `127.0.0.1:${port}/metrics with 1 core`)
      assert.strictEqual((yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`))).status, 401)
      const authorized = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: "Bearer cli-secret" } }))
      assert.strictEqual(authorized.status, 200)
      child.process.kill("SIGTERM")
      assert.strictEqual((yield* Effect.promise(() => child.exit)).code, 0)
      assert.notInclude(output(child), "cli-secret")
    }))

  it.live("a relative --final-snapshot is written under the directory the user started from (INIT_CWD under npm)", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const startedIn = mkdtempSync(join(tmpdir(), "percore-cli-start-"))
      const child = yield* serving(["src/cli.ts", "--cores", "0", "--port", String(port), "--final-snapshot", "final.om"], { ...process.env, INIT_CWD: startedIn })
      child.process.kill("SIGTERM")
      assert.strictEqual((yield* Effect.promise(() => child.exit)).code, 0, output(child))
      assert.include(readFileSync(join(startedIn, "final.om"), "utf8"), "# EOF")
      assert.isFalse(existsSync(join(root, "final.om")))
    }))
})
