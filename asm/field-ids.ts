// Field names the proxy acts on, identified once per field while parsing so JS routes and drops
// hop-by-hop fields by id and offset, never by building and comparing strings.
import { FieldId } from "./shared/constants";
import { equalsLower, lower } from "./chars";

/** Not a FieldId: what fieldId answers for a framing or hop-by-hop name spelt with `_` for `-`
 *  (`Content_Length`, `keep_alive`...). Such a name is an ordinary field to us but the real one
 *  to a next hop that maps `_` to `-` (CGI's HTTP_CONTENT_LENGTH), so a request with one is
 *  refused (ErrorCode.UNDERSCORE_HOP_BY_HOP_NAME). Names without `-` (Connection, TE, Upgrade,
 *  Trailer) have no such twin. */
export const UNDERSCORE_LOOKALIKE: i32 = -1;

/** `id` when the name at `p` is `literal` (same length, case-insensitive), UNDERSCORE_LOOKALIKE
 *  when it is `literal` with `_` for some `-`, else OTHER. */
function dashed(p: usize, len: i32, literal: string, id: i32): i32 {
  const s = changetype<usize>(literal);
  let loose = false;
  for (let i = 0; i < len; i++) {
    const a = lower(load<u8>(p + <usize>i));
    const b = <u32>load<u16>(s + (<usize>i << 1));
    if (a == b) continue;
    if (a == 0x5f && b == 0x2d) { loose = true; continue; }
    return FieldId.OTHER;
  }
  return loose ? UNDERSCORE_LOOKALIKE : id;
}

/** The FieldId of the `len`-byte field name at `p` (case-insensitive), or UNDERSCORE_LOOKALIKE. */
export function fieldId(p: usize, len: i32): i32 {
  const c = lower(load<u8>(p));
  switch (len) {
    case 2:
      if (c == 0x74 && equalsLower(p, len, "te")) return FieldId.TE;
      break;
    case 3:
      if (c == 0x76 && equalsLower(p, len, "via")) return FieldId.VIA;
      break;
    case 4:
      if (c == 0x68 && equalsLower(p, len, "host")) return FieldId.HOST;
      break;
    case 6:
      if (c == 0x65 && equalsLower(p, len, "expect")) return FieldId.EXPECT;
      break;
    case 7:
      if (c == 0x74 && equalsLower(p, len, "trailer")) return FieldId.TRAILER;
      if (c == 0x75 && equalsLower(p, len, "upgrade")) return FieldId.UPGRADE;
      break;
    case 9:
      if (c == 0x66 && equalsLower(p, len, "forwarded")) return FieldId.FORWARDED;
      break;
    case 10:
      if (c == 0x63 && equalsLower(p, len, "connection")) return FieldId.CONNECTION;
      if (c == 0x6b) return dashed(p, len, "keep-alive", FieldId.KEEP_ALIVE);
      break;
    case 14:
      if (c == 0x63) return dashed(p, len, "content-length", FieldId.CONTENT_LENGTH);
      break;
    case 16:
      if (c == 0x70) return dashed(p, len, "proxy-connection", FieldId.PROXY_CONNECTION);
      break;
    case 17:
      if (c == 0x74) return dashed(p, len, "transfer-encoding", FieldId.TRANSFER_ENCODING);
      break;
    case 18:
      if (c == 0x70) return dashed(p, len, "proxy-authenticate", FieldId.PROXY_AUTHENTICATE);
      break;
    case 19:
      if (c == 0x70) return dashed(p, len, "proxy-authorization", FieldId.PROXY_AUTHORIZATION);
      break;
  }
  if (c == 0x78 && len >= 12 && equalsLower(p, 12, "x-forwarded-")) {
    const rest = p + 12;
    const n = len - 12;
    if (equalsLower(rest, n, "for")) return FieldId.X_FORWARDED_FOR;
    if (equalsLower(rest, n, "proto")) return FieldId.X_FORWARDED_PROTO;
    if (equalsLower(rest, n, "host")) return FieldId.X_FORWARDED_HOST;
    if (equalsLower(rest, n, "port")) return FieldId.X_FORWARDED_PORT;
    return FieldId.X_FORWARDED_OTHER;
  }
  return FieldId.OTHER;
}
