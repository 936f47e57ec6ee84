// The dispatcher's decision to relay a request upstream, and the state of its tries: where the
// current try goes (the origin, its pool and health), the head to send it, how the body goes, the
// policy that governs it, and the upstreams tried so far. The front end starts an Exchange
// (src/relay/exchange.ts) with it; when a try fails in a way the policy lets it retry, the exchange
// asks the dispatcher for another try (Dispatcher#retry), which moves the plan to another upstream.
import type { Origin } from '../upstream/origin-url.js';
import type { OriginHealth } from '../upstream/origin-health.js';
import type { OriginPool } from '../upstream/pool.js';
import type { Target } from '../upstream/balancer.js';
import type { Route } from '../routing/route.js';
import type { Policy } from '../upstream/policy.js';
import type { RequestWhere } from '../http/request-target.js';
import type { RequestEntry } from './request-entry.js';
import type { Dispatcher } from './dispatcher.js';

/** Why a try failed, as retries and metrics name it: no connection (nothing was sent), the
 *  connection closed or reset before any response byte, no response head in time, or a status
 *  listed in retries.onStatus. */
export type { RetryReason as TryFailure } from './observer.js';

export class RelayPlan {
  readonly kind = 'relay' as const;
  readonly entry: RequestEntry;
  /** The route that matched; undefined for the forward proxy. */
  readonly route: Route | undefined;
  readonly policy: Policy;
  /** Where the request was going (path, query, client's Host), to map it for another upstream. */
  readonly where: RequestWhere | undefined;
  /** The body goes upstream chunked (re-framed chunk by chunk); else as it arrives. */
  readonly chunked: boolean;
  /** The client asked to upgrade (WebSocket): a 101 turns the exchange into a tunnel. */
  readonly upgrade: boolean;
  /** The Via pseudonym for the response, undefined for none. */
  readonly via: string | undefined;
  /** The dispatcher that made the plan: it makes the plan's further tries. */
  readonly dispatcher: Dispatcher;
  /** The consistent-hash key of the request, if the route hashes. */
  readonly hashKey: string | undefined;
  // the current try
  target: Target | undefined;
  origin: Origin;
  health: OriginHealth;
  pool: OriginPool;
  /** The request head for the current try's upstream (src/dispatch/upstream-head.ts). */
  upstreamHead: Buffer;
  /** Tries made so far, the current one included. */
  tries = 1;
  /** The route's upstreams tried before the current one (made on the first retry). */
  tried: Target[] | undefined;

  constructor(
    dispatcher: Dispatcher, entry: RequestEntry, route: Route | undefined, policy: Policy, where: RequestWhere | undefined, hashKey: string | undefined,
    target: Target | undefined, origin: Origin, health: OriginHealth, pool: OriginPool, upstreamHead: Buffer, chunked: boolean, upgrade: boolean, via: string | undefined,
  ) {
    this.dispatcher = dispatcher;
    this.entry = entry;
    this.route = route;
    this.policy = policy;
    this.where = where;
    this.hashKey = hashKey;
    this.target = target;
    this.origin = origin;
    this.health = health;
    this.pool = pool;
    this.upstreamHead = upstreamHead;
    this.chunked = chunked;
    this.upgrade = upgrade;
    this.via = via;
  }
}
