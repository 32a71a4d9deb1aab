/**
 * percore as a node process: data-plane cores in worker threads, the control plane serving /metrics.
 * SIGINT / SIGTERM interrupt the main fiber: cores are asked to stop, drained one last time, the server
 * closes, and the process exits 0 (a stop that was asked for is a success, not an error).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Exit, Layer, Runtime } from "effect"
import { Percore } from "./Percore.ts"

NodeRuntime.runMain(Layer.launch(Percore.server), {
  teardown: (exit, onExit) =>
    Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)
})
