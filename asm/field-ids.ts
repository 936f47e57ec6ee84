// Field names the proxy acts on, identified once per field while parsing so JS routes and drops
// hop-by-hop fields by id and offset, never by building and comparing strings.
import { FieldId } from "./shared/constants";
import { equalsLower, lower } from "./chars";

/** The FieldId of the `len`-byte field name at `p` (case-insensitive). */
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
      if (c == 0x6b && equalsLower(p, len, "keep-alive")) return FieldId.KEEP_ALIVE;
      break;
    case 14:
      if (c == 0x63 && equalsLower(p, len, "content-length")) return FieldId.CONTENT_LENGTH;
      break;
    case 16:
      if (c == 0x70 && equalsLower(p, len, "proxy-connection")) return FieldId.PROXY_CONNECTION;
      break;
    case 17:
      if (c == 0x74 && equalsLower(p, len, "transfer-encoding")) return FieldId.TRANSFER_ENCODING;
      break;
    case 18:
      if (c == 0x70 && equalsLower(p, len, "proxy-authenticate")) return FieldId.PROXY_AUTHENTICATE;
      break;
    case 19:
      if (c == 0x70 && equalsLower(p, len, "proxy-authorization")) return FieldId.PROXY_AUTHORIZATION;
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
