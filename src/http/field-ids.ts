// The FieldId (asm/shared/constants.ts) of a field name given as a string: what the WebAssembly
// codec works out for HTTP/1.1 heads (asm/field-ids.ts), for heads that arrive as name/value
// strings (HTTP/2 header lists, from node:http2). Names are lower-case there (RFC 9113 §8.2.1),
// so one Map lookup answers; the same rules hold: every X-Forwarded-* name is one of the
// forwarding ids, and a framing or hop-by-hop name spelt with `_` for `-` is flagged, since a
// next hop that maps `_` to `-` (CGI's HTTP_CONTENT_LENGTH) would take it for the real one.
import { FieldId } from '../../asm/shared/constants.js';

const IDS = new Map<string, FieldId>([
  ['host', FieldId.HOST], ['content-length', FieldId.CONTENT_LENGTH], ['transfer-encoding', FieldId.TRANSFER_ENCODING],
  ['connection', FieldId.CONNECTION], ['keep-alive', FieldId.KEEP_ALIVE], ['proxy-connection', FieldId.PROXY_CONNECTION],
  ['te', FieldId.TE], ['trailer', FieldId.TRAILER], ['upgrade', FieldId.UPGRADE], ['expect', FieldId.EXPECT],
  ['proxy-authorization', FieldId.PROXY_AUTHORIZATION], ['proxy-authenticate', FieldId.PROXY_AUTHENTICATE],
  ['via', FieldId.VIA], ['forwarded', FieldId.FORWARDED], ['x-forwarded-for', FieldId.X_FORWARDED_FOR],
  ['x-forwarded-proto', FieldId.X_FORWARDED_PROTO], ['x-forwarded-host', FieldId.X_FORWARDED_HOST],
  ['x-forwarded-port', FieldId.X_FORWARDED_PORT],
]);

/** Names with a `-` whose `_` spelling a gateway would read as them (asm/field-ids.ts `dashed`). */
const DASHED = ['content-length', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'proxy-authenticate', 'proxy-authorization'];
const UNDERSCORED = new Set(DASHED.flatMap((name) => spellings(name)));

/** Every spelling of `name` with one or more of its `-` as `_`. */
function spellings(name: string): string[] {
  const dashes = [...name].flatMap((c, i) => (c === '-' ? [i] : []));
  const out: string[] = [];
  for (let m = 1; m < 1 << dashes.length; m++) {
    const chars = [...name];
    dashes.forEach((at, bit) => { if (m & (1 << bit)) chars[at] = '_'; });
    out.push(chars.join(''));
  }
  return out;
}

/** The FieldId of a lower-case field name. */
export function fieldIdOf(lowerName: string): FieldId {
  const id = IDS.get(lowerName);
  if (id !== undefined) return id;
  return lowerName.startsWith('x-forwarded-') ? FieldId.X_FORWARDED_OTHER : FieldId.OTHER;
}

/** A lower-case name that is a framing or hop-by-hop name with `_` for `-` (refused in requests,
 *  as the codec refuses it: ErrorCode.UNDERSCORE_HOP_BY_HOP_NAME). */
export function isUnderscoreLookalike(lowerName: string): boolean {
  return lowerName.includes('_') && UNDERSCORED.has(lowerName);
}
