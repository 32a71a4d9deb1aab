/**
 * TelemetryRing — a single-producer / single-consumer, lock-free, overwrite-oldest ring of metric
 * samples on a `SharedArrayBuffer`.
 *
 * ## Threading contract
 * One producer (a data-plane core: `TelemetryRing.writer(buffer)`) and one consumer (the control
 * plane: `TelemetryRing.reader(buffer)`), on the same or different threads. They cannot change roles
 * and there is never a second of either: `writer()` / `reader()` claim the role in shared memory and
 * throw if it is taken. The producer never blocks, never allocates and never throws: when the ring
 * is full it overwrites the oldest unread sample — except a sample the consumer is copying at that very
 * moment (its chunk is "claimed"): then the new sample is dropped instead. Overwriting is announced a window of
 * positions at a time (up to 1024, at most capacity / 8: one announcement instead of one per sample, so the
 * producer stays fast exactly when it is overrunning), and the consumer counts the whole window's old samples as
 * lost, so up to that many more of the oldest unread samples are dropped. Every loss is counted, exactly:
 * `reader.delivered + reader.dropped + reader.pending() === writer.recorded`, for any interleaving and
 * any consumer stall (positions are 53-bit; see "Positions").
 *
 * ## Which call to use
 * The per-sample path is `append()`, with `publish()` once per batch: a flush, an event-loop turn, every N samples
 * (percore's cores append on flush and publish once). It skips the publishing `Atomics.store` (a full fence on
 * x86), so it costs about 0.6× `record()` (13–14 ns against 20–23 ns in the hot-path bench). `record()` is append +
 * publish in one call, for a lone sample that must be visible to the consumer at once (a rare event, a producer
 * that may stall before it would publish); in a loop, prefer `append()` and one `publish()` after it.
 *
 * ## Memory layout (byte offsets; every shared control word sits on its own 64-byte line)
 * ```
 *   0  header (written once by allocate)   MAGIC | VERSION | CAPACITY | WRITER_CLAIMED | READER_CLAIMED
 *  64  TAIL    (producer)   LO | HI | SEQ   published end of written samples
 * 128  INTENT  (producer)   LO | HI | SEQ   "samples at positions below INTENT-C may be overwritten now"
 * 192  HEAD    (consumer)   LO | HI | SEQ   everything below HEAD has been read
 * 256  CLOCK   (producer)   wall-clock ms mod 2^32, as the producer last read it (see "Timestamps")
 * 320  WAKE    (producer)   bumped + notified when the ring crosses half full
 * 384  CLAIM   (consumer)   LO | HI | SEQ   the consumer may be copying positions in [HEAD, CLAIM)
 * 448  REFUSED (producer)   LO | HI | SEQ   samples dropped at once because their slot was claimed
 * 512  slots: capacity × 16 bytes; slot of position p is p & (capacity - 1)
 *        word 0: metricId (bits 0–23) | kind (bits 24–31)
 *        word 1: timestamp, wall-clock ms mod 2^32 (unwrapped by the reader against its own clock)
 *        word 2–3: value, float64
 * ```
 * Slots are 16 bytes so the consumer reads four words sequentially per sample; ids use 24 bits
 * (metricId < 2^24 = 16,777,216) and kinds 8 bits (`MetricKind` uses 0–2).
 *
 * ## Timestamps
 * Every sample carries the CLOCK word as it was when written. Reading the clock costs more than the rest of
 * `record()`, so the producer reads it only now and then, and no thread ticks it: at its first sample, every
 * STAMP_EVERY (256) positions after that, and at the first sample after each `publish()` (the fast path's one
 * limit check covers it). So a batch (`append()` … `publish()`, as percore's cores flush) is stamped when its first
 * sample is written, and a `record()` caller's timestamps are at most 256 records stale: a producer that calls
 * `record()` rarely gets old stamps unless it calls `publish()` first.
 *
 * ## Positions
 * Cursors are free-running positions held as JavaScript numbers (exact below 2^53) and published as
 * (LO, HI) word pairs. LO is stored on every publish; HI changes once per 2^32 positions and only
 * inside a seqlock (SEQ odd → HI → LO → SEQ even), so a reader that sees SEQ even and unchanged around
 * its loads of HI and LO holds a consistent pair. Hence the books stay exact across any stall, including
 * more than 2^32 records between two drains.
 *
 * ## Memory-model argument (ECMAScript memory model)
 * Control words are only ever accessed with sequentially consistent `Atomics` operations on an
 * `Int32Array`. Slot payloads are accessed with plain reads and writes, and the protocol guarantees that
 * no payload access ever races (no two accesses to a slot unordered by happens-before, one a write):
 * - The producer writes position q into the slot of q − C. (a) If q − C < HEAD (loaded with
 *   `Atomics.load`), the consumer's reads of q − C happened before its `Atomics.store(HEAD)`, which
 *   synchronizes with that load. (b) Otherwise, unless q is inside a window announced before, it announces
 *   a window: stores INTENT = A ≥ q + 1 (up to q + 1024), then loads CLAIM (and HEAD again). If [HEAD, CLAIM)
 *   does not overlap the window's old positions [q − C, A − C), every position below A may be written
 *   without further checks; if it does, only q may, and only if q − C is outside [HEAD, CLAIM); otherwise
 *   the producer drops the sample (REFUSED++) and writes nothing.
 * - The consumer copies a chunk [p0, end) only after storing CLAIM = end and then loading INTENT; it
 *   skips (counts as lost) every position below INTENT − C and copies the rest with plain reads.
 *   For a copied position p ≥ INTENT − C, the producer's INTENT store of a window covering p + C comes
 *   after the consumer's INTENT load in the single total order of SC atomics, so the producer's following
 *   CLAIM load comes after the consumer's CLAIM store and sees the claim: it does not write that slot until
 *   it sees HEAD past p (case (a), ordered by HEAD). Conversely, a producer that missed the claim had
 *   stored INTENT first, so the consumer sees that INTENT and skips the slot (Dekker's argument). INTENT
 *   only grows, so a window stays announced to every later claim.
 * - The consumer reads position p only after an `Atomics.load(TAIL)` that saw the producer's later
 *   `Atomics.store(TAIL, p' ≥ p + 1)`, which orders the producer's plain writes of p before the reads. (`append()`
 *   defers that store to `publish()`; the slots it writes are above TAIL, which the consumer never reads.)
 * So every slot read returns exactly the sample of its position: no torn sample, no duplicate. Every
 * position below the consumer's TAIL snapshot ends in exactly one bucket (lost before the chunk, skipped
 * as announced, or delivered), and every refused record in REFUSED, so the books are exact.
 */
import { wallClockMs } from "./clock.ts"

const MAGIC = 0x52434550 // "PECR"
const VERSION = 2
const WORDS_PER_LINE = 16 // 64 bytes

// Header line.
const H_MAGIC = 0
const H_VERSION = 1
const H_CAPACITY = 2
const H_WRITER_CLAIMED = 3
const H_READER_CLAIMED = 4
// Position pairs: LO, HI, SEQ at consecutive words of their own line.
const TAIL = 1 * WORDS_PER_LINE
const INTENT = 2 * WORDS_PER_LINE
const HEAD = 3 * WORDS_PER_LINE
const CLOCK = 4 * WORDS_PER_LINE
const WAKE = 5 * WORDS_PER_LINE
const CLAIM = 6 * WORDS_PER_LINE
const REFUSED = 7 * WORDS_PER_LINE
const SLOTS = 8 * WORDS_PER_LINE
const SLOT_WORDS = 4

const LO = 0
const HI = 1
const SEQ = 2

const TWO_POW_32 = 4294967296
const ID_MASK = 0xffffff
/** Largest capacity: 2^24 slots (256 MiB). */
export const MAX_CAPACITY = 1 << 24
/** metricIds must be integers in [0, MAX_METRIC_ID]. */
export const MAX_METRIC_ID = ID_MASK
/** Samples are copied and validated in chunks of this many slots (bounded staging, early skipping). */
const CHUNK = 1024
/**
 * When overwriting, the producer announces this many positions per INTENT store (at most capacity / 8): one
 * store and two loads per window instead of per sample. The consumer counts an announced sample as lost even
 * if it is overwritten a little later, which under overwriting it is anyway.
 */
const OVERWRITE_WINDOW = 1024
/** The fast path reads no clock; the producer re-reads it at least this often (positions). */
const STAMP_EVERY = 256
/** A seqlock reader gives up after this many tries (only if a peer died inside its 4-store section). */
const SEQLOCK_TRIES = 1 << 20

/** Called once per delivered sample, oldest first. `timestampMs` is wall-clock ms since the epoch. */
export type SampleSink = (metricId: number, kind: number, value: number, timestampMs: number) => void

const isPowerOfTwo = (n: number): boolean => (n & (n - 1)) === 0

const capacityFor = (requested: number): number => {
  if (!Number.isInteger(requested)) throw new RangeError(`TelemetryRing capacity must be an integer, got ${requested}`)
  if (requested < 2) throw new RangeError(`TelemetryRing capacity must be at least 2, got ${requested}`)
  if (requested > MAX_CAPACITY) throw new RangeError(`TelemetryRing capacity must be at most 2^24 (${MAX_CAPACITY}), got ${requested}`)
  let capacity = 2
  while (capacity < requested) capacity *= 2
  return capacity
}

/** Stores a position pair; `previousHi` is the HI this side last published. Returns the new HI. */
const publishPosition = (words: Int32Array, at: number, position: number, previousHi: number): number => {
  const hi = Math.floor(position / TWO_POW_32)
  if (hi === previousHi) {
    Atomics.store(words, at + LO, position)
    return hi
  }
  Atomics.add(words, at + SEQ, 1) // odd: a reader retries
  Atomics.store(words, at + HI, hi)
  Atomics.store(words, at + LO, position)
  Atomics.add(words, at + SEQ, 1) // even again
  return hi
}

/** Loads a consistent position pair, or NaN if the peer stays inside its seqlock section. */
const loadPosition = (words: Int32Array, at: number): number => {
  for (let tries = 0; tries < SEQLOCK_TRIES; tries++) {
    const seq = Atomics.load(words, at + SEQ)
    const hi = Atomics.load(words, at + HI)
    const lo = Atomics.load(words, at + LO)
    if ((seq & 1) === 0 && Atomics.load(words, at + SEQ) === seq) return hi * TWO_POW_32 + (lo >>> 0)
  }
  return Number.NaN
}

const validate = (buffer: SharedArrayBuffer): { words: Int32Array; capacity: number } => {
  if (!(buffer instanceof SharedArrayBuffer)) throw new TypeError("TelemetryRing: expected a SharedArrayBuffer from TelemetryRing.allocate()")
  if (buffer.byteLength < SLOTS * 4 + 2 * SLOT_WORDS * 4) {
    throw new TypeError(`TelemetryRing: buffer of ${buffer.byteLength} bytes is too small to be a ring`)
  }
  const words = new Int32Array(buffer)
  const magic = Atomics.load(words, H_MAGIC)
  const version = Atomics.load(words, H_VERSION)
  const capacity = Atomics.load(words, H_CAPACITY)
  if (magic !== MAGIC) throw new TypeError("TelemetryRing: buffer is not a ring (bad magic number)")
  if (version !== VERSION) throw new TypeError(`TelemetryRing: ring format version ${version}, expected ${VERSION}`)
  if (capacity < 2 || capacity > MAX_CAPACITY || !isPowerOfTwo(capacity)) {
    throw new TypeError(`TelemetryRing: bad capacity ${capacity} in ring header`)
  }
  if (buffer.byteLength !== TelemetryRing.byteLength(capacity)) {
    throw new TypeError(`TelemetryRing: buffer is ${buffer.byteLength} bytes, a ring of capacity ${capacity} is ${TelemetryRing.byteLength(capacity)}`)
  }
  return { words, capacity }
}

const claim = (words: Int32Array, index: number, role: string): void => {
  if (Atomics.compareExchange(words, index, 0, 1) !== 0) {
    throw new Error(`TelemetryRing: this ring already has a ${role}; a ring has exactly one ${role}`)
  }
}

/**
 * The producer side. Keep one per ring, in the thread that records. All state it needs is
 * preallocated here; `record()` allocates nothing.
 */
export class RingWriter {
  private readonly words: Int32Array
  private readonly doubles: Float64Array
  private readonly mask: number
  private readonly capacity: number
  private readonly half: number
  /** Positions announced per INTENT store when overwriting (see recordSlow). */
  private readonly overwriteWindow: number
  // Producer-private numeric state in a typed array: exact doubles, no boxing, no allocation.
  private readonly state: Float64Array
  /** Records refused because metricId or kind was out of range (they are not "recorded"). */
  rejected = 0

  constructor(buffer: SharedArrayBuffer) {
    const { words, capacity } = validate(buffer)
    claim(words, H_WRITER_CLAIMED, "writer")
    this.words = words
    this.doubles = new Float64Array(buffer)
    this.capacity = capacity
    this.mask = capacity - 1
    this.half = capacity / 2
    this.overwriteWindow = Math.max(1, Math.min(OVERWRITE_WINDOW, capacity >> 3))
    const position = loadPosition(words, TAIL)
    const head = loadPosition(words, HEAD)
    this.state = new Float64Array(13)
    this.state[S_POSITION] = position
    this.state[S_START] = position
    this.state[S_CACHED_HEAD] = head
    this.state[S_WOKEN_AT_HEAD] = -1
    this.state[S_TAIL_HI] = Math.floor(position / TWO_POW_32)
    this.state[S_SAFE_LIMIT] = Math.min(head + this.half, (this.state[S_TAIL_HI]! + 1) * TWO_POW_32 - 1)
    this.state[S_STAMP_AT] = position // the first sample reads the clock
    this.state[S_FAST_LIMIT] = position
    const intent = loadPosition(words, INTENT)
    this.state[S_INTENT] = intent
    this.state[S_ANNOUNCED] = intent
    this.state[S_INTENT_HI] = Math.floor(intent / TWO_POW_32)
    this.state[S_REFUSED] = loadPosition(words, REFUSED)
    this.state[S_REFUSED_HI] = Math.floor(this.state[S_REFUSED]! / TWO_POW_32)
  }

  /**
   * Positions the consumer is done with (delivered or counted as lost) since this writer started: its HEAD.
   * For a producer that would rather wait for the consumer than overwrite (it is never made to).
   */
  get consumed(): number {
    const head = loadPosition(this.words, HEAD)
    return Number.isNaN(head) ? 0 : Math.max(0, head - this.state[S_START]!)
  }

  /** Records this writer took (every one is delivered or counted as dropped, exactly once). */
  get recorded(): number {
    return this.state[S_POSITION]! - this.state[S_START]! + this.state[S_REFUSED]!
  }

  /**
   * Appends one sample. Never blocks, never allocates, never throws; overwrites the oldest unread
   * sample when full. Returns false (and counts `rejected`) only if metricId is not an integer in
   * [0, 2^24) or kind is not an integer in [0, 255].
   */
  record(metricId: number, kind: number, value: number): boolean {
    if ((metricId & ID_MASK) !== metricId || (kind & 0xff) !== kind) {
      this.rejected++
      return false
    }
    const state = this.state
    const q = state[S_POSITION]!
    // One comparison guards every slow case: slot not proven free, half-full wake-up, HI change, clock read due.
    if (q >= state[S_FAST_LIMIT]! && this.leaveFastPath(q)) return this.recordSlow(q, metricId, kind, value)
    const words = this.words
    const slot = SLOTS + ((q & this.mask) << 2)
    // The slot's previous sample was consumed (HEAD says so): nothing can read it concurrently.
    words[slot] = metricId | (kind << 24)
    words[slot + 1] = Atomics.load(words, CLOCK)
    this.doubles[(slot >> 1) + 1] = value
    state[S_POSITION] = q + 1
    Atomics.store(words, TAIL + LO, q + 1) // ── publish the sample to the consumer ──
    return true
  }

  /**
   * Like `record()`, but leaves the sample unpublished: the consumer sees it after the next `publish()` (or the
   * next `record()`, or an `append()` that takes the slow path, which publish everything written before them).
   * For a producer that writes a batch at once, e.g. a flush: one publishing `Atomics.store` per batch instead of
   * one per sample. Until then the sample counts in `recorded` but not on the reader's side, so the books balance
   * again at `publish()`. Same guarantees otherwise: never blocks, never allocates, never throws.
   * (`record()` repeats these lines instead of calling this: `append()` + a publishing store measured ~0.5 ns
   * more per record in the hot-path bench.)
   */
  append(metricId: number, kind: number, value: number): boolean {
    if ((metricId & ID_MASK) !== metricId || (kind & 0xff) !== kind) {
      this.rejected++
      return false
    }
    const state = this.state
    const q = state[S_POSITION]!
    if (q >= state[S_FAST_LIMIT]! && this.leaveFastPath(q)) return this.recordSlow(q, metricId, kind, value)
    const words = this.words
    const slot = SLOTS + ((q & this.mask) << 2)
    // As in record(): the slot's previous sample was consumed. The consumer reads nothing at or above TAIL.
    words[slot] = metricId | (kind << 24)
    words[slot + 1] = Atomics.load(words, CLOCK)
    this.doubles[(slot >> 1) + 1] = value
    state[S_POSITION] = q + 1
    return true
  }

  /**
   * Publishes every sample appended so far. Fast-path positions never leave TAIL's current HI epoch (the fast
   * limit stops below the next one), so this is one store of LO.
   */
  publish(): void {
    const state = this.state
    const position = state[S_POSITION]!
    state[S_TAIL_HI] = publishPosition(this.words, TAIL, position, state[S_TAIL_HI]!) // ── publish ──
    state[S_STAMP_AT] = position // every batch is stamped when it starts
    if (state[S_FAST_LIMIT]! > position) state[S_FAST_LIMIT] = position
  }

  /**
   * Position q reached the fast limit: reads the clock into the CLOCK word if due (samples carry it until the next
   * read, see "Timestamps"), and says whether q needs the slow path; if not, the fast path goes on.
   */
  private leaveFastPath(q: number): boolean {
    const state = this.state
    if (q >= state[S_STAMP_AT]!) {
      Atomics.store(this.words, CLOCK, wallClockMs() | 0)
      state[S_STAMP_AT] = q + STAMP_EVERY
    }
    const safe = state[S_SAFE_LIMIT]!
    state[S_FAST_LIMIT] = Math.min(safe, state[S_STAMP_AT]!)
    return q >= safe
  }

  /**
   * The slow path: refresh HEAD, wake the consumer once per HEAD when half full, write plainly if the
   * slot is free or announce-then-write atomically if it is not, and publish (with the seqlock on a HI
   * change). Then recompute the fast path's limit.
   */
  private recordSlow(q: number, metricId: number, kind: number, value: number): boolean {
    const words = this.words
    const state = this.state
    const capacity = this.capacity
    const loaded = loadPosition(words, HEAD)
    // A consumer stuck inside its seqlock section: keep the older (smaller, hence safe) cached HEAD.
    const head = Number.isNaN(loaded) ? state[S_CACHED_HEAD]! : loaded
    state[S_CACHED_HEAD] = head
    // Half full: wake the consumer once per HEAD, after this sample is published (or refused), so the drain it
    // triggers takes the sample that crossed the line too.
    const wake = q - head >= this.half && state[S_WOKEN_AT_HEAD] !== head
    if (wake) state[S_WOKEN_AT_HEAD] = head
    const slot = SLOTS + ((q & this.mask) << 2)
    const clock = Atomics.load(words, CLOCK)
    const word0 = metricId | (kind << 24)
    if (q >= head + capacity && q >= state[S_ANNOUNCED]!) {
      // Overwriting unread samples, beyond what was announced. Announce a window of positions at once (INTENT:
      // "positions below INTENT - C may be overwritten"), then look for the consumer's claim (Dekker-style: INTENT
      // store, CLAIM load here; CLAIM store, INTENT load there). Every later claim sees the announcement and skips
      // the window's old samples; an earlier claim is seen here. If it overlaps the window, only q is written, and
      // only if its slot is outside the claim: a claimed slot is being read, so this sample is dropped instead
      // (and counted). No write ever races with the consumer's copy.
      const announce = Math.max(state[S_INTENT]!, q + this.overwriteWindow)
      state[S_INTENT] = announce
      state[S_INTENT_HI] = publishPosition(words, INTENT, announce, state[S_INTENT_HI]!)
      const claimed = loadPosition(words, CLAIM)
      const reading = loadPosition(words, HEAD)
      const overlaps = !(claimed <= q - capacity) && !(reading >= announce - capacity) // NaN: assume it does
      if (overlaps && !(q - capacity >= claimed) && !(q - capacity < reading)) {
        state[S_REFUSED] = state[S_REFUSED]! + 1
        state[S_REFUSED_HI] = publishPosition(words, REFUSED, state[S_REFUSED]!, state[S_REFUSED_HI]!)
        state[S_SAFE_LIMIT] = q // stay on the slow path
        state[S_FAST_LIMIT] = q
        if (wake) this.wake()
        return true
      }
      state[S_ANNOUNCED] = overlaps ? q + 1 : announce
    }
    // The slot's old sample was consumed (HEAD), or it is announced and unclaimed (INTENT): no read of this slot
    // can be concurrent with these plain writes.
    words[slot] = word0
    words[slot + 1] = clock
    this.doubles[(slot >> 1) + 1] = value
    const next = q + 1
    state[S_POSITION] = next
    state[S_TAIL_HI] = publishPosition(words, TAIL, next, state[S_TAIL_HI]!) // ── publish ──
    const nextEpoch = (state[S_TAIL_HI]! + 1) * TWO_POW_32
    const plainLimit = state[S_WOKEN_AT_HEAD] === head ? head + capacity : head + this.half
    // Fast path while next < limit: the slot is provably free (consumed, or announced and unclaimed) and the HI
    // word cannot change. (Past head + half the slow path also runs once to wake the consumer.)
    state[S_SAFE_LIMIT] = Math.min(Math.max(plainLimit, state[S_ANNOUNCED]!), nextEpoch - 1)
    state[S_FAST_LIMIT] = Math.min(state[S_SAFE_LIMIT]!, state[S_STAMP_AT]!)
    if (wake) this.wake()
    return true
  }

  private wake(): void {
    Atomics.add(this.words, WAKE, 1)
    Atomics.notify(this.words, WAKE)
  }
}

// Indices into RingWriter.state.
const S_POSITION = 0
const S_START = 1
const S_CACHED_HEAD = 2
const S_FAST_LIMIT = 3 // positions below it take the fast path: min(S_SAFE_LIMIT, S_STAMP_AT)
const S_WOKEN_AT_HEAD = 4
const S_TAIL_HI = 5
const S_INTENT_HI = 6
const S_REFUSED = 7 // samples dropped at once because their slot's old sample was being read
const S_REFUSED_HI = 8
const S_INTENT = 9 // the INTENT this writer last published
const S_ANNOUNCED = 10 // positions below it may overwrite their slot's unread sample without further checks
const S_STAMP_AT = 11 // the sample at this position reads the clock first
const S_SAFE_LIMIT = 12 // positions below it need none of the slow path's checks

/**
 * The consumer side. `drain()` copies published samples into a private staging area with
 * `Atomics.load`, validates them against INTENT, delivers the intact ones and publishes HEAD.
 * The staging area is preallocated; a drain allocates nothing itself.
 */
export class RingReader {
  private readonly words: Int32Array
  private readonly capacity: number
  private readonly mask: number
  private readonly staging: Int32Array
  private readonly stagingDoubles: Float64Array
  private position: number
  private headHi: number
  private claimHi: number
  /** Positions lost to overwriting (never delivered). */
  private lost = 0
  /** Samples handed to a sink, running total. */
  delivered = 0
  /** Samples waiting when the last drain began (more than the capacity if some were already lost). */
  lastBacklog = 0

  constructor(buffer: SharedArrayBuffer) {
    const { words, capacity } = validate(buffer)
    claim(words, H_READER_CLAIMED, "reader")
    this.words = words
    this.capacity = capacity
    this.mask = capacity - 1
    const chunk = Math.min(CHUNK, capacity)
    const staging = new ArrayBuffer(chunk * SLOT_WORDS * 4)
    this.staging = new Int32Array(staging)
    this.stagingDoubles = new Float64Array(staging)
    this.position = loadPosition(words, HEAD)
    this.headHi = Math.floor(this.position / TWO_POW_32)
    this.claimHi = this.headHi
  }

  /**
   * Samples lost, running total, exact: overwritten before they were read, plus samples the producer
   * dropped at once because the slot they would overwrite was being read.
   */
  get dropped(): number {
    const refused = loadPosition(this.words, REFUSED)
    return this.lost + (Number.isNaN(refused) ? 0 : refused)
  }

  /** The ring's capacity in samples (a power of two). */
  get size(): number {
    return this.capacity
  }

  /** Published samples not yet drained, capped at capacity (older ones are already lost). */
  pending(): number {
    const tail = loadPosition(this.words, TAIL)
    return Number.isNaN(tail) ? 0 : Math.min(tail - this.position, this.capacity)
  }

  /** Samples the producer has published since the reader started (delivered + dropped + not yet drained). */
  published(): number {
    const tail = loadPosition(this.words, TAIL)
    const dropped = this.dropped
    return Number.isNaN(tail) ? this.delivered + dropped : tail - this.position + this.delivered + dropped
  }

  /**
   * Delivers every intact sample published so far, oldest first, and returns how many it delivered.
   * Samples the producer overwrote before or during the copy are counted in `dropped` instead.
   */
  drain(sink: SampleSink): number {
    const words = this.words
    const capacity = this.capacity
    const tail = loadPosition(words, TAIL)
    if (Number.isNaN(tail)) return 0 // producer died inside its seqlock section: nothing new is readable
    let position = this.position
    this.lastBacklog = tail - position
    if (tail === position) return 0
    let delivered = 0
    let lost = 0
    if (tail - position > capacity) {
      lost += tail - position - capacity
      position = tail - capacity
    }
    const chunk = this.staging.length / SLOT_WORDS
    while (position < tail) {
      const end = Math.min(position + chunk, tail)
      // Claim [position, end), then read INTENT: positions below INTENT - C were announced before the
      // claim could be seen and may be overwritten: skip them (lost) instead of copying them. Every
      // other claimed slot stays untouched until HEAD moves past it (see the module comment).
      this.claimHi = publishPosition(words, CLAIM, end, this.claimHi)
      const lostBelow = this.intentFloor()
      const from = lostBelow > position ? Math.min(lostBelow, end) : position
      lost += from - position
      this.copy(from, end - from)
      this.headHi = publishPosition(words, HEAD, end, this.headHi) // releases the claim
      position = end
      delivered += this.deliver(end - from, sink)
    }
    this.position = position
    this.delivered += delivered
    this.lost += lost
    return delivered
  }

  /** Copies `count` claimed slots from `position` on into staging (plain reads: nothing writes them now). */
  private copy(position: number, count: number): void {
    const words = this.words
    const staging = this.staging
    const wrapAt = SLOTS + this.capacity * SLOT_WORDS
    let slot = SLOTS + ((position & this.mask) << 2)
    const end = count * SLOT_WORDS
    for (let i = 0; i < end; i += SLOT_WORDS) {
      staging[i] = words[slot]!
      staging[i + 1] = words[slot + 1]!
      staging[i + 2] = words[slot + 2]!
      staging[i + 3] = words[slot + 3]!
      slot += SLOT_WORDS
      if (slot === wrapAt) slot = SLOTS
    }
  }

  /** Hands the first `count` staged samples to the sink; returns how many. */
  private deliver(count: number, sink: SampleSink): number {
    const staging = this.staging
    const doubles = this.stagingDoubles
    // Timestamps carry 32 bits of wall-clock ms; unwrap them against a clock read after the copy.
    const now = Math.floor(performance.timeOrigin + performance.now())
    const nowLow = now | 0
    const end = count * SLOT_WORDS
    for (let i = 0; i < end; i += SLOT_WORDS) {
      const word0 = staging[i]!
      sink(word0 & ID_MASK, word0 >>> 24, doubles[(i >> 1) + 1]!, now - ((nowLow - staging[i + 1]!) | 0))
    }
    return count
  }

  /** The current wake counter; pass it to `waitForWake`. */
  wakeCount(): number {
    return Atomics.load(this.words, WAKE)
  }

  /**
   * Resolves when the producer signals that the ring crossed half full after `seen` was read
   * (or at once if it already did), or after `timeoutMs`.
   */
  waitForWake(seen: number, timeoutMs: number): Promise<"ok" | "not-equal" | "timed-out"> {
    const result = Atomics.waitAsync(this.words, WAKE, seen, timeoutMs)
    return result.async ? result.value : Promise.resolve(result.value)
  }

  private intentFloor(): number {
    const intent = loadPosition(this.words, INTENT)
    // Unreadable INTENT (producer died mid-section): assume the worst, everything copied may be torn.
    return Number.isNaN(intent) ? Number.POSITIVE_INFINITY : intent - this.capacity
  }
}

/** Entry points: size, allocate, and attach the two sides of a ring. */
export const TelemetryRing = {
  /** Bytes of a ring with the given (power-of-two) capacity. */
  byteLength(capacity: number): number {
    return (SLOTS + capacity * SLOT_WORDS) * 4
  },

  /**
   * Allocates a ring for at least `capacity` samples (rounded up to a power of two). RangeError for
   * non-integers, < 2 or > 2^24.
   *
   * Test seams: `startPosition` starts the producer's cursors there (e.g. near 2^32); `headPosition`
   * (≤ startPosition - capacity, or equal to it) starts the consumer there, as if `startPosition - headPosition`
   * all-zero samples had been recorded and never read: a consumer stall of any length, simulated.
   */
  allocate(capacity: number, options?: { readonly startPosition?: number; readonly headPosition?: number }): SharedArrayBuffer {
    const size = capacityFor(capacity)
    const start = options?.startPosition ?? 0
    const head = options?.headPosition ?? start
    if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`TelemetryRing startPosition must be a safe non-negative integer, got ${start}`)
    if (!Number.isSafeInteger(head) || head < 0 || (head !== start && head > start - size)) {
      throw new RangeError(`TelemetryRing headPosition must equal startPosition or lie at least one capacity below it, got ${head}`)
    }
    const buffer = new SharedArrayBuffer(TelemetryRing.byteLength(size))
    const words = new Int32Array(buffer)
    publishPosition(words, TAIL, start, -1)
    publishPosition(words, INTENT, start, -1)
    publishPosition(words, HEAD, head, -1)
    publishPosition(words, CLAIM, head, -1)
    publishPosition(words, REFUSED, 0, -1)
    Atomics.store(words, H_CAPACITY, size)
    Atomics.store(words, H_VERSION, VERSION)
    Atomics.store(words, CLOCK, wallClockMs() | 0)
    Atomics.store(words, H_MAGIC, MAGIC) // last: a buffer with the magic number is complete
    return buffer
  },

  /** The ring's one producer. Throws if the buffer is not a ring or already has a writer. */
  writer(buffer: SharedArrayBuffer): RingWriter {
    return new RingWriter(buffer)
  },

  /** The ring's one consumer. Throws if the buffer is not a ring or already has a reader. */
  reader(buffer: SharedArrayBuffer): RingReader {
    return new RingReader(buffer)
  },

  /** Capacity recorded in a ring's header (validates the buffer). */
  capacityOf(buffer: SharedArrayBuffer): number {
    return validate(buffer).capacity
  }
} as const
