/**
 * Entry point of every worker thread percore's DataPlane spawns: attach to the core's buffers, import
 * the core module (the user's, or the demo workload), call its default export with `core` and await it.
 *
 * - Before running user code it reports how loading went: `{ type: "up" }`, or `{ type: "load-failed" }`
 *   with the reason (the module is missing, does not parse, throws while loading, or has no default-export
 *   function). The control plane treats a first load failure as a configuration error.
 * - Returning means the core finished: a final flush, a "finished" message, and the thread ends.
 * - Throwing, or an uncaught error anywhere in the thread, is a crash: the final flush still runs first
 *   (through `uncaughtExceptionMonitor`), so every sample recorded before the crash reaches the ring.
 */
import process from "node:process"
import { parentPort, workerData } from "node:worker_threads"
import { pathToFileURL } from "node:url"
import { closeCore, core } from "./index.ts"

const { moduleUrl } = (workerData as { percoreWorker: { moduleUrl: string } }).percoreWorker

process.on("uncaughtExceptionMonitor", () => closeCore())

void core.id // attach now: the core answers flush requests before any user code runs

/** The core module's default export, or why there is none to run. */
const loadMain = async (): Promise<{ readonly main: (c: typeof core) => unknown } | { readonly reason: string }> => {
  let loaded: unknown
  try {
    loaded = await import(moduleUrl.startsWith("file:") ? moduleUrl : pathToFileURL(moduleUrl).href)
  } catch (error) {
    return { reason: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }
  }
  const main = typeof loaded === "object" && loaded !== null && "default" in loaded ? loaded.default : undefined
  if (typeof main !== "function") return { reason: "it has no default export that is a function (export default async (core) => { ... })" }
  return { main: (c) => main(c) }
}

const loading = await loadMain()
if ("reason" in loading) {
  closeCore()
  parentPort?.postMessage({ type: "load-failed", reason: loading.reason })
  process.exit(1)
} else {
  parentPort?.postMessage({ type: "up" }) // attached and the core module loaded: the core is up
  try {
    await loading.main(core)
  } catch (error) {
    closeCore() // a crash: publish what was recorded, then let the thread die with the error
    throw error
  }
  closeCore()
  parentPort?.postMessage({ type: "finished" })
  process.exit(0)
}
