/**
 * The jitter benchmark's reference: the same work loop (`jitter-loop.ts`, same yields) with no metrics and no
 * server, alone in its process — what the machine itself does to a busy thread (timer interrupts, the hypervisor,
 * its neighbours). Prints `{"type":"started"}`; SIGTERM / SIGINT (or `JITTER_DEADLINE`) stop the loop, the samples
 * go to `JITTER_OUT`, and the process exits 0.
 */
import process from "node:process"
import { readLoopSettings, runLoop, writeSamples } from "./jitter-loop.ts"

const settings = readLoopSettings()
let stopping = false
process.once("SIGTERM", () => (stopping = true))
process.once("SIGINT", () => (stopping = true))
process.stdout.write(`${JSON.stringify({ type: "started" })}\n`)

let sink = 0
const outcome = await runLoop(settings, (previousMs) => {
  sink += previousMs
}, () => stopping)
writeSamples(settings.out, outcome)
process.exit(sink >= 0 ? 0 : 1)
