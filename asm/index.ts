// The codec's exports: the whole ABI between asm/ and src/wasm/codec.ts. Every function takes
// and returns plain integers; inputs are read from the INPUT region, results written to the
// RESULT, FIELDS and SPANS regions (see layout.ts). A negative return value is -ErrorCode.
import { ErrorCode, Capacity, HeadKind } from "./shared/constants";
import { INPUT, RESULT, FIELDS, SPANS, SLOTS, END, slotAddress, validSlot, S_MAX_LINE, S_MAX_FIELDS, S_MAX_HEAD } from "./layout";
import { resetScan, scan } from "./scan";
import { parseRequest, parseResponse } from "./head";
import { decodeChunked, chunkedBegin, chunkedEnd, setChunkLimits } from "./chunked";

export function inputPointer(): usize { return INPUT; }
export function resultPointer(): usize { return RESULT; }
export function fieldsPointer(): usize { return FIELDS; }
export function spansPointer(): usize { return SPANS; }
export function slotsPointer(): usize { return SLOTS; }
/** First byte past the regions; the binding checks it against the memory size. */
export function endPointer(): usize { return END; }

// @ts-ignore: decorator
@inline function badCall(slot: i32, len: i32): bool {
  return !validSlot(slot) || <u32>len > <u32>Capacity.INPUT;
}

/** Prepares `slot` for a new connection's parser with its head limits. */
export function resetSlot(slot: i32, maxLine: i32, maxFields: i32, maxHead: i32): i32 {
  if (!validSlot(slot) || maxLine <= 0 || maxHead <= 0 || maxFields < 0 || maxFields > <i32>Capacity.FIELDS) return -ErrorCode.BAD_CALL;
  const s = slotAddress(slot);
  store<i32>(s + S_MAX_LINE, maxLine);
  store<i32>(s + S_MAX_FIELDS, maxFields);
  store<i32>(s + S_MAX_HEAD, maxHead);
  resetScan(slot);
  chunkedEnd(slot);
  return 0;
}

/** Scans and parses a request head starting at INPUT[0] (see head.ts parseRequest). */
export function requestHead(slot: i32, len: i32): i32 {
  if (badCall(slot, len)) return -ErrorCode.BAD_CALL;
  return parseRequest(slot, len);
}

/** Scans and parses a response head starting at INPUT[0]. */
export function responseHead(slot: i32, len: i32, headRequest: i32): i32 {
  if (badCall(slot, len)) return -ErrorCode.BAD_CALL;
  return parseResponse(slot, len, headRequest != 0);
}

/** Continues scanning a head begun by requestHead/responseHead that returned 0: INPUT holds
 *  only the new bytes. Returns how many of them complete the head, 0, or -ErrorCode. */
export function continueHead(slot: i32, len: i32, kind: i32): i32 {
  if (badCall(slot, len)) return -ErrorCode.BAD_CALL;
  return scan(slot, len, kind == HeadKind.RESPONSE ? HeadKind.RESPONSE : HeadKind.REQUEST);
}

export function beginChunked(slot: i32): i32 {
  if (!validSlot(slot)) return -ErrorCode.BAD_CALL;
  chunkedBegin(slot);
  return 0;
}

export function chunked(slot: i32, len: i32): i32 {
  if (badCall(slot, len)) return -ErrorCode.BAD_CALL;
  return decodeChunked(slot, len);
}

export function chunkLimits(maxSizeLine: i32, maxTrailer: i32): i32 {
  if (maxSizeLine <= 0 || maxTrailer < 0) return -ErrorCode.BAD_CALL;
  setChunkLimits(maxSizeLine, maxTrailer);
  return 0;
}
