// Whether a configured path (an upstream URL's base path, a route's rewritePrefix) may stand in
// front of or in place of request paths: checked once when a route is compiled, so nothing a
// request path is mapped onto can reach the origin altered or climb out of its base.

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
