/**
 * `npm start` stops on SIGTERM to npm's pid alone, as a process manager or a container runtime sends it: the
 * service drains, writes its final snapshot and exits 0, npm exits 0, and no process of the tree is left.
 *
 * npm runs the `start` script through `/bin/sh -c`, and npm forwards SIGTERM only to that shell. A shell that
 * forks the command (dash, Debian's /bin/sh) dies of the signal and leaves node running, orphaned; the script
 * therefore `exec`s node, so npm's forwarded signal reaches the service itself.
 *
 * The npm is the real one: the npm running the tests (`npm_execpath`, run with this test's Node) or else
 * `npm` on PATH. The processes are found through /proc, so the test needs Linux.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { connect } from "node:net"
import { basename, join } from "node:path"
import { freePort, httpGet, killAllChildren, repoRoot, spawnChild, tempDir, waitFor } from "./support/e2e.ts"
import { type ProcStat, readProcStat } from "./support/process.ts"

afterAll(killAllChildren)

const CORES = 2
const COUNT = 100
const fixture = join(repoRoot, "test/fixtures/e2e-core.ts")

/** npm itself (never a wrapper script), so that the pid the test signals is npm's. */
const npm = (): { readonly command: string; readonly args: ReadonlyArray<string> } => {
  const execpath = process.env["npm_execpath"]
  if (execpath !== undefined && basename(execpath) === "npm-cli.js") return { command: process.execPath, args: [execpath] }
  return { command: "npm", args: [] }
}

/** A process as /proc/<pid>/stat shows it. */
interface ProcEntry extends ProcStat {
  readonly pid: number
}

const procStat = (pid: number): ProcEntry | undefined => {
  const stat = readProcStat(pid)
  return stat === undefined ? undefined : { pid, ...stat }
}

/** Every live descendant of `pid` (children, grandchildren, …). */
const descendants = (pid: number): ReadonlyArray<ProcEntry> => {
  const all = readdirSync("/proc").filter((name) => /^\d+$/.test(name)).flatMap((name) => procStat(Number(name)) ?? [])
  const found: Array<ProcEntry> = []
  const parents = new Set([pid])
  for (let grew = true; grew;) {
    grew = false
    for (const p of all) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid)
        found.push(p)
        grew = true
      }
    }
  }
  return found
}

/** Still running: the same process (same start time), not a zombie. */
const alive = (p: ProcEntry): boolean => {
  const now = procStat(p.pid)
  return now !== undefined && now.startTime === p.startTime && now.state !== "Z"
}

const commandLine = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim()
  } catch {
    return ""
  }
}

/** Whether something accepts connections on 127.0.0.1:port. */
const listening = (port: number) =>
  Effect.promise(() =>
    new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1")
      socket.once("connect", () => {
        socket.destroy()
        resolve(true)
      })
      socket.once("error", () => resolve(false))
    })
  )

describe.skipIf(process.platform !== "linux")("npm start", () => {
  it.live("SIGTERM to npm's pid alone: the service drains, writes its final snapshot and exits; npm exits 0", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const dir = yield* tempDir("percore-stop-")
      const snapshot = join(dir, "final.om")
      const { command, args } = npm()
      const started = yield* spawnChild("npm start", command, [...args, "start"], {
        cwd: repoRoot,
        env: {
          ...process.env,
          npm_config_update_notifier: "false",
          PERCORE_HOST: "127.0.0.1",
          PERCORE_PORT: String(port),
          PERCORE_CORES: String(CORES),
          PERCORE_WORKER: fixture,
          PERCORE_FINAL_SNAPSHOT: snapshot,
          E2E_MODE: "totals",
          E2E_COUNT: String(COUNT)
        },
        killAfterMs: 10_000
      })
      const npmPid = started.process.pid
      assert.isDefined(npmPid, started.describe())

      // Every core recorded everything (e2e_recorded is set last, the ring is FIFO): the totals are known.
      yield* waitFor(
        `npm start to serve http://127.0.0.1:${port}/metrics with every core's totals`,
        Effect.map(httpGet(`http://127.0.0.1:${port}/metrics`, {}, 2_000), (r) =>
          r.status === 200 && new RegExp(`^e2e_recorded ${CORES}(\\.0)?$`, "m").test(r.body) ? true : undefined),
        { timeoutMs: 30_000, intervalMs: 200, watch: [started] }
      )
      const tree = descendants(npmPid!)
      // If the stop fails, whatever is left of the tree must not outlive the test.
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          for (const p of tree) if (alive(p)) process.kill(p.pid, "SIGKILL")
        })
      )
      assert.isTrue(
        tree.some((p) => commandLine(p.pid).includes("src/main.ts")),
        `no \`node src/main.ts\` under npm (pid ${npmPid}): ${tree.map((p) => `${p.pid} ${commandLine(p.pid)}`).join("; ")}`
      )

      assert.isTrue(process.kill(npmPid!, "SIGTERM"))
      const exit = yield* Effect.promise(() =>
        Promise.race([
          started.exit,
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 30_000).unref())
        ])
      )
      assert.isDefined(exit, `npm did not exit 30 s after SIGTERM\n${started.describe()}`)
      assert.deepStrictEqual({ code: exit!.code, signal: exit!.signal }, { code: 0, signal: null }, started.describe())

      const left = tree.filter(alive).map((p) => `${p.pid} ${commandLine(p.pid)}`)
      assert.deepStrictEqual(left, [], `still running after npm exited\n${started.describe()}`)
      assert.isFalse(yield* listening(port), `something still listens on port ${port}`)

      assert.isTrue(existsSync(snapshot), `no final snapshot at ${snapshot}\n${started.describe()}`)
      const written = readFileSync(snapshot, "utf8")
      assert.isTrue(written.endsWith("# EOF\n"), written)
      const requests = written.split("\n").find((line) => line.startsWith("e2e_requests_total{"))
      assert.strictEqual(requests && Number(requests.slice(requests.lastIndexOf(" ") + 1)), CORES * (COUNT + 2.5), written)
      assert.include(started.stdout() + started.stderr(), `final snapshot written to ${snapshot}`)
    }))
})
