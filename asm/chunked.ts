// The chunked transfer-coding decoder (RFC 9112 §7.1), one explicit state machine whose state
// lives in the connection's slot, so a body split at any byte decodes the same. Each call reads
// INPUT[0, len) and writes spans: DATA spans point into the input (JS slices its own Buffer, no
// copy back out of linear memory) and TRAILER spans carry the raw, validated trailer lines.
//
//   SIZE ──hex──► SIZE ──";"/BWS──► EXT_* ──CR──► SIZE_LF ──LF──► DATA (size > 0)
//                                                            └──► TRAILER_START (size 0)
//   DATA ──size bytes──► DATA_CR ──CR──► DATA_LF ──LF──► SIZE
//   TRAILER_START ──CR──► END_LF ──LF──► DONE
//   TRAILER_START ──tchar──► TRAILER_NAME ──":"──► TRAILER_VALUE ──CR──► TRAILER_LF ──LF──► TRAILER_START
//
// Limits (Twisted's numbers): a chunk-size line (extensions included, CRLF excluded) must be
// shorter than maxSizeLine (1024) bytes, even when the bytes are already buffered
// (CVE-2024-22019); trailer lines (CRLFs included) may total maxTrailer (65536) bytes; a chunk
// size has at most 16 significant hex digits and is at most 2^53-1.
import { ErrorCode, ChunkResult, SpanKind, SpanEntry, Capacity, DefaultLimit, HeadResult } from "./shared/constants";
import { CR, LF, SP, HTAB, SEMI, EQUALS, DQUOTE, BACKSLASH, COLON, classOf, hexValue, HEX, TCHAR, FIELD_VCHAR } from "./chars";
import {
  INPUT, SPANS, slotAddress, setResult, S_CHUNK_STATE, S_REMAINING, S_SIZE_LINE, S_TRAILER_BYTES, S_DIGITS,
} from "./layout";
import { MAX_SAFE } from "./framing";

const INACTIVE = 0;
const SIZE = 1; // reading hex digits (at least one needed)
const EXT_AFTER_SIZE_WS = 2; // BWS after the size: only ";" may follow
const EXT_NAME_START = 3; // after ";": BWS then a token
const EXT_NAME = 4;
const EXT_AFTER_NAME_WS = 5; // BWS after a name: "=" or ";" must follow
const EXT_VALUE_START = 6; // after "=": BWS then token or quoted-string
const EXT_VALUE_TOKEN = 7;
const EXT_QUOTED = 8;
const EXT_QUOTED_ESCAPE = 9;
const EXT_AFTER_VALUE = 10; // after a value: ";", BWS or CR
const EXT_AFTER_VALUE_WS = 11;
const SIZE_LF = 12;
const DATA = 13;
const DATA_CR = 14;
const DATA_LF = 15;
const TRAILER_START = 16;
const TRAILER_NAME = 17;
const TRAILER_VALUE = 18;
const TRAILER_LF = 19;
const END_LF = 20;
const DONE = 21;

let maxSizeLine: i32 = DefaultLimit.CHUNK_SIZE_LINE;
let maxTrailer: i32 = DefaultLimit.TRAILER;

export function setChunkLimits(sizeLine: i32, trailer: i32): void {
  maxSizeLine = sizeLine;
  maxTrailer = trailer;
}

export function chunkedBegin(slot: i32): void {
  const s = slotAddress(slot);
  store<i32>(s + S_CHUNK_STATE, SIZE);
  store<i64>(s + S_REMAINING, 0);
  store<i32>(s + S_SIZE_LINE, 0);
  store<i32>(s + S_TRAILER_BYTES, 0);
  store<i32>(s + S_DIGITS, 0);
}

export function chunkedEnd(slot: i32): void {
  store<i32>(slotAddress(slot) + S_CHUNK_STATE, INACTIVE);
}

let spanCount: i32 = 0;

// @ts-ignore: decorator
@inline function span(kind: i32, start: i32, length: i32): void {
  const e = SPANS + ((<usize>spanCount * <usize>SpanEntry.SIZE) << 2);
  store<i32>(e, kind);
  store<i32>(e + 4, start);
  store<i32>(e + 8, length);
  spanCount++;
}

/**
 * Decodes INPUT[0, len) for `slot`. Returns the number of bytes consumed: all of them, fewer
 * when the span table filled up (call again with the rest), or exactly up to the end of the
 * chunked body (ChunkResult.DONE = 1; later bytes belong to the next message). A negative value
 * is -ErrorCode: HeadResult.ERROR_OFFSET is then the offending byte's offset in this input, and
 * the SPAN_COUNT spans written before it are valid. ChunkResult.SPAN_COUNT tells how many spans
 * were written.
 */
export function decodeChunked(slot: i32, len: i32): i32 {
  const s = slotAddress(slot);
  let state = load<i32>(s + S_CHUNK_STATE);
  if (state == INACTIVE || state == DONE) return -ErrorCode.CHUNKED_NOT_ACTIVE;
  let remaining = load<i64>(s + S_REMAINING);
  let sizeLine = load<i32>(s + S_SIZE_LINE);
  let trailerBytes = load<i32>(s + S_TRAILER_BYTES);
  let digits = load<i32>(s + S_DIGITS);
  spanCount = 0;
  // start of the trailer run in this input: 0 when the call begins inside the trailer section
  let trailerStart: i32 = state >= TRAILER_START && state <= TRAILER_LF ? 0 : -1;
  let error: i32 = 0;
  let i: i32 = 0;
  const maxSpans = <i32>Capacity.SPANS - 1; // keep one span for the trailer run
  while (i < len) {
    if (state == DATA) {
      if (spanCount >= maxSpans) break;
      const avail = <i64>(len - i);
      const n = <i32>(remaining < avail ? remaining : avail);
      span(SpanKind.DATA, i, n);
      i += n;
      remaining -= <i64>n;
      if (remaining == 0) state = DATA_CR;
      continue;
    }
    const c = <u32>load<u8>(INPUT + <usize>i);
    if (state <= SIZE_LF) {
      // the chunk-size line, extensions included
      if (c != LF || state != SIZE_LF) {
        if (c != CR) {
          sizeLine++;
          if (sizeLine >= maxSizeLine) { error = ErrorCode.CHUNK_SIZE_LINE_TOO_LONG; break; }
        }
      }
      switch (state) {
        case SIZE: {
          if (classOf(c) & HEX) {
            if (digits > 0 || c != 0x30) digits++; // leading zeros are not significant
            if (digits > 16) { error = ErrorCode.CHUNK_SIZE_OVERFLOW; break; }
            remaining = (remaining << 4) | <i64>hexValue(c);
            if (<f64>remaining > MAX_SAFE) { error = ErrorCode.CHUNK_SIZE_OVERFLOW; break; }
          } else if (c == CR ? sizeLine == 0 : sizeLine == 1) {
            error = ErrorCode.INVALID_CHUNK_SIZE; // no digit at all ("", "-5", " 5", ";x")
          } else if (c == CR) state = SIZE_LF;
          else if (c == SEMI) state = EXT_NAME_START;
          else if (c == SP || c == HTAB) state = EXT_AFTER_SIZE_WS;
          else error = ErrorCode.INVALID_CHUNK_SIZE; // "0x5", "5z"
          break;
        }
        case EXT_AFTER_SIZE_WS:
          if (c == SEMI) state = EXT_NAME_START;
          else if (c != SP && c != HTAB) error = c == CR ? ErrorCode.INVALID_CHUNK_SIZE : ErrorCode.INVALID_CHUNK_EXTENSION;
          break;
        case EXT_NAME_START:
          if (classOf(c) & TCHAR) state = EXT_NAME;
          else if (c != SP && c != HTAB) error = ErrorCode.INVALID_CHUNK_EXTENSION;
          break;
        case EXT_NAME:
          if (classOf(c) & TCHAR) break;
          if (c == CR) state = SIZE_LF;
          else if (c == SEMI) state = EXT_NAME_START;
          else if (c == EQUALS) state = EXT_VALUE_START;
          else if (c == SP || c == HTAB) state = EXT_AFTER_NAME_WS;
          else error = ErrorCode.INVALID_CHUNK_EXTENSION;
          break;
        case EXT_AFTER_NAME_WS:
          if (c == EQUALS) state = EXT_VALUE_START;
          else if (c == SEMI) state = EXT_NAME_START;
          else if (c != SP && c != HTAB) error = ErrorCode.INVALID_CHUNK_EXTENSION;
          break;
        case EXT_VALUE_START:
          if (classOf(c) & TCHAR) state = EXT_VALUE_TOKEN;
          else if (c == DQUOTE) state = EXT_QUOTED;
          else if (c != SP && c != HTAB) error = ErrorCode.INVALID_CHUNK_EXTENSION;
          break;
        case EXT_VALUE_TOKEN:
          if (classOf(c) & TCHAR) break;
          if (c == CR) state = SIZE_LF;
          else if (c == SEMI) state = EXT_NAME_START;
          else if (c == SP || c == HTAB) state = EXT_AFTER_VALUE_WS;
          else error = ErrorCode.INVALID_CHUNK_EXTENSION;
          break;
        case EXT_QUOTED:
          // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text (RFC 9110 §5.6.4)
          if (c == DQUOTE) state = EXT_AFTER_VALUE;
          else if (c == BACKSLASH) state = EXT_QUOTED_ESCAPE;
          else if (c != HTAB && !(classOf(c) & FIELD_VCHAR)) error = ErrorCode.INVALID_CHUNK_EXTENSION;
          break;
        case EXT_QUOTED_ESCAPE:
          if (c == HTAB || (classOf(c) & FIELD_VCHAR)) state = EXT_QUOTED;
          else error = ErrorCode.INVALID_CHUNK_EXTENSION;
          break;
        case EXT_AFTER_VALUE:
          if (c == CR) state = SIZE_LF;
          else if (c == SEMI) state = EXT_NAME_START;
          else if (c == SP || c == HTAB) state = EXT_AFTER_VALUE_WS;
          else error = ErrorCode.INVALID_CHUNK_EXTENSION;
          break;
        case EXT_AFTER_VALUE_WS:
          if (c == SEMI) state = EXT_NAME_START;
          else if (c != SP && c != HTAB) error = ErrorCode.INVALID_CHUNK_EXTENSION;
          break;
        case SIZE_LF:
          if (c != LF) { error = ErrorCode.INVALID_CHUNK_SIZE; break; }
          sizeLine = 0;
          digits = 0;
          if (remaining == 0) { state = TRAILER_START; trailerStart = i + 1; }
          else state = DATA;
          break;
      }
      if (error != 0) break;
      i++;
      continue;
    }
    const before = state;
    switch (state) {
      case DATA_CR:
        if (c != CR) error = ErrorCode.MISSING_CHUNK_CRLF;
        else state = DATA_LF;
        break;
      case DATA_LF:
        if (c != LF) error = ErrorCode.MISSING_CHUNK_CRLF;
        else state = SIZE;
        break;
      case TRAILER_START:
        if (c == CR) state = END_LF;
        else if (classOf(c) & TCHAR) state = TRAILER_NAME;
        else error = ErrorCode.INVALID_TRAILER; // obs-fold, empty name, CTL
        break;
      case TRAILER_NAME:
        if (c == COLON) state = TRAILER_VALUE;
        else if (!(classOf(c) & TCHAR)) error = ErrorCode.INVALID_TRAILER;
        break;
      case TRAILER_VALUE:
        if (c == CR) state = TRAILER_LF;
        else if (c != HTAB && !(classOf(c) & FIELD_VCHAR)) error = ErrorCode.INVALID_TRAILER;
        break;
      case TRAILER_LF:
        if (c != LF) error = ErrorCode.INVALID_TRAILER;
        else state = TRAILER_START;
        break;
      case END_LF:
        if (c != LF) { error = ErrorCode.INVALID_TRAILER; break; }
        state = DONE;
        break;
    }
    if (error != 0) break;
    // bytes of trailer field lines, CRLFs included, the final empty line excluded
    if (before >= TRAILER_START && before <= TRAILER_LF && !(before == TRAILER_START && c == CR)) {
      trailerBytes++;
      if (trailerBytes > maxTrailer) { error = ErrorCode.TRAILERS_TOO_LARGE; break; }
    }
    i++;
    if (state == DONE) break;
  }
  // one TRAILER span for the trailer field lines of this input (final empty line excluded); on
  // an error, the bytes before the offending one, so that what the caller saw before an error
  // does not depend on how the body was split into reads
  if (trailerStart >= 0) {
    const trailerEnd = state == DONE ? i - 2 : state == END_LF ? i - 1 : i;
    if (trailerEnd > trailerStart) span(SpanKind.TRAILER, trailerStart, trailerEnd - trailerStart);
  }
  if (error != 0) {
    // the spans written so far stay valid (data before the offending byte)
    setResult(HeadResult.ERROR_OFFSET, i);
    setResult(ChunkResult.SPAN_COUNT, spanCount);
    setResult(ChunkResult.DONE, 0);
    return -error;
  }
  store<i32>(s + S_CHUNK_STATE, state);
  store<i64>(s + S_REMAINING, remaining);
  store<i32>(s + S_SIZE_LINE, sizeLine);
  store<i32>(s + S_TRAILER_BYTES, trailerBytes);
  store<i32>(s + S_DIGITS, digits);
  setResult(ChunkResult.SPAN_COUNT, spanCount);
  setResult(ChunkResult.DONE, state == DONE ? 1 : 0);
  return i;
}
