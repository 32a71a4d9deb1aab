/**
 * percore as a user installs it: `npm pack` (which builds dist/), then a fresh temporary project installs the
 * tarball and its dependencies from the registry (the npm cache is fine), plus Node 22 and Node 24 from npm
 * (`node@22`, `node@24`, under the aliases node22 / node24). On each Node:
 * - a plain-JavaScript ESM app calls `startPercore` with 2 cores running a core module that imports
 *   `percore/core`, and scrapes exact totals;
 * - a plain-JavaScript Effect app merges `Percore.layer` into its own HttpRouter app, with its own route and
 *   Effect metric on the same /metrics;
 * - `npx percore --help`, `npx percore --cores 1 --port <free>` answering /metrics and draining on SIGTERM,
 *   and `npx percore --worker ./missing.js` refusing to start.
 * Once: a strict NodeNext TypeScript consumer type-checks against the shipped .d.ts (this repository's tsc),
 * and a deliberate type error fails.
 *
 * Without a registry these tests skip with the reason printed; with CI=true they never skip.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { afterAll, beforeAll } from "vitest"
import { findFreePort, getText, killAllChildren, repoRoot } from "./support/process.ts"

const NODE_VERSIONS = ["22", "24"] as const
const fixtures = join(repoRoot, "test", "fixtures", "consumer")

/** Why the registry cannot be used here, or undefined when it can. */
const registryProblem = (): string | undefined => {
  const ping = spawnSync("npm", ["ping"], { encoding: "utf8", timeout: 30_000 })
  if (ping.error !== undefined) return `npm could not run: ${ping.error.message}`
  return ping.status === 0 ? undefined : `npm ping failed: ${(ping.stderr || ping.stdout).trim().split("\n").slice(-2).join(" ")}`
}

const problem = registryProblem()
const mustRun = process.env["CI"] === "true"
if (problem !== undefined && !mustRun) console.warn(`consumer tests skipped: the npm registry is not reachable (${problem})`)

/** Runs a command to its end; fails the test with its output when it exits non-zero (unless `allowFailure`). */
const run = (command: string, args: ReadonlyArray<string>, options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; allowFailure?: boolean }) => {
  const result = spawnSync(command, args, { cwd: options.cwd, env: options.env ?? process.env, encoding: "utf8", timeout: options.timeoutMs ?? 300_000 })
  const output = `${command} ${args.join(" ")} → ${result.error?.message ?? `status ${result.status}`}\n${result.stdout}\n${result.stderr}`
  if (options.allowFailure !== true) assert.strictEqual(result.status, 0, output)
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, output }
}

describe.skipIf(problem !== undefined && !mustRun)("the packed package, installed into a fresh project", () => {
  let project = ""
  let packDir = ""
  const nodeBin = (version: string) => join(project, "node_modules", `node${version}`, "bin", "node")
  /** The environment of a user whose `node` is the given version. */
  const userEnv = (version: string): NodeJS.ProcessEnv => ({
    // The test runner's own percore settings must not leak into the user's app.
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("PERCORE_"))),
    PATH: [join(project, "node_modules", `node${version}`, "bin"), process.env["PATH"] ?? ""].join(delimiter)
  })

  beforeAll(() => {
    packDir = mkdtempSync(join(tmpdir(), "percore-pack-"))
    project = mkdtempSync(join(tmpdir(), "percore-consumer-"))
    run("npm", ["pack", "--pack-destination", packDir], { cwd: repoRoot })
    const tarball = readdirSync(packDir).find((name) => name.endsWith(".tgz"))
    assert.isDefined(tarball, "npm pack wrote a tarball")
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({ name: "percore-consumer", private: true, type: "module", allowScripts: { node22: true, node24: true } }, null, 2)
    )
    cpSync(fixtures, project, { recursive: true })
    run("npm", [
      "install",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      join(packDir, tarball!),
      "effect@^4.1.0",
      "@effect/platform-node@^4.1.0",
      "@types/node@^24",
      "node22@npm:node@22",
      "node24@npm:node@24"
    ], { cwd: project, timeoutMs: 600_000 })
    for (const version of NODE_VERSIONS) {
      assert.match(run(nodeBin(version), ["--version"], { cwd: project }).stdout, new RegExp(`^v${version}\\.`))
    }
  }, 900_000)

  afterAll(() => {
    killAllChildren()
    for (const dir of [project, packDir]) if (dir !== "") rmSync(dir, { recursive: true, force: true })
  })

  for (const version of NODE_VERSIONS) {
    describe(`on Node ${version}`, () => {
      it("a plain-JavaScript app: startPercore with 2 cores, exact totals on /metrics, close() ends it", () => {
        const result = run(nodeBin(version), ["plain-app.js"], { cwd: project, env: userEnv(version), timeoutMs: 120_000 })
        const { url, metrics } = JSON.parse(result.stdout.trim().split("\n").at(-1)!) as { url: string; metrics: string }
        assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
        const lines = metrics.split("\n")
        for (const line of [
          "consumer_requests_total{shard=\"0\"} 1000",
          "consumer_requests_total{shard=\"1\"} 1000",
          "consumer_latency_seconds_count 20",
          "consumer_latency_seconds_sum 10",
          "consumer_latency_seconds_bucket{le=\"0.1\"} 0",
          "consumer_latency_seconds_bucket{le=\"1\"} 20",
          "percore_core_up{core=\"0\"} 1",
          "percore_core_up{core=\"1\"} 1"
        ]) assert.include(lines, line, result.output)
        assert.match(result.stdout, /percore: stopped: \d+ samples delivered, 0 dropped/, "the shutdown line")
      }, 180_000)

      it("a plain-JavaScript Effect app: Percore.layer in its own HttpRouter app, its own route and Metric on /metrics", () => {
        const result = run(nodeBin(version), ["effect-app.js"], { cwd: project, env: { ...userEnv(version), PERCORE_CORES: "1" }, timeoutMs: 120_000 })
        const { hello, metrics } = JSON.parse(result.stdout.trim().split("\n").filter((l) => l.startsWith("{")).at(-1)!) as {
          hello: { status: number; body: string }
          metrics: string
        }
        assert.deepStrictEqual(hello, { status: 200, body: "hello\n" })
        const lines = metrics.split("\n")
        assert.include(lines, "app_hello_requests_total 2", result.output)
        assert.include(lines, "percore_core_up{core=\"0\"} 1", result.output)
      }, 180_000)

      it("npx percore: --help, serving /metrics with --cores 1 --port, a stop drains and logs the totals, a missing core module refuses to start", async () => {
        const env = userEnv(version)
        const help = run("npx", ["--no-install", "percore", "--help"], { cwd: project, env, timeoutMs: 120_000 })
        assert.include(help.stdout, "--cores")
        assert.include(help.stdout, "PERCORE_CORES")

        // npx runs the command through a shell that may fork it: signal the whole process group, as a terminal's ^C does.
        const port = await findFreePort()
        const served = spawn("npx", ["--no-install", "percore", "--cores", "1", "--port", String(port)], { cwd: project, env, detached: true })
        let output = ""
        served.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
        served.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
        const exited = new Promise<void>((resolve) => served.once("exit", () => resolve()))
        try {
          const deadline = Date.now() + 120_000
          while (!output.includes("percore: serving") && Date.now() < deadline && served.exitCode === null) {
            await new Promise((resolve) => setTimeout(resolve, 50))
          }
          assert.include(output, `percore: serving http://127.0.0.1:${port}/metrics with 1 core`, output)
          const scrape = await getText(`http://127.0.0.1:${port}/metrics`)
          assert.strictEqual(scrape.status, 200)
          assert.include(scrape.body.split("\n"), "percore_core_up{core=\"0\"} 1")
          assert.match(scrape.body, /^demo_http_requests_total\{/m, "the demo core's series")
        } finally {
          if (served.pid !== undefined && served.exitCode === null) process.kill(-served.pid, "SIGTERM")
          await exited
        }
        // The command itself drained its core and logged the run's totals before it exited.
        const stopDeadline = Date.now() + 30_000
        while (!output.includes("percore: stopped:") && Date.now() < stopDeadline) await new Promise((resolve) => setTimeout(resolve, 50))
        assert.match(output, /percore: stopped: \d+ samples delivered, 0 dropped over the run/, output)

        const missing = run("npx", ["--no-install", "percore", "--cores", "1", "--port", "0", "--worker", "./missing.js"], {
          cwd: project,
          env,
          timeoutMs: 120_000,
          allowFailure: true
        })
        assert.notStrictEqual(missing.status, 0, missing.output)
        assert.include(missing.stdout + missing.stderr, "cannot load the core module")
        assert.include(missing.stdout + missing.stderr, join(project, "missing.js"))
        assert.notInclude(missing.stdout + missing.stderr, "percore: serving")
      }, 240_000)
    })
  }

  it("a strict NodeNext TypeScript consumer type-checks against the shipped .d.ts, and a deliberate error fails", () => {
    const tsc = join(repoRoot, "node_modules", "typescript", "bin", "tsc")
    const result = run(process.execPath, [tsc, "-p", join(project, "ts", "tsconfig.json"), "--pretty", "false"], {
      cwd: project,
      timeoutMs: 300_000,
      allowFailure: true
    })
    assert.notStrictEqual(result.status, 0, "bad.ts must fail")
    const errors = result.stdout.split("\n").filter((line) => line.includes("error TS"))
    assert.isAbove(errors.length, 0, result.output)
    // Only the deliberate error: `cores: "two"` (a string where a number goes).
    assert.deepStrictEqual(errors.map((error) => /^(ts\/bad\.ts\(4,\d+\)): error (TS\d+)/.exec(error)?.slice(1)), [["ts/bad.ts(4,37)", "TS2322"]], result.output)
  }, 300_000)
})
