/**
 * The deployment files: Prometheus loads the config and the alert rules (`promtool check`), every percore
 * metric the Grafana dashboard and the alerts query is one percore actually exports, and every panel and
 * alert expression, run by a real Prometheus scraping a real percore, evaluates without error (panels: with
 * data, and with the labels their legends name).
 *
 * Gate: mandatory when CI=true; elsewhere the promtool / Prometheus tests are skipped (with a printed reason)
 * when /usr/bin/promtool or /usr/bin/prometheus is missing (Debian package `prometheus`).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { SelfMetric } from "../src/domain/index.ts"
import { ProcessMetric, RuntimeMetric } from "../src/protocol/index.ts"
import {
  apiData,
  killAllChildren,
  type Prometheus,
  prometheusBinary,
  query,
  runPrometheus,
  startPercore,
  tempDir,
  type VectorSample,
  waitFor
} from "./support/e2e.ts"

afterAll(killAllChildren)

const root = join(import.meta.dirname, "..")
const ci = process.env["CI"] === "true"
const promtool = "/usr/bin/promtool"
const hasPromtool = existsSync(promtool)
if (!hasPromtool && !ci) console.log("deploy tests: promtool not installed (Debian package prometheus); skipping its checks")
const hasPrometheus = existsSync(prometheusBinary)
if (!hasPrometheus && !ci) console.log("deploy tests: prometheus not installed (Debian package prometheus); skipping the live queries")

/** percore's histogram families (their samples are `_bucket`, `_sum` and `_count`). */
const histograms: ReadonlySet<string> = new Set([SelfMetric.drainDuration.name, RuntimeMetric.gcDuration.name, RuntimeMetric.eventLoopDelay.name])

/** Every sample name percore's own families render: its self-metrics, and the runtime and process metrics. */
const exported = new Set([...Object.values(SelfMetric), ...Object.values(RuntimeMetric), ...Object.values(ProcessMetric)].flatMap(({ name }) =>
  histograms.has(name) ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name]
))

interface Target {
  readonly refId: string
  readonly expr: string
  readonly legendFormat?: string
}
interface Dashboard {
  readonly templating: { readonly list: ReadonlyArray<{ readonly name: string; readonly type: string; readonly query?: unknown; readonly regex?: string }> }
  readonly panels: ReadonlyArray<{ readonly title: string; readonly targets: ReadonlyArray<Target> }>
}
const dashboard = (): Dashboard => JSON.parse(readFileSync(join(root, "deploy/grafana-dashboard.json"), "utf8")) as Dashboard

/** The alert rules' expressions (one line each, as deploy/percore-alerts.yml writes them). */
const alertExpressions = (): ReadonlyArray<{ readonly alert: string; readonly expr: string }> => {
  const text = readFileSync(join(root, "deploy/percore-alerts.yml"), "utf8")
  const alerts = [...text.matchAll(/^\s*- alert:\s*(\S+)\s*\n\s*expr:\s*(.+)$/gm)].map((m) => ({ alert: m[1]!, expr: m[2]!.trim() }))
  assert.strictEqual(alerts.length, (text.match(/^\s*- alert:/gm) ?? []).length, "every alert's expr is on the line after its name")
  return alerts
}

/** Grafana's built-in intervals, as Grafana would fill them in for a 15-minute dashboard on a short scrape interval. */
const grafanaBuiltins: Readonly<Record<string, string>> = { __rate_interval: "1m", __interval: "15s", __range: "15m" }

/** `$name`, `${name}` and `[[name]]` replaced by `values[name]`; fails on a variable it does not know. */
const substitute = (expr: string, values: Readonly<Record<string, string>>): string =>
  expr.replace(/\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]/g, (whole, a: string | undefined, b: string | undefined, c: string | undefined) => {
    const name = a ?? b ?? c ?? ""
    if (/^\d+$/.test(name)) return whole // `$1` in label_replace's replacement
    const value = values[name]
    if (value === undefined) return assert.fail(`${expr}: unknown variable ${whole}`)
    return value
  })

/** How README and prometheus.yml's header say to install the config: both files into one directory. */
const documentedCopy = "cp deploy/prometheus.yml deploy/percore-alerts.yml /etc/prometheus/"

/** Runs the documented copy with `dir` in place of /etc/prometheus. */
const copyAsDocumented = (dir: string): void => {
  const [command, ...args] = documentedCopy.replace("/etc/prometheus/", `${dir}/`).split(" ")
  const copied = spawnSync(command!, args, { cwd: root, encoding: "utf8" })
  assert.strictEqual(copied.status, 0, copied.stderr)
}

/** The names of percore's metrics a text queries: `percore_*`, and the runtime and process metrics' `nodejs_*` / `process_*`. */
const percoreNamesIn = (text: string): Array<string> =>
  [...new Set(text.match(/\b(?:percore|nodejs|process)_[a-z_]+[a-z]/g) ?? [])].filter((name) => !name.endsWith("_"))

describe("deploy/", () => {
  it.skipIf(!hasPromtool && !ci)("promtool accepts prometheus.yml and its alert rules", () => {
    const config = spawnSync(promtool, ["check", "config", "deploy/prometheus.yml"], { cwd: root, encoding: "utf8" })
    assert.strictEqual(config.status, 0, config.stdout + config.stderr)
    assert.include(config.stdout, "1 rule files found")
    const rules = spawnSync(promtool, ["check", "rules", "deploy/percore-alerts.yml"], { cwd: root, encoding: "utf8" })
    assert.strictEqual(rules.status, 0, rules.stdout + rules.stderr)
  })

  it.skipIf(!hasPromtool && !ci)("copied as README and its header say, prometheus.yml passes promtool with its rules; alone it fails", () => {
    for (const documented of ["README.md", "deploy/prometheus.yml"]) {
      assert.include(readFileSync(join(root, documented), "utf8"), documentedCopy, `${documented} says how to copy the config`)
    }
    const dir = mkdtempSync(join(tmpdir(), "percore-deploy-copy-"))
    try {
      const installed = join(dir, "installed")
      const alone = join(dir, "alone")
      for (const d of [installed, alone]) mkdirSync(d)
      copyAsDocumented(installed)
      // Run from elsewhere: rule_files resolve against the config's directory, not the working directory.
      const check = spawnSync(promtool, ["check", "config", join(installed, "prometheus.yml")], { cwd: dir, encoding: "utf8" })
      assert.strictEqual(check.status, 0, check.stdout + check.stderr)
      assert.include(check.stdout, "1 rule files found")
      assert.include(check.stdout, `${alertExpressions().length} rules found`)
      // The message README quotes for the config copied alone.
      writeFileSync(join(alone, "prometheus.yml"), readFileSync(join(root, "deploy/prometheus.yml")))
      const lone = spawnSync(promtool, ["check", "config", join(alone, "prometheus.yml")], { cwd: dir, encoding: "utf8" })
      assert.notStrictEqual(lone.status, 0, lone.stdout + lone.stderr)
      assert.include(lone.stdout + lone.stderr, `"${alone}/percore-alerts.yml" does not point to an existing file`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
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

const fixture = join(root, "test/fixtures/deploy-core.ts")

/** The values a Grafana query variable takes, asked of Prometheus as Grafana's Prometheus data source asks. */
const variableValues = (
  prometheus: Prometheus,
  variable: Dashboard["templating"]["list"][number],
  resolved: Readonly<Record<string, string>>
) =>
  Effect.gen(function*() {
    const written = typeof variable.query === "string"
      ? variable.query
      : typeof variable.query === "object" && variable.query !== null && "query" in variable.query && typeof variable.query.query === "string"
      ? variable.query.query
      : ""
    // A variable's query may use the variables above it (Grafana resolves them in order).
    const definition = substitute(written, resolved)
    const labelValues = /^label_values\((?:(.+),\s*)?(\w+)\)$/.exec(definition)
    const metrics = /^metrics\((.+)\)$/.exec(definition)
    const strings = (data: unknown): ReadonlyArray<string> => (Array.isArray(data) ? data.filter((v) => typeof v === "string") : [])
    let values: ReadonlyArray<string>
    if (labelValues !== null) {
      const match = labelValues[1] === undefined ? "" : `?match[]=${encodeURIComponent(labelValues[1])}`
      values = strings(yield* apiData(prometheus, `/api/v1/label/${labelValues[2]}/values${match}`))
    } else if (metrics !== null) {
      const pattern = new RegExp(`^(?:${metrics[1]})$`)
      values = strings(yield* apiData(prometheus, "/api/v1/label/__name__/values")).filter((name) => pattern.test(name))
    } else {
      return assert.fail(`variable ${variable.name}: query ${JSON.stringify(variable.query)} is not one this test knows`)
    }
    // Grafana's variable regex: keeps the matching values, the first capture group when there is one.
    if (variable.regex !== undefined && variable.regex !== "") {
      const regex = /^\/(.*)\/([a-z]*)$/.exec(variable.regex)
      assert.isNotNull(regex, `variable ${variable.name}: regex ${variable.regex}`)
      const pattern = new RegExp(regex![1]!, regex![2])
      values = values.flatMap((value) => {
        const m = pattern.exec(value)
        return m === null ? [] : [m[1] ?? m[0]]
      })
    }
    return values
  })

/**
 * A real Prometheus running deploy/prometheus.yml and its alert rules, installed as documented (into a temporary
 * directory), with two edits: the target is this test's percore, and it scrapes and evaluates every second.
 */
const startDeployedPrometheus = (percorePort: number) =>
  Effect.gen(function*() {
    const dir = yield* tempDir("percore-deploy-prometheus-")
    copyAsDocumented(dir)
    const configFile = join(dir, "prometheus.yml")
    const shipped = readFileSync(configFile, "utf8")
    assert.include(shipped, "- 127.0.0.1:9464")
    writeFileSync(
      configFile,
      shipped
        .replace("- 127.0.0.1:9464", `- 127.0.0.1:${percorePort}`)
        .replace(/^(\s*(?:scrape_interval|scrape_timeout|evaluation_interval):) \S+/gm, "$1 1s")
    )
    return yield* runPrometheus(configFile, dir)
  })

interface RuleHealth {
  readonly name: string
  readonly health: string
  readonly lastError: string
}

/** The alerting rules Prometheus loaded, with their health, from /api/v1/rules. */
const alertingRules = (prometheus: Prometheus) =>
  Effect.map(apiData(prometheus, "/api/v1/rules?type=alert"), (data): ReadonlyArray<RuleHealth> => {
    const record = (u: unknown): Record<string, unknown> => (typeof u === "object" && u !== null ? { ...u } : {})
    const groups = record(data)["groups"]
    return (Array.isArray(groups) ? groups : []).flatMap((group: unknown) => {
      const rules = record(group)["rules"]
      return (Array.isArray(rules) ? rules : []).map((rule: unknown) => {
        const r = record(rule)
        return { name: String(r["name"]), health: String(r["health"]), lastError: String(r["lastError"] ?? "") }
      })
    })
  })

/** The `{{label}}`s a legend format names. */
const legendLabels = (format: string | undefined): ReadonlyArray<string> => [...(format ?? "").matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!)

describe.skipIf(!hasPrometheus && !ci)("deploy/ against a real Prometheus scraping a real percore", () => {
  it.live("every Grafana panel target returns data with its legend's labels, and every alert rule loads and evaluates", () =>
    Effect.gen(function*() {
      const percore = yield* startPercore({ PERCORE_CORES: "2", PERCORE_WORKER: fixture })
      const prometheus = yield* startDeployedPrometheus(percore.port)
      const watch = [percore.child, prometheus.child]
      // A few scrapes (one a second), so that every rate has two samples and more in its window.
      yield* waitFor(
        "Prometheus to store five scrapes of percore",
        Effect.map(query(prometheus, "count_over_time(up{job=\"percore\"}[1m])"), (s) => (s.length === 1 && Number(s[0]!.value) >= 5 ? true : undefined)),
        { timeoutMs: 60_000, intervalMs: 500, watch }
      )

      const values: Record<string, string> = { ...grafanaBuiltins }
      for (const variable of dashboard().templating.list) {
        if (variable.type === "datasource") continue
        const found = yield* variableValues(prometheus, variable, values)
        assert.isAbove(found.length, 0, `dashboard variable $${variable.name} has no value`)
        values[variable.name] = found.length === 1 ? found[0]! : `(${found.join("|")})`
      }

      const problems: Array<string> = []
      const evaluate = (what: string, expr: string) =>
        Effect.map(Effect.result(query(prometheus, expr)), (result): ReadonlyArray<VectorSample> => {
          if (result._tag === "Success") return result.success
          problems.push(`${what}: ${expr}\n    ${result.failure.message}`)
          return []
        })
      let panelTargets = 0
      for (const panel of dashboard().panels) {
        for (const target of panel.targets) {
          panelTargets++
          const what = `panel "${panel.title}" target ${target.refId}`
          const expr = substitute(target.expr, values)
          const samples = yield* evaluate(what, expr)
          if (samples.length === 0 && !problems.some((p) => p.startsWith(what))) problems.push(`${what}: ${expr}\n    no data`)
          for (const label of legendLabels(target.legendFormat)) {
            const without = samples.filter((s) => s.metric[label] === undefined)
            if (without.length > 0) problems.push(`${what}: ${expr}\n    legend {{${label}}}: missing in ${JSON.stringify(without[0]!.metric)}`)
          }
        }
      }
      const alerts = alertExpressions()
      for (const { alert, expr } of alerts) yield* evaluate(`alert ${alert}`, expr)
      // Prometheus' own rule evaluation: every rule of the file loaded, evaluated, and healthy.
      const rules = yield* waitFor(
        "Prometheus to evaluate every alert rule",
        Effect.map(alertingRules(prometheus), (r) => (r.length > 0 && r.every((rule) => rule.health !== "unknown") ? r : undefined)),
        { timeoutMs: 30_000, intervalMs: 500, watch }
      )
      assert.sameMembers(rules.map((r) => r.name), alerts.map((a) => a.alert))
      for (const rule of rules) if (rule.health !== "ok") problems.push(`alert rule ${rule.name}: ${rule.health} ${rule.lastError}`)

      assert.isAtLeast(panelTargets, 10)
      assert.isAtLeast(alerts.length, 6)
      assert.deepStrictEqual(problems, [], problems.join("\n"))
    }), 120_000)
})
