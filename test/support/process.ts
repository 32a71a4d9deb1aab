/**
 * Child processes, free ports and plain HTTP GETs for the tests and the benchmarks, without Effect (the benchmarks
 * drive processes with promises; `test/support/e2e.ts` wraps these as scoped Effect resources).
 *
 * Every child started here is tracked: `killAllChildren` SIGKILLs whatever still runs, and a synchronous `exit`
 * hook does the same if the parent process goes away first.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { type IncomingHttpHeaders, request as httpRequest } from "node:http"
import { createServer as createNetServer } from "node:net"

/** Absolute path of the repository root (the cwd `npm start` runs in). */
export const repoRoot = new URL("../..", import.meta.url).pathname.replace(/\/$/, "")

/** What the tests and benchmarks read of a `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat` line (Linux). */
export interface ProcStat {
  /** The command name (15 characters at most; may hold spaces and parentheses). */
  readonly comm: string
  readonly state: string
  readonly ppid: number
  /** utime + stime, in clock ticks (10 ms). */
  readonly ticks: number
  readonly nice: number
  /** Start time after boot, in clock ticks: tells a reused pid apart. */
  readonly startTime: string
}

/** Parses a stat line, or undefined when `text` is not one (the process ended before it was read). */
export const parseProcStat = (text: string | undefined): ProcStat | undefined => {
  if (text === undefined) return undefined
  const open = text.indexOf("(")
  const close = text.lastIndexOf(")")
  if (open < 0 || close < 0) return undefined
  // The fields after the name's last ")": fields[0] is field 3 (state), ppid is field 4, utime and stime 14 and 15,
  // nice 19, starttime 22.
  const fields = text.slice(close + 2).split(" ")
  const ticks = Number(fields[11]) + Number(fields[12])
  if (!Number.isFinite(ticks)) return undefined
  return {
    comm: text.slice(open + 1, close),
    state: fields[0] ?? "",
    ppid: Number(fields[1]),
    ticks,
    nice: Number(fields[16]),
    startTime: fields[19] ?? ""
  }
}

/** `/proc/<path>/stat` parsed, e.g. `readProcStat("1234")` or `readProcStat("1234/task/1240")`. */
export const readProcStat = (path: string | number): ProcStat | undefined => {
  try {
    return parseProcStat(readFileSync(`/proc/${path}/stat`, "utf8"))
  } catch {
    return undefined
  }
}

/** A free TCP port on 127.0.0.1: listen on port 0, read the port, close. */
export const findFreePort = (): Promise<number> =>
  new Promise<number>((resolve, reject) => {
    const server = createNetServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))))
    })
  })

// ---------------------------------------------------------------------------------------------------------
// Child processes

export interface ExitInfo {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly error?: Error
  /** `Date.now()` when the process exited. */
  readonly at: number
}

export interface Child {
  readonly name: string
  readonly process: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** The exit, once it happened. */
  readonly exited: () => ExitInfo | undefined
  /** Resolves when the process has exited (or failed to start). */
  readonly exit: Promise<ExitInfo>
  /** Resolves with the first stdout line from now on that `match` accepts; rejects on exit or after `timeoutMs`. */
  readonly nextLine: (match: (line: string) => boolean, timeoutMs: number) => Promise<string>
  /** Name, pid, exit and output, for failure messages. */
  readonly describe: () => string
}

export const describeExit = (exit: ExitInfo): string =>
  exit.error !== undefined ? `failed: ${exit.error.message}` : exit.signal !== null ? `signal ${exit.signal}` : `code ${exit.code}`

const tail = (s: string, max = 4000) => (s.length > max ? `…${s.slice(-max)}` : s)

const running = new Set<ChildProcess>()

/** SIGKILLs every child these helpers started that is still running (for `afterAll` and a bench's way out). */
export const killAllChildren = (): void => {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
  running.clear()
}
process.once("exit", killAllChildren)

interface StartOptions {
  /** Default: the repository root. */
  readonly cwd?: string
  /** Default: this process' environment. */
  readonly env?: NodeJS.ProcessEnv
  /** `pipe` to write to the child's stdin (`child.process.stdin`). Default: `ignore`. */
  readonly stdin?: "pipe" | "ignore"
}

/** Spawns a process (no shell), collecting its output and splitting its stdout into lines for `nextLine`. */
export const startChild = (name: string, command: string, args: ReadonlyArray<string>, options: StartOptions = {}): Child => {
  const proc = spawn(command, args, {
    cwd: options.cwd ?? repoRoot,
    env: options.env ?? process.env,
    stdio: [options.stdin ?? "ignore", "pipe", "pipe"]
  })
  running.add(proc)
  let stdout = ""
  let stderr = ""
  let partial = ""
  const lineListeners = new Set<(line: string | undefined) => void>()
  proc.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk
    const lines = (partial + chunk).split("\n")
    partial = lines.pop() ?? ""
    for (const line of lines) for (const listener of [...lineListeners]) listener(line)
  })
  proc.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  let exitInfo: ExitInfo | undefined
  const exit = new Promise<ExitInfo>((resolve) => {
    const exited = (info: ExitInfo): void => {
      exitInfo ??= info
      running.delete(proc)
      resolve(exitInfo)
      for (const listener of [...lineListeners]) listener(undefined)
    }
    proc.once("exit", (code, signal) => exited({ code, signal, at: Date.now() }))
    proc.once("error", (error) => {
      // A process that failed to start never emits "exit".
      if (proc.pid === undefined) exited({ code: null, signal: null, error, at: Date.now() })
    })
  })
  const describe = (): string =>
    `--- ${name} (pid ${proc.pid ?? "none"}, ${exitInfo === undefined ? "running" : describeExit(exitInfo)}) ` +
    `${command} ${args.join(" ")}\n--- stdout:\n${tail(stdout)}\n--- stderr:\n${tail(stderr)}`
  const nextLine = (match: (line: string) => boolean, timeoutMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer)
        lineListeners.delete(listener)
      }
      const listener = (line: string | undefined): void => {
        if (line === undefined) {
          done()
          reject(new Error(`${name} exited before the expected output:\n${describe()}`))
        } else if (match(line)) {
          done()
          resolve(line)
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${name}: no expected output within ${timeoutMs} ms:\n${describe()}`))
      }, timeoutMs)
      if (exitInfo !== undefined) listener(undefined)
      else lineListeners.add(listener)
    })
  return { name, process: proc, stdout: () => stdout, stderr: () => stderr, exited: () => exitInfo, exit, nextLine, describe }
}

/** SIGTERM, wait up to `killAfterMs`, SIGKILL, wait (bounded) for the exit. Never throws. */
export const stopChild = async (child: Child, killAfterMs: number): Promise<void> => {
  if (child.exited() !== undefined) return
  child.process.kill("SIGTERM")
  const timeout = (ms: number) => new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms).unref())
  if ((await Promise.race([child.exit, timeout(killAfterMs)])) !== undefined) return
  child.process.kill("SIGKILL")
  await Promise.race([child.exit, timeout(5_000)])
}

// ---------------------------------------------------------------------------------------------------------
// HTTP

export interface HttpResult {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/**
 * GET (a plain node:http request, no agent reuse: no socket outlives the request), bounded by `timeoutMs`.
 * Rejects on a network error or timeout; `signal` aborts it.
 */
export const getText = (
  url: string,
  headers: Readonly<Record<string, string>> = {},
  timeoutMs = 5_000,
  signal?: AbortSignal
): Promise<HttpResult> =>
  new Promise<HttpResult>((resolve, reject) => {
    const req = httpRequest(url, { method: "GET", headers: { ...headers }, ...(signal ? { signal } : {}), timeout: timeoutMs, agent: false }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => (body += chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on("error", reject)
    })
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)))
    req.on("error", reject)
    req.end()
  })
