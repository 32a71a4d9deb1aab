/**
 * Entry point of every worker thread percore's DataPlane spawns: attach to the core's buffers, import
 * the core module (the user's, or the demo workload), call its default export with `core` and await it.
 *
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

const loaded: unknown = await import(moduleUrl.startsWith("file:") ? moduleUrl : pathToFileURL(moduleUrl).href)
const main = typeof loaded === "object" && loaded !== null && "default" in loaded ? loaded.default : undefined
parentPort?.postMessage({ type: "up" }) // attached and the core module loaded: the core is up
if (typeof main === "function") {
  try {
    await main(core)
  } catch (error) {
    closeCore() // a crash: publish what was recorded, then let the thread die with the error
    throw error
  }
  closeCore()
  parentPort?.postMessage({ type: "finished" })
  process.exit(0)
}
