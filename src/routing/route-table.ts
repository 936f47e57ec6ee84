// The route table: an immutable snapshot built from RouteSpecs and swapped in one step
// (RouteTableHolder.replace). A request reads the holder once, when its head is parsed, and keeps
// that table until it finishes, so in-flight requests never see a half-applied change.
//
// Matching: host (exact beats wildcard beats any), then the longest path prefix on a segment
// boundary, then routes with method/header conditions before unconditional ones, then the order
// in which routes were given. RouteIndex (route-index.ts) answers that without walking the list.
import type { RouteSpec, UpstreamSpec } from './route-spec.js';
import { RouteIndex } from './route-index.js';
import { parseOriginUrl, type Origin } from '../upstream/origin-url.js';
import { Balancer, OriginHealth, type Target } from '../upstream/balancer.js';
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
  /** Methods and headers as one string: two routes on the same host and prefix with equal keys
   *  match exactly the same requests. */
  readonly conditionKey: string;
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
  let h = healthByAuthority.get(origin.authority);
  if (!h) {
    h = new OriginHealth();
    healthByAuthority.set(origin.authority, h);
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
    return { origin, weight: typeof u === 'string' ? 1 : (u.weight ?? 1), health: healthFor(origin) };
  });
  const host = spec.host?.toLowerCase();
  const wildcard = host?.startsWith('*.') ?? false;
  const methods = spec.methods ? new Set(spec.methods) : undefined;
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
    balancer: new Balancer(targets),
  });
}

export class RouteTable {
  readonly routes: readonly Route[];
  readonly revision: number;
  readonly #index: RouteIndex;
  readonly #byId: ReadonlyMap<string, Route>;

  private constructor(routes: Route[], revision: number, byId: Map<string, Route>) {
    this.routes = Object.freeze(routes);
    this.revision = revision;
    this.#byId = byId;
    // two routes that would always match the same requests make one unreachable
    this.#index = new RouteIndex(routes, (i, r, other) => {
      throw new ProxyError('PRX_ERR_BAD_ROUTE', `route ${JSON.stringify(r.id)} matches exactly the same requests as ${JSON.stringify(other.id)}`, `/routes/${i}`);
    });
    Object.freeze(this);
  }

  /** Validates and compiles specs (already schema-checked) into a table; throws ProxyError with
   *  a JSON-pointer path on the first semantic error. `previous` lends its compiled routes to
   *  unchanged specs so their balancer state carries over. */
  static build(specs: readonly RouteSpec[], revision: number, previous?: RouteTable): RouteTable {
    const byId = new Map<string, Route>();
    const routes: Route[] = [];
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i]!;
      if (byId.has(spec.id)) throw new ProxyError('PRX_ERR_DUPLICATE_ROUTE', `duplicate route id ${JSON.stringify(spec.id)}`, `/routes/${i}/id`);
      const prev = previous === undefined ? undefined : previous.#byId.get(spec.id);
      // the admin API passes running specs on as they are (the same frozen object): no need to
      // compare their text
      const route = prev && (prev.spec === spec || JSON.stringify(prev.spec) === JSON.stringify(spec)) ? prev : compileRoute(spec, `/routes/${i}`);
      byId.set(spec.id, route);
      routes.push(route);
    }
    return new RouteTable(routes, revision, byId);
  }

  static empty(): RouteTable {
    return new RouteTable([], 0, new Map());
  }

  /** The route for a request, or undefined: see RouteIndex for what a lookup costs. */
  match(req: MatchInput): Route | undefined {
    return this.#index.match(req);
  }

  get(id: string): Route | undefined {
    return this.#byId.get(id);
  }

  /** Origins referenced by this table (pool keys). */
  authorities(): Set<string> {
    const out = new Set<string>();
    for (const r of this.routes) for (const t of r.balancer.targets) out.add(t.origin.authority);
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
