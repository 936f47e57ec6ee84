// The guard board of an etcd fleet (./guard-board.ts). Layout under PREFIX:
//   PREFIX/guard/active/REV          the guard of revision REV, as its judge announced it
//                                    ({ view, lease }), put with the judge's lease
//   PREFIX/guard/counts/REV/INSTANCE  another instance's counts for it (GuardNotice), put every
//                                    REPORT_MS with the same lease
// The judge holds the lease (LEASE_TTL_S, kept alive by the etcd client) and revokes it when the
// guard ends, which deletes every key of the guard at once. If the judge dies (or loses etcd) mid-
// guard, the lease expires within LEASE_TTL_S: the keys go, the other instances stop publishing,
// and nobody judges: the change stays as it is (docs/route-history.md, "Guarded changes").
import type { Etcd3, Lease, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { DataPlane } from '../../src/contract/data-plane.js';
import type { GuardBoard, GuardNotice } from './guard-board.js';
import type { GuardView } from './guard-keeper.js';
import { ZERO, plus, type Counts, type Mark, type RouteTotals } from './route-counts.js';

/** How often an instance publishes its counts for a guard it does not judge. */
export const REPORT_MS = 1_000;
/** The judge's lease: how long a guard outlives its judge. */
export const LEASE_TTL_S = 10;
/** Tables whose start is remembered (a guard is announced right after its table runs). */
const MARKS_KEPT = 16;

interface Announced { view: GuardView; lease: string }

interface Reporting {
  /** Its baseline, as last published (shown in GET /v1/status). */
  before?: Counts;
  announced: Announced;
  /** This instance's totals when it first ran the guarded revision (undefined: not yet). */
  mark?: Mark;
  timer: NodeJS.Timeout;
  busy: boolean;
}

export interface EtcdGuardBoardOptions {
  client: Etcd3;
  /** The store's prefix, with its trailing slash. */
  prefix: string;
  instance: string;
  totals: RouteTotals;
  plane: Pick<DataPlane, 'routes'>;
  logger: Logger;
}

export class EtcdGuardBoard implements GuardBoard {
  readonly settleMs = REPORT_MS + 500;
  readonly #o: EtcdGuardBoardOptions;
  readonly #active: string;
  readonly #counts: string;
  /** Guards this instance judges: their leases. */
  readonly #leases = new Map<number, Lease>();
  /** Every route's totals when each recent table began to run here (by revision). */
  readonly #marks = new Map<number, Mark>();
  /** The judge: the last read of the others' counts, per guard. */
  readonly #gathered = new Map<number, { at: number; notices: GuardNotice[] }>();
  /** Guards other instances judge, that this one reports on. */
  readonly #reporting = new Map<number, Reporting>();
  #watcher: Watcher | undefined;
  #unfollow: () => void = () => {};
  #closed = false;

  constructor(o: EtcdGuardBoardOptions) {
    this.#o = o;
    this.#active = `${o.prefix}guard/active/`;
    this.#counts = `${o.prefix}guard/counts/`;
  }

  /** Marks the totals as each table begins to run (a guarded revision's counts start there). */
  #follow(): void {
    this.#unfollow = this.#o.plane.routes.onReplace((next) => {
      this.#marks.set(next.revision, this.#o.totals.mark());
      for (const rev of this.#marks.keys()) if (this.#marks.size > MARKS_KEPT) this.#marks.delete(rev);
    });
  }

  /** Follows the announced guards (those in progress already, then every change). The watch is
   *  made without waiting for etcd (it connects, and reconnects, on its own: an instance that
   *  starts while etcd is down serves its cached routes and must not wait here). */
  async start(): Promise<void> {
    this.#follow();
    await this.#watch();
  }

  async #watch(): Promise<void> {
    if (this.#closed) return;
    const watcher = this.#o.client.watch().prefix(this.#active).watcher();
    this.#watcher = watcher;
    watcher.on('put', (kv) => this.#onAnnounced(kv.value.toString('utf8')));
    watcher.on('delete', (kv) => this.#stopReporting(Number(kv.key.toString('utf8').slice(this.#active.length))));
    // cancelled by etcd (the revision to resume from was compacted while it could not be reached):
    // watch again from now and read what is announced
    watcher.on('error', (err: Error) => {
      if (this.#watcher !== watcher) return;
      this.#o.logger.debug({ err: err.message }, 'guard: the watch of the fleet\'s guards was cancelled; watching again');
      void watcher.cancel().catch(() => {});
      setTimeout(() => void this.#watch().catch(() => {}), 500).unref();
    });
    const existing = await this.#o.client.getAll().prefix(this.#active).strings();
    for (const text of Object.values(existing)) this.#onAnnounced(text);
  }

  async announce(view: GuardView): Promise<void> {
    const lease = this.#o.client.lease(LEASE_TTL_S);
    lease.on('lost', (e) => this.#o.logger.warn({ revision: view.revision, err: e.message }, 'guard: the fleet lease was lost; the other instances stop reporting'));
    this.#leases.set(view.revision, lease);
    const id = await lease.grant();
    const value: Announced = { view, lease: id };
    await lease.put(this.#active + view.revision).value(JSON.stringify(value));
  }

  async gather(revision: number): Promise<GuardNotice[]> {
    // the others publish every REPORT_MS: reading more often than twice as fast finds nothing new
    const last = this.#gathered.get(revision);
    if (last && Date.now() - last.at < REPORT_MS / 2) return last.notices;
    let found: Record<string, string>;
    try {
      found = await this.#o.client.getAll().prefix(`${this.#counts}${revision}/`).strings();
    } catch (e) {
      // etcd out of reach: judge on what the others said last (and this instance's own counts)
      if (!last) throw e;
      this.#gathered.set(revision, { ...last, at: Date.now() });
      return last.notices;
    }
    const out: GuardNotice[] = [];
    for (const text of Object.values(found)) {
      try {
        const n = JSON.parse(text) as GuardNotice;
        if (n.instance !== this.#o.instance) out.push(n);
      } catch { /* not ours */ }
    }
    this.#gathered.set(revision, { at: Date.now(), notices: out });
    return out;
  }

  async finish(view: GuardView): Promise<void> {
    const lease = this.#leases.get(view.revision);
    this.#leases.delete(view.revision);
    this.#gathered.delete(view.revision);
    await lease?.revoke();
  }

  othersInProgress(): GuardView[] {
    return [...this.#reporting.values()].map((r) => ({ ...r.announced.view, ...(r.before ? { before: r.before } : {}) }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unfollow();
    for (const rev of [...this.#reporting.keys()]) this.#stopReporting(rev);
    // not awaited: with etcd unreachable a cancel waits for it (the client is closed by the store)
    void this.#watcher?.cancel().catch(() => {});
    // unary calls end by the client's deadline (store.timeoutMs)
    await Promise.all([...this.#leases.values()].map((l) => l.revoke().catch(() => {})));
    this.#leases.clear();
  }

  #onAnnounced(text: string): void {
    let announced: Announced;
    try {
      announced = JSON.parse(text) as Announced;
    } catch {
      return;
    }
    const rev = announced.view?.revision;
    if (this.#closed || typeof rev !== 'number' || announced.view.judge === this.#o.instance || this.#reporting.has(rev)) return;
    const r: Reporting = { announced, busy: false, timer: setInterval(() => void this.#report(rev), REPORT_MS) };
    r.timer.unref();
    this.#reporting.set(rev, r);
    void this.#report(rev);
  }

  async #report(rev: number): Promise<void> {
    const r = this.#reporting.get(rev);
    if (!r || r.busy) return;
    const { view, lease } = r.announced;
    if (r.mark === undefined) {
      // counted from when this instance runs the guarded revision (or a newer one)
      if (this.#o.plane.routes.current.revision < rev) return;
      r.mark = this.#marks.get(rev) ?? this.#o.totals.mark();
    }
    const byRoute = this.#o.totals.perRoute(view.routes, view.windowMs, r.mark);
    let before: Counts = ZERO;
    let after: Counts = ZERO;
    for (const c of Object.values(byRoute)) {
      before = plus(before, c.before);
      after = plus(after, c.after);
    }
    r.before = before;
    const notice: GuardNotice = { instance: this.#o.instance, before, after, byRoute, at: new Date().toISOString() };
    r.busy = true;
    try {
      await this.#o.client.put(`${this.#counts}${rev}/${this.#o.instance}`).value(JSON.stringify(notice)).lease(lease);
    } catch (e) {
      // the lease is gone (the guard ended, or its judge died): stop
      if (/lease/i.test((e as Error).message)) this.#stopReporting(rev);
    } finally {
      r.busy = false;
    }
  }

  #stopReporting(rev: number): void {
    const r = this.#reporting.get(rev);
    if (!r) return;
    clearInterval(r.timer);
    this.#reporting.delete(rev);
  }
}
