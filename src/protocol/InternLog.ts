/**
 * InternLog — a per-core, append-only log of series definitions in shared memory.
 *
 * Threading contract: one appender (the core that defines series) and one reader (the control plane).
 * The appender copies an entry's bytes with plain writes past the published end, then publishes the new
 * end with `Atomics.store(END)`. The reader loads END with `Atomics.load` and reads only bytes below it,
 * so every byte it reads was written before the store it synchronized with: no access races.
 *
 * The core appends a series' entry before it records the series' first sample into its ring; the control
 * plane reads the log after loading the ring's TAIL. So a sample whose id is unknown to the control plane
 * always finds its definition in the log: no round trip, no lost or misattributed sample.
 *
 * Layout: `[MAGIC:i32][END:i32]` then entries `[byteLength:u32][UTF-8 JSON]`, 4-byte aligned. Each entry is
 * an `InternEntry`.
 */
import type { GaugeAggregation, MetricKind } from "../domain/MetricKind.ts"
import type { LabelPair } from "../domain/series.ts"

/** One entry of the intern log: what the control plane needs to map ring ids to aggregate series. */
export interface InternEntry {
  /** The series' first ring id; `seriesLayout` says how many it takes and what each carries. */
  readonly id: number
  readonly name: string
  readonly kind: MetricKind
  readonly help: string
  readonly labels: ReadonlyArray<LabelPair>
  readonly buckets?: ReadonlyArray<number>
  readonly aggregate?: GaugeAggregation
}
const MAGIC = 0x4c544e49 // "INTL"
const H_MAGIC = 0
const H_END = 1
const HEADER_BYTES = 8

export class InternLogFull extends Error {
  readonly capacityBytes: number
  constructor(capacityBytes: number) {
    super(`percore: this core's intern log (${capacityBytes} bytes) is full; no more series can be defined on it`)
    this.capacityBytes = capacityBytes
  }
}

const align4 = (n: number): number => (n + 3) & ~3

export const InternLog = {
  allocate(bytes: number): SharedArrayBuffer {
    if (!Number.isInteger(bytes) || bytes < 64) throw new RangeError(`intern log size must be an integer ≥ 64, got ${bytes}`)
    const buffer = new SharedArrayBuffer(align4(bytes))
    const words = new Int32Array(buffer, 0, 2)
    Atomics.store(words, H_END, HEADER_BYTES)
    Atomics.store(words, H_MAGIC, MAGIC)
    return buffer
  },

  validate(buffer: SharedArrayBuffer): Int32Array {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < 64 || buffer.byteLength % 4 !== 0) {
      throw new TypeError("percore: not an intern log buffer")
    }
    const words = new Int32Array(buffer, 0, 2)
    if (Atomics.load(words, H_MAGIC) !== MAGIC) throw new TypeError("percore: not an intern log buffer (bad magic number)")
    return words
  }
} as const

/** The core's side: appends entries. Not for the hot path (it encodes and allocates). */
export class InternLogWriter {
  private readonly words: Int32Array
  private readonly bytes: Uint8Array
  private readonly view: DataView
  private end: number
  private readonly encoder = new TextEncoder()

  constructor(buffer: SharedArrayBuffer) {
    this.words = InternLog.validate(buffer)
    this.bytes = new Uint8Array(buffer)
    this.view = new DataView(buffer)
    this.end = Atomics.load(this.words, H_END)
  }

  /** Appends one entry; throws `InternLogFull` (appending nothing) if it does not fit. */
  append(entry: InternEntry): void {
    const encoded = this.encoder.encode(JSON.stringify(entry))
    const next = align4(this.end + 4 + encoded.length)
    if (next > this.bytes.length) throw new InternLogFull(this.bytes.length)
    this.view.setUint32(this.end, encoded.length, true)
    this.bytes.set(encoded, this.end + 4)
    this.end = next
    Atomics.store(this.words, H_END, next) // ── publish the entry to the control plane ──
  }
}

/** The control plane's side: reads entries appended since the last call, oldest first. */
export class InternLogReader {
  private readonly words: Int32Array
  private readonly bytes: Uint8Array
  private readonly view: DataView
  private position = HEADER_BYTES
  private readonly decoder = new TextDecoder()

  constructor(buffer: SharedArrayBuffer) {
    this.words = InternLog.validate(buffer)
    this.bytes = new Uint8Array(buffer)
    this.view = new DataView(buffer)
  }

  readNew(onEntry: (entry: unknown) => void): number {
    const end = Atomics.load(this.words, H_END)
    let count = 0
    while (this.position < end) {
      const length = this.view.getUint32(this.position, true)
      // slice() copies into an unshared buffer, which TextDecoder requires.
      const text = this.decoder.decode(this.bytes.slice(this.position + 4, this.position + 4 + length))
      this.position = align4(this.position + 4 + length)
      count++
      onEntry(JSON.parse(text))
    }
    return count
  }
}
