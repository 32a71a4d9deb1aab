/**
 * The data plane loads no Effect: every module reached from `percore/core`, `percore/ring`, the protocol and the
 * core's worker entry (with the demo workload) through static imports, re-exports and dynamic `import()` is
 * parsed, and none may be `effect` or `@effect/*`. `import type` / `export type` are erased at run time and not
 * followed; `import { type X }` still loads its module (type stripping keeps the statement), so it is.
 */
import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { builtinModules, createRequire } from "node:module"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")

/** Module specifiers a file loads when it runs. */
const runtimeSpecifiers = (file: string, text = readFileSync(file, "utf8")): Array<string> => {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const found: Array<string> = []
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      if (!node.importClause?.isTypeOnly && ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text)
    } else if (ts.isExportDeclaration(node)) {
      if (!node.isTypeOnly && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
        found.push(node.moduleSpecifier.text)
      }
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [first] = node.arguments
      if (first !== undefined && ts.isStringLiteralLike(first)) found.push(first.text)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

const isEffect = (specifier: string): boolean => specifier === "effect" || specifier.startsWith("effect/") || specifier.startsWith("@effect/")
const packageName = (specifier: string): string =>
  specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0]!

interface Offence {
  readonly module: string
  readonly path: ReadonlyArray<string>
}

/** Walks the run-time import graph from `entry`; returns every Effect module reached, with how. */
const effectModulesReached = (entry: string): { readonly offences: ReadonlyArray<Offence>; readonly files: number } => {
  const seen = new Set<string>()
  const offences: Array<Offence> = []
  const walk = (file: string, path: ReadonlyArray<string>): void => {
    if (seen.has(file)) return
    seen.add(file)
    const here = [...path, file.startsWith(root) ? file.slice(root.length + 1) : file]
    for (const specifier of runtimeSpecifiers(file)) {
      if (specifier.startsWith("node:") || builtinModules.includes(specifier)) continue
      if (isEffect(specifier)) {
        offences.push({ module: specifier, path: here })
        continue
      }
      if (specifier.startsWith(".") || specifier.startsWith("/")) {
        walk(resolve(dirname(file), specifier), here)
        continue
      }
      // Another package: follow it from its entry (its own imports of Effect count too).
      let resolved: string
      try {
        resolved = createRequire(file).resolve(specifier)
      } catch {
        offences.push({ module: `${packageName(specifier)} (unresolvable; cannot prove it loads no Effect)`, path: here })
        continue
      }
      walk(resolved, here)
    }
  }
  walk(resolve(root, entry), [])
  return { offences, files: seen.size }
}

describe("import graph of the data plane", () => {
  for (const entry of ["src/core/index.ts", "src/ring/index.ts", "src/protocol/index.ts", "src/core/worker-main.ts", "src/core/demo.ts", "src/prom-client/index.ts"]) {
    it(`${entry} loads nothing from effect or @effect/*`, () => {
      const { offences, files } = effectModulesReached(entry)
      assert.isAbove(files, 0)
      assert.deepStrictEqual(
        offences.map(({ module, path }) => `${module} via ${path.join(" → ")}`),
        [],
        "the data plane must stay Effect-free"
      )
    })
  }

  it("the walker sees static, re-exported and dynamic imports and skips type-only ones", () => {
    const sample = [
      `import { readFileSync } from "node:fs"`,
      `import type { Effect } from "effect/Effect"`,
      `import { type A } from "./a.ts"`,
      `export { B } from "./b.ts"`,
      `export type { T } from "./t.ts"`,
      `const c = () => import("./c.ts")`,
      `import "effect"`
    ].join("\n")
    assert.deepStrictEqual(runtimeSpecifiers("sample.ts", sample).sort(), ["./a.ts", "./b.ts", "./c.ts", "effect", "node:fs"].sort())
  })
})
