/**
 * `startPercore(options)`: percore for apps that do not use Effect. It builds `Percore.server` (the same
 * Layers `npm start` launches) with typed options and returns once the server answers, with the metrics URL
 * and a `close()` that stops the cores, drains them one last time (writing the final snapshot if asked) and
 * closes the server.
 *
 * Options are the settings of README's table in camelCase; each one left out is read from the environment,
 * then defaulted, as the CLI does. A setting that cannot work, or a core module that cannot be loaded,
 * rejects with a `PercoreConfigError` whose message names the setting (and the module).
 */
import { fileURLToPath } from "node:url"
import { Cause, Config, Context, Effect, Exit, Layer, Option, Scope } from "effect"
import { HttpServer } from "effect/http"
import { Percore } from "./Percore.ts"
import { describeConfigError, PercoreConfig, type PercoreOptions } from "./services/PercoreConfig.ts"

/** `startPercore`'s options: the settings' options, with `worker` also taking a `file:` URL. */
export interface StartOptions extends Omit<PercoreOptions, "worker"> {
  /** The core module each core runs: a path (relative paths start from the working directory) or a `file:` URL. */
  readonly worker?: string | URL
}

/** A running percore. */
export interface RunningPercore {
  /** The metrics endpoint, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string
  /** Stops the cores, drains them one last time, writes the final snapshot (if set) and closes the server. */
  readonly close: () => Promise<void>
}

/** A setting that cannot work, or a core module that cannot be loaded; the message names the setting. */
export class PercoreConfigError extends Error {
  readonly _tag = "PercoreConfigError" as const
  /** The `ConfigError` the settings failed with. */
  readonly configError: Config.ConfigError
  constructor(configError: Config.ConfigError) {
    super(describeConfigError(configError))
    this.configError = configError
    this.name = "PercoreConfigError"
  }
}

/** Any other failure to start (e.g. the port is taken), with Effect's account of it. */
export class PercoreStartError extends Error {
  readonly _tag = "PercoreStartError" as const
  constructor(message: string) {
    super(message)
    this.name = "PercoreStartError"
  }
}

const toRejection = (cause: Cause.Cause<unknown>): Error => {
  const failure = Option.getOrUndefined(Cause.findErrorOption(cause))
  return failure instanceof Config.ConfigError ? new PercoreConfigError(failure) : new PercoreStartError(`percore did not start: ${Cause.pretty(cause)}`)
}

/** Starts percore: cores in worker threads, `/metrics` served. Resolves once it serves. */
export const startPercore = async (options: StartOptions = {}): Promise<RunningPercore> => {
  const { worker, ...rest } = options
  const settings: PercoreOptions = worker === undefined ? rest : { ...rest, worker: worker instanceof URL ? fileURLToPath(worker) : worker }
  const scope = Scope.makeUnsafe()
  const started = await Effect.runPromiseExit(Effect.gen(function*() {
    const context = yield* Layer.buildWithScope(Percore.withOptions(settings).server, scope)
    const server = Context.get(context, HttpServer.HttpServer)
    const { metricsPath } = Context.get(context, PercoreConfig)
    return `${HttpServer.formatAddress(server.address)}${metricsPath}`
  }))
  if (Exit.isFailure(started)) {
    await Effect.runPromise(Scope.close(scope, started))
    throw toRejection(started.cause)
  }
  let closing: Promise<void> | undefined
  return {
    url: started.value,
    close: () => (closing ??= Effect.runPromise(Scope.close(scope, Exit.void)))
  }
}
