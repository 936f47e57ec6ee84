// Where a request is going, from its request-target and Host (RFC 9112 §3.2, §3.3): origin-form
// uses Host; absolute-form (accepted by the reverse proxy too, as RFC 9112 §3.2.2 asks of servers) uses the target's authority
// and ignores Host (RFC 9112 §3.2.2). The path and query are kept exactly as received.
import { TargetForm } from '../../asm/shared/constants.js';
import type { RequestHead } from './request-head.js';
import { parseAuthority } from './authority.js';

export interface RequestWhere {
  /** Lower-case host without port, for routing ('' when the request names none). */
  host: string;
  /** The authority as the client gave it (Host value or absolute-form authority). */
  clientHost: string | undefined;
  /** Path without the query. */
  path: string;
  /** '?query' or ''. */
  query: string;
  error?: string;
}

/** `host[:port]` -> lower-case host without port (IPv6 literal keeps its brackets). */
export function hostOnly(authority: string): string {
  const a = authority.toLowerCase();
  if (a.startsWith('[')) {
    const close = a.indexOf(']');
    return close > 0 ? a.slice(0, close + 1) : a;
  }
  const colon = a.indexOf(':');
  return colon >= 0 ? a.slice(0, colon) : a;
}

export function requestHost(head: RequestHead): RequestWhere {
  let target = head.target;
  let clientHost = head.host();
  if (target.includes('#')) return { host: '', clientHost, path: '', query: '', error: 'a fragment is not allowed in the request-target' };
  if (head.targetForm === TargetForm.ABSOLUTE) {
    const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?]*)(.*)$/.exec(target);
    if (!m) return { host: '', clientHost, path: '', query: '', error: 'absolute-form target without an authority' };
    if (m[1].toLowerCase() !== 'http') return { host: '', clientHost, path: '', query: '', error: `unsupported scheme ${m[1]}` };
    if (m[2] === '' || m[2].includes('@')) return { host: '', clientHost, path: '', query: '', error: 'absolute-form target with an empty host or userinfo' };
    // the authority replaces Host (RFC 9112 §3.2.2), so it is held to the same strictness: a host
    // name, IPv4 or [IPv6] and a port 1-65535 (`http://%zz/`, `http://[::1`, `http://a:99999/` are 400)
    const authority = parseAuthority(m[2], 80);
    if (typeof authority === 'string') return { host: '', clientHost, path: '', query: '', error: `absolute-form target: ${authority}` };
    clientHost = m[2];
    target = m[3] === '' ? '/' : m[3].startsWith('?') ? '/' + m[3] : m[3];
  }
  const q = target.indexOf('?');
  const path = q >= 0 ? target.slice(0, q) : target;
  const query = q >= 0 ? target.slice(q) : '';
  return { host: clientHost ? hostOnly(clientHost) : '', clientHost, path, query };
}
