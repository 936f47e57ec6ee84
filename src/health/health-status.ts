// The health of every route's upstreams as an operator reads it (GET /v1/status `upstreams`):
// per route and upstream, whether it takes new requests, its active check (healthy since when,
// the last probe's outcome, why not), and an outlier ejection in force (until when, why).
import type { RouteTable } from '../routing/route-table.js';
import { Balancer } from '../upstream/balancer.js';

export interface UpstreamHealthStatus {
  route: string;
  /** The upstream's authority (host:port). */
  upstream: string;
  /** It takes new requests: not ejected and, where the route checks it, healthy. */
  available: boolean;
  /** The route's active health check of it, when the route has one. */
  check?: { healthy: boolean; since: string; last?: string; lastAt?: string; why?: string };
  /** An outlier ejection in force (in this process; with workers, in the workers listed). */
  ejected?: { until: string; why?: string; workers?: number[] };
}

/** `now`: the clock's time (ejections are on it); their wall-clock end is `wallNow` plus the rest. */
export function healthStatus(table: RouteTable, now: number, wallNow = Date.now()): UpstreamHealthStatus[] {
  const out: UpstreamHealthStatus[] = [];
  for (const r of table.routes) {
    for (const t of r.balancer.targets) {
      const h = t.health;
      const a = t.active;
      out.push({
        route: r.id,
        upstream: t.origin.authority,
        available: Balancer.available(t, now),
        ...(a ? { check: { healthy: a.healthy, since: new Date(a.sinceWall).toISOString(), ...(a.last !== undefined ? { last: a.last, lastAt: new Date(a.lastAt!).toISOString() } : {}), ...(a.why !== undefined ? { why: a.why } : {}) } } : {}),
        ...(h.passing(now) ? {} : { ejected: { until: new Date(wallNow + (h.ejectedUntil - now)).toISOString(), ...(h.ejectedWhy !== undefined ? { why: h.ejectedWhy } : {}) } }),
      });
    }
  }
  return out;
}
