// The route list in etcd: the key layout, reading it whole, following its events, and replacing it
// with one compare-and-swap transaction. Used by the running store (etcd-store.ts) and by
// `portico store export|import` (admin/cli/store-cli.ts).
//
// Layout under PREFIX (e.g. /portico):
//   PREFIX/routes/ID  one route's JSON (the admin API's normalised route object)
//   PREFIX/order      JSON array of the route ids in match-tie order
// Every write through Portico puts PREFIX/order, so comparing its mod_revision makes any two
// writes of the whole list conflict (the loser re-plans, and an If-Match on it then fails: 412).
// Routes without an entry in `order` (written by hand with etcdctl) follow the ordered ones in
// creation order; ids in `order` without a route key are skipped. Other keys under the prefix (the
// route history, PREFIX/history/: admin/stores/history-etcd.ts; guards) are mirrored in `others`.
import { readFileSync } from 'node:fs';
import { Etcd3, isRecoverableError, type IKeyValue, type IEvent, type IOperation } from 'etcd3';
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, noop, type IBackoff } from 'cockatiel';
import type { EtcdStoreConfig } from '../../src/config/store-config.js';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import { ProxyError } from '../../src/errors.js';
import { validateRoute } from '../protocol/schemas.js';
import { describeAjvError } from '../protocol/problem.js';

/** One stored key: its text and etcd revisions. */
export interface StoredKey { text: string; mod: number; create: number }

/** A mirror of everything under the prefix, at `revision`. */
export interface StoredRoutes {
  revision: number;
  order: StoredKey | undefined;
  routes: Map<string, StoredKey>;
  /** The other keys under the prefix, by full key. */
  others: Map<string, StoredKey>;
}

export class RouteKeys {
  readonly prefix: string;
  readonly order: string;
  readonly #routes: string;

  constructor(prefix: string) {
    this.prefix = `${prefix}/`;
    this.order = `${prefix}/order`;
    this.#routes = `${prefix}/routes/`;
  }

  route(id: string): string {
    return this.#routes + id;
  }

  /** The route id of a key under the prefix, undefined for any other key. */
  idOf(key: string): string | undefined {
    return key.startsWith(this.#routes) ? key.slice(this.#routes.length) : undefined;
  }
}

/** A client whose unary calls end by a deadline (an admin write answers instead of hanging) and
 *  whose watch reconnects quickly (backoff 100 ms doubling up to 1 s) once etcd is back. */
export function connectEtcd(cfg: EtcdStoreConfig): Etcd3 {
  const tls = cfg.tls ? {
    rootCertificate: readFileSync(cfg.tls.ca),
    ...(cfg.tls.key ? { privateKey: readFileSync(cfg.tls.key) } : {}),
    ...(cfg.tls.cert ? { certChain: readFileSync(cfg.tls.cert) } : {}),
  } : undefined;
  const password = cfg.auth?.password ?? process.env.PORTICO_ETCD_PASSWORD;
  return new Etcd3({
    hosts: cfg.endpoints.map((e) => `${tls ? 'https' : 'http'}://${e}`),
    ...(tls ? { credentials: tls } : {}),
    ...(cfg.auth ? { auth: { username: cfg.auth.username, password: password ?? '' } } : {}),
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + cfg.timeoutMs }),
    faultHandling: {
      // no blind retries: the store decides (a retried write could apply twice)
      global: noop,
      // a member that failed 3 times in a row is skipped for 500 ms (others are tried first)
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 500, breaker: new ConsecutiveBreaker(3) }),
      // etcd3 calls .next() on this (a factory, as its own default is) though it types an IBackoff
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }) as unknown as IBackoff<unknown>,
    },
    // notice a silently dead connection (no RST) within ~15 s; etcd accepts pings every >= 5 s
    grpcOptions: { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5_000 },
  });
}

function stored(kv: IKeyValue): StoredKey {
  return { text: kv.value.toString('utf8'), mod: Number(kv.mod_revision), create: Number(kv.create_revision) };
}

/** Reads everything under the prefix (one consistent range read). `deadline` (epoch ms)
 *  overrides the client's per-call one; `atRevision`: as it was then (etcd keeps past revisions
 *  until it compacts them). */
export async function loadRoutes(client: Etcd3, keys: RouteKeys, deadline?: number, atRevision?: number): Promise<StoredRoutes> {
  const range = client.getAll().prefix(keys.prefix);
  if (deadline !== undefined) range.options({ deadline });
  if (atRevision !== undefined) range.revision(atRevision);
  const res = await range.exec();
  const out: StoredRoutes = { revision: atRevision ?? Number(res.header.revision), order: undefined, routes: new Map(), others: new Map() };
  for (const kv of res.kvs) setKey(out, keys, kv.key.toString('utf8'), stored(kv));
  return out;
}

/** Returns true when `key` is a route or the order (the route list changed). */
function setKey(s: StoredRoutes, keys: RouteKeys, key: string, value: StoredKey | undefined): boolean {
  if (key === keys.order) {
    s.order = value;
    return true;
  }
  const id = keys.idOf(key);
  const map = id === undefined ? s.others : s.routes;
  if (value) map.set(id ?? key, value);
  else map.delete(id ?? key);
  return id !== undefined;
}

/** Applies watch events (all of one revision) to the mirror; true when the route list changed. */
export function applyEvents(s: StoredRoutes, keys: RouteKeys, events: IEvent[], revision: number): boolean {
  let routes = false;
  for (const ev of events) routes = setKey(s, keys, ev.kv.key.toString('utf8'), ev.type === 'Delete' ? undefined : stored(ev.kv)) || routes;
  s.revision = revision;
  return routes;
}

/** The route list the mirror holds, in order; ProxyError PRX_ERR_STORE when a key is not a
 *  valid route (the caller keeps its last table). */
export function specsOf(s: StoredRoutes, keys: RouteKeys): RouteSpec[] {
  let order: string[] = [];
  if (s.order) {
    try {
      const v = JSON.parse(s.order.text) as unknown;
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error('not an array of route ids');
      order = v;
    } catch (e) {
      throw new ProxyError('PRX_ERR_STORE', `${keys.order}: ${(e as Error).message}`);
    }
  }
  const ids = order.filter((id) => s.routes.has(id));
  const listed = new Set(ids);
  const unlisted = [...s.routes].filter(([id]) => !listed.has(id)).sort((a, b) => a[1].create - b[1].create).map(([id]) => id);
  return [...ids, ...unlisted].map((id) => {
    const key = keys.route(id);
    let spec: unknown;
    try {
      spec = JSON.parse(s.routes.get(id)!.text);
    } catch (e) {
      throw new ProxyError('PRX_ERR_STORE', `${key}: not JSON (${(e as Error).message})`);
    }
    if (!validateRoute(spec)) {
      const d = describeAjvError(validateRoute.errors![0]);
      throw new ProxyError('PRX_ERR_STORE', `${key}${d.pointer}: ${d.detail}`);
    }
    if ((spec as RouteSpec).id !== id) throw new ProxyError('PRX_ERR_STORE', `${key}: holds the route ${JSON.stringify((spec as RouteSpec).id)}`);
    return spec as RouteSpec;
  });
}

/**
 * Replaces the stored list by `specs` if nothing changed since `base` was read (compare-and-swap
 * on PREFIX/order and on every route key it touches), with `also` in the same transaction (the
 * history record). Returns the new revision, or undefined when another writer came first.
 */
export async function writeRoutes(client: Etcd3, keys: RouteKeys, base: StoredRoutes, specs: ReadonlyArray<Readonly<RouteSpec>>, deadline?: number, also: IOperation[] = []): Promise<number | undefined> {
  const wanted = new Map(specs.map((s) => [s.id, JSON.stringify(s)]));
  let txn = client.if(keys.order, 'Mod', '==', base.order?.mod ?? 0);
  const ops = [];
  for (const [id, text] of wanted) {
    const old = base.routes.get(id);
    if (old?.text === text) continue;
    txn = txn.and(keys.route(id), 'Mod', '==', old?.mod ?? 0);
    ops.push(client.put(keys.route(id)).value(text));
  }
  for (const [id, old] of base.routes) {
    if (wanted.has(id)) continue;
    txn = txn.and(keys.route(id), 'Mod', '==', old.mod);
    ops.push(client.delete().key(keys.route(id)));
  }
  ops.push(client.put(keys.order).value(JSON.stringify([...wanted.keys()])), ...also);
  if (deadline !== undefined) txn = txn.options({ deadline });
  const res = await txn.then(...ops).commit();
  return res.succeeded ? Number(res.header.revision) : undefined;
}
