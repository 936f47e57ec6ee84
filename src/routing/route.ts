// A compiled route and what a request is matched on: the vocabulary of the route table
// (route-table.ts) and its indexes (route-index.ts, layered-route-index.ts).
import type { RouteSpec, UpstreamProtocol } from './route-spec.js';
import type { Policy } from '../upstream/policy.js';
import type { Balancer } from '../upstream/balancer.js';
import type { RetryBudget } from '../upstream/retry-budget.js';
import type { RouteQueue } from '../upstream/route-queue.js';

export interface Route {
  readonly spec: Readonly<RouteSpec>;
  readonly id: string;
  /** Lower-case host, without a leading `*.` for wildcards. */
  readonly host: string | undefined;
  readonly wildcard: boolean;
  readonly pathPrefix: string;
  readonly methods: ReadonlySet<string> | undefined;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** Methods and headers as one string: two routes on the same host and prefix with equal keys
   *  match exactly the same requests. */
  readonly conditionKey: string;
  readonly stripPrefix: boolean;
  readonly rewritePrefix: string | undefined;
  readonly preserveHost: boolean;
  /** Via on this route: true/false, or undefined for the global setting. */
  readonly via: boolean | undefined;
  /** Via pseudonym, or undefined for the global proxyName. */
  readonly proxyName: string | undefined;
  /** HTTP/1.1 (the origin pools) or HTTP/2 (the session pools) to the upstreams. */
  readonly upstreamProtocol: UpstreamProtocol;
  /** The route's traffic policy: its `policy` over the global one (src/upstream/policy.ts). */
  readonly policy: Policy;
  readonly balancer: Balancer;
  /** Retries this route may still make (this process). */
  readonly budget: RetryBudget;
  /** Requests waiting for an upstream under the concurrency limit. */
  readonly queue: RouteQueue;
  /** The key of its active health check (same check, same key: one probe for every route). */
  readonly checkKey: string | undefined;
}

export interface MatchInput {
  /** Lower-case host without port ('' when the request has none). */
  host: string;
  /** Path without the query string. */
  path: string;
  method: string;
  /** Values of a field by lower-case name (only asked for routes with header conditions). */
  header(name: string): string[];
}
