// Parses a head: start-line, field lines, framing. Writes the head result table and one entry
// per field (offsets relative to INPUT); never builds a string.
// Strict RFC 9112: single-SP start-line, token method and field names, no obs-fold, no
// whitespace before the colon, no CTL (other than HTAB) or NUL in values.
//
// Two paths, one parser:
// - exact (every build): the scanner (scan.ts) finds the end of the head and checks line framing
//   and the limits byte by byte, then the parser reads the complete head; this decides every
//   error code, its offset and which error wins when there are several.
// - fast (SIMD build, a head that arrives whole): the same parser reads INPUT directly, checking
//   CRLF line ends and the limits itself as it goes, so the bytes are read once instead of twice.
//   It only ever succeeds on a head the exact path accepts with the same result: on any error,
//   anything unusual (a leading empty line, a limit reached, an incomplete head) it gives up and
//   the exact path runs. The scalar build always takes the exact path, and the tests require the
//   two builds to agree on every fixture and on random inputs.
import {
  ErrorCode, HeadResult, FieldEntry, FieldId, FieldFlag, HeadFlag, BodyKind, MethodId,
  TargetForm, SpanEntry, HeadKind,
} from "./shared/constants";
import {
  CR, LF, SP, COLON, isWs, equalsBytesLower, skipTchar, skipTarget, skipFieldText,
} from "./chars";
import {
  INPUT, FIELDS, SPANS, RESULT, setResult, slotAddress, S_HEAD_STATE, S_SEEN, S_LINE_LENGTH, S_LINE_COUNT,
  S_TOTAL, S_MAX_LINE, S_MAX_FIELDS, S_MAX_HEAD,
} from "./layout";
import { resetScan, scan } from "./scan";
import { fieldId, UNDERSCORE_LOOKALIKE } from "./field-ids";
import * as framing from "./framing";

let errorAt: usize = 0;

/** The fast path gave up: run the exact path (never returned to JS). */
const BAIL: i32 = -1000;
/** True while the fast path runs. */
let fast = false;
/** Where the empty line that ends the head ends (set by parseFields). */
let headEndAt: usize = 0;
// the slot's limits and the running head size, for the fast path's own checks
let fastMaxLine: i32 = 0;
let fastMaxFields: i32 = 0;
let fastMaxHead: i32 = 0;
let fastTotal: i32 = 0;

/** Starts the fast path for `len` input bytes of `slot`, unless the input starts with an empty
 *  line (the exact path handles the skip rule). */
function startFast(slot: i32, len: i32): bool {
  if (len < 16) return false;
  const c = load<u8>(INPUT);
  if (c == CR || c == LF) return false;
  const s = slotAddress(slot);
  fastMaxLine = load<i32>(s + S_MAX_LINE);
  fastMaxFields = load<i32>(s + S_MAX_FIELDS);
  fastMaxHead = load<i32>(s + S_MAX_HEAD);
  fastTotal = 0;
  fast = true;
  return true;
}

/** Leaves the slot's scan state as the exact path's scanner would after this head. */
function endFast(slot: i32, headLength: i32): void {
  const s = slotAddress(slot);
  store<i32>(s + S_HEAD_STATE, 0);
  store<i32>(s + S_SEEN, headLength);
  store<i32>(s + S_LINE_LENGTH, 0);
  store<i32>(s + S_LINE_COUNT, fieldCount + 1);
  store<i32>(s + S_TOTAL, fastTotal);
}

/** Fast path: a line of `length` bytes (CRLF excluded) was read; false when a limit is reached. */
// @ts-ignore: decorator
@inline function fastLine(length: i32): bool {
  fastTotal += length;
  return length <= fastMaxLine && fastTotal <= fastMaxHead;
}

// @ts-ignore: decorator
@inline function fail(code: i32, at: usize): i32 {
  errorAt = at;
  return -code;
}

/** Scans and parses a request head that starts at INPUT[0]. Returns the head length, 0 when
 *  the head is incomplete (the slot then holds the scan state for scanHead), or -ErrorCode. */
export function parseRequest(slot: i32, len: i32): i32 {
  if (ASC_FEATURE_SIMD) {
    if (startFast(slot, len)) {
      const r = parseRequestHead(INPUT + <usize>len);
      fast = false;
      if (r > 0) {
        endFast(slot, r);
        return r;
      }
    }
  }
  resetScan(slot);
  const end = scan(slot, len, HeadKind.REQUEST);
  if (end <= 0) return end;
  const r = parseRequestHead(INPUT + <usize>end);
  if (r < 0) setResult(HeadResult.ERROR_OFFSET, <i32>(errorAt - INPUT));
  return r;
}

/** Scans and parses a response head; `headRequest` says the request was HEAD (no body). */
export function parseResponse(slot: i32, len: i32, headRequest: bool): i32 {
  if (ASC_FEATURE_SIMD) {
    if (startFast(slot, len)) {
      const r = parseResponseHead(INPUT + <usize>len, headRequest);
      fast = false;
      if (r > 0) {
        endFast(slot, r);
        return r;
      }
    }
  }
  resetScan(slot);
  const end = scan(slot, len, HeadKind.RESPONSE);
  if (end <= 0) return end;
  const r = parseResponseHead(INPUT + <usize>end, headRequest);
  if (r < 0) setResult(HeadResult.ERROR_OFFSET, <i32>(errorAt - INPUT));
  return r;
}

function methodId(p: usize, len: i32): i32 {
  // methods are case-sensitive (RFC 9110 §9.1)
  const c = load<u8>(p);
  switch (len) {
    case 3:
      if (c == 0x47 && load<u16>(p + 1) == 0x5445) return MethodId.GET; // "ET"
      if (c == 0x50 && load<u16>(p + 1) == 0x5455) return MethodId.PUT; // "UT"
      break;
    case 4:
      if (load<u32>(p) == 0x44414548) return MethodId.HEAD; // "HEAD"
      if (load<u32>(p) == 0x54534f50) return MethodId.POST; // "POST"
      break;
    case 5:
      if (load<u32>(p) == 0x43544150 && load<u8>(p + 4) == 0x48) return MethodId.PATCH;
      if (load<u32>(p) == 0x43415254 && load<u8>(p + 4) == 0x45) return MethodId.TRACE;
      break;
    case 6:
      if (load<u32>(p) == 0x454c4544 && load<u16>(p + 4) == 0x4554) return MethodId.DELETE;
      break;
    case 7:
      if (load<u32>(p) == 0x4e4e4f43 && load<u32>(p + 3) == 0x5443454e) return MethodId.CONNECT;
      if (load<u32>(p) == 0x4954504f && load<u32>(p + 3) == 0x534e4f49) return MethodId.OPTIONS;
      break;
  }
  return MethodId.OTHER;
}

function targetForm(p: usize, len: i32, method: i32): i32 {
  if (method == MethodId.CONNECT) return TargetForm.AUTHORITY;
  const c = <u32>load<u8>(p);
  if (c == 0x2f) return TargetForm.ORIGIN; // "/"
  if (c == 0x2a && len == 1) return TargetForm.ASTERISK; // "*"
  // absolute-form: scheme ":" ..., scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
  if ((c | 0x20) - 0x61 >= 26) return TargetForm.NONE;
  for (let i = 1; i < len; i++) {
    const d = <u32>load<u8>(p + <usize>i);
    if (d == COLON) return TargetForm.ABSOLUTE;
    if ((d | 0x20) - 0x61 < 26 || d - 0x30 < 10 || d == 0x2b || d == 0x2d || d == 0x2e) continue;
    return TargetForm.NONE;
  }
  return TargetForm.NONE;
}

/** Reads `HTTP/D.D` at p; returns 10/11, -1 for a bad syntax, or 0 for an unsupported version. */
function httpVersion(p: usize, end: usize): i32 {
  if (p + 8 > end) return -1;
  // "HTTP/" as little-endian u32 "HTTP" then "/"
  if (load<u32>(p) != 0x50545448 || load<u8>(p + 4) != 0x2f || load<u8>(p + 6) != 0x2e) return -1;
  const major = <u32>load<u8>(p + 5) - 0x30;
  const minor = <u32>load<u8>(p + 7) - 0x30;
  if (major > 9 || minor > 9) return -1;
  const v = <i32>(major * 10 + minor);
  return v == 10 || v == 11 ? v : 0;
}

/** Parses the request head in INPUT[0, end): `end` is the head's end (exact path) or the end
 *  of the input (fast path: the head's end is found here). */
function parseRequestHead(end: usize): i32 {
  let p = INPUT;
  if (load<u8>(p) == CR) p += 2; // the one leading empty line the scanner skipped
  if (load<u8>(p) == CR) return fail(ErrorCode.EMPTY_START_LINE, p);
  // method
  const ms = p;
  p = skipTchar(p, end);
  if (p >= end) return BAIL; // fast path only: the scanner guarantees a CR before the end
  const methodLen = <i32>(p - ms);
  let c = load<u8>(p);
  if (c != SP) return fail(c == CR && methodLen > 0 ? ErrorCode.INVALID_REQUEST_LINE : ErrorCode.INVALID_METHOD, p);
  if (methodLen == 0) return fail(ErrorCode.INVALID_METHOD, p);
  // request-target
  p++;
  const ts = p;
  p = skipTarget(p, end);
  if (p >= end) return BAIL;
  const targetLen = <i32>(p - ts);
  c = load<u8>(p);
  if (targetLen == 0) return fail(ErrorCode.INVALID_REQUEST_LINE, p);
  if (c != SP) return fail(c == CR ? ErrorCode.INVALID_REQUEST_LINE : ErrorCode.INVALID_TARGET, p);
  // HTTP-version (then CRLF: the scanner guaranteed the LF; the fast path checks it)
  p++;
  if (p + 10 > end) return fail(ErrorCode.INVALID_VERSION, p);
  const version = httpVersion(p, end);
  if (version < 0 || load<u8>(p + 8) != CR) return fail(ErrorCode.INVALID_VERSION, p);
  if (version == 0) return fail(ErrorCode.UNSUPPORTED_VERSION, p);
  if (fast && (load<u8>(p + 9) != LF || !fastLine(<i32>(p + 8 - INPUT)))) return BAIL;
  p += 10;
  const method = methodId(ms, methodLen);
  const form = targetForm(ts, targetLen, method);
  if (form == TargetForm.NONE) return fail(ErrorCode.INVALID_TARGET, ts);
  setResult(HeadResult.METHOD_START, <i32>(ms - INPUT));
  setResult(HeadResult.METHOD_LENGTH, methodLen);
  setResult(HeadResult.TARGET_START, <i32>(ts - INPUT));
  setResult(HeadResult.TARGET_LENGTH, targetLen);
  setResult(HeadResult.VERSION, version);
  setResult(HeadResult.STATUS, 0);
  setResult(HeadResult.REASON_START, 0);
  setResult(HeadResult.REASON_LENGTH, 0);
  setResult(HeadResult.METHOD_ID, method);
  setResult(HeadResult.TARGET_FORM, form);

  const r = parseFields(p, end, true);
  if (r < 0) return r;
  // Host (RFC 9112 §3.2): exactly one in HTTP/1.1, at most one in HTTP/1.0
  if (hostCount > 1) return fail(ErrorCode.DUPLICATE_HOST, INPUT + <usize>fieldStart(hostIndex));
  if (hostCount == 0 && version == 11) return fail(ErrorCode.MISSING_HOST, headEndAt);
  // framing (RFC 9112 §6.1, §6.3)
  let kind = BodyKind.NONE;
  const f = framing.flags;
  if (f & HeadFlag.HAS_TRANSFER_ENCODING) {
    if (version == 10) return fail(ErrorCode.TRANSFER_ENCODING_IN_HTTP10, headEndAt);
    if (f & HeadFlag.HAS_CONTENT_LENGTH) return fail(ErrorCode.CONTENT_LENGTH_AND_TRANSFER_ENCODING, headEndAt);
    if (framing.codings == 0) return fail(ErrorCode.INVALID_TRANSFER_ENCODING, headEndAt);
    if (framing.chunkedCount > 1) return fail(ErrorCode.CHUNKED_REPEATED, headEndAt);
    if (!framing.lastCodingChunked) return fail(ErrorCode.CHUNKED_NOT_FINAL, headEndAt);
    if (framing.otherCodings) return fail(ErrorCode.UNSUPPORTED_TRANSFER_CODING, headEndAt);
    framing.flags |= HeadFlag.CHUNKED;
    kind = BodyKind.CHUNKED;
  } else if (f & HeadFlag.HAS_CONTENT_LENGTH) {
    kind = BodyKind.LENGTH;
  }
  return finish(headEndAt - INPUT, kind);
}

/** Parses the response head in INPUT[0, end) (see parseRequestHead for `end`). */
function parseResponseHead(end: usize, headRequest: bool): i32 {
  let p = INPUT;
  // the one leading empty line the scanner skipped (for responses too, as llhttp does: a stray
  // CRLF after a 1xx or a body whose length the upstream miscounted by its CRLF)
  if (load<u8>(p) == CR) p += 2;
  if (load<u8>(p) == CR) return fail(ErrorCode.EMPTY_START_LINE, p);
  if (fast && p + 14 > end) return BAIL; // `HTTP/1.1 200` CRLF at least (the exact path has it)
  const version = httpVersion(p, end);
  if (version <= 0 || load<u8>(p + 8) != SP) return fail(ErrorCode.INVALID_STATUS_LINE, p);
  p += 9;
  const d0 = <u32>load<u8>(p) - 0x30;
  const d1 = <u32>load<u8>(p + 1) - 0x30;
  const d2 = <u32>load<u8>(p + 2) - 0x30;
  if (d0 > 9 || d1 > 9 || d2 > 9 || d0 == 0) return fail(ErrorCode.INVALID_STATUS_LINE, p);
  const status = <i32>(d0 * 100 + d1 * 10 + d2);
  p += 3;
  let c = load<u8>(p);
  let rs = p;
  if (c == SP) {
    p++;
    rs = p;
    p = skipFieldText(p, end);
    if (p >= end) return BAIL;
    c = load<u8>(p);
    if (c != CR) return fail(ErrorCode.INVALID_REASON, p);
  } else if (c != CR) {
    return fail(ErrorCode.INVALID_STATUS_LINE, p);
  }
  if (fast && (p + 1 >= end || load<u8>(p + 1) != LF || !fastLine(<i32>(p - INPUT)))) return BAIL;
  setResult(HeadResult.METHOD_START, 0);
  setResult(HeadResult.METHOD_LENGTH, 0);
  setResult(HeadResult.TARGET_START, 0);
  setResult(HeadResult.TARGET_LENGTH, 0);
  setResult(HeadResult.VERSION, version);
  setResult(HeadResult.STATUS, status);
  setResult(HeadResult.REASON_START, <i32>(rs - INPUT));
  setResult(HeadResult.REASON_LENGTH, <i32>(p - rs));
  setResult(HeadResult.METHOD_ID, 0);
  setResult(HeadResult.TARGET_FORM, 0);
  p += 2;

  const r = parseFields(p, end, false);
  if (r < 0) return r;
  // framing (RFC 9112 §6.3): the field values were validated above whatever the status
  const f = framing.flags;
  if ((f & HeadFlag.HAS_TRANSFER_ENCODING) && (f & HeadFlag.HAS_CONTENT_LENGTH)) {
    // §6.3(3) lets TE override CL but calls it a smuggling sign; a proxy refuses it (502).
    return fail(ErrorCode.CONTENT_LENGTH_AND_TRANSFER_ENCODING, headEndAt);
  }
  if ((f & HeadFlag.HAS_TRANSFER_ENCODING) && version == 10) return fail(ErrorCode.TRANSFER_ENCODING_IN_HTTP10, headEndAt);
  if ((f & HeadFlag.HAS_TRANSFER_ENCODING) && framing.chunkedCount > 1) return fail(ErrorCode.CHUNKED_REPEATED, headEndAt);
  if (framing.otherCodings) framing.flags |= HeadFlag.TE_OTHER_CODINGS;
  // a property of the fields, whatever the status says about the body
  if ((f & HeadFlag.HAS_TRANSFER_ENCODING) && framing.lastCodingChunked) framing.flags |= HeadFlag.CHUNKED;
  let kind = BodyKind.CLOSE_DELIMITED;
  if (headRequest || status < 200 || status == 204 || status == 304) kind = BodyKind.NONE;
  else if (f & HeadFlag.HAS_TRANSFER_ENCODING) kind = framing.lastCodingChunked ? BodyKind.CHUNKED : BodyKind.CLOSE_DELIMITED;
  else if (f & HeadFlag.HAS_CONTENT_LENGTH) kind = BodyKind.LENGTH;
  return finish(headEndAt - INPUT, kind);
}

let fieldCount: i32 = 0;
let hostCount: i32 = 0;
let hostIndex: i32 = -1;

// @ts-ignore: decorator
@inline function entry(i: i32): usize {
  return FIELDS + ((<usize>i * <usize>FieldEntry.SIZE) << 2);
}

function fieldStart(i: i32): i32 {
  return load<i32>(entry(i) + (<usize>FieldEntry.NAME_START << 2));
}

/** Parses field lines from p up to the empty line at the end of the head. */
function parseFields(p: usize, end: usize, request: bool): i32 {
  framing.resetFraming();
  fieldCount = 0;
  hostCount = 0;
  hostIndex = -1;
  while (true) {
    if (p >= end) return BAIL;
    const ls = p;
    let c = load<u8>(p);
    if (c == CR) {
      // the empty line
      if (fast && (p + 1 >= end || load<u8>(p + 1) != LF)) return BAIL;
      headEndAt = p + 2;
      break;
    }
    if (isWs(c)) return fail(fieldCount == 0 ? ErrorCode.WHITESPACE_AFTER_START_LINE : ErrorCode.OBS_FOLD, p);
    if (fast && fieldCount >= fastMaxFields) return BAIL;
    p = skipTchar(p, end);
    if (p >= end) return BAIL;
    const nameLen = <i32>(p - ls);
    c = load<u8>(p);
    if (c != COLON) {
      if (fast) return BAIL; // the exact path finds which error it is
      if (isWs(c)) {
        let q = p;
        while (isWs(load<u8>(q))) q++;
        if (load<u8>(q) == COLON && nameLen > 0) return fail(ErrorCode.WHITESPACE_BEFORE_COLON, p);
      }
      let q = p;
      while (load<u8>(q) != CR && load<u8>(q) != COLON) q++;
      return fail(load<u8>(q) == COLON ? ErrorCode.INVALID_FIELD_NAME : ErrorCode.MISSING_COLON, p);
    }
    if (nameLen == 0) return fail(ErrorCode.INVALID_FIELD_NAME, p);
    p++;
    while (p < end && isWs(load<u8>(p))) p++;
    const vs = p;
    // field value: field-vchar, SP, HTAB until the CR (the scanner guaranteed CRLF; the fast
    // path checks the LF and the line's length)
    p = skipFieldText(p, end);
    if (p >= end) return BAIL;
    c = load<u8>(p);
    if (c != CR) return fail(c == 0 ? ErrorCode.NUL_IN_FIELD_VALUE : ErrorCode.CTL_IN_FIELD_VALUE, p);
    if (fast && (p + 1 >= end || load<u8>(p + 1) != LF || !fastLine(<i32>(p - ls)))) return BAIL;
    let ve = p;
    while (ve > vs && isWs(load<u8>(ve - 1))) ve--;
    p += 2;
    let id = fieldId(ls, nameLen);
    if (id == UNDERSCORE_LOOKALIKE) {
      // a request is refused; in a response it is an ordinary field (clients do not map `_`)
      if (request) return fail(ErrorCode.UNDERSCORE_HOP_BY_HOP_NAME, ls);
      id = FieldId.OTHER;
    }
    const e = entry(fieldCount);
    store<i32>(e + (<usize>FieldEntry.NAME_START << 2), <i32>(ls - INPUT));
    store<i32>(e + (<usize>FieldEntry.NAME_LENGTH << 2), nameLen);
    store<i32>(e + (<usize>FieldEntry.VALUE_START << 2), <i32>(vs - INPUT));
    store<i32>(e + (<usize>FieldEntry.VALUE_LENGTH << 2), <i32>(ve - vs));
    store<i32>(e + (<usize>FieldEntry.LINE_END << 2), <i32>(p - INPUT));
    store<i32>(e + (<usize>FieldEntry.ID_FLAGS << 2), id);
    let err = 0;
    switch (id) {
      case FieldId.HOST:
        if (request) {
          if (hostCount == 0) hostIndex = fieldCount;
          hostCount++;
          if (!framing.validHost(vs, ve)) err = ErrorCode.INVALID_HOST;
        }
        break;
      case FieldId.CONTENT_LENGTH: err = framing.parseContentLength(vs, ve); break;
      case FieldId.TRANSFER_ENCODING: err = framing.parseTransferEncoding(vs, ve, p - 2); break;
      case FieldId.CONNECTION: err = framing.parseConnection(vs, ve); break;
      case FieldId.EXPECT: if (request) framing.parseExpect(vs, ve); break;
      case FieldId.UPGRADE: framing.flags |= HeadFlag.HAS_UPGRADE; break;
      case FieldId.TRAILER: framing.flags |= HeadFlag.HAS_TRAILER; break;
    }
    if (err != 0) return fail(err, vs);
    fieldCount++;
  }
  if (framing.listedCount > 0) markListed();
  return 0;
}

/** Flags every field whose name is a Connection option (RFC 9110 §7.6.1: a proxy MUST remove
 *  them). Bounded by the field and option counts the limits allow. */
function markListed(): void {
  for (let t = 0; t < framing.listedCount; t++) {
    const te = SPANS + ((<usize>t * <usize>SpanEntry.SIZE) << 2);
    const tp = <usize>load<i32>(te);
    const tl = load<i32>(te + 4);
    for (let i = 0; i < fieldCount; i++) {
      const e = entry(i);
      if (load<i32>(e + (<usize>FieldEntry.NAME_LENGTH << 2)) != tl) continue;
      const np = INPUT + <usize>load<i32>(e + (<usize>FieldEntry.NAME_START << 2));
      if (!equalsBytesLower(np, tp, tl)) continue;
      const f = e + (<usize>FieldEntry.ID_FLAGS << 2);
      store<i32>(f, load<i32>(f) | FieldFlag.CONNECTION_LISTED);
      framing.flags |= HeadFlag.HAS_CONNECTION_LISTED;
    }
  }
}

function finish(headEnd: usize, kind: i32): i32 {
  setResult(HeadResult.HEAD_LENGTH, <i32>headEnd);
  setResult(HeadResult.FLAGS, framing.flags);
  setResult(HeadResult.FIELD_COUNT, fieldCount);
  setResult(HeadResult.HOST_INDEX, hostIndex);
  setResult(HeadResult.HOST_COUNT, hostCount);
  setResult(HeadResult.BODY_KIND, kind);
  store<f64>(RESULT_CL, framing.contentLength < 0 ? 0 : framing.contentLength);
  return <i32>headEnd;
}

const RESULT_CL: usize = RESULT + (<usize>HeadResult.CONTENT_LENGTH << 2);
