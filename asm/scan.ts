// The incremental head scanner: finds the end of a head (the empty line) and enforces the
// limits while bytes arrive, resuming where the last call stopped so a head trickled in one
// byte at a time costs the same as a head read whole (no rescans; Twisted's LineReceiver
// rescans its whole buffer on every read).
//
// Counting follows Twisted's HTTPChannel and LineReceiver
// (https://github.com/twisted/twisted/blob/trunk/src/twisted/web/http.py):
// - line length: bytes of one line, CRLF excluded; more than maxLine is an error as soon as the
//   (maxLine+1)th byte arrives, CRLF or not;
// - head size: start-line plus every field line, CRLFs excluded; more than maxHead is an error;
// - field count: the (maxFields+1)th field line is an error when its first byte arrives;
// - one empty line before the start-line is skipped (RFC 9112 §2.2 "SHOULD ignore at least one").
// Only CRLF ends a line: a bare CR or a bare LF is an error here, before any syntax is parsed,
// so the result is the same however the bytes were split.
import { ErrorCode, HeadKind } from "./shared/constants";
import { CR, LF } from "./chars";
import {
  INPUT, slotAddress, S_HEAD_STATE, S_SEEN, S_LINE_LENGTH, S_LINE_COUNT, S_TOTAL,
  S_MAX_LINE, S_MAX_FIELDS, S_MAX_HEAD, setResult,
} from "./layout";
import { HeadResult } from "./shared/constants";

const LAST_WAS_CR: i32 = 1;
const SKIPPED_EMPTY: i32 = 2;

export function resetScan(slot: i32): void {
  const s = slotAddress(slot);
  store<i32>(s + S_HEAD_STATE, 0);
  store<i32>(s + S_SEEN, 0);
  store<i32>(s + S_LINE_LENGTH, 0);
  store<i32>(s + S_LINE_COUNT, 0);
  store<i32>(s + S_TOTAL, 0);
}

function lineError(kind: i32, lineCount: i32): i32 {
  if (lineCount > 0) return ErrorCode.FIELD_LINE_TOO_LONG;
  return kind == HeadKind.REQUEST ? ErrorCode.REQUEST_LINE_TOO_LONG : ErrorCode.STATUS_LINE_TOO_LONG;
}

/**
 * Scans `len` new input bytes for `slot`. Returns the number of these bytes up to and including
 * the LF of the empty line that ends the head (> 0), 0 when all were consumed without finding
 * it, or a negated ErrorCode (HeadResult.ERROR_OFFSET: offset of the offending byte).
 */
export function scan(slot: i32, len: i32, kind: i32): i32 {
  const s = slotAddress(slot);
  let state = load<i32>(s + S_HEAD_STATE);
  let lineLength = load<i32>(s + S_LINE_LENGTH);
  let lineCount = load<i32>(s + S_LINE_COUNT);
  let total = load<i32>(s + S_TOTAL);
  const maxLine = load<i32>(s + S_MAX_LINE);
  const maxFields = load<i32>(s + S_MAX_FIELDS);
  const maxHead = load<i32>(s + S_MAX_HEAD);
  let error: i32 = 0;
  let i: i32 = 0;
  while (i < len) {
    if (ASC_FEATURE_SIMD) {
      // Fast path inside a line: skip bytes that are neither CR nor LF, 64 then 16 at a time,
      // without crossing a limit (`stop`: the last byte the line may reach without an error).
      // A CRLF followed by the first byte of another field line the limits allow is consumed
      // here too; anything else (the empty line, a bare CR or LF, a limit) goes to the scalar
      // path below, which decides exactly as if every byte had been read one by one.
      while ((state & LAST_WAS_CR) == 0 && lineLength > 0) {
        let room = maxLine - lineLength;
        const headRoom = maxHead - total - lineLength;
        if (headRoom < room) room = headRoom;
        const stop = room < len - i ? i + room : len;
        const start = i;
        const cr = i8x16.splat(CR);
        const lf = i8x16.splat(LF);
        while (i + 64 <= stop) {
          const p = INPUT + <usize>i;
          const a = v128.load(p);
          const b = v128.load(p, 16);
          const c = v128.load(p, 32);
          const d = v128.load(p, 48);
          const any = v128.or(
            v128.or(v128.or(i8x16.eq(a, cr), i8x16.eq(a, lf)), v128.or(i8x16.eq(b, cr), i8x16.eq(b, lf))),
            v128.or(v128.or(i8x16.eq(c, cr), i8x16.eq(c, lf)), v128.or(i8x16.eq(d, cr), i8x16.eq(d, lf))),
          );
          if (v128.any_true(any)) break;
          i += 64;
        }
        while (i < stop) {
          // a last partial block reads up to 15 bytes past the input (the region is padded);
          // a sentinel bit at `stop` keeps them out of the result
          const v = v128.load(INPUT + <usize>i);
          let m = i8x16.bitmask(v128.or(i8x16.eq(v, cr), i8x16.eq(v, lf)));
          if (stop - i < 16) m |= 1 << (stop - i);
          if (m != 0) {
            i += ctz<i32>(m);
            break;
          }
          i += 16;
        }
        lineLength += i - start;
        if (i + 3 > len || load<u16>(INPUT + <usize>i) != 0x0a0d) break; // not CR LF + 1 byte
        const next = <u32>load<u8>(INPUT + <usize>i, 2);
        if (next == CR || next == LF || lineCount >= maxFields || total + lineLength + 1 > maxHead) break;
        // the line ends; the next field line starts with one ordinary byte (maxLine >= 1)
        lineCount++;
        total += lineLength;
        lineLength = 1;
        i += 3;
      }
      if (i >= len) break;
    }
    const c = <u32>load<u8>(INPUT + <usize>i);
    if (state & LAST_WAS_CR) {
      if (c != LF) { error = ErrorCode.BARE_CR; break; }
      state &= ~LAST_WAS_CR;
      i++;
      if (lineLength == 0) {
        if (lineCount == 0 && !(state & SKIPPED_EMPTY)) { state |= SKIPPED_EMPTY; continue; }
        // the empty line: the head is complete
        store<i32>(s + S_HEAD_STATE, state);
        store<i32>(s + S_LINE_LENGTH, 0);
        store<i32>(s + S_LINE_COUNT, lineCount);
        store<i32>(s + S_TOTAL, total);
        store<i32>(s + S_SEEN, load<i32>(s + S_SEEN) + i);
        return i;
      }
      lineCount++;
      total += lineLength;
      lineLength = 0;
      continue;
    }
    if (c == CR) { state |= LAST_WAS_CR; i++; continue; }
    if (c == LF) { error = ErrorCode.BARE_LF; break; }
    if (lineLength == 0 && lineCount > maxFields) {
      // first byte of field line number maxFields + 1 (lineCount counts the start-line)
      error = ErrorCode.TOO_MANY_FIELDS;
      break;
    }
    lineLength++;
    if (lineLength > maxLine) { error = lineError(kind, lineCount); break; }
    if (total + lineLength > maxHead) { error = ErrorCode.HEAD_TOO_LARGE; break; }
    i++;
  }
  if (error != 0) {
    setResult(HeadResult.ERROR_OFFSET, load<i32>(s + S_SEEN) + i);
    return -error;
  }
  store<i32>(s + S_HEAD_STATE, state);
  store<i32>(s + S_LINE_LENGTH, lineLength);
  store<i32>(s + S_LINE_COUNT, lineCount);
  store<i32>(s + S_TOTAL, total);
  store<i32>(s + S_SEEN, load<i32>(s + S_SEEN) + len);
  return 0;
}
