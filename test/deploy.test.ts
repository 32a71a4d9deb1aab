/**
 * The deployment files: Prometheus loads the config and the alert rules (`promtool check`), and every
 * percore metric the Grafana dashboard and the alerts query is one percore actually exports.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { SelfMetric } from "../src/domain/index.ts"

const root = join(import.meta.dirname, "..")
const promtool = "/usr/bin/promtool"
const hasPromtool = existsSync(promtool)
if (!hasPromtool && process.env["CI"] !== "true") console.log("deploy tests: promtool not installed (Debian package prometheus); skipping its checks")

/** Every sample name percore's own families render. */
const exported = new Set(Object.values(SelfMetric).flatMap(({ name }) =>
  name === SelfMetric.drainDuration.name ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name]
))

const percoreNamesIn = (text: string): Array<string> => [...new Set(text.match(/percore_[a-z_]+[a-z]/g) ?? [])]

describe("deploy/", () => {
  it.skipIf(!hasPromtool && process.env["CI"] !== "true")("promtool accepts prometheus.yml and its alert rules", () => {
    const config = spawnSync(promtool, ["check", "config", "deploy/prometheus.yml"], { cwd: root, encoding: "utf8" })
    assert.strictEqual(config.status, 0, config.stdout + config.stderr)
    assert.include(config.stdout, "1 rule files found")
    const rules = spawnSync(promtool, ["check", "rules", "deploy/percore-alerts.yml"], { cwd: root, encoding: "utf8" })
    assert.strictEqual(rules.status, 0, rules.stdout + rules.stderr)
  })

  it("the Grafana dashboard is valid JSON whose panels query metrics percore exports", () => {
    const dashboard = JSON.parse(readFileSync(join(root, "deploy/grafana-dashboard.json"), "utf8")) as {
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>
    }
    assert.isAtLeast(dashboard.panels.length, 6)
    for (const panel of dashboard.panels) {
      assert.isAbove(panel.targets.length, 0, panel.title)
      for (const { expr } of panel.targets) {
        for (const name of percoreNamesIn(expr)) assert.isTrue(exported.has(name), `${panel.title}: ${name} is not exported`)
      }
    }
  })

  it("the alert rules query metrics percore exports", () => {
    const names = percoreNamesIn(readFileSync(join(root, "deploy/percore-alerts.yml"), "utf8").replace(/^\s*- alert:.*$/gm, ""))
    assert.isAbove(names.length, 0)
    for (const name of names) assert.isTrue(exported.has(name), `${name} is not exported`)
  })
})
