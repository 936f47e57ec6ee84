// Which trailer fields a relayed chunked message keeps. RFC 9110 §6.5.1: fields needed before the
// content can be processed (framing, routing, authentication, request modifiers, response
// controls, content format) do not belong in a trailer section, and a recipient must not merge
// them into the header section as if they were there (§6.5.2); some next hops do merge trailers
// anyway (Node's `rawTrailers` users, CGI-like gateways), so such fields are dropped, in both
// directions, as are hop-by-hop fields (§7.6.1) and fields named by the message's Connection
// header. Everything else (checksums, Server-Timing, grpc-status...) is forwarded as received.
import { FieldId } from '../../asm/shared/constants.js';

const DROPPED = new Set([
  // framing and connection management (hop-by-hop)
  'content-length', 'transfer-encoding', 'trailer', 'connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade',
  // routing
  'host', 'via', 'forwarded', 'max-forwards', 'location',
  // authentication and state
  'authorization', 'proxy-authorization', 'www-authenticate', 'proxy-authenticate', 'authentication-info',
  'proxy-authentication-info', 'cookie', 'set-cookie',
  // request modifiers
  'expect', 'range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'if-range',
  // response controls (caching, redirects, retries)
  'cache-control', 'expires', 'age', 'pragma', 'vary', 'retry-after', 'date',
  // content format
  'content-type', 'content-encoding', 'content-language', 'content-range', 'content-location',
]);

/** What the trailer filter needs of the message's head: its Connection options. */
export interface ConnectionOptionsSource { valuesById(id: number): string[] }

/** The kept field lines (CRLFs included) of a validated trailer section that arrived in
 *  `pieces` (split anywhere); `head` is the message's head, for its Connection options. */
export function keptTrailers(pieces: readonly Buffer[], head: ConnectionOptionsSource): Buffer {
  const section = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces);
  let listed: Set<string> | undefined;
  const kept: Buffer[] = [];
  let start = 0;
  while (start < section.length) {
    const end = section.indexOf('\r\n', start, 'latin1') + 2; // the codec validated every line
    const name = section.toString('latin1', start, section.indexOf(':', start, 'latin1')).toLowerCase();
    listed ??= connectionOptions(head);
    if (!DROPPED.has(name) && !name.startsWith('x-forwarded-') && !listed.has(name)) kept.push(section.subarray(start, end));
    start = end;
  }
  return Buffer.concat(kept);
}

function connectionOptions(head: ConnectionOptionsSource): Set<string> {
  const values = head.valuesById(FieldId.CONNECTION);
  return new Set(values.join(',').split(',').map((o) => o.trim().toLowerCase()).filter(Boolean));
}
