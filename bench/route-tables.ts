// Large route tables for the routing benchmarks (route-sweep.ts, route-table-scale.ts). Every table
// ends with the last-resort route `/` (no host, no conditions), and the bench request (GET /small,
// Host 127.0.0.1) matches only that one: the worst case for a matcher that walks the list, since
// every other route is tried first.
import type { RouteSpec } from '../src/routing/route-spec.js';

export type TableKind = 'path' | 'host' | 'mixed';
export const TABLE_KINDS: readonly TableKind[] = ['path', 'host', 'mixed'];

/** The n-th route of a table of `kind` other than the last resort. */
function routeAt(kind: TableKind, i: number, upstream: string): RouteSpec {
  const id = `r${i}`;
  const upstreams = [upstream];
  if (kind === 'path') return { id, pathPrefix: `/svc${i}/v${i % 3}`, upstreams };
  if (kind === 'host') return { id, host: `h${i}.example.test`, pathPrefix: '/', upstreams };
  // mixed: exact hosts, wildcards, path prefixes that nest, conditions on some
  switch (i % 5) {
    case 0: return { id, host: `h${i}.example.test`, pathPrefix: `/api${i % 7}`, upstreams };
    case 1: return { id, host: `*.t${i}.example.test`, pathPrefix: '/', upstreams };
    case 2: return { id, pathPrefix: `/svc${i}`, upstreams, stripPrefix: true };
    case 3: return { id, pathPrefix: `/svc${i - 1}/v2`, methods: ['GET', 'POST'], upstreams };
    default: return { id, pathPrefix: `/svc${i - 2}`, headers: { 'x-tenant': `t${i}` }, upstreams };
  }
}

/** `size` routes: size - 1 of `kind`, then `/`. */
export function routeTable(kind: TableKind, size: number, upstream: string): RouteSpec[] {
  const out: RouteSpec[] = [];
  for (let i = 0; i < size - 1; i++) out.push(routeAt(kind, i, upstream));
  out.push({ id: 'last-resort', pathPrefix: '/', upstreams: [upstream] });
  return out;
}
