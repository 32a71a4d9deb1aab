/**
 * The core launcher's thread (see CoreThreads.ts): started at normal priority before the control plane lowers
 * its own, it starts core threads on request, so they inherit the normal priority, and forwards their events.
 */
import { parentPort, Worker } from "node:worker_threads"
import { forwardableError, type LauncherEvent, type LauncherRequest } from "./CoreThreads.ts"

const port = parentPort
if (port === null) throw new Error("percore: core-launcher.ts runs only as a worker thread")

const send = (event: LauncherEvent): void => port.postMessage(event)
const cores = new Map<number, Worker>()

port.on("message", (request: LauncherRequest) => {
  if (request.type === "terminate") {
    void cores.get(request.id)?.terminate()
    return
  }
  const { id } = request
  const worker = new Worker(new URL(request.entry), { workerData: request.workerData, name: request.name, env: request.env })
  cores.set(id, worker)
  worker.on("message", (message: unknown) => send({ type: "message", id, message }))
  worker.on("error", (error) => send({ type: "error", id, error: forwardableError(error) }))
  worker.on("exit", (code) => {
    cores.delete(id)
    send({ type: "exit", id, code })
  })
})

send({ type: "ready" })
