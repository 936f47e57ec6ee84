// Reads one head after another from a connection's byte stream through a codec slot. The
// common case, a head that arrives whole, costs one copy into linear memory and one call; a head
// split across reads is scanned incrementally (only the new bytes are copied in and scanned) and
// parsed once when its end arrives, so trickled heads cost linear, not quadratic, time. The
// bytes of an unfinished head are appended to one buffer (no allocation per read), which becomes
// the completed head's storage.
import { HeadKind } from '../../asm/shared/constants.js';
import { type Codec, type HeadLimits, checkLimits, maxHeadBytes } from './codec.js';
import { ParsedHead } from './parsed-head.js';
import { CodecError } from './codec-error.js';

/** Bytes copied into linear memory per step (most heads are smaller). */
const FEED_WINDOW = 4096;

export class HeadReader {
  readonly #codec: Codec;
  readonly #kind: HeadKind;
  readonly slot: number;
  readonly #maxBytes: number;
  /** Bytes of an unfinished head, [0, #pendingLength); handed to the ParsedHead when complete. */
  #pending: Buffer | undefined;
  #pendingLength = 0;
  /** The head completed by the last feed() that returned a positive count. */
  head: ParsedHead | undefined;

  constructor(codec: Codec, kind: HeadKind, limits: HeadLimits) {
    checkLimits(limits);
    this.#codec = codec;
    this.#kind = kind;
    this.#maxBytes = maxHeadBytes(limits);
    this.slot = codec.allocSlot(limits);
  }

  /** Bytes of an unfinished head held from earlier reads. */
  get pendingLength(): number {
    return this.#pendingLength;
  }

  /**
   * Feeds buf[start, end). Returns how many bytes of it completed a head (> 0; the head is in
   * `head`, later bytes are not consumed), 0 when all were taken as part of an unfinished head,
   * or throws CodecError. `headRequest` (responses only): the request was HEAD.
   */
  feed(buf: Buffer, start: number, end: number, headRequest = false): number {
    // in windows: a read that holds a head and 64 KiB of body behind it copies one window into
    // linear memory, not the body (a head split at a window edge is a head split across reads,
    // which the codec handles the same)
    for (let at = start; ;) {
      const stop = end - at > FEED_WINDOW ? at + FEED_WINDOW : end;
      const n = this.#feedWindow(buf, at, stop, headRequest);
      if (n > 0) return at - start + n;
      if (stop === end) return 0;
      at = stop;
    }
  }

  #feedWindow(buf: Buffer, start: number, end: number, headRequest: boolean): number {
    const c = this.#codec;
    if (this.#pendingLength === 0) {
      const len = c.copyIn(buf, start, end);
      const r = this.#kind === HeadKind.REQUEST
        ? c.exports.requestHead(this.slot, len)
        : c.exports.responseHead(this.slot, len, headRequest ? 1 : 0);
      if (r > 0) {
        this.head = new ParsedHead(c, buf, start);
        return r;
      }
      if (r < 0) throw new CodecError(-r, c.result);
      // r === 0: incomplete. Anything the limits allow fits the input region (checkLimits), so a
      // longer read that did not complete a head has already failed in the scanner.
      if (len !== end - start) throw new Error('portico: incomplete head longer than the input region');
      this.#hold(buf, start, len);
      return 0;
    }
    // continuing an unfinished head: scan only the new bytes
    const len = c.copyIn(buf, start, end);
    const k = c.exports.continueHead(this.slot, len, this.#kind);
    // the scanner's ERROR_OFFSET already counts the held bytes (the slot's S_SEEN): it is the
    // offending byte's offset from the start of the head, as for a head read whole
    if (k < 0) throw new CodecError(-k, c.result);
    if (k === 0) {
      if (len !== end - start) throw new Error('portico: incomplete head longer than the input region');
      this.#hold(buf, start, len);
      return 0;
    }
    this.#hold(buf, start, k);
    const whole = this.#pending!;
    const n = this.#pendingLength;
    this.#pending = undefined;
    this.#pendingLength = 0;
    if (n > this.#maxBytes) throw new Error('portico: scanner accepted a head beyond the limits');
    c.copyIn(whole, 0, n);
    const r = this.#kind === HeadKind.REQUEST
      ? c.exports.requestHead(this.slot, n)
      : c.exports.responseHead(this.slot, n, headRequest ? 1 : 0);
    if (r < 0) throw new CodecError(-r, c.result);
    if (r !== n) throw new Error('portico: head length changed between scan and parse');
    this.head = new ParsedHead(c, whole, 0);
    return k;
  }

  /** Appends buf[start, start + len) to the unfinished head (a copy: the caller may reuse buf). */
  #hold(buf: Buffer, start: number, len: number): void {
    const need = this.#pendingLength + len;
    let p = this.#pending;
    if (p === undefined || need > p.length) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(need, p === undefined ? 1024 : p.length * 2), Math.max(need, this.#maxBytes)));
      if (p !== undefined) p.copy(grown, 0, 0, this.#pendingLength);
      this.#pending = p = grown;
    }
    if (len <= 32) {
      for (let i = 0, o = this.#pendingLength; i < len; i++) p[o + i] = buf[start + i];
    } else {
      buf.copy(p, this.#pendingLength, start, start + len);
    }
    this.#pendingLength = need;
  }

  /** Drops any unfinished head (e.g. after an error) and readies the slot for the next one. */
  reset(): void {
    this.#pending = undefined;
    this.#pendingLength = 0;
    this.head = undefined;
  }

  /** Returns the slot to the codec. The reader must not be used afterwards. */
  release(): void {
    this.reset();
    this.#codec.freeSlot(this.slot);
  }
}
