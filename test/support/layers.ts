/**
 * The control plane's service layers for in-process tests, with settings from an env map: the data plane alone,
 * or the HTTP server over it.
 */
import { ConfigProvider, Layer } from "effect"
import { MetricsHttp } from "../../src/http/MetricsHttp.ts"
import { Aggregate } from "../../src/services/Aggregate.ts"
import { DataPlane } from "../../src/services/DataPlane.ts"
import { Drainer } from "../../src/services/Drainer.ts"
import { Freshness } from "../../src/services/Freshness.ts"
import { PercoreConfig } from "../../src/services/PercoreConfig.ts"

/** PercoreConfig read from `env` (over `PERCORE_CONTROL_PLANE_NICE=0`), with the provider it read it from. */
export const configLayer = (env: Record<string, string>) =>
  PercoreConfig.layer.pipe(Layer.provideMerge(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { PERCORE_CONTROL_PLANE_NICE: "0", ...env } }))))

/** The aggregate over the settings of `env`: what `servedLayer` stands on, plus whatever a test adds in between. */
export const aggregateLayer = (env: Record<string, string>) => Aggregate.layer.pipe(Layer.provideMerge(configLayer(env)))

/** MetricsHttp, Freshness, DataPlane and Drainer over `below` (usually `aggregateLayer(env)`), all of them kept. */
export const servedLayer = <A, E, R>(below: Layer.Layer<A, E, R>) =>
  MetricsHttp.layer.pipe(
    Layer.provideMerge(Freshness.layer),
    Layer.provideMerge(DataPlane.layer),
    Layer.provideMerge(Drainer.layer),
    Layer.provideMerge(below)
  )

/**
 * DataPlane over Drainer, Aggregate and PercoreConfig, with the settings of `env` as they are (no defaults added);
 * the config provider itself is not part of the output.
 */
export const dataPlaneLayer = (env: Record<string, string>) =>
  DataPlane.layer.pipe(
    Layer.provideMerge(Drainer.layer),
    Layer.provideMerge(Aggregate.layer),
    Layer.provideMerge(PercoreConfig.layer),
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))
  )
