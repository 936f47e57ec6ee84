// The route table: an immutable snapshot built from RouteSpecs and swapped in one step
// (RouteTableHolder.replace). A request reads the holder once, when its head is parsed, and keeps
// that table until it finishes, so in-flight requests never see a half-applied change.
//
// Matching: host (exact beats wildcard beats any), then the longest path prefix on a segment
// boundary, then routes with method/header conditions before unconditional ones, then the order
// in which routes were given. RouteIndex (route-index.ts) answers that without walking the list.
import type { RouteSpec, UpstreamSpec } from './route-spec.js';
import type { MatchInput, Route } from './route.js';
import { absolutePathProblem } from '../http/absolute-path.js';
import { LayeredRouteIndex, PATCH_LIMIT } from './layered-route-index.js';
import type { IndexEntry } from './route-index.js';
import { parseOriginUrl, type Origin } from '../upstream/origin-url.js';
import { Balancer, fnv1a, type Target } from '../upstream/balancer.js';
import { OriginHealthRegistry } from '../upstream/origin-health.js';
import { RetryBudget } from '../upstream/retry-budget.js';
import { RouteQueue } from '../upstream/route-queue.js';
import { builtInPolicy, mergePolicy, type Policy } from '../upstream/policy.js';
import { originKey, upstreamTls, type UpstreamTls } from '../upstream/upstream-tls.js';
import { ProxyError } from '../errors.js';

/** What identifies an active health check: the same check of the same origin is probed once,
 *  whichever routes ask for it. */
export function healthCheckKey(check: Policy['healthCheck']): string | undefined {
  if (check.path === null) return undefined;
  const { path, intervalMs, timeoutMs, healthyThreshold, unhealthyThreshold, expectedStatuses, host } = check;
  return JSON.stringify([path, host ?? null, intervalMs, timeoutMs, healthyThreshold, unhealthyThreshold, expectedStatuses]);
}

function compileRoute(spec: RouteSpec, where: string, health: OriginHealthRegistry, defaults: Policy): Route {
  const policy = mergePolicy(defaults, spec.policy);
  if (policy.loadBalancing.algorithm === 'consistent-hash' && policy.loadBalancing.hashOn === undefined) {
    throw new ProxyError('PRX_ERR_BAD_ROUTE', 'loadBalancing.algorithm "consistent-hash" needs loadBalancing.hashOn (a header, a cookie or the client address)', `${where}/policy/loadBalancing/hashOn`);
  }
  const checkKey = healthCheckKey(policy.healthCheck);
  const upstreamProtocol = spec.upstreamProtocol ?? 'http/1.1';
  const targets: Target[] = spec.upstreams.map((u: string | UpstreamSpec, i) => {
    const url = typeof u === 'string' ? u : u.url;
    let origin: Origin;
    try {
      origin = parseOriginUrl(url);
    } catch (e) {
      throw new ProxyError('PRX_ERR_BAD_UPSTREAM_URL', (e as Error).message, `${where}/upstreams/${i}`);
    }
    // h2 is HTTP/2 over TLS, h2c without (RFC 9113 §3)
    if ((upstreamProtocol === 'h2' && !origin.tls) || (upstreamProtocol === 'h2c' && origin.tls)) {
      const need = upstreamProtocol === 'h2' ? 'https:// (HTTP/2 over TLS, ALPN h2)' : 'http:// (HTTP/2 with prior knowledge)';
      throw new ProxyError('PRX_ERR_BAD_ROUTE', `upstreamProtocol "${upstreamProtocol}" needs ${need} upstreams: ${url}`, `${where}/upstreams/${i}`);
    }
    // the route's TLS settings (files read here, once per compiled route: errors name the file)
    if (origin.tls && spec.upstreamTls) origin = { ...origin, tls: withRouteTls(origin, spec, where) };
    const h = health.get(originKey(origin));
    return { origin, weight: typeof u === 'string' ? 1 : (u.weight ?? 1), health: h, active: checkKey === undefined ? undefined : h.active(checkKey), hash: fnv1a(url) };
  });
  if (spec.rewritePrefix !== undefined) {
    const problem = absolutePathProblem(spec.rewritePrefix);
    if (problem) throw new ProxyError('PRX_ERR_BAD_ROUTE', `rewritePrefix ${problem}`, `${where}/rewritePrefix`);
  }
  const host = spec.host?.toLowerCase();
  const wildcard = host?.startsWith('*.') ?? false;
  const methods = spec.methods ? new Set(spec.methods) : undefined;
  const balancer = new Balancer(targets, policy.loadBalancing);
  const headers = Object.entries(spec.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const);
  return Object.freeze({
    spec: Object.freeze(structuredClone(spec)),
    id: spec.id,
    host: wildcard ? host!.slice(1) : host, // '*.example.com' -> '.example.com' (suffix match)
    wildcard,
    pathPrefix: spec.pathPrefix,
    methods,
    headers,
    conditionKey: JSON.stringify([methods ? [...methods].sort() : null, headers]),
    stripPrefix: spec.stripPrefix === true || spec.rewritePrefix !== undefined,
    rewritePrefix: spec.rewritePrefix,
    preserveHost: spec.preserveHost === true,
    via: spec.via,
    proxyName: spec.proxyName,
    upstreamProtocol,
    policy,
    balancer,
    budget: new RetryBudget(),
    queue: new RouteQueue(balancer, policy.limits),
    checkKey,
  });
}

function withRouteTls(origin: Origin, spec: RouteSpec, where: string): UpstreamTls {
  try {
    return upstreamTls(origin.host, origin.authority, spec.upstreamTls, `${where}/upstreamTls`);
  } catch (e) {
    const path = e instanceof ProxyError ? e.path : undefined;
    throw new ProxyError('PRX_ERR_BAD_ROUTE', (e as Error).message, path ?? `${where}/upstreamTls`);
  }
}

function entry(route: Route, order: number): IndexEntry {
  return { route, order, conditional: route.methods !== undefined || route.headers.length > 0 };
}

function sameSpec(a: Readonly<RouteSpec>, b: Readonly<RouteSpec>): boolean {
  // the admin API passes running specs on as they are (the same frozen object): no need to
  // compare their text
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

const NO_IDS: ReadonlyMap<string, Route | null> = new Map();

export class RouteTable {
  readonly routes: readonly Route[];
  readonly revision: number;
  /** Per route (same positions): what orders it against others in the index. Positions when the
   *  index base was built; a route added by a small change gets a number between its
   *  neighbours'. */
  readonly #orders: Float64Array;
  readonly #index: LayeredRouteIndex;
  /** Routes by id: the map of the table that built the index base, and the ids changed since
   *  (null: removed). */
  readonly #baseIds: ReadonlyMap<string, Route>;
  readonly #changedIds: ReadonlyMap<string, Route | null>;
  /** The health of the origins (the proxy's, passed on from table to table). */
  readonly health: OriginHealthRegistry;
  /** The global policy routes' own policies are laid over (passed on from table to table). */
  readonly defaults: Policy;

  private constructor(routes: Route[], revision: number, orders: Float64Array, index: LayeredRouteIndex, baseIds: ReadonlyMap<string, Route>, changedIds: ReadonlyMap<string, Route | null>, health: OriginHealthRegistry, defaults: Policy) {
    this.routes = Object.freeze(routes);
    this.revision = revision;
    this.health = health;
    this.defaults = defaults;
    this.#orders = orders;
    this.#index = index;
    this.#baseIds = baseIds;
    this.#changedIds = changedIds;
    Object.freeze(this);
  }

  /** A first table: validates and compiles specs (already schema-checked); throws ProxyError
   *  with a JSON-pointer path on the first semantic error. `defaults`: the global policy (the
   *  built-in one by default); `health`: the origin health registry to start from. */
  static build(specs: readonly RouteSpec[], revision: number, defaults: Policy = builtInPolicy(), health: OriginHealthRegistry = new OriginHealthRegistry()): RouteTable {
    const table = RouteTable.#fresh(specs, revision, undefined, health, defaults);
    health.settle();
    return table;
  }

  /** The table that follows `previous`: its compiled routes are lent to unchanged specs (so
   *  their balancer state and TLS settings carry over), its index when only a few routes
   *  differ, and its origin health registry. Positional on purpose: an options object here once
   *  took a RouteTable where `{ previous }` belonged, and every change recompiled every route. */
  static next(previous: RouteTable, specs: readonly RouteSpec[], revision: number): RouteTable {
    return RouteTable.#changedFrom(previous, specs, revision) ?? RouteTable.#fresh(specs, revision, previous, previous.health, previous.defaults);
  }

  static #fresh(specs: readonly RouteSpec[], revision: number, previous: RouteTable | undefined, health: OriginHealthRegistry, defaults: Policy): RouteTable {
    const byId = new Map<string, Route>();
    const routes: Route[] = [];
    const orders = new Float64Array(specs.length);
    const entries: IndexEntry[] = [];
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i];
      if (byId.has(spec.id)) throw new ProxyError('PRX_ERR_DUPLICATE_ROUTE', `duplicate route id ${JSON.stringify(spec.id)}`, `/routes/${i}/id`);
      const prev = previous?.get(spec.id);
      const route = prev && sameSpec(prev.spec, spec) ? prev : compileRoute(spec, `/routes/${i}`, health, defaults);
      byId.set(spec.id, route);
      routes.push(route);
      orders[i] = i;
      entries.push(entry(route, i));
    }
    // two routes that would always match the same requests make one unreachable
    const index = LayeredRouteIndex.base(entries, (e, earlier) => {
      throw new ProxyError('PRX_ERR_BAD_ROUTE', `route ${JSON.stringify(e.route.id)} matches exactly the same requests as ${JSON.stringify(earlier.route.id)}`, `/routes/${e.order}`);
    });
    return new RouteTable(routes, revision, orders, index, byId, NO_IDS, health, defaults);
  }

  /**
   * The table for `specs` when they are `previous`'s specs (the same objects) with one run of
   * routes replaced, added or removed (what one admin API change does), reusing previous's index;
   * undefined when that does not apply or anything is wrong (#fresh then builds the table, or
   * names the error exactly as it always has).
   */
  static #changedFrom(previous: RouteTable, specs: readonly RouteSpec[], revision: number): RouteTable | undefined {
    const old = previous.routes;
    const shorter = Math.min(specs.length, old.length);
    let head = 0;
    while (head < shorter && specs[head] === old[head].spec) head++;
    let tail = 0;
    while (tail < shorter - head && specs[specs.length - 1 - tail] === old[old.length - 1 - tail].spec) tail++;
    const removed = old.slice(head, old.length - tail);
    const changed = specs.slice(head, specs.length - tail);
    if (previous.#index.patchSize + removed.length + changed.length > PATCH_LIMIT) return undefined;

    const leaving = new Set(removed);
    const ids = new Set<string>();
    const added: Route[] = [];
    for (const [k, spec] of changed.entries()) {
      if (ids.has(spec.id)) return undefined;
      ids.add(spec.id);
      const prev = previous.get(spec.id);
      if (prev !== undefined && !leaving.has(prev)) return undefined; // the id of a route that stays
      if (prev !== undefined && sameSpec(prev.spec, spec)) added.push(prev);
      else {
        try {
          added.push(compileRoute(spec, `/routes/${head + k}`, previous.health, previous.defaults));
        } catch {
          return undefined;
        }
      }
    }
    // order numbers strictly between the neighbours' (a full rebuild renumbers when doubles run out)
    const prevOrders = previous.#orders;
    const after = tail > 0 ? prevOrders[old.length - tail] : undefined;
    const lo = head > 0 ? prevOrders[head - 1] : (after ?? 0) - added.length - 1;
    const hi = after ?? lo + added.length + 1;
    const orders = new Float64Array(specs.length);
    orders.set(prevOrders.subarray(0, head), 0);
    orders.set(prevOrders.subarray(old.length - tail), specs.length - tail);
    const entries: IndexEntry[] = [];
    let last = lo;
    for (const [k, route] of added.entries()) {
      const order = lo + ((hi - lo) * (k + 1)) / (added.length + 1);
      if (!(order > last && order < hi)) return undefined;
      last = order;
      orders[head + k] = order;
      entries.push(entry(route, order));
    }
    const index = previous.#index.patched(removed, entries);
    if (index === undefined) return undefined;
    const changedIds = new Map(previous.#changedIds);
    for (const r of removed) changedIds.set(r.id, null);
    for (const r of added) changedIds.set(r.id, r);
    const routes = old.slice(0, head).concat(added, old.slice(old.length - tail));
    return new RouteTable(routes, revision, orders, index, previous.#baseIds, changedIds, previous.health, previous.defaults);
  }

  static empty(): RouteTable {
    return RouteTable.#fresh([], 0, undefined, new OriginHealthRegistry(), builtInPolicy());
  }

  /** The route for a request, or undefined: see RouteIndex for what a lookup costs. */
  match(req: MatchInput): Route | undefined {
    return this.#index.match(req);
  }

  get(id: string): Route | undefined {
    const changed = this.#changedIds.get(id);
    if (changed !== undefined) return changed ?? undefined;
    return this.#baseIds.get(id);
  }

  /** Origins referenced by this table (pool keys). */
  authorities(): Set<string> {
    const out = new Set<string>();
    for (const r of this.routes) for (const t of r.balancer.targets) out.add(originKey(t.origin));
    return out;
  }
}

/** Holds the current table; `replace` is the one atomic swap the admin API uses. */
export class RouteTableHolder {
  #table: RouteTable;
  readonly #listeners = new Set<(next: RouteTable, prev: RouteTable) => void>();

  constructor(table: RouteTable = RouteTable.empty()) {
    this.#table = table;
  }

  get current(): RouteTable {
    return this.#table;
  }

  replace(next: RouteTable): void {
    const prev = this.#table;
    this.#table = next;
    for (const l of this.#listeners) l(next, prev);
  }

  onReplace(listener: (next: RouteTable, prev: RouteTable) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
