/**
 * Small, allocation-light text helpers shared by the renderer: escaping, name checks, number formatting.
 */

const wellFormed = String.prototype as String & { toWellFormed(): string }

/** Replaces lone UTF-16 surrogates by U+FFFD so the UTF-8 encoding of the result is valid. */
export const toWellFormed = (s: string): string => wellFormed.toWellFormed.call(s)

const labelValueSpecial = /[\\"\n]/
const labelValueReplace = /[\\"\n]/g
const helpTextSpecial = /[\\\n]/
const helpTextReplace = /[\\\n]/g
const helpOpenMetricsSpecial = /[\\"\n]/
const helpOpenMetricsReplace = /[\\"\n]/g

const escapeChar = (c: string): string => c === "\n" ? "\\n" : c === "\\" ? "\\\\" : "\\\""

/** Label value escaping (both formats): `\` → `\\`, `"` → `\"`, line feed → `\n`; lone surrogates → U+FFFD. */
export const escapeLabelValue = (value: string): string => {
  const s = toWellFormed(value)
  return labelValueSpecial.test(s) ? s.replace(labelValueReplace, escapeChar) : s
}

/** HELP escaping: text 0.0.4 escapes `\` and line feed; OpenMetrics also `"`. Lone surrogates → U+FFFD. */
export const escapeHelp = (help: string, openMetrics: boolean): string => {
  const s = toWellFormed(help)
  if (openMetrics) {
    return helpOpenMetricsSpecial.test(s) ? s.replace(helpOpenMetricsReplace, escapeChar) : s
  }
  return helpTextSpecial.test(s) ? s.replace(helpTextReplace, escapeChar) : s
}

// The name rules live in the domain; the renderer checks what it is given against the same patterns.
export { labelNamePattern, metricNamePattern } from "../domain/names.ts"

/**
 * Sample value (the renderer writes the same bytes directly, see `putNumberLine`): `NaN`, `+Inf`, `-Inf`, otherwise JavaScript's shortest round-trip representation (`1e+21`, `5e-7`,
 * `0.1`), which both the 0.0.4 and the OpenMetrics grammars accept. `-0` prints as `0`.
 */
export const formatValue = (v: number): string =>
  v === v ? (v === Infinity ? "+Inf" : v === -Infinity ? "-Inf" : "" + v) : "NaN"

/**
 * Go's `strconv.FormatFloat(v, 'g', -1, 64)`: shortest round-trip digits, exponent form when the decimal exponent is
 * < -4 or ≥ 6 (Go decides %e/%f with precision 6 in shortest mode), the exponent signed and at least two digits
 * (`1e+06`, `1.5e-05`). `-0` prints as `0`. This is what client_golang prints for `le` / `quantile` in text 0.0.4, so label values match Go exporters.
 */
export const formatGoFloat = (v: number): string => {
  if (v !== v) return "NaN"
  if (v === Infinity) return "+Inf"
  if (v === -Infinity) return "-Inf"
  if (v === 0) return "0"
  const e = v.toExponential() // shortest round-trip digits, e.g. "1.5e-7", "-1e+6"
  const at = e.indexOf("e")
  const exp = Number(e.slice(at + 1))
  if (exp < -4 || exp >= 6) {
    const sign = exp < 0 ? "-" : "+"
    const abs = exp < 0 ? -exp : exp
    return e.slice(0, at) + "e" + sign + (abs < 10 ? "0" + abs : "" + abs)
  }
  return "" + v // JavaScript prints fixed notation for these exponents, with the same shortest digits
}

/**
 * OpenMetrics canonical number for `le` / `quantile` label values: Go's `%g` with `.0` appended when there is neither
 * a decimal point nor an exponent (`1.0`, `0.0`, `1e+06`), as client_golang does.
 */
export const formatCanonicalFloat = (v: number): string => {
  const s = formatGoFloat(v)
  if (v !== v || v === Infinity || v === -Infinity) return s
  return s.includes(".") || s.includes("e") ? s : s + ".0"
}
