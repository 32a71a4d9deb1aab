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
 * - claim: a control plane that drains the core's ring (a thread that attached itself) first moves PLANE from 0
 *   to 1 with `compareExchange`: at most one control plane ever reads a ring.
 * - flush in progress: before its first append a flush stores FLUSH_BASE (RECORDED before it) and FLUSH_COUNT
 *   (its samples, ids listed in the shared `flushIds`), then FLUSHING = 1; after `pending` was reset it stores
 *   FLUSHING = 0. See `CoreChannel.reconcile` for how the plane uses them after the thread ended.
 * - busy: the plane stores REQUESTED_AT (wall clock) with each request; the core stores ANSWER_LAG when it answers.
 *   A long lag means the core runs long synchronous tasks: a scrape does not wait for it (DataPlane.flush),
 *   unless THREAD says the core shares the control plane's thread (then waiting is what lets it answer).
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
  /** control plane → control plane: 1 once a control plane claimed this core (attached threads). */
  PLANE: 80,
  /** core: 1 from before a flush's first append until after its `pending` reset. */
  FLUSHING: 96,
  /** core: RECORDED (mod 2^32) before the current flush's first append. */
  FLUSH_BASE: 112,
  /** core: samples the current flush appends (the first FLUSH_COUNT entries of `flushIds`). */
  FLUSH_COUNT: 128,
  /** control plane → core: wall-clock ms (mod 2^32) of the latest flush request. */
  REQUESTED_AT: 144,
  /** core → control plane: ms between that request and the core's answer, at its last answer. */
  ANSWER_LAG: 160,
  /** core → control plane: the core's `threadId` + 1 (0 until a runtime uses the block). */
  THREAD: 176,
  /** core → control plane: samples refused per `InvalidReason` (4 words, mod 2^32). */
  INVALID: 192,
  /** core → control plane: definitions refused per `RefusalScope` (2 words, mod 2^32). */
  REFUSED: 196,
  WORDS: 208
} as const

/** A fresh control block (all words zero). */
export const allocateControl = (): SharedArrayBuffer => new SharedArrayBuffer(Control.WORDS * 4)

/** The core's side of the control block. */
export class CoreControl {
  private readonly words: Int32Array
  constructor(buffer: SharedArrayBuffer, thread?: number) {
    this.words = new Int32Array(buffer)
    if (thread !== undefined) Atomics.store(this.words, Control.THREAD, thread + 1)
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
    if (request !== Atomics.load(this.words, Control.FLUSH_DONE)) { // a new request: its lag says how busy the core is
      const lag = ((Date.now() | 0) - Atomics.load(this.words, Control.REQUESTED_AT)) | 0
      Atomics.store(this.words, Control.ANSWER_LAG, Math.max(0, lag))
    }
    Atomics.store(this.words, Control.FLUSH_DONE, request)
    Atomics.notify(this.words, Control.FLUSH_DONE)
  }

  /** A flush of `count` samples starts; the writer has recorded `recorded` samples so far. */
  flushStarts(recorded: number, count: number): void {
    Atomics.store(this.words, Control.FLUSH_BASE, recorded | 0)
    Atomics.store(this.words, Control.FLUSH_COUNT, count)
    Atomics.store(this.words, Control.FLUSHING, 1)
  }

  /** The flush's samples are published and `pending` is reset. */
  flushEnds(): void {
    Atomics.store(this.words, Control.FLUSHING, 0)
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
    Atomics.store(this.words, Control.REQUESTED_AT, Date.now() | 0)
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

  /** The `threadId` of the thread the core runs on, or -1 while no runtime used the block. */
  thread(): number {
    return Atomics.load(this.words, Control.THREAD) - 1
  }

  /** Milliseconds the core took to answer its last answered flush request. */
  answerLagMs(): number {
    return Atomics.load(this.words, Control.ANSWER_LAG)
  }

  /** Claims the core for this control plane; false if another one claimed it first. */
  claim(): boolean {
    return Atomics.compareExchange(this.words, Control.PLANE, 0, 1) === 0
  }

  /** The flush the core was in when it ended, if any: its RECORDED base (mod 2^32) and sample count. */
  flushInProgress(): { readonly base: number; readonly count: number } | undefined {
    if (Atomics.load(this.words, Control.FLUSHING) !== 1) return undefined
    return { base: Atomics.load(this.words, Control.FLUSH_BASE), count: Atomics.load(this.words, Control.FLUSH_COUNT) }
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
