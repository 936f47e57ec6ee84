// Parses an upstream URL into the (host, port, base path) triple of Twisted's
// ReverseProxyResource, for http: and https: upstreams. This is the one validator of upstream URLs (config file, --route, admin
// API), and it is strict on purpose: the host and port become the connection and the Host field,
// the base path is copied raw into every request-line, so a URL is accepted only when a strict
// parser and a person reading it agree on what it means:
//   - printable ASCII only (WHATWG `new URL()` silently drops tab/CR/LF: a CRLF in a base path
//     would split every request at the origin);
//   - `scheme://authority[/path]`, no userinfo (`http://evil.example\@127.0.0.1/`), query or fragment;
//   - the host is a DNS name, a dotted-quad IPv4 address or a bracketed IPv6 literal; names that
//     a URL parser reads as numbers (`0`, `127.1`, `0x7f.1`) and unspecified addresses are refused;
//   - the port, when given, is 1-65535;
//   - the path is an RFC 9112 §3.2.1 absolute-path (RFC 3986 pchar segments) without `.` or `..`
//     segments, literal or percent-encoded (they would let a request escape the base path).
import net from 'node:net';
import { ProxyError } from '../errors.js';
import { absolutePathProblem } from '../http/absolute-path.js';
import { upstreamTls, type UpstreamTls } from './upstream-tls.js';

export interface Origin {
  /** Host name or IP literal without brackets. */
  host: string;
  port: number;
  /** `host:port` with IPv6 literals bracketed: the pool key and the default Host value. */
  authority: string;
  /** Base path without a trailing slash ('' for the root). */
  basePath: string;
  /** https: upstreams only (route settings applied by the route table). */
  tls?: UpstreamTls;
}

/** Schemes upstreams may use, with their default ports. */
export const UPSTREAM_SCHEMES: Readonly<Record<string, number>> = { http: 80, https: 443 };

const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
const DNS_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`);
/** A URL parser reads a host whose last label is a number as an IPv4 address (WHATWG URL §3.5). */
const NUMERIC_LAST_LABEL = /(?:^|\.)(?:\d+|0x[0-9a-f]*)\.?$/i;

function bad(url: string, why: string): ProxyError {
  return new ProxyError('PRX_ERR_BAD_UPSTREAM_URL', `${JSON.stringify(url)} is not a valid upstream URL: ${why}`);
}

function checkHost(url: string, host: string): string {
  if (host.startsWith('[')) {
    const inner = host.endsWith(']') ? host.slice(1, -1) : '';
    if (!/^[0-9A-Fa-f:.]+$/.test(inner) || !net.isIPv6(inner)) throw bad(url, `${host} is not an IPv6 address in brackets (zone ids are not supported)`);
    if (/^[0:]*$/.test(inner)) throw bad(url, `${host} is the unspecified address, not a host`);
    return inner;
  }
  if (host === '') throw bad(url, 'no host (expected http://host[:port][/base/path])');
  if (!DNS_NAME.test(host)) throw bad(url, `${JSON.stringify(host)} is not a host name or IP address`);
  if (NUMERIC_LAST_LABEL.test(host)) {
    if (!net.isIPv4(host)) throw bad(url, `${JSON.stringify(host)} reads as a number; write an IPv4 address as four decimal numbers (e.g. 127.0.0.1)`);
    if (host === '0.0.0.0') throw bad(url, '0.0.0.0 is the unspecified address, not a host');
  }
  return host;
}

export function parseOriginUrl(url: string): Origin {
  const odd = /[^\x21-\x7e]/.exec(url);
  if (odd) {
    const c = odd[0].charCodeAt(0);
    throw bad(url, `${c === 0x20 ? 'a space' : `the character U+${c.toString(16).toUpperCase().padStart(4, '0')}`} at position ${odd.index} (only printable ASCII; percent-encode it in the path)`);
  }
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/.exec(url);
  if (!m) throw bad(url, 'no scheme (expected http://host[:port][/base/path])');
  const scheme = m[1].toLowerCase();
  const defaultPort = UPSTREAM_SCHEMES[scheme];
  if (defaultPort === undefined) {
    // `localhost:3000` parses as scheme "localhost"
    if (/^\d+(?:\/|$)/.test(m[2])) throw bad(url, `no scheme; did you mean "http://${url}"?`);
    throw bad(url, `unsupported scheme ${scheme}: (upstreams speak ${Object.keys(UPSTREAM_SCHEMES).map((s) => `${s}:`).join(', ')})`);
  }
  if (!m[2].startsWith('//')) throw bad(url, `expected "${scheme}://" followed by the host, e.g. ${scheme}://127.0.0.1:3000`);
  const rest = m[2].slice(2);
  if (/[?#]/.test(rest)) throw bad(url, 'a query or fragment is not allowed');
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  if (authority.includes('@')) throw bad(url, 'userinfo (user@ or user:password@) is not allowed');
  if (authority.includes('\\')) throw bad(url, 'a backslash is not allowed in the host');
  const hp = /^(\[[^\]]*\]|[^:[\]]*)(?::(\d*))?$/.exec(authority);
  if (!hp) throw bad(url, `${JSON.stringify(authority)} is not host[:port]`);
  const host = checkHost(url, hp[1]);
  let port = defaultPort;
  if (hp[2] !== undefined) {
    port = Number(hp[2]);
    if (hp[2] === '' || hp[2].length > 5 || port < 1 || port > 65535) throw bad(url, `port ${JSON.stringify(hp[2])} is out of range (1-65535)`);
  }
  const pathProblem = absolutePathProblem(path);
  if (pathProblem) throw bad(url, `the base path ${pathProblem}`);
  const shownHost = hp[1].toLowerCase();
  return {
    host: host.toLowerCase(),
    port,
    authority: port === defaultPort ? shownHost : `${shownHost}:${port}`,
    basePath: path.replace(/\/+$/, ''),
    ...(scheme === 'https' ? { tls: upstreamTls(host.toLowerCase(), authority) } : {}),
  };
}
