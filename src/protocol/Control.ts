/**
 * The control block: a few words of shared memory through which the control plane asks a core to flush
 * or to stop, and the core answers and reports its books. Both halves sit here side by side, as in
 * `TelemetryRing` and `InternLog`: `CoreControl` is the core's side, `PlaneControl` the control plane's.
 *
 * Handshakes (every word is accessed only with `Atomics`):
 * - flush: the plane bumps FLUSH_REQUEST and notifies it; the core, seeing FLUSH_REQUEST ≠ FLUSH_DONE, loads
 *   the request, flushes, then stores and notifies FLUSH_DONE = request. A request is answered once FLUSH_DONE
 *   has reached it (compared modulo 2^32).
 * - stop: the plane stores STOP = 1 and notifies it, then requests a flush; `core.stopping` reads STOP.
 * - books: after every flush the core stores RECORDED (samples its ring writer recorded, mod 2^32) and bumps
 *   FLUSHES; the plane unwraps RECORDED into a running total.
 * - refusals: the core adds 1 to INVALID + reason for each sample it refuses and to REFUSED + scope for each
 *   definition it refuses, at once; the plane unwraps them (mod 2^32) at every drain. They live here, not in the
 *   ring, so a ring that overflows cannot drop them: the books stay exact exactly when they matter.
 */

/** Why a core refused a sample: the offset of its word after `Control.INVALID`, and its `reason` label. */
export const InvalidReason = {
  NegativeIncrement: 0,
  NonFiniteIncrement: 1,
  NonFiniteObservation: 2,
  /** A string (or anything else) where a number belongs: `inc("5")` would concatenate in the coalescing array. */
  NonNumber: 3
} as const
export type InvalidReason = typeof InvalidReason[keyof typeof InvalidReason]
export const invalidReasonLabels = ["negative_increment", "non_finite_increment", "non_finite_observation", "non_number"] as const

/** Which of its own limits made a core refuse a definition: the offset after `Control.REFUSED`, and its `scope` label. */
export const RefusalScope = { Family: 0, Core: 1 } as const
export type RefusalScope = typeof RefusalScope[keyof typeof RefusalScope]
export const refusalScopeLabels = ["family", "core"] as const

/** Words of the control block, each on its own 64-byte line. */
export const Control = {
  /** control plane → core: 1 once the core should stop (`core.stopping`). */
  STOP: 0,
  /** control plane → core: bumped to ask the core to flush its coalesced updates now. */
  FLUSH_REQUEST: 16,
  /** core → control plane: the last FLUSH_REQUEST value the core has flushed for. */
  FLUSH_DONE: 32,
  /** core → control plane: bumped after every flush (any reason). */
  FLUSHES: 48,
  /** core → control plane: samples the core's ring writer has recorded, mod 2^32 (for the books). */
  RECORDED: 64,
  /** core → control plane: samples refused per `InvalidReason` (4 words, mod 2^32). */
  INVALID: 80,
  /** core → control plane: definitions refused per `RefusalScope` (2 words, mod 2^32). */
  REFUSED: 84,
  WORDS: 96
} as const

/** A fresh control block (all words zero). */
export const allocateControl = (): SharedArrayBuffer => new SharedArrayBuffer(Control.WORDS * 4)

/** The core's side of the control block. */
export class CoreControl {
  private readonly words: Int32Array
  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer)
  }

  /** True once the control plane asked this core to stop. */
  get stopRequested(): boolean {
    return Atomics.load(this.words, Control.STOP) === 1
  }

  /** True while a flush request is unanswered. */
  get flushRequested(): boolean {
    return Atomics.load(this.words, Control.FLUSH_REQUEST) !== Atomics.load(this.words, Control.FLUSH_DONE)
  }

  /** The latest flush request; flush, then pass it to `answerFlush`. */
  latestRequest(): number {
    return Atomics.load(this.words, Control.FLUSH_REQUEST)
  }

  /** Answers every request up to `request` (the core has flushed since reading it). */
  answerFlush(request: number): void {
    Atomics.store(this.words, Control.FLUSH_DONE, request)
    Atomics.notify(this.words, Control.FLUSH_DONE)
  }

  /** Reports a finished flush and the ring writer's `recorded` count. */
  flushed(recorded: number): void {
    Atomics.store(this.words, Control.RECORDED, recorded)
    Atomics.add(this.words, Control.FLUSHES, 1)
  }

  /** Counts one refused sample (never dropped, unlike a ring sample). */
  countInvalid(reason: InvalidReason): void {
    Atomics.add(this.words, Control.INVALID + reason, 1)
  }

  /** Counts one refused definition. */
  countRefused(scope: RefusalScope): void {
    Atomics.add(this.words, Control.REFUSED + scope, 1)
  }

  /**
   * Resolves when FLUSH_REQUEST moves away from `seen` (read with `latestRequest`), or after `timeoutMs`.
   * `Atomics.waitAsync` does not keep the event loop alive on its own.
   */
  waitForRequest(seen: number, timeoutMs: number): Promise<unknown> {
    const wait = Atomics.waitAsync(this.words, Control.FLUSH_REQUEST, seen, timeoutMs)
    return wait.async ? wait.value : Promise.resolve(wait.value)
  }
}

/** The control plane's side of the control block. */
export class PlaneControl {
  private readonly words: Int32Array
  private recordedLow = 0
  private recordedTotal = 0
  private readonly countedLow = new Int32Array(Control.WORDS)
  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer)
  }

  /** Asks the core to flush its coalesced updates; returns the request number to wait for. */
  requestFlush(): number {
    const request = Atomics.add(this.words, Control.FLUSH_REQUEST, 1) + 1
    Atomics.notify(this.words, Control.FLUSH_REQUEST)
    return request | 0
  }

  /** True once the core flushed for `request` (or a later one). */
  flushed(request: number): boolean {
    return ((Atomics.load(this.words, Control.FLUSH_DONE) - request) | 0) >= 0
  }

  /** Resolves true once the core flushed for `request`, false after `timeoutMs` without it. */
  async waitForFlush(request: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const done = Atomics.load(this.words, Control.FLUSH_DONE)
      if (((done - request) | 0) >= 0) return true
      const left = deadline - performance.now()
      if (left <= 0) return false
      const wait = Atomics.waitAsync(this.words, Control.FLUSH_DONE, done, left)
      if (wait.async) await wait.value
    }
  }

  /** Signals the core to stop (`core.stopping` becomes true) and to flush. */
  requestStop(): void {
    Atomics.store(this.words, Control.STOP, 1)
    Atomics.notify(this.words, Control.STOP)
    this.requestFlush()
  }

  /**
   * Samples the core itself says it recorded into its ring (mod 2^32 in the block, unwrapped here; the core
   * stores it after each flush). An independent check of the ring's books: once the core has stopped normally
   * and the ring is drained, `reader.delivered + reader.dropped` equals it exactly.
   */
  recorded(): number {
    const low = Atomics.load(this.words, Control.RECORDED) >>> 0
    this.recordedTotal += (low - this.recordedLow) >>> 0
    this.recordedLow = low
    return this.recordedTotal
  }

  /** Refused samples with this reason since the last call (unwrapped mod 2^32). */
  newInvalid(reason: InvalidReason): number {
    return this.newCount(Control.INVALID + reason)
  }

  /** Definitions the core refused in this scope since the last call. */
  newRefused(scope: RefusalScope): number {
    return this.newCount(Control.REFUSED + scope)
  }

  private newCount(word: number): number {
    const now = Atomics.load(this.words, word)
    const added = (now - this.countedLow[word]!) >>> 0
    this.countedLow[word] = now
    return added
  }

  /** Flushes the core has published (mod 2^32). */
  flushes(): number {
    return Atomics.load(this.words, Control.FLUSHES)
  }
}
