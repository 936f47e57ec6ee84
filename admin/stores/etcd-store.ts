// The etcd route store: a fleet of instances shares the routes under one key prefix.
//
// - Start: the routes are read before the proxy listens. If etcd cannot be reached, the local
//   cache file (store.cacheFile / --store-cache) is used when there is one; else start-up fails.
// - Follow: one watch on the prefix from the revision read; the events of each etcd revision are
//   applied to a mirror of the prefix and swapped in as one table (DataPlane.apply: with workers,
//   sent to each of them in revision order), numbered with the etcd revision (so ETags agree
//   across the fleet).
// - Write (admin API): planned against the running table, validated, then written with one
//   compare-and-swap transaction (etcd-routes.ts); the reply waits until the watch has applied
//   the write (in every worker), so a read after a write sees it. A lost race re-plans against the fresh routes
//   (an If-Match on the old state then answers 412). Every etcd call has a deadline: with etcd
//   down a write answers 503 within a few seconds.
// - etcd down: the last table keeps serving; status() says disconnected since when. The client
//   reconnects the watch from the last revision seen (missed changes arrive as events); if that
//   revision was compacted away, the watch is cancelled and the whole prefix is read again.
// - History: every change is recorded under PREFIX/history/ (admin/stores/history-etcd.ts), a
//   write's record in the write's own transaction. Tables are numbered with the revision of the
//   change that made them: an etcd revision that changes no route (a history or guard key) makes
//   no new table, and a restart runs the routes at the revision the history gives them.
import { existsSync, readFileSync } from 'node:fs';
import type { Etcd3, IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { RouteSource } from './route-source.js';
import { storeUrl, type EtcdStoreConfig } from '../../src/config/store-config.js';
import type { DataPlane } from '../../src/contract/data-plane.js';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import { ProxyError } from '../../src/errors.js';
import { AdminProblem } from '../protocol/problem.js';
import { writeFileAtomic } from './atomic-file.js';
import { RouteKeys, applyEvents, connectEtcd, loadRoutes, specsOf, writeRoutes, type StoredRoutes } from './etcd-routes.js';
import { ANONYMOUS_CHANGE, SerialQueue, prepareChange, snapshotOf, type ChangeMeta, type ChangeOutcome, type ChangePlan, type ChangeResult, type RouteStore, type Snapshot, type StoreStatus } from './route-store.js';
import { EtcdHistory, type NextRevision } from './history-etcd.js';
import { recordOf, sameRoutes, withInstance, type RevisionLog, type RevisionRecord } from '../history/revision-log.js';

/** Every etcd call of an admin write ends by this long after the request arrived (and each one
 *  within store.timeoutMs): a write answers within ~4.5 s whatever etcd does (the bound is 5 s). */
const WRITE_BUDGET_MS = 4500;
/** Below this much budget left, a write does not start another etcd call. */
const MIN_CALL_MS = 100;
/** Writes that lose the compare-and-swap this many times in a row give up (503). */
const MAX_ATTEMPTS = 5;
/** Pause between full reloads while etcd cannot be read. */
const RESYNC_RETRY_MS = 500;
const CACHE_FORMAT = 'portico-route-cache/1';
/** Start-up read deadline (a refused connection fails at once; a silent network waits this). */
const START_TIMEOUT_MS = 5000;

interface CacheDoc { format: string; store: string; prefix: string; revision: number; routes: RouteSpec[] }

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function readCache(cfg: EtcdStoreConfig): CacheDoc | undefined {
  if (!cfg.cacheFile || !existsSync(cfg.cacheFile)) return undefined;
  try {
    const doc = JSON.parse(readFileSync(cfg.cacheFile, 'utf8')) as CacheDoc;
    // a cache of another prefix is another fleet's routes
    if (doc.format !== CACHE_FORMAT || doc.prefix !== cfg.prefix || !Array.isArray(doc.routes) || !Number.isInteger(doc.revision)) return undefined;
    return doc;
  } catch {
    return undefined;
  }
}

export class EtcdRouteStore implements RouteStore, RouteSource {
  readonly initial: { revision: number; routes: RouteSpec[] };
  readonly notice: string | undefined;
  readonly #cfg: EtcdStoreConfig;
  readonly #client: Etcd3;
  readonly #keys: RouteKeys;
  readonly #logger: Logger;
  readonly #queue = new SerialQueue();
  #stored: StoredRoutes;
  #plane: DataPlane | undefined;
  #watcher: Watcher | undefined;
  #connected: boolean;
  #since = new Date().toISOString();
  #lastError: string | undefined;
  #closed = false;
  #resyncing: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #waiters: Array<{ revision: number; done: () => void }> = [];
  #onResult: ((r: ChangeResult) => void) | undefined;
  #cacheWrite: Promise<void> = Promise.resolve();
  readonly #history: EtcdHistory;
  /** The revision the initial routes are at, to be recorded once they run. */
  #initialNext: NextRevision | undefined;

  private constructor(cfg: EtcdStoreConfig, client: Etcd3, logger: Logger, stored: StoredRoutes, routes: RouteSpec[], connected: boolean, history: EtcdHistory, next?: NextRevision, lastError?: string) {
    this.#cfg = cfg;
    this.#client = client;
    this.#keys = new RouteKeys(cfg.prefix);
    this.#logger = logger.child({ component: 'store' });
    this.#stored = stored;
    this.#connected = connected;
    this.#lastError = lastError;
    this.#history = history;
    this.#initialNext = next;
    this.initial = { revision: next?.revision ?? stored.revision, routes };
    this.notice = connected ? undefined
      : `etcd at ${storeUrl(cfg)} cannot be reached (${lastError}): serving the cached routes of revision ${stored.revision} from ${cfg.cacheFile} until it can`;
  }

  /** Reads the routes (or the cache when etcd cannot be reached) and the history; throws
   *  ProxyError PRX_ERR_STORE. */
  static async open(cfg: EtcdStoreConfig, logger: Logger, historyKeep = 100): Promise<EtcdRouteStore> {
    const client = connectEtcd(cfg);
    const keys = new RouteKeys(cfg.prefix);
    const history = new EtcdHistory(cfg.prefix, historyKeep, logger.child({ component: 'store' }));
    try {
      const deadline = Date.now() + Math.max(cfg.timeoutMs, START_TIMEOUT_MS);
      const stored = await loadRoutes(client, keys, deadline);
      const routes = specsOf(stored, keys);
      const next = await history.load(stored.others, routes, stored.revision, async (rev) => specsOf(await loadRoutes(client, keys, deadline, rev), keys));
      return new EtcdRouteStore(cfg, client, logger, stored, routes, true, history, next);
    } catch (e) {
      if (e instanceof ProxyError) {
        client.close();
        throw new ProxyError(e.code, `${storeUrl(cfg)} holds an invalid route: ${e.message}`);
      }
      const cache = readCache(cfg);
      if (!cache) {
        client.close();
        const why = cfg.cacheFile ? `and the cache file ${cfg.cacheFile} is missing or unusable` : 'and no cache file is configured (--store-cache)';
        throw new ProxyError('PRX_ERR_STORE', `cannot read the routes from ${storeUrl(cfg)} (${message(e)}) ${why}: not starting without routes`);
      }
      logger.warn({ store: storeUrl(cfg), cacheFile: cfg.cacheFile, revision: cache.revision, err: message(e) }, 'store: etcd unreachable, starting from the cache file');
      // an empty mirror at the cached revision: the first successful read replaces it whole
      const stored: StoredRoutes = { revision: cache.revision, order: undefined, routes: new Map(), others: new Map() };
      return new EtcdRouteStore(cfg, client, logger, stored, cache.routes, false, history, undefined, message(e));
    }
  }

  attach(plane: DataPlane): void {
    this.#plane = plane;
    // before listen: no worker runs yet (each starts with the table this sets)
    if (this.initial.revision > this.#revision()) void plane.apply(plane.validateRoutes(this.initial.routes, this.initial.revision));
    if (this.#initialNext) this.#history.commit(this.#initialNext, this.initial.routes, this.#client);
    this.#initialNext = undefined;
    if (this.#connected) {
      this.#saveCache();
      this.#watch(this.#stored.revision + 1);
    } else {
      this.#scheduleResync();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    for (const w of this.#waiters) w.done();
    this.#waiters = [];
    await this.#watcher?.cancel().catch(() => {});
    await this.#cacheWrite;
    this.#client.close();
  }

  snapshot(): Snapshot {
    return snapshotOf(this.#plane!);
  }

  get history(): RevisionLog {
    return this.#history.log;
  }

  shared(): { client: Etcd3; prefix: string } {
    return { client: this.#client, prefix: this.#keys.prefix };
  }

  /** The history was read with the routes, before the proxy started. */
  async open(): Promise<void> {}

  /** Revision of the running table. */
  #revision(): number {
    return this.#plane?.routes.current.revision ?? this.initial.revision;
  }

  status(): StoreStatus {
    return {
      type: 'etcd',
      connected: this.#connected,
      since: this.#since,
      revision: this.#revision(),
      endpoints: this.#cfg.endpoints,
      prefix: this.#cfg.prefix,
      ...(this.#lastError !== undefined ? { lastError: this.#lastError } : {}),
      history: { keep: this.history.keep, oldest: this.history.oldest ?? null, revisions: this.history.records.length },
    };
  }

  observeResults(fn: (r: ChangeResult) => void): void {
    this.#onResult = fn;
  }

  change(plan: (current: Snapshot) => ChangePlan, dryRun: boolean, meta: ChangeMeta = ANONYMOUS_CHANGE): Promise<ChangeOutcome> {
    const deadline = Date.now() + WRITE_BUDGET_MS;
    return this.#queue.run(() => this.#change(plan, dryRun, meta, deadline));
  }

  async #change(planFn: (current: Snapshot) => ChangePlan, dryRun: boolean, meta: ChangeMeta, deadline: number): Promise<ChangeOutcome> {
    try {
      for (let attempt = 1; ; attempt++) {
        const current = this.snapshot();
        const prepared = prepareChange(this.#plane!, planFn, current, dryRun);
        if (prepared.kind === 'done') {
          this.#onResult?.(prepared.result);
          return prepared.outcome;
        }
        // queued behind slow writes: answer now rather than late
        if (deadline - Date.now() < MIN_CALL_MS) throw this.#unavailable('the store did not answer in time');
        let revision: number | undefined;
        // its revision is the transaction's (the record key's create_revision)
        const record = recordOf(current.specs, prepared.specs, 0, current.revision, { ...meta, source: withInstance(meta.source) });
        try {
          revision = await writeRoutes(this.#client, this.#keys, this.#stored, prepared.specs, this.#callDeadline(deadline), this.#history.writeOps(this.#client, record));
        } catch (e) {
          // say so until a read works again (the watch may not notice a silent etcd for a while)
          this.#setConnected(false, e);
          this.#scheduleResync();
          throw this.#unavailable(message(e));
        }
        if (revision !== undefined) {
          await this.#caughtUp(revision, deadline);
          this.#onResult?.('applied');
          this.#logger.info({ revision, routes: prepared.specs.length }, 'admin: route change written to etcd');
          return { revision, specs: prepared.table.routes.map((r) => r.spec), changed: true, dryRun, record: this.history.find(revision) };
        }
        // another writer came first: catch up, then plan again (If-Match decides: 412)
        if (attempt >= MAX_ATTEMPTS || deadline - Date.now() < MIN_CALL_MS) throw this.#unavailable('too many concurrent writes');
        try {
          await this.#reload(this.#callDeadline(deadline));
        } catch (e) {
          throw this.#unavailable(message(e));
        }
      }
    } catch (e) {
      this.#onResult?.('rejected');
      throw e;
    }
  }

  /** The deadline of one etcd call of a write: store.timeoutMs, cut to the write's budget. */
  #callDeadline(writeDeadline: number): number {
    return Math.min(Date.now() + this.#cfg.timeoutMs, writeDeadline);
  }

  #unavailable(why: string): AdminProblem {
    return new AdminProblem(503, 'store-unavailable',
      `the route store ${storeUrl(this.#cfg)} is unavailable (${why}): the change was not confirmed; read the route before retrying. The proxy keeps serving revision ${this.#revision()}.`,
      { code: 'PRX_ERR_STORE' }, { 'retry-after': '1' });
  }

  /** Waits until the watch has applied `revision` (bounded; then reads the prefix directly). */
  async #caughtUp(revision: number, deadline: number): Promise<void> {
    if (this.#stored.revision >= revision) return;
    const wait = Math.max(MIN_CALL_MS, Math.min(this.#cfg.timeoutMs, deadline - Date.now() - MIN_CALL_MS));
    const applied = await new Promise<boolean>((resolve) => {
      const waiter = { revision, done: () => { clearTimeout(timer); resolve(true); } };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(false);
      }, wait);
      this.#waiters.push(waiter);
    });
    if (!applied) await this.#reload(Math.max(Date.now() + MIN_CALL_MS, this.#callDeadline(deadline))).catch(() => {});
  }

  #setConnected(connected: boolean, err?: unknown): void {
    if (err !== undefined) this.#lastError = message(err);
    if (connected && this.#lastError?.startsWith('revision ') !== true) this.#lastError = undefined;
    if (connected === this.#connected) return;
    this.#connected = connected;
    this.#since = new Date().toISOString();
    if (connected) this.#logger.info({ store: storeUrl(this.#cfg), revision: this.#stored.revision }, 'store: etcd connected');
    else this.#logger.warn({ store: storeUrl(this.#cfg), err: this.#lastError }, 'store: etcd disconnected; serving the last routes');
  }

  #watch(fromRevision: number): void {
    if (this.#closed) return;
    const watcher = this.#client.watch().prefix(this.#keys.prefix).startRevision(String(fromRevision)).watcher();
    this.#watcher = watcher;
    watcher.on('connected', () => this.#setConnected(true));
    watcher.on('disconnected', (err: unknown) => this.#setConnected(false, err));
    watcher.on('data', (res: IWatchResponse) => this.#onEvents(res));
    // cancelled by etcd (e.g. the revision to resume from was compacted): read everything again
    watcher.on('error', (err: unknown) => {
      if (this.#watcher !== watcher) return;
      this.#logger.warn({ err: message(err) }, 'store: watch cancelled; reloading all routes');
      this.#watcher = undefined;
      void watcher.cancel().catch(() => {});
      this.#scheduleResync(0);
    });
  }

  #onEvents(res: IWatchResponse): void {
    // one table per etcd revision (one transaction), in order; older ones were read already
    const byRevision = new Map<number, typeof res.events>();
    for (const ev of res.events) {
      const rev = Number(ev.kv.mod_revision);
      if (rev <= this.#stored.revision) continue;
      // other data under the prefix (ACME certificates and locks: admin/acme/etcd-storage.ts) is
      // not routes: it makes no new table; the route history's records are followed
      const key = ev.kv.key.toString('utf8');
      if (key !== this.#keys.order && this.#keys.idOf(key) === undefined && !key.startsWith(this.#history.keys.records)) continue;
      let list = byRevision.get(rev);
      if (!list) byRevision.set(rev, list = []);
      list.push(ev);
    }
    for (const [rev, events] of [...byRevision].sort((a, b) => a[0] - b[0])) {
      const routesChanged = applyEvents(this.#stored, this.#keys, events, rev);
      const written = this.#history.ingest(this.#stored.others, events.map((ev) => ev.kv.key.toString('utf8')), rev);
      // a revision that only wrote history or guard keys is no new route table
      if (routesChanged) this.#apply(written);
    }
  }

  /** The routes at an earlier revision: the running ones, or etcd's past (undefined once compacted). */
  async #specsAt(revision: number): Promise<RouteSpec[] | undefined> {
    const t = this.#plane?.routes.current;
    if (t?.revision === revision) return t.routes.map((r) => r.spec as RouteSpec);
    return specsOf(await loadRoutes(this.#client, this.#keys, Date.now() + this.#cfg.timeoutMs, revision), this.#keys);
  }

  /** The ONE place a table from etcd is swapped in: the mirror's routes, at the revision the
   *  history gives them (`written`: the record put with them; `planned`: worked out already). */
  #apply(written?: RevisionRecord, planned?: NextRevision): void {
    const plane = this.#plane!;
    const revision = this.#stored.revision;
    let applied: Promise<unknown> = Promise.resolve();
    let specs: RouteSpec[] | undefined;
    let next: NextRevision | undefined;
    try {
      specs = specsOf(this.#stored, this.#keys);
      next = planned ?? this.#history.next(specs, revision, written);
    } catch (e) {
      this.#lastError = `revision ${revision} not applied: ${message(e)}`;
      this.#logger.error({ revision, err: message(e) }, 'store: invalid routes in etcd; keeping the last table');
    }
    const running = plane.routes.current;
    if (specs && next && next.revision > running.revision && !sameRoutes(specs, running.routes.map((r) => r.spec))) {
      try {
        const table = plane.validateRoutes(specs, next.revision);
        // the running table is replaced now (with workers: the primary's copy, and the message to
        // each worker is sent now, so they apply the revisions in this order); it resolves once
        // every worker runs it
        applied = plane.apply(table).then(
          () => this.#logger.info({ revision, routes: table.routes.length }, 'store: route table applied'),
          (e) => this.#logger.error({ revision, err: message(e) }, 'store: route table not applied everywhere'),
        );
        this.#saveCache();
      } catch (e) {
        // keep serving the last good table; the next valid revision replaces it
        this.#lastError = `revision ${revision} not applied: ${message(e)}`;
        this.#logger.error({ revision, err: message(e) }, 'store: invalid routes in etcd; keeping the last table');
      }
    }
    // recorded, then an admin write is answered, once its revision runs everywhere
    const ready = this.#waiters.filter((w) => w.revision <= revision);
    this.#waiters = this.#waiters.filter((w) => w.revision > revision);
    void applied.then(() => {
      if (specs && next) this.#history.commit(next, specs, this.#client);
      for (const w of ready) w.done();
    });
  }

  /** Reads the whole prefix and applies it if it is newer than what runs. */
  #reload(deadline?: number): Promise<void> {
    this.#resyncing ??= (async () => {
      try {
        const stored = await loadRoutes(this.#client, this.#keys, deadline);
        if (stored.revision > this.#stored.revision || this.#stored.order === undefined) {
          this.#stored = stored;
          let planned: NextRevision | undefined;
          try {
            planned = await this.#history.load(stored.others, specsOf(stored, this.#keys), stored.revision, (rev) => this.#specsAt(rev));
          } catch { /* invalid routes: #apply says so */ }
          this.#apply(undefined, planned);
        }
        this.#setConnected(true);
      } finally {
        this.#resyncing = undefined;
      }
    })();
    return this.#resyncing;
  }

  /** Full reload, then a watch from there; retried until it works or the store closes. */
  #scheduleResync(delay = RESYNC_RETRY_MS): void {
    if (this.#closed) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#reload().then(
        () => { if (!this.#watcher) this.#watch(this.#stored.revision + 1); },
        (e) => {
          this.#setConnected(false, e);
          this.#scheduleResync();
        },
      );
    }, delay);
    this.#retryTimer.unref();
  }

  /** Keeps the local copy of the running table (for a start while etcd is down). */
  #saveCache(): void {
    const path = this.#cfg.cacheFile;
    if (!path) return;
    this.#cacheWrite = this.#cacheWrite.then(async () => {
      const table = this.#plane!.routes.current;
      const doc: CacheDoc = { format: CACHE_FORMAT, store: storeUrl(this.#cfg), prefix: this.#cfg.prefix, revision: table.revision, routes: table.routes.map((r) => r.spec) };
      try {
        await writeFileAtomic(path, JSON.stringify(doc, null, 2) + '\n');
      } catch (e) {
        this.#logger.error({ cacheFile: path, err: message(e) }, 'store: cannot write the cache file');
      }
    });
  }
}
