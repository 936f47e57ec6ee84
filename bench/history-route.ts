// The route bench:history changes: one route of a typical size (about 200 bytes of JSON: a host,
// methods, a weighted upstream, a pseudonym), so that the history's bytes per revision measured
// with it are those of an ordinary one-route change (its upstream moves).
import type { RouteSpec } from '../src/routing/route-spec.js';

export const ROUTE_ID = 'checkout-api';
export const ROUTE_HOST = 'checkout.bench.test';

export function benchRoute(upstream: string): RouteSpec {
  return {
    id: ROUTE_ID,
    host: ROUTE_HOST,
    pathPrefix: '/',
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
    upstreams: [{ url: upstream, weight: 1 }],
    preserveHost: false,
    proxyName: 'bench-edge-1',
  };
}
