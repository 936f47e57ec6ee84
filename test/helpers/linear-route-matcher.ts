// The route matcher as it was before RouteIndex (src/routing/route-index.ts): sort the routes into
// match order and walk them, first match wins. Kept here, verbatim, as the oracle the index is
// tested against (test/routing/route-index.property.test.ts); it is not used by the proxy.
import type { MatchInput, Route } from '../../src/routing/route.js';
import { prefixMatches } from '../../src/routing/path-mapping.js';

function hostRank(r: Route): number {
  return r.host === undefined ? 0 : r.wildcard ? 1 : 2;
}

/** Routes in match order: exact host > wildcard > any, longest prefix, conditional first, order given. */
export function linearOrder(routes: readonly Route[]): readonly Route[] {
  const given = new Map(routes.map((r, i) => [r, i]));
  return [...routes].sort((a, b) =>
    hostRank(b) - hostRank(a)
    || b.pathPrefix.length - a.pathPrefix.length
    || Number(b.methods !== undefined || b.headers.length > 0) - Number(a.methods !== undefined || a.headers.length > 0)
    || given.get(a)! - given.get(b)!);
}

export function linearMatch(ordered: readonly Route[], req: MatchInput): Route | undefined {
  for (const r of ordered) {
    if (r.host !== undefined) {
      if (r.wildcard ? !(req.host.endsWith(r.host) && req.host.length > r.host.length) : req.host !== r.host) continue;
    }
    if (!prefixMatches(req.path, r.pathPrefix)) continue;
    if (r.methods && !r.methods.has(req.method)) continue;
    if (r.headers.length && !r.headers.every(([k, v]) => req.header(k).includes(v))) continue;
    return r;
  }
  return undefined;
}
