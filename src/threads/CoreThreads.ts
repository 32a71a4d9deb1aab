/**
 * CoreThreads — how the DataPlane starts a core's thread, and how the control plane steps out of the cores' way.
 *
 * On a busy machine the control plane (HTTP, rendering, draining) competes with the cores for CPUs. A scrape
 * storm must not slow the data plane, so on Linux percore lowers the scheduling priority of the control-plane
 * thread (`PERCORE_CONTROL_PLANE_NICE`, default 10): when CPUs are short, the kernel runs the cores first and
 * the control plane gets what is left, while an idle machine still serves scrapes at full speed.
 *
 * Linux keeps a nice value per thread, and a new thread inherits its creator's. A core started by the reniced
 * control plane would inherit the lower priority, and an unprivileged thread cannot raise it back. So the
 * cores are started by a launcher: a small thread started *before* the control plane lowers its priority. It
 * keeps the normal priority, starts every core (restarts included) on request, and forwards each core's
 * `message`, `error` and `exit` events and the control plane's `terminate`. Without the launcher (nice 0, or
 * not Linux) the control plane starts cores itself.
 */
import { EventEmitter } from "node:events"
import os from "node:os"
import process from "node:process"
import { inspect } from "node:util"
import { Worker } from "node:worker_threads"

/** The part of a `Worker` the DataPlane uses: its events and `terminate()`. */
export interface CoreThread {
  on(event: "message", listener: (message: unknown) => void): unknown
  on(event: "error", listener: (error: unknown) => void): unknown
  on(event: "exit", listener: (code: number) => void): unknown
  terminate(): unknown
}

export interface CoreSpawnOptions {
  readonly workerData: unknown
  readonly name: string
}

/** Starts core threads: directly, or through a launcher thread. */
export interface CoreSpawner {
  readonly spawn: (entry: URL, options: CoreSpawnOptions) => CoreThread
  /** Ends the launcher thread (and any core it still runs); nothing for the direct spawner. */
  readonly close: () => Promise<void>
}

export const directSpawner: CoreSpawner = {
  spawn: (entry, options) => new Worker(entry, { workerData: options.workerData, name: options.name }),
  close: () => Promise.resolve()
}

/** Messages from the control plane to the launcher. */
export type LauncherRequest =
  | {
    readonly type: "spawn"
    readonly id: number
    readonly entry: string
    readonly workerData: unknown
    readonly name: string
    /** The control plane's environment now: what a core started by the control plane itself would see. */
    readonly env: Readonly<Record<string, string | undefined>>
  }
  | { readonly type: "terminate"; readonly id: number }

/** Messages from the launcher to the control plane. */
export type LauncherEvent =
  | { readonly type: "ready" }
  | { readonly type: "message"; readonly id: number; readonly message: unknown }
  | { readonly type: "error"; readonly id: number; readonly error: ForwardedError }
  | { readonly type: "exit"; readonly id: number; readonly code: number }

// Sources run as .ts, the published package as .js.
const launcherEntry = new URL(`./core-launcher${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url)

/**
 * A thrown value as the launcher forwards it: an Error's name, message, stack and `_tag` (percore's definition
 * errors carry one), or any other value's description.
 */
export type ForwardedError =
  | { readonly name: string; readonly message: string; readonly stack: string | undefined; readonly tag: string | undefined }
  | string

/** The `_tag` of a tagged error (percore's definition errors, Effect's tagged errors), if it has one. */
export const errorTag = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string" ? error._tag : undefined

/** `postMessage` keeps none of an Error's own properties (it arrives as `{}`): send them as plain data. */
export const forwardableError = (error: unknown): ForwardedError =>
  error instanceof Error
    ? { name: error.name, message: error.message, stack: error.stack, tag: errorTag(error) }
    : typeof error === "string" ? error : inspect(error)

/** The Error again (same name, message, stack and `_tag`), or the description of a thrown non-Error. */
const revivedError = (error: ForwardedError): unknown => {
  if (typeof error === "string") return error
  const revived = new Error(error.message)
  revived.name = error.name
  if (error.stack !== undefined) revived.stack = error.stack
  return error.tag === undefined ? revived : Object.assign(revived, { _tag: error.tag })
}

/**
 * A crashed core's error as one readable text: `Tag: message` (the `_tag`, else the name), then the stack's frames.
 * A thrown non-Error is described as such.
 */
export const describeCrash = (error: unknown): string => {
  if (!(error instanceof Error)) return typeof error === "string" ? `thrown value ${JSON.stringify(error)}` : `thrown value ${inspect(error)}`
  const headline = `${errorTag(error) ?? error.name}: ${error.message}`
  const stack = error.stack ?? ""
  // The stack starts with its own "Name: message" header (possibly several lines): keep only the frames.
  const frames = stack.split("\n").filter((line) => /^\s+at /.test(line))
  return frames.length === 0 ? headline : `${headline}\n${frames.join("\n")}`
}

/**
 * Starts the launcher thread (at the caller's priority) and resolves once it listens. Rejects if the
 * launcher cannot start.
 */
export const startLauncher = (): Promise<CoreSpawner> =>
  new Promise((resolve, reject) => {
    const launcher = new Worker(launcherEntry, { name: "percore-launcher" })
    const threads = new Map<number, EventEmitter>()
    let nextId = 0
    let ready = false
    let gone = false
    launcher.on("message", (event: LauncherEvent) => {
      if (event.type === "ready") {
        ready = true
        resolve(spawner)
        return
      }
      const thread = threads.get(event.id)
      if (thread === undefined) return
      if (event.type === "exit") {
        threads.delete(event.id)
        thread.emit("exit", event.code)
      } else if (event.type === "message") thread.emit("message", event.message)
      else thread.emit("error", revivedError(event.error))
    })
    launcher.on("error", (error) => {
      if (!ready) reject(error)
    })
    launcher.on("exit", (code) => {
      gone = true
      if (!ready) reject(new Error(`percore: the core launcher exited with code ${code} before it started`))
      // Nested workers end with their parent: every core still running has ended with the launcher.
      for (const [id, thread] of threads) {
        threads.delete(id)
        thread.emit("exit", 1)
      }
    })
    const send = (request: LauncherRequest): void => launcher.postMessage(request)
    const spawner: CoreSpawner = {
      spawn: (entry, options) => {
        // Should the launcher ever be gone, cores still start (at the control plane's priority) rather than never.
        if (gone) return directSpawner.spawn(entry, options)
        const id = nextId++
        const thread = new EventEmitter()
        // An "error" event with no listener would throw; the DataPlane listens, but stay safe.
        thread.on("error", () => {})
        threads.set(id, thread)
        send({ type: "spawn", id, entry: entry.href, workerData: options.workerData, name: options.name, env: { ...process.env } })
        return Object.assign(thread, { terminate: () => send({ type: "terminate", id }) }) as EventEmitter & CoreThread
      },
      close: () => launcher.terminate().then(() => undefined)
    }
  })

/**
 * Whether a thread can lower its own priority alone: Linux keeps a nice value per thread. Elsewhere
 * `setpriority(PRIO_PROCESS, 0)` means the whole process, cores included: not what we want.
 */
export const perThreadPriority = process.platform === "linux"

/**
 * Lowers the calling thread's scheduling priority to `nice` (Linux: per thread; threads it starts later inherit it).
 * Never raises it. Returns the thread's nice value afterwards, or undefined where this is not possible.
 */
export const lowerThreadPriority = (nice: number): number | undefined => {
  if (!perThreadPriority) return undefined
  try {
    const current = os.getPriority(0)
    if (current >= nice) return current
    os.setPriority(0, nice)
    return os.getPriority(0)
  } catch {
    return undefined // e.g. a sandbox without setpriority: run at the priority we have
  }
}
