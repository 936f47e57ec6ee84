// Maps a request path onto an upstream's base path the way ReverseProxyResource maps
// (host, port, path), but on the raw bytes: no decoding, no re-encoding (D31 in the spec), the
// query string kept as received, and no way above the base path: a `..` segment, literal or
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

/** RFC 3986 pchar: unreserved / pct-encoded / sub-delims / ":" / "@". */
const PCHAR = "[A-Za-z0-9\\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2}";
const ABSOLUTE_PATH = new RegExp(`^(?:/(?:${PCHAR})*)*$`);

/**
 * Why `path` may not be put in front of (base path) or in place of (rewritePrefix) request paths,
 * or undefined when it may: it must be empty or an RFC 9112 §3.2.1 absolute-path (no query), and
 * have no `.` or `..` segment, literal or percent-encoded (RFC 3986 §5.2.4 would let them climb
 * out of the configured path at the origin).
 */
export function absolutePathProblem(path: string): string | undefined {
  if (!ABSOLUTE_PATH.test(path)) {
    if (!path.startsWith('/')) return `${JSON.stringify(path)} must start with "/"`;
    const c = /[^A-Za-z0-9\-._~!$&'()*+,;=:@%/]/.exec(path);
    if (c) return `${JSON.stringify(path)} has ${JSON.stringify(c[0])}, which is not allowed in a request path (RFC 3986 pchar; percent-encode it)`;
    return `${JSON.stringify(path)} has a "%" that does not start a percent-encoded octet (%XX)`;
  }
  for (const segment of path.split('/')) {
    const s = segment.toLowerCase().replaceAll('%2e', '.');
    if (s === '.' || s === '..') return `${JSON.stringify(path)} has a ${JSON.stringify(segment)} segment (a dot segment, which is not allowed)`;
  }
  return undefined;
}

/** Does `path` fall under `prefix` on a segment boundary? */
export function prefixMatches(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  if (path.length === prefix.length || prefix.endsWith('/')) return true;
  const next = path.charCodeAt(prefix.length);
  return next === 0x2f; // '/'
}

/**
 * The upstream request-target for `path` (+ `query`, including its '?') matched by `prefix`:
 * basePath + (path, with the prefix removed or replaced when asked).
 */
export function mapPath(path: string, query: string, prefix: string, basePath: string, strip: boolean, rewrite: string | undefined): string {
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
