// Field values that decide framing and connection handling: Content-Length (RFC 9110 §8.6,
// RFC 9112 §6.3), Transfer-Encoding (RFC 9112 §6.1), Connection (RFC 9110 §7.6.1), Expect
// (RFC 9110 §10.1.1) and Host (RFC 9112 §3.2). Each parser reads a value range [p, end) of the
// input and accumulates into the module state below, which head.ts resets per head.
import { ErrorCode, HeadFlag, SpanEntry, Capacity } from "./shared/constants";
import { classOf, isWs, equalsLower, TCHAR, HOST, COMMA, SEMI, HTAB } from "./chars";
import { SPANS } from "./layout";

/** Largest Content-Length and chunk size accepted: 2^53-1, exact in a JS number. */
export const MAX_SAFE: f64 = 9007199254740991.0;

// Per-head accumulators (reset by resetFraming).
export let contentLength: f64 = -1.0;
export let codings: i32 = 0; // transfer codings seen
export let chunkedCount: i32 = 0;
export let lastCodingChunked: bool = false;
export let otherCodings: bool = false;
export let flags: i32 = 0;
/** Connection options other than close/keep-alive/upgrade, kept as (start, length) pairs in the
 *  spans region, which the head parser does not otherwise use. */
export let listedCount: i32 = 0;

export function resetFraming(): void {
  contentLength = -1.0;
  codings = 0;
  chunkedCount = 0;
  lastCodingChunked = false;
  otherCodings = false;
  flags = 0;
  listedCount = 0;
}

// @ts-ignore: decorator
@inline function skipWs(p: usize, end: usize): usize {
  while (p < end && isWs(load<u8>(p))) p++;
  return p;
}

/** Content-Length = 1*DIGIT, or a list of identical values (RFC 9110 §8.6 lets a recipient
 *  collapse "5, 5"). Differing values, here or across fields, are an error. */
export function parseContentLength(p: usize, end: usize): i32 {
  let elements = 0;
  while (true) {
    p = skipWs(p, end);
    const start = p;
    let value: f64 = 0;
    while (p < end) {
      const d = <u32>load<u8>(p) - 0x30;
      if (d > 9) break;
      value = value * 10 + <f64>d;
      if (value > MAX_SAFE) return ErrorCode.CONTENT_LENGTH_OVERFLOW;
      p++;
    }
    if (p == start) return ErrorCode.INVALID_CONTENT_LENGTH;
    if (contentLength >= 0 && contentLength != value) return ErrorCode.CONFLICTING_CONTENT_LENGTH;
    contentLength = value;
    elements++;
    p = skipWs(p, end);
    if (p == end) break;
    if (load<u8>(p) != COMMA) return ErrorCode.INVALID_CONTENT_LENGTH;
    p++;
  }
  flags |= HeadFlag.HAS_CONTENT_LENGTH;
  return 0;
}

/** Transfer-Encoding = 1#transfer-coding, in [p, end) (trailing OWS trimmed; `rawEnd`: before
 *  trimming). Records the codings in order across all fields; head.ts judges the whole list once
 *  every field is read. Stricter than the list rule of
 *  RFC 9110 §5.6.1: an empty value or an empty list element (`chunked,`, `, chunked`) is
 *  INVALID_TRANSFER_ENCODING, as in llhttp's strict mode, because a recipient that does not skip
 *  empty elements would not see chunked as the final coding (a TE.TE smuggling shape). */
export function parseTransferEncoding(p: usize, end: usize, rawEnd: usize): i32 {
  flags |= HeadFlag.HAS_TRANSFER_ENCODING;
  // trailing OWS is not part of the value (RFC 9110 §5.5), but llhttp does not skip an HTAB after
  // the final coding (`chunked\t` is not chunked to it): refused rather than read differently
  for (let q = end; q < rawEnd; q++) if (load<u8>(q) == HTAB) return ErrorCode.INVALID_TRANSFER_ENCODING;
  while (true) {
    p = skipWs(p, end);
    const start = p;
    while (p < end && (classOf(load<u8>(p)) & TCHAR)) p++;
    const len = <i32>(p - start);
    if (len == 0) return ErrorCode.INVALID_TRANSFER_ENCODING; // empty element, or not a token
    const isChunked = equalsLower(start, len, "chunked");
    p = skipWs(p, end);
    if (p < end && load<u8>(p) == SEMI) {
      // transfer-parameters: none is defined for chunked; other codings are refused later anyway
      if (isChunked) return ErrorCode.INVALID_TRANSFER_ENCODING;
      while (p < end && load<u8>(p) != COMMA) p++;
    }
    codings++;
    if (isChunked) {
      chunkedCount++;
      lastCodingChunked = true;
    } else {
      otherCodings = true;
      lastCodingChunked = false;
    }
    if (p == end) return 0;
    if (load<u8>(p) != COMMA) return ErrorCode.INVALID_TRANSFER_ENCODING;
    p++;
  }
}

/** Connection = #connection-option. Sets the close/keep-alive/upgrade flags and records the
 *  other options (field names to remove before forwarding). */
export function parseConnection(p: usize, end: usize): i32 {
  while (p < end) {
    p = skipWs(p, end);
    if (p < end && load<u8>(p) == COMMA) { p++; continue; }
    if (p == end) break;
    const start = p;
    while (p < end && (classOf(load<u8>(p)) & TCHAR)) p++;
    const len = <i32>(p - start);
    if (len == 0) return ErrorCode.INVALID_CONNECTION;
    p = skipWs(p, end);
    if (p < end && load<u8>(p) != COMMA) return ErrorCode.INVALID_CONNECTION;
    if (equalsLower(start, len, "close")) flags |= HeadFlag.CONNECTION_CLOSE;
    else if (equalsLower(start, len, "keep-alive")) flags |= HeadFlag.CONNECTION_KEEP_ALIVE;
    else if (equalsLower(start, len, "upgrade")) flags |= HeadFlag.CONNECTION_UPGRADE;
    else if (listedCount < <i32>Capacity.SPANS) {
      const e = SPANS + ((<usize>listedCount * <usize>SpanEntry.SIZE) << 2);
      store<i32>(e, <i32>start);
      store<i32>(e + 4, len);
      listedCount++;
    }
  }
  return 0;
}

export function parseExpect(p: usize, end: usize): void {
  if (equalsLower(p, <i32>(end - p), "100-continue")) flags |= HeadFlag.EXPECT_CONTINUE;
  else flags |= HeadFlag.EXPECT_OTHER;
}

/** Host = uri-host [ ":" port ]: reg-name, IP-literal or IPv4 bytes; empty is allowed. */
export function validHost(p: usize, end: usize): bool {
  while (p < end) {
    if (!(classOf(load<u8>(p)) & HOST)) return false;
    p++;
  }
  return true;
}
