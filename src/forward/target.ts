// Parses what a forward-proxy client asks for: an absolute-form `http://host[:port]/path?query`
// target (RFC 9112 §3.2.2) or a CONNECT authority-form `host:port` (RFC 9112 §3.2.3). Twisted
// crashed or silently closed on most malformed targets; here every one gets a reason
// for a 400. The path and query are kept byte-exact (RFC 9110 §7.7: a proxy MUST NOT rewrite them).
import { parseAuthority } from '../http/authority.js';

export interface ForwardTarget {
  /** Lower-case host name, or an IP literal without brackets. */
  host: string;
  /** 4 or 6 when `host` is an IP literal, 0 for a name. */
  family: 0 | 4 | 6;
  port: number;
  /** Host field value for the upstream request: host (IPv6 bracketed), `:port` when not 80. */
  hostField: string;
  /** Origin-form request-target for the upstream ('/' when the target had no path). */
  path: string;
  /** An https:// target (only with TLS origination enabled). */
  secure?: true;
}

export type TargetResult = { ok: true; target: ForwardTarget } | { ok: false; reason: string; useConnect?: boolean };

const fail = (reason: string, useConnect = false): TargetResult => ({ ok: false, reason, useConnect });

function hostField(host: string, family: number, port: number, defaultPort: number): string {
  const h = family === 6 ? `[${host}]` : host;
  return port === defaultPort ? h : `${h}:${port}`;
}

/** An absolute-form request-target. `http:` is fetched; `https:` only when `originateTls` (the
 *  proxy then speaks verified TLS to the origin), else it is answered with a hint to use CONNECT. */
export function parseAbsoluteTarget(target: string, originateTls = false): TargetResult {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(target);
  if (!m) return fail(`not an absolute URI: ${JSON.stringify(target)}`);
  const scheme = m[1].toLowerCase();
  const secure = scheme === 'https';
  if (secure && !originateTls) return fail('https:// targets are not fetched by this proxy (forwardProxy.originateTls is off): send CONNECT host:443 and speak TLS through the tunnel', true);
  if (scheme !== 'http' && !secure) return fail(`unsupported scheme ${JSON.stringify(m[1])}: only http:// targets and CONNECT are proxied`);
  const rest = m[2];
  if (!rest.startsWith('//')) return fail(`${scheme} target without an authority: ${JSON.stringify(target)}`);
  if (rest.includes('#')) return fail('a fragment (#...) is not allowed in the request-target');
  const end = rest.slice(2).search(/[/?]/);
  const authority = end < 0 ? rest.slice(2) : rest.slice(2, 2 + end);
  const pathQuery = end < 0 ? '' : rest.slice(2 + end);
  const defaultPort = secure ? 443 : 80;
  const a = parseAuthority(authority, defaultPort);
  if (typeof a === 'string') return fail(a);
  const path = pathQuery === '' ? '/' : pathQuery.startsWith('?') ? `/${pathQuery}` : pathQuery;
  return { ok: true, target: { host: a.host, family: a.family, port: a.port, hostField: hostField(a.host, a.family, a.port, defaultPort), path, ...(secure ? { secure: true as const } : {}) } };
}

/** A CONNECT request-target: `host:port` or `[v6]:port`, nothing else. */
export function parseConnectTarget(target: string): TargetResult {
  if (/[/?#]/.test(target)) return fail(`CONNECT needs host:port, got ${JSON.stringify(target)}`);
  const a = parseAuthority(target, undefined);
  if (typeof a === 'string') return fail(a);
  return { ok: true, target: { host: a.host, family: a.family, port: a.port, hostField: hostField(a.host, a.family, a.port, 0), path: '' } };
}
