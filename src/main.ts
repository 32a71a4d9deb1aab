/**
 * percore as a node process: data-plane cores in worker threads, the control plane serving /metrics.
 * SIGINT / SIGTERM interrupt the main fiber: cores are asked to stop, drained one last time, the server
 * closes, and the process exits 0. Settings come from the environment (see README); one that cannot work is
 * logged as one line naming its variable, and the process exits 1. `percore --help` (src/cli.ts) offers the
 * same as flags.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { Percore } from "./Percore.ts"
import { reportConfigErrors } from "./services/PercoreConfig.ts"
import { teardown } from "./teardown.ts"

NodeRuntime.runMain(reportConfigErrors(Layer.launch(Percore.server)), { teardown })
