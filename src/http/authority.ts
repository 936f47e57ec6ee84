// An authority `host[:port]` (RFC 3986 §3.2) as a proxy accepts it: a DNS-style name, an IPv4
// address or a bracketed IPv6 literal, and a port 1-65535. Twisted crashed or silently closed on
// most malformed targets; here every one gets a reason for a 400.
import net from 'node:net';

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

/** Splits `host[:port]` (IPv6 literal bracketed). `defaultPort` undefined: the port is required.
 *  The forward proxy's targets and the reverse proxy's absolute-form authorities
 *  (request-target.ts) are held to it alike. */
export function parseAuthority(authority: string, defaultPort: number | undefined): { host: string; family: 0 | 4 | 6; port: number; hostPart: string } | string {
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
