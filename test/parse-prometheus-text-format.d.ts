// Minimal types for the untyped npm package `parse-prometheus-text-format` (a text 0.0.4 parser we did not write,
// used by the exposition tests). All values are returned as the strings found in the exposition.
declare module "parse-prometheus-text-format" {
  export interface ParsedMetric {
    readonly value?: string
    readonly labels?: Readonly<Record<string, string>>
    readonly timestamp_ms?: string
    readonly buckets?: Readonly<Record<string, string>>
    readonly quantiles?: Readonly<Record<string, string>>
    readonly count?: string
    readonly sum?: string
  }
  export interface ParsedFamily {
    readonly name: string
    readonly help: string
    /** Upper-cased TYPE: COUNTER, GAUGE, HISTOGRAM, SUMMARY, UNTYPED. */
    readonly type: string
    readonly metrics: ReadonlyArray<ParsedMetric>
  }
  export default function parsePrometheusTextFormat(text: string): Array<ParsedFamily>
}
