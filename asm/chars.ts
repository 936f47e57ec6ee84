// Byte classes for the HTTP grammar, one 256-byte table, looked up with a single load.
// Bits: TCHAR (RFC 9110 §5.6.2 token), FIELD_VCHAR (field-vchar / obs-text / SP / HTAB,
// RFC 9110 §5.5), HEX (HEXDIG), HOST (reg-name, IP-literal and port bytes, RFC 3986 §3.2.2),
// TARGET (request-target bytes 0x21-0x7E: no CTL, SP or non-ASCII, RFC 9112 §3.2).

export const CR: u8 = 0x0d;
export const LF: u8 = 0x0a;
export const SP: u8 = 0x20;
export const HTAB: u8 = 0x09;
export const COLON: u8 = 0x3a;
export const COMMA: u8 = 0x2c;
export const SEMI: u8 = 0x3b;
export const DQUOTE: u8 = 0x22;
export const BACKSLASH: u8 = 0x5c;
export const EQUALS: u8 = 0x3d;

export const TCHAR: u8 = 1;
export const FIELD_VCHAR: u8 = 2;
export const HEX: u8 = 4;
export const HOST: u8 = 8;
export const TARGET: u8 = 16;

// size: 256 bytes
@lazy const CLASS = memory.data<u8>([
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x02, 0x1b, 0x12, 0x13, 0x1b, 0x1b, 0x1b, 0x1b, 0x1a, 0x1a, 0x1b, 0x1b, 0x1a, 0x1b, 0x1b, 0x12,
  0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1a, 0x1a, 0x12, 0x1a, 0x12, 0x12,
  0x12, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b,
  0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1a, 0x12, 0x1a, 0x13, 0x1b,
  0x13, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b,
  0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x12, 0x13, 0x12, 0x1b, 0x00,
  0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
  0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
  0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
  0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
  0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
  0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
  0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
  0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
]);

// @ts-ignore: decorator
@inline export function classOf(c: u32): u8 {
  return load<u8>(CLASS + <usize>c);
}

// @ts-ignore: decorator
@inline export function isWs(c: u32): bool {
  // (c == SP || c == HTAB)
  return c == SP || c == HTAB;
}

// @ts-ignore: decorator
@inline export function lower(c: u32): u32 {
  // ASCII letters only: 'A'..'Z' -> 'a'..'z'; (c - 'A') < 26 as an unsigned range check
  return c - 0x41 < 26 ? c | 0x20 : c;
}

/** Value of one hex digit already known to be HEXDIG. */
// @ts-ignore: decorator
@inline export function hexValue(c: u32): u32 {
  // '0'..'9' -> 0..9; letters: (c | 0x20) - 'a' + 10
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

/** Case-insensitive comparison of `len` input bytes at `p` with a lower-case ASCII literal. */
export function equalsLower(p: usize, len: i32, literal: string): bool {
  if (len != literal.length) return false;
  const s = changetype<usize>(literal);
  for (let i = 0; i < len; i++) {
    if (lower(load<u8>(p + <usize>i)) != <u32>load<u16>(s + (<usize>i << 1))) return false;
  }
  return true;
}

/** Case-insensitive comparison of two byte ranges of equal length. */
export function equalsBytesLower(a: usize, b: usize, len: i32): bool {
  for (let i = 0; i < len; i++) {
    if (lower(load<u8>(a + <usize>i)) != lower(load<u8>(b + <usize>i))) return false;
  }
  return true;
}

// SIMD classification (SIMD build only). A byte b is a tchar when
// TCHAR_LO[b & 15] & TCHAR_HI[b >> 4] != 0: TCHAR_HI gives each high nibble 2..7 its own bit,
// TCHAR_LO[l] has the bits of the high nibbles h for which (h << 4 | l) is a tchar
// (RFC 9110 §5.6.2: ALPHA, DIGIT and !#$%&'*+-.^_`|~). Checked against CLASS by the tests.
// @ts-ignore: decorator
@inline export function tcharBits(v: v128): i32 {
  const lo = i8x16.swizzle(
    i8x16(0x3a, 0x3f, 0x3e, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3e, 0x3e, 0x3d, 0x15, 0x34, 0x15, 0x3d, 0x1c),
    v128.and(v, i8x16.splat(0x0f)),
  );
  const hi = i8x16.swizzle(
    i8x16(0, 0, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0, 0, 0, 0, 0, 0, 0, 0),
    i8x16.shr_u(v, 4),
  );
  return i8x16.bitmask(i8x16.ne(v128.and(lo, hi), i8x16.splat(0)));
}

/** The first byte in [p, end) that is not a tchar, or `end`. SIMD loads may read up to 15
 *  bytes past `end` (the input region is padded); those bytes never change the result. */
export function skipTchar(p: usize, end: usize): usize {
  if (ASC_FEATURE_SIMD) {
    while (p < end) {
      const other = ~tcharBits(v128.load(p)) & 0xffff;
      if (other != 0) {
        const q = p + <usize>ctz<i32>(other);
        return q < end ? q : end;
      }
      p += 16;
    }
    return end;
  } else {
    while (p < end && (classOf(load<u8>(p)) & TCHAR)) p++;
    return p;
  }
}

/** The first byte in [p, end) outside 0x21-0x7E (request-target bytes), or `end`. */
export function skipTarget(p: usize, end: usize): usize {
  if (ASC_FEATURE_SIMD) {
    while (p < end) {
      const v = v128.load(p);
      const other = i8x16.bitmask(v128.or(i8x16.lt_u(v, i8x16.splat(0x21)), i8x16.gt_u(v, i8x16.splat(0x7e))));
      if (other != 0) {
        const q = p + <usize>ctz<i32>(other);
        return q < end ? q : end;
      }
      p += 16;
    }
    return end;
  } else {
    while (p < end && (classOf(load<u8>(p)) & TARGET)) p++;
    return p;
  }
}

/** The first byte in [p, end) that is neither field-vchar (VCHAR, obs-text) nor SP / HTAB
 *  (RFC 9110 §5.5: what may appear in a field value or a reason phrase), or `end`. */
export function skipFieldText(p: usize, end: usize): usize {
  if (ASC_FEATURE_SIMD) {
    while (p < end) {
      const v = v128.load(p);
      // CTLs (< 0x20) but HTAB, and DEL
      const other = i8x16.bitmask(v128.or(
        v128.andnot(i8x16.lt_u(v, i8x16.splat(0x20)), i8x16.eq(v, i8x16.splat(HTAB))),
        i8x16.eq(v, i8x16.splat(0x7f)),
      ));
      if (other != 0) {
        const q = p + <usize>ctz<i32>(other);
        return q < end ? q : end;
      }
      p += 16;
    }
    return end;
  } else {
    while (p < end) {
      const c = <u32>load<u8>(p);
      if (c != HTAB && !(classOf(c) & FIELD_VCHAR)) break;
      p++;
    }
    return p;
  }
}
