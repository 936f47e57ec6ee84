// The codec's fixed linear memory, laid out once above the static data (__heap_base):
//
//   | static data | INPUT (Capacity.INPUT + 64 pad) | RESULT (HeadResult.SIZE i32) |
//   | FIELDS (Capacity.FIELDS x FieldEntry.SIZE i32) | SPANS (Capacity.SPANS x SpanEntry.SIZE i32) |
//   | SLOTS (Capacity.SLOTS x Capacity.SLOT_BYTES) |
//
// Memory is fixed (initial == maximum in asconfig.json) and never grows, so the binding's
// typed-array views stay valid. The pad after INPUT lets v128 loads read 16 bytes past the last
// input byte without leaving the region. Nothing is allocated at run time (--runtime stub).
import { Capacity, HeadResult, FieldEntry, SpanEntry } from "./shared/constants";

export const INPUT_PAD: usize = 64;

export const INPUT: usize = (__heap_base + 63) & ~<usize>63;
export const RESULT: usize = INPUT + <usize>Capacity.INPUT + INPUT_PAD;
export const FIELDS: usize = RESULT + (<usize>HeadResult.SIZE << 2);
export const SPANS: usize = FIELDS + ((<usize>Capacity.FIELDS * <usize>FieldEntry.SIZE) << 2);
export const SLOTS: usize = SPANS + ((<usize>Capacity.SPANS * <usize>SpanEntry.SIZE) << 2);
export const END: usize = SLOTS + <usize>Capacity.SLOTS * <usize>Capacity.SLOT_BYTES;

// Slot words (i32 offsets in bytes). A slot belongs to one connection's parser: the head scanner
// uses the first half, the chunked decoder the second half; a parser is never in both at once.
export const S_HEAD_STATE: usize = 0; // bit 0: last byte was CR; bit 1: leading empty line skipped
export const S_SEEN: usize = 4; // head bytes scanned so far
export const S_LINE_LENGTH: usize = 8; // bytes of the current line (CRLF excluded)
export const S_LINE_COUNT: usize = 12; // complete lines, start-line included
export const S_TOTAL: usize = 16; // sum of complete line lengths (Twisted's totalHeadersSize count)
export const S_MAX_LINE: usize = 20;
export const S_MAX_FIELDS: usize = 24;
export const S_MAX_HEAD: usize = 28;
export const S_CHUNK_STATE: usize = 32;
export const S_CHUNK_SUB: usize = 36; // reserved
export const S_REMAINING: usize = 40; // i64: data bytes left in the current chunk, or the size being read
export const S_SIZE_LINE: usize = 48; // bytes of the current chunk-size line
export const S_TRAILER_BYTES: usize = 52; // bytes of trailer field lines so far
export const S_DIGITS: usize = 56; // significant hex digits of the current chunk-size

// @ts-ignore: decorator
@inline export function slotAddress(slot: i32): usize {
  return SLOTS + (<usize>slot << 6); // Capacity.SLOT_BYTES == 64
}

// @ts-ignore: decorator
@inline export function validSlot(slot: i32): bool {
  return <u32>slot < <u32>Capacity.SLOTS;
}

// @ts-ignore: decorator
@inline export function setResult(index: i32, value: i32): void {
  store<i32>(RESULT + (<usize>index << 2), value);
}

