// The dispatcher's decision to relay a request upstream: where to (the origin, its pool and
// health), the head to send, and how the body goes. The front end starts an Exchange
// (src/relay/exchange.ts) with it.
import type { Origin } from '../upstream/origin-url.js';
import type { OriginHealth } from '../upstream/balancer.js';
import type { OriginPool } from '../upstream/pool.js';
import type { Route } from '../routing/route-table.js';
import type { RequestEntry } from './request-entry.js';

export class RelayPlan {
  readonly kind = 'relay' as const;
  readonly entry: RequestEntry;
  /** The route that matched; undefined for the forward proxy. */
  readonly route: Route | undefined;
  readonly origin: Origin;
  readonly health: OriginHealth;
  readonly pool: OriginPool;
  /** The request head for the upstream (src/dispatch/upstream-head.ts). */
  readonly upstreamHead: Buffer;
  /** The body goes upstream chunked (re-framed chunk by chunk); else as it arrives. */
  readonly chunked: boolean;
  /** The client asked to upgrade (WebSocket): a 101 turns the exchange into a tunnel. */
  readonly upgrade: boolean;
  /** The Via pseudonym for the response, undefined for none. */
  readonly via: string | undefined;

  constructor(entry: RequestEntry, route: Route | undefined, origin: Origin, health: OriginHealth, pool: OriginPool, upstreamHead: Buffer, chunked: boolean, upgrade: boolean, via: string | undefined) {
    this.entry = entry;
    this.route = route;
    this.origin = origin;
    this.health = health;
    this.pool = pool;
    this.upstreamHead = upstreamHead;
    this.chunked = chunked;
    this.upgrade = upgrade;
    this.via = via;
  }
}
