// Maps a request path onto an upstream's base path the way Twisted's ReverseProxyResource maps
// (host, port, path), but on the raw bytes: no decoding and no re-encoding of segments (which
// ReverseProxyResource does, keeping `..` as it goes), the query string kept as received, and no way above the base path: a `..` segment, literal or
// percent-encoded, is refused rather than normalised (RFC 3986 §5.2.4, §6.2.2).

/** True when `path` (without query) contains a `..` segment, literal or %2e-encoded. */
export function hasDotDotSegment(path: string): boolean {
  if (!path.includes('.') && !path.includes('%')) return false;
  for (const segment of path.split('/')) {
    if (segment.length < 2 || segment.length > 6) continue;
    const s = segment.toLowerCase().replaceAll('%2e', '.');
    if (s === '..') return true;
  }
  return false;
}

/** Does `path` fall under `prefix` on a segment boundary? */
export function prefixMatches(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  if (path.length === prefix.length || prefix.endsWith('/')) return true;
  const next = path.charCodeAt(prefix.length);
  return next === 0x2f; // '/'
}

/** How a route maps a matched path onto its upstream: the matched `prefix`, the upstream URL's
 *  `basePath`, and the route's stripPrefix / rewritePrefix. */
export interface PathMapping {
  readonly prefix: string;
  readonly basePath: string;
  readonly strip: boolean;
  readonly rewrite: string | undefined;
}

/**
 * The upstream request-target for `path` (+ `query`, including its '?'): basePath + (path, with
 * the prefix removed or replaced when the mapping asks).
 */
export function mapPath(path: string, query: string, { prefix, basePath, strip, rewrite }: PathMapping): string {
  let rest = path;
  if (rewrite !== undefined) rest = joinPath(rewrite, path.slice(prefix.length));
  else if (strip) rest = path.slice(prefix.length);
  let out = joinPath(basePath, rest);
  if (out === '') out = '/';
  return out + query;
}

function joinPath(base: string, rest: string): string {
  if (rest === '') return base;
  if (base === '') return rest.startsWith('/') ? rest : '/' + rest;
  if (base.endsWith('/') && rest.startsWith('/')) return base + rest.slice(1);
  if (!base.endsWith('/') && !rest.startsWith('/')) return base + '/' + rest;
  return base + rest;
}
