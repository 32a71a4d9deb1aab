/**
 * How the process exits: a stop that was asked for (SIGINT / SIGTERM interrupting the main fiber) is a
 * success, exit code 0; anything else as Effect's default teardown decides (failures exit non-zero).
 */
import { Cause, Exit, Runtime } from "effect"

export const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)
