/**
 * The renderer's output buffer and its writers: a growable byte array that cached UTF-8 line prefixes are copied
 * into and sample values are written into as ASCII, so a scrape never builds (and then flattens and UTF-8-encodes)
 * one large string.
 *
 * The writers are plain functions over `(buf, pos)` returning the new position, so the renderer's loops keep both
 * in locals; they do not check the capacity: callers `reserve` enough for what they write first.
 */

import { Buffer } from "node:buffer"

const encoder = new TextEncoder()

/** UTF-8 bytes of a well-formed string (callers pass `toWellFormed` / escaped text). */
export const utf8 = (s: string): Uint8Array => encoder.encode(s)

/** Bytes per arena chunk; a string that could need more than a quarter of it gets a buffer of its own. */
const ARENA_CHUNK = 64 * 1024

/**
 * UTF-8 bytes of many small, long-lived strings (series' line prefixes), as views into shared 64 KiB chunks: a
 * series' prefixes then cost a view each, not an `ArrayBuffer` and a backing store each (about 200 bytes less per
 * series). A chunk lives as long as any of its views: bytes of dropped series are not reused.
 */
export class Utf8Arena {
  private chunk: Uint8Array = new Uint8Array(0)
  private used = 0

  /** The UTF-8 bytes of well-formed strings, consecutive in one chunk, as one view each. */
  encode<const T extends ReadonlyArray<string>>(strings: T): { readonly [K in keyof T]: Uint8Array } {
    let room = 0
    for (const s of strings) room += 3 * s.length // UTF-8 needs at most 3 bytes per UTF-16 unit
    if (room > ARENA_CHUNK / 4) return strings.map(utf8) as { [K in keyof T]: Uint8Array }
    if (this.used + room > this.chunk.length) {
      this.chunk = new Uint8Array(ARENA_CHUNK)
      this.used = 0
    }
    const views = strings.map((s) => {
      const start = this.used
      this.used += encoder.encodeInto(s, this.chunk.subarray(start)).written
      return this.chunk.subarray(start, this.used)
    })
    return views as { [K in keyof T]: Uint8Array }
  }
}

/** log2 of the bytes a `PrefixArena` offset's chunk slot covers. */
const PREFIX_SLOT_BITS = 16
const PREFIX_SLOT = 1 << PREFIX_SLOT_BITS
const PREFIX_SLOT_MASK = PREFIX_SLOT - 1

/**
 * UTF-8 line prefixes of long-lived series (the Aggregate's), addressed by offset: a series keeps one small integer
 * instead of a `Uint8Array` view per prefix (about 100 bytes each). A string is kept as its byte length (an int32)
 * then its bytes, zero-padded to a multiple of 8, so `putArenaBytes` copies it 8 bytes at a time with no view to
 * allocate. Offsets are allocated from 64 KiB slots, one shared buffer each (the first ones smaller: a few series do
 * not cost 64 KiB); the strings `put` after one `reserve` are consecutive in one buffer, and strings longer than a
 * slot get a buffer covering several consecutive slots. Bytes are never freed: the arena lives as long as its series
 * (an Aggregate's arena as long as the Aggregate). Offsets stay below 2^31 (2 GiB).
 */
export class PrefixArena {
  /** Per slot, a view of its buffer from the slot's first offset on. */
  readonly views: Array<DataView> = []
  private bytes: Uint8Array = new Uint8Array(0)
  private lengths: DataView = new DataView(this.bytes.buffer)
  /** The offset of `bytes[0]`. */
  private base = 0
  private used = 0
  /** The size of the next buffer (doubling up to a slot). */
  private nextBuffer = 4096

  /** Makes room in one buffer for `strings` strings of `units` UTF-16 code units in all, to be `put` one after another. */
  reserve(units: number, strings: number): void {
    const room = 3 * units + 12 * strings // UTF-8 takes at most 3 bytes per UTF-16 unit; a length and padding
    if (this.used + room <= this.bytes.length) return
    const slots = Math.ceil(room / PREFIX_SLOT)
    const buffer = new ArrayBuffer(slots > 1 ? slots * PREFIX_SLOT : Math.max(this.nextBuffer, room))
    this.nextBuffer = Math.min(PREFIX_SLOT, 2 * this.nextBuffer)
    this.base = this.views.length * PREFIX_SLOT
    for (let i = 0; i < slots; i++) this.views.push(new DataView(buffer, i * PREFIX_SLOT))
    this.bytes = new Uint8Array(buffer)
    this.lengths = new DataView(buffer)
    this.used = 0
  }

  /** Appends a well-formed string (room `reserve`d first); returns its offset. */
  put(s: string): number {
    const at = this.used
    const written = encoder.encodeInto(s, this.bytes.subarray(at + 4)).written
    this.lengths.setInt32(at, written, true)
    this.used = at + 4 + ((written + 7) & ~7)
    return this.base + at
  }
}

/** The UTF-8 byte length of the arena string at `at`. */
export const arenaStringLength = (arena: PrefixArena, at: number): number =>
  arena.views[at >>> PREFIX_SLOT_BITS]!.getInt32(at & PREFIX_SLOT_MASK, true)

/** The offset of the string `put` right after the one at `at` (after the same `reserve`). */
export const nextArenaString = (arena: PrefixArena, at: number): number => at + 4 + ((arenaStringLength(arena, at) + 7) & ~7)

/**
 * Writes the bytes of the arena string at `at` at `pos` of the `DataView` `out`, 8 bytes at a time, as doubles: once
 * optimised (a scrape calls it for every series), as fast as `set` of a whole view and allocating nothing, unlike a
 * `subarray` of the range (a view per line), 64-bit integer words (BigInts outside the top tier) or int32 words (twice
 * the iterations). Moving bytes as doubles is exact here: no 8 bytes of valid UTF-8 followed by zero padding are a
 * NaN (that needs a byte 0x7F or 0xFF right after one of 0xF0 or more, which UTF-8 never has), so no engine may
 * change them. It may write up to 7 bytes of padding past the string, which `out` must have room for and the caller
 * then overwrites. Returns the position after the bytes.
 */
export const putArenaBytes = (out: DataView, pos: number, arena: PrefixArena, at: number): number => {
  const view = arena.views[at >>> PREFIX_SLOT_BITS]!
  let from = at & PREFIX_SLOT_MASK
  const stop = pos + view.getInt32(from, true)
  from += 4
  for (let p = pos; p < stop; p += 8) {
    out.setFloat64(p, view.getFloat64(from, true), true)
    from += 8
  }
  return stop
}

/**
 * Room for one `putNumberLine`: the longest doubles JavaScript prints take 25 characters
 * (`-0.0000012345678901234567`; `-1.7976931348623157e+308` 24), then the line feed; rounded up.
 */
export const MAX_NUMBER_LINE = 32

const CHAR_0 = 48
const CHAR_LF = 10
const CHAR_MINUS = 45
const CHAR_PLUS = 43
const CHAR_I = 73
const CHAR_N = 78
const CHAR_a = 97
const CHAR_f = 102
const CHAR_n = 110
/** Every integer of magnitude ≤ 2^53 is a double of its own, so JavaScript prints all its digits, as written here. */
const MAX_EXACT_INTEGER = 2 ** 53
const TWO_31 = 2 ** 31
/** 10^i; 2^53 has 16 digits. */
const POWERS_OF_TEN = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16]

/**
 * Uninitialised memory (no zero-filling a buffer that is about to be overwritten: measurably faster at a page of
 * megabytes), as a plain `Uint8Array` over a fresh `ArrayBuffer` of its own (never Node's shared pool).
 */
const allocate = (n: number): Uint8Array => {
  const b = Buffer.allocUnsafeSlow(n)
  return new Uint8Array(b.buffer, b.byteOffset, b.length)
}

/**
 * Page buffers kept between scrapes: a page is rendered into a buffer a previous page gave back, so a steady-state
 * scrape allocates no page-sized memory (no backing store to allocate, zero and later collect). A page is given back
 * only once nothing reads it any more (its connection took every byte), so a buffer is never written while sent:
 * with one scrape at a time the pool alternates two buffers (double buffering). It keeps at most `keep` buffers, the
 * largest ones.
 *
 * Buffers are zeroed once, when allocated; a reused one holds earlier pages' bytes past the current page (the same
 * data), never uninitialised memory.
 */
export class PageBuffers {
  private readonly free: Array<ArrayBuffer> = []
  private readonly keep: number

  constructor(keep = 2) {
    this.keep = keep
  }

  /** A buffer of at least `capacity` bytes if one is free, else the largest free one, else a new one. */
  take(capacity: number): Uint8Array {
    const free = this.free
    if (free.length === 0) return new Uint8Array(capacity)
    let best = 0
    for (let i = 1; i < free.length; i++) {
      const fits = free[i]!.byteLength >= capacity
      const bestFits = free[best]!.byteLength >= capacity
      // the smallest that fits; without one, the largest
      if (fits ? !bestFits || free[i]!.byteLength < free[best]!.byteLength : !bestFits && free[i]!.byteLength > free[best]!.byteLength) best = i
    }
    const [buffer] = free.splice(best, 1)
    return new Uint8Array(buffer!)
  }

  /** Gives back the buffer that `page` (a page from `take`, or any view of it) lies in. */
  give(page: Uint8Array): void {
    const buffer = page.buffer
    if (!(buffer instanceof ArrayBuffer) || this.free.includes(buffer)) return
    this.free.push(buffer)
    if (this.free.length > this.keep) {
      let smallest = 0
      for (let i = 1; i < this.free.length; i++) if (this.free[i]!.byteLength < this.free[smallest]!.byteLength) smallest = i
      this.free.splice(smallest, 1)
    }
  }
}

/**
 * A growable output buffer for one page; `buf` and `pos` are read and advanced by the `put*` writers. Without
 * `PageBuffers` a new writer allocates a new buffer, and what `finish` returns is never written to again; with them
 * it starts from (and outgrows into) the pool's buffers, and the page is the caller's to give back.
 */
export class ByteWriter {
  buf: Uint8Array
  pos = 0
  private readonly pool: PageBuffers | undefined

  constructor(capacity: number, pool?: PageBuffers) {
    this.pool = pool
    this.buf = pool === undefined ? allocate(capacity) : pool.take(capacity)
  }

  /** Makes room for `n` more bytes: geometric growth, so a page costs O(size) copying however it is written. */
  reserve(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n)
  }

  private grow(n: number): void {
    let capacity = Math.max(this.buf.length * 2, 4096)
    while (capacity < this.pos + n) capacity *= 2
    let next = this.pool === undefined ? allocate(capacity) : this.pool.take(capacity)
    if (next.length < this.pos + n) {
      // the pool's largest buffer is too small as well: it goes back, and a new one is made
      this.pool?.give(next)
      next = new Uint8Array(capacity)
    }
    next.set(this.buf.subarray(0, this.pos))
    this.pool?.give(this.buf)
    this.buf = next
  }

  /** Appends all of `src` (reserving room for it). */
  bytes(src: Uint8Array): void {
    this.reserve(src.length)
    this.pos = putBytes(this.buf, this.pos, src)
  }

  /**
   * The bytes written. With `PageBuffers`: a view of the pool's buffer, which the caller gives back once nothing
   * reads the page. Without: a view of the buffer (the rest of which is zeroed, so no uninitialised memory is
   * reachable through its `.buffer`), or a right-sized copy when more than half the buffer went unused. The writer
   * must not be used afterwards.
   */
  finish(): Uint8Array {
    const { buf, pos } = this
    if (this.pool !== undefined) return buf.subarray(0, pos)
    if (pos < buf.length - pos) {
      const out = new Uint8Array(pos)
      out.set(buf.subarray(0, pos))
      return out
    }
    buf.fill(0, pos)
    return buf.subarray(0, pos)
  }

  /** Gives a pooled buffer back after a render that did not finish (it threw). */
  abandon(): void {
    this.pool?.give(this.buf)
  }
}

/**
 * Writes all of `src` at `pos`; returns the position after it. (`set` of a whole array is a memmove: faster than a
 * byte loop even for prefixes of a few dozen bytes, and it allocates nothing, unlike a `subarray` of a range.)
 */
export const putBytes = (buf: Uint8Array, pos: number, src: Uint8Array): number => {
  buf.set(src, pos)
  return pos + src.length
}

/**
 * Writes `formatValue(v)` and a line feed at `pos`, byte for byte: `NaN`, `+Inf`, `-Inf`, integers up to 2^53 in
 * magnitude digit by digit (`-0` as `0`), any other double as JavaScript prints it (shortest round-trip: `0.1`,
 * `1e+21`, `5e-324`; always ASCII). Returns the position after the line feed.
 */
export const putNumberLine = (buf: Uint8Array, pos: number, v: number): number => {
  if (v === (v | 0)) {
    // int32, the common case (counts, counters); also -0, which prints as 0
    if (v < 0) {
      buf[pos++] = CHAR_MINUS
      pos = putDigits(buf, pos, -v) // 2^31 when v is -2^31: putDigits takes any integer up to 2^53
    } else {
      pos = putDigits(buf, pos, v)
    }
  } else if (v <= MAX_EXACT_INTEGER && v >= -MAX_EXACT_INTEGER && Math.floor(v) === v) {
    if (v < 0) {
      buf[pos++] = CHAR_MINUS
      pos = putDigits(buf, pos, -v)
    } else {
      pos = putDigits(buf, pos, v)
    }
  } else if (v !== v) {
    buf[pos++] = CHAR_N
    buf[pos++] = CHAR_a
    buf[pos++] = CHAR_N
  } else if (v === Infinity || v === -Infinity) {
    buf[pos++] = v > 0 ? CHAR_PLUS : CHAR_MINUS
    buf[pos++] = CHAR_I
    buf[pos++] = CHAR_n
    buf[pos++] = CHAR_f
  } else {
    const s = "" + v
    for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i)
  }
  buf[pos] = CHAR_LF
  return pos + 1
}

/** Writes the decimal digits of an integer 0 ≤ m ≤ 2^53 at `pos`; returns the position after them. */
const putDigits = (buf: Uint8Array, pos: number, m: number): number => {
  let digits = 1
  while (digits < 16 && m >= POWERS_OF_TEN[digits]!) digits++
  const end = pos + digits
  let p = end
  // Above 2^31: float division. m / 10 is within 0.07 of the exact quotient (m < 2^53), so its floor is exact.
  while (m >= TWO_31) {
    const q = Math.floor(m / 10)
    buf[--p] = CHAR_0 + (m - q * 10)
    m = q
  }
  let k = m | 0
  do {
    const q = (k / 10) | 0
    buf[--p] = CHAR_0 + (k - q * 10)
    k = q
  } while (k !== 0)
  return end
}
