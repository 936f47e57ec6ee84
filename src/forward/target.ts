// Parses what a forward-proxy client asks for: an absolute-form `http://host[:port]/path?query`
// target (RFC 9112 §3.2.2) or a CONNECT authority-form `host:port` (RFC 9112 §3.2.3). Twisted
// crashed or silently closed on most malformed targets (spec §6.1); here every one gets a reason
// for a 400. The path and query are kept byte-exact (RFC 9110 §7.7: a proxy MUST NOT rewrite them).
import net from 'node:net';

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

/** A DNS-style name: letters, digits, '-', '_' in dot-separated labels of at most 63 bytes, an
 *  optional trailing dot, at most 253 bytes. Anything else RFC 3986 allows in a reg-name
 *  (percent-encoding, sub-delims) cannot be resolved by the system resolver and is refused. */
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

function parseName(raw: string): { host: string; family: 0 | 4 | 6 } | string {
  if (raw === '') return 'the target has an empty host';
  if (raw.startsWith('[')) {
    if (!raw.endsWith(']')) return `malformed IPv6 literal ${JSON.stringify(raw)}`;
    const inner = raw.slice(1, -1);
    if (inner.includes('%')) return 'IPv6 zone identifiers are not supported in a proxy target';
    if (/^v/i.test(inner)) return `unsupported IP literal ${JSON.stringify(raw)}`;
    if (net.isIPv6(inner) === false) return `malformed IPv6 literal ${JSON.stringify(raw)}`;
    return { host: inner.toLowerCase(), family: 6 };
  }
  const host = raw.toLowerCase();
  if (net.isIPv4(host)) return { host, family: 4 };
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253 || !name.split('.').every((l) => LABEL.test(l))) {
    return `invalid host name ${JSON.stringify(raw)}`;
  }
  return { host: name, family: 0 };
}

/** Splits `host[:port]` (IPv6 literal bracketed). `defaultPort` undefined: the port is required. */
function parseAuthority(authority: string, defaultPort: number | undefined): { host: string; family: 0 | 4 | 6; port: number; hostPart: string } | string {
  if (authority.includes('@')) return 'userinfo (user@host) is not allowed in a proxy target';
  let hostPart: string;
  let portPart: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) return `malformed IPv6 literal in ${JSON.stringify(authority)}`;
    hostPart = authority.slice(0, close + 1);
    const rest = authority.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return `unexpected ${JSON.stringify(rest)} after the IPv6 literal`;
    portPart = rest === '' ? undefined : rest.slice(1);
  } else {
    const colon = authority.indexOf(':');
    hostPart = colon < 0 ? authority : authority.slice(0, colon);
    portPart = colon < 0 ? undefined : authority.slice(colon + 1);
  }
  let port: number;
  if (portPart === undefined || portPart === '') {
    // RFC 3986 §3.2.3: an empty port means the scheme's default; CONNECT needs an explicit one
    // (RFC 9110 §9.3.6)
    if (defaultPort === undefined) return `CONNECT needs host:port, got ${JSON.stringify(authority)}`;
    port = defaultPort;
  } else {
    if (!/^\d{1,5}$/.test(portPart)) return `invalid port ${JSON.stringify(portPart)}`;
    port = Number(portPart);
    if (port < 1 || port > 65535) return `port ${portPart} is out of range`;
  }
  const name = parseName(hostPart);
  if (typeof name === 'string') return name;
  return { ...name, port, hostPart };
}

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
