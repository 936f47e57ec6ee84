// Parses an upstream URL into the (host, port, base path) triple of Twisted's
// ReverseProxyResource, for http: and https: upstreams; the base path is kept raw (no decoding).
import { ProxyError } from '../errors.js';
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

export function parseOriginUrl(url: string): Origin {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ProxyError('PRX_ERR_BAD_UPSTREAM_URL', `not a URL: ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ProxyError('PRX_ERR_BAD_UPSTREAM_URL', `unsupported scheme ${u.protocol} in ${JSON.stringify(url)} (only http: and https: upstreams)`);
  if (u.username || u.password) throw new ProxyError('PRX_ERR_BAD_UPSTREAM_URL', `userinfo is not allowed in ${JSON.stringify(url)}`);
  if (u.search || u.hash) throw new ProxyError('PRX_ERR_BAD_UPSTREAM_URL', `query or fragment not allowed in ${JSON.stringify(url)}`);
  if (!u.hostname) throw new ProxyError('PRX_ERR_BAD_UPSTREAM_URL', `no host in ${JSON.stringify(url)}`);
  const defaultPort = u.protocol === 'https:' ? 443 : 80;
  const port = u.port ? Number(u.port) : defaultPort;
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const authority = port === defaultPort ? u.hostname : `${u.hostname}:${port}`;
  // URL normalises the path; keep it raw from the input so nothing is decoded or re-encoded
  const afterAuthority = url.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*/, '');
  const basePath = afterAuthority.replace(/\/+$/, '');
  return { host, port, authority, basePath, ...(u.protocol === 'https:' ? { tls: upstreamTls(host, authority) } : {}) };
}
