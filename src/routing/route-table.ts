// The route table: an immutable snapshot built from RouteSpecs and swapped in one step
// (RouteTableHolder.replace). A request reads the holder once, when its head is parsed, and keeps
// that table until it finishes, so in-flight requests never see a half-applied change.
//
// Matching: host (exact beats wildcard beats any), then the longest path prefix on a segment
// boundary, then routes with method/header conditions before unconditional ones, then the order
// in which routes were given.
import type { RouteSpec, UpstreamSpec } from './route-spec.js';
import { prefixMatches } from './path-mapping.js';
import { parseOriginUrl, type Origin } from '../upstream/origin-url.js';
import { Balancer, OriginHealth, type Target } from '../upstream/balancer.js';
import { originKey, upstreamTls, type UpstreamTls } from '../upstream/upstream-tls.js';
import { ProxyError } from '../errors.js';

export interface Route {
  readonly spec: Readonly<RouteSpec>;
  readonly id: string;
  /** Lower-case host, without a leading `*.` for wildcards. */
  readonly host: string | undefined;
  readonly wildcard: boolean;
  readonly pathPrefix: string;
  readonly methods: ReadonlySet<string> | undefined;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly stripPrefix: boolean;
  readonly rewritePrefix: string | undefined;
  readonly preserveHost: boolean;
  readonly balancer: Balancer;
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

/** Health state per origin authority, kept across table revisions so an ejected upstream stays
 *  ejected when an unrelated route changes. */
const healthByAuthority = new Map<string, OriginHealth>();

function healthFor(origin: Origin): OriginHealth {
  let h = healthByAuthority.get(originKey(origin));
  if (!h) {
    h = new OriginHealth();
    healthByAuthority.set(originKey(origin), h);
  }
  return h;
}

function compileRoute(spec: RouteSpec, where: string): Route {
  const targets: Target[] = spec.upstreams.map((u: string | UpstreamSpec, i) => {
    const url = typeof u === 'string' ? u : u.url;
    let origin: Origin;
    try {
      origin = parseOriginUrl(url);
    } catch (e) {
      throw new ProxyError('PRX_ERR_BAD_UPSTREAM_URL', (e as Error).message, `${where}/upstreams/${i}`);
    }
    // the route's TLS settings (files read here, once per compiled route: errors name the file)
    if (origin.tls && spec.upstreamTls) origin = { ...origin, tls: withRouteTls(origin, spec, where) };
    return { origin, weight: typeof u === 'string' ? 1 : (u.weight ?? 1), health: healthFor(origin) };
  });
  const host = spec.host?.toLowerCase();
  const wildcard = host?.startsWith('*.') ?? false;
  return Object.freeze({
    spec: Object.freeze(structuredClone(spec)),
    id: spec.id,
    host: wildcard ? host!.slice(1) : host, // '*.example.com' -> '.example.com' (suffix match)
    wildcard,
    pathPrefix: spec.pathPrefix,
    methods: spec.methods ? new Set(spec.methods) : undefined,
    headers: Object.entries(spec.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const),
    stripPrefix: spec.stripPrefix === true || spec.rewritePrefix !== undefined,
    rewritePrefix: spec.rewritePrefix,
    preserveHost: spec.preserveHost === true,
    balancer: new Balancer(targets),
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

function hostRank(r: Route): number {
  return r.host === undefined ? 0 : r.wildcard ? 1 : 2;
}

export class RouteTable {
  readonly routes: readonly Route[];
  readonly revision: number;
  /** Routes in match order. */
  readonly #ordered: readonly Route[];

  private constructor(routes: Route[], revision: number) {
    this.routes = Object.freeze(routes);
    this.revision = revision;
    const given = new Map(routes.map((r, i) => [r, i]));
    this.#ordered = Object.freeze([...routes].sort((a, b) =>
      hostRank(b) - hostRank(a)
      || b.pathPrefix.length - a.pathPrefix.length
      || Number(b.methods !== undefined || b.headers.length > 0) - Number(a.methods !== undefined || a.headers.length > 0)
      || given.get(a)! - given.get(b)!));
    Object.freeze(this);
  }

  /** Validates and compiles specs (already schema-checked) into a table; throws ProxyError with
   *  a JSON-pointer path on the first semantic error. `previous` lends its compiled routes to
   *  unchanged specs so their balancer state carries over. */
  static build(specs: readonly RouteSpec[], revision: number, previous?: RouteTable): RouteTable {
    const ids = new Set<string>();
    const routes: Route[] = [];
    const old = new Map(previous?.routes.map((r) => [r.id, r]));
    specs.forEach((spec, i) => {
      const where = `/routes/${i}`;
      if (ids.has(spec.id)) throw new ProxyError('PRX_ERR_DUPLICATE_ROUTE', `duplicate route id ${JSON.stringify(spec.id)}`, `${where}/id`);
      ids.add(spec.id);
      const prev = old.get(spec.id);
      if (prev && JSON.stringify(prev.spec) === JSON.stringify(spec)) routes.push(prev);
      else routes.push(compileRoute(spec, where));
    });
    // two routes that would always match the same requests make one unreachable
    const seen = new Map<string, string>();
    for (const [i, r] of routes.entries()) {
      const key = JSON.stringify([r.host, r.wildcard, r.pathPrefix, r.methods ? [...r.methods].sort() : null, r.headers]);
      const other = seen.get(key);
      if (other) throw new ProxyError('PRX_ERR_BAD_ROUTE', `route ${JSON.stringify(r.id)} matches exactly the same requests as ${JSON.stringify(other)}`, `/routes/${i}`);
      seen.set(key, r.id);
    }
    return new RouteTable(routes, revision);
  }

  static empty(): RouteTable {
    return new RouteTable([], 0);
  }

  match(req: MatchInput): Route | undefined {
    for (const r of this.#ordered) {
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

  get(id: string): Route | undefined {
    return this.routes.find((r) => r.id === id);
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
