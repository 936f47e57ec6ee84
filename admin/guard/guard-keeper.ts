// Guarded changes (issue 22 §4; docs/route-history.md "Guarded changes"). A write that carries
// ?guard=30s is applied like any other; then, for that long, this keeper compares the changed
// routes' failure rate since the change (5xx generated or relayed, retried connect failures:
// ./route-counts.ts) with their rate before it (their baseline: the same span before the write,
// at most 5 minutes). When, once at least `minRequests` were answered, the rate after exceeds the
// rate before by more than `maxErrorRate` (for any watched route alone, or for all of them
// together: a route with little traffic is not hidden by a busy one), the keeper undoes the change through the store like a
// rollback (validated, persisted, in every worker; with etcd, written once for the fleet): a new
// revision of source {kind: 'guard', guarded, reason}, in the history and the change feed, and a
// warning in the log. A window that ends clean ends the guard (logged, a `guard` feed event).
//
// One decision per guard: the keeper runs in the admin process (the primary, with workers, where
// the workers' counts are added up) of the instance that accepted the write; with an etcd fleet
// the other instances publish their counts for it (./etcd-guard-board.ts).
//
// A newer revision that touches a guarded route (adds, removes, changes it, or reorders routes)
// ends the guard as `superseded`: the routes are no longer what was guarded, and undoing the
// guarded change would undo the newer one too. Changes to other routes do not end it; its
// rollback then undoes only the guarded change on the routes as they are.
import type { Logger } from 'pino';
import type { DataPlane } from '../../src/contract/data-plane.js';
import type { RouteStore } from '../stores/route-store.js';
import { sameRoutes, type GuardRequest, type LogEvent, type RevisionRecord } from '../history/revision-log.js';
import { sameSpec, undoDiff } from '../history/route-diff.js';
import { keep } from '../stores/file-store.js';
import { RouteCounter, RouteTotals, WORKER_PUSH_MS, ZERO, plus, rate, type Counts, type Mark, type PerRoute } from './route-counts.js';
import type { GuardBoard, GuardNotice } from './guard-board.js';

/** How often a guard in progress is judged. */
const JUDGE_MS = 100;
/** Finished guards kept for GET /v1/status. */
const RECENT_KEPT = 10;

export type GuardState = 'watching' | 'passed' | 'rolled-back' | 'superseded' | 'abandoned' | 'failed';

/** A guard as GET /v1/status and the change feed's `guard` events show it. */
export interface GuardView {
  revision: number;
  routes: string[];
  state: GuardState;
  since: string;
  until: string;
  windowMs: number;
  maxErrorRate: number;
  minRequests: number;
  /** The changed routes' counts over the baseline before the change (every instance's). */
  before: Counts;
  /** Their counts since the change (every worker's; with etcd, every instance's that reported). */
  after: Counts;
  /** With more than one route: each one's counts (a route alone can decide). */
  byRoute?: PerRoute;
  /** With an etcd fleet: instances whose counts are included (this one too). */
  instances?: number;
  /** The instance that judges it (host:pid). */
  judge: string;
  endedAt?: string;
  /** rolled-back: the revision that undid it; superseded: the newer revision. */
  by?: number;
  reason?: string;
}

interface Guard {
  view: GuardView;
  record: RevisionRecord;
  /** Every route's totals here just before the change ran. */
  mark: Mark;
  untilMs: number;
  judging: boolean;
  done: boolean;
  /** A judgement failed (said once). */
  warned?: boolean;
}

export interface GuardKeeperOptions {
  /** The store the guarded writes went through: rollbacks go through it too. */
  store: RouteStore;
  /** The per-route totals (shared with the board, which publishes them). */
  totals?: RouteTotals;
  plane: DataPlane;
  logger: Logger;
  instance: string;
  /** With an etcd fleet: where instances meet about guards. */
  board?: GuardBoard;
}

/** The routes a change touched that still exist after it: what a guard watches. */
export function guardedRoutes(record: RevisionRecord): string[] {
  return [...record.added.map((p) => p.route.id), ...record.changed.map((c) => c.id)];
}

function touches(record: RevisionRecord, routes: ReadonlySet<string>): boolean {
  if (record.initial || record.order !== undefined) return true;
  return record.added.some((p) => routes.has(p.route.id)) || record.removed.some((p) => routes.has(p.route.id)) || record.changed.some((c) => routes.has(c.id));
}

function pct(c: Counts): string {
  return `${(rate(c) * 100).toFixed(1)}% (${c.errors}/${c.requests})`;
}

export class GuardKeeper {
  readonly totals: RouteTotals;
  readonly #store: RouteStore;
  readonly #logger: Logger;
  readonly #instance: string;
  readonly #board: GuardBoard | undefined;
  readonly #guards = new Map<number, Guard>();
  readonly #recent: GuardView[] = [];
  readonly #listeners = new Set<(notice: GuardView) => void>();
  readonly #stops: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  /** Extra wait after a window before the last judgement: counts still on their way. */
  readonly #settleMs: number;
  #closed = false;

  constructor(opts: GuardKeeperOptions) {
    this.#store = opts.store;
    this.totals = opts.totals ?? new RouteTotals();
    this.#logger = opts.logger.child({ component: 'guard' });
    this.#instance = opts.instance;
    this.#board = opts.board;
    const plane = opts.plane;
    if (plane.onRouteCounts) {
      // with workers: each pushes its counts every WORKER_PUSH_MS
      this.#stops.push(plane.onRouteCounts((counts) => this.totals.add(counts)));
    } else if (plane.proxy) {
      const counter = new RouteCounter();
      this.#stops.push(plane.proxy.addObserver(counter.observer));
      this.totals.pullFrom(counter);
      // the snapshots of the past are taken as counts are added: keep adding
      const drain = setInterval(() => this.totals.add([]), WORKER_PUSH_MS);
      drain.unref();
      this.#stops.push(() => clearInterval(drain));
    }
    this.#settleMs = (plane.onRouteCounts ? WORKER_PUSH_MS + JUDGE_MS : JUDGE_MS) + (opts.board?.settleMs ?? 0);
    this.#stops.push(opts.store.history.on((e) => this.#onHistory(e)));
    // the totals of removed routes are not kept for ever (route ids come and go)
    this.#stops.push(plane.routes.onReplace((next) => this.totals.retain(new Set(next.routes.map((r) => r.spec.id)))));
  }

  /** Every route's totals just before a guarded change is made (its baseline ends there). */
  mark(): Mark {
    return this.totals.mark();
  }

  /**
   * Starts guarding an applied change (`mark`: taken before it was applied). Returns what
   * X-Portico-Guard answers: the guard, or why there is none (a change that only removed routes
   * leaves nothing to watch).
   */
  start(record: RevisionRecord, request: GuardRequest, mark: Mark): string {
    const routes = guardedRoutes(record);
    if (routes.length === 0) {
      this.#logger.info({ revision: record.revision }, 'guard: the change only removed routes; nothing to watch');
      return 'none; reason="the change only removed routes: nothing to watch"';
    }
    const now = Date.now();
    const view: GuardView = {
      revision: record.revision, routes, state: 'watching',
      since: new Date(now).toISOString(), until: new Date(now + request.windowMs).toISOString(),
      windowMs: request.windowMs, maxErrorRate: request.maxErrorRate, minRequests: request.minRequests,
      before: this.totals.recent(routes, request.windowMs, mark), after: { requests: 0, errors: 0 },
      judge: this.#instance,
    };
    const guard: Guard = { view, record, mark, untilMs: now + request.windowMs, judging: false, done: false };
    this.#guards.set(record.revision, guard);
    this.#board?.announce(view).catch((e: Error) => this.#logger.warn({ revision: record.revision, err: e.message }, 'guard: cannot tell the fleet; judging on this instance\'s counts'));
    this.#logger.info({ revision: record.revision, routes, until: view.until, maxErrorRate: view.maxErrorRate, minRequests: view.minRequests, before: view.before }, 'guard: watching the change');
    this.#emit(view);
    this.#timer ??= setInterval(() => this.#tick(), JUDGE_MS);
    return `revision=${record.revision}; routes="${routes.join(',')}"; until=${view.until}; maxErrorRate=${view.maxErrorRate}; minRequests=${view.minRequests}`;
  }

  /** GET /v1/status: the guards in progress (with the fleet's other instances' when known). */
  status(): { active: GuardView[]; recent: GuardView[] } {
    const mine = [...this.#guards.values()].map((g) => ({ ...g.view }));
    const others = (this.#board?.othersInProgress() ?? []).filter((v) => !this.#guards.has(v.revision));
    return { active: [...mine, ...others], recent: this.#recent.map((v) => ({ ...v })) };
  }

  /** Feed listeners: every start and end of a guard. */
  on(listener: (notice: GuardView) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const stop of this.#stops.splice(0)) stop();
    for (const g of this.#guards.values()) this.#end(g, 'abandoned', 'the admin API stopped before the window ended');
  }

  #tick(): void {
    const now = Date.now();
    for (const g of this.#guards.values()) {
      if (!g.judging) void this.#judge(g, now >= g.untilMs + this.#settleMs);
    }
  }

  async #judge(g: Guard, final: boolean): Promise<void> {
    g.judging = true;
    try {
      const { routes, windowMs, minRequests, maxErrorRate } = g.view;
      const byRoute = this.totals.perRoute(routes, windowMs, g.mark);
      let instances: number | undefined;
      if (this.#board) {
        const others: GuardNotice[] = await this.#board.gather(g.view.revision);
        for (const o of others) {
          for (const r of routes) {
            const c = o.byRoute[r];
            if (c) byRoute[r] = { before: plus(byRoute[r].before, c.before), after: plus(byRoute[r].after, c.after) };
          }
        }
        instances = 1 + others.length;
      }
      if (g.done) return;
      let before: Counts = ZERO;
      let after: Counts = ZERO;
      for (const r of routes) {
        before = plus(before, byRoute[r].before);
        after = plus(after, byRoute[r].after);
      }
      g.view.after = after;
      g.view.before = before;
      if (routes.length > 1) g.view.byRoute = byRoute;
      if (instances !== undefined) g.view.instances = instances;
      const failing = (c: { before: Counts; after: Counts }) => c.after.requests >= minRequests && rate(c.after) - rate(c.before) > maxErrorRate;
      const culprit = routes.length > 1 ? routes.find((r) => failing(byRoute[r])) : undefined;
      if (culprit !== undefined) await this.#rollBack(g, byRoute[culprit].before, byRoute[culprit].after, [culprit]);
      else if (failing({ before, after })) await this.#rollBack(g, before, after, routes);
      else if (final) this.#end(g, 'passed', `failure rate ${pct(after)} after the change, ${pct(before)} before: within +${g.view.maxErrorRate}`);
    } catch (e) {
      if (!g.warned) this.#logger.warn({ revision: g.view.revision, err: (e as Error).message }, 'guard: cannot judge now; trying again every 100 ms');
      g.warned = true;
    } finally {
      g.judging = false;
    }
  }

  /** `which`: the route (or the routes together) whose counts decided. */
  async #rollBack(g: Guard, before: Counts, after: Counts, which: string[]): Promise<void> {
    const revision = g.view.revision;
    const reason = `failure rate (5xx and upstream connect failures) of ${which.join(', ')} rose to ${pct(after)} after revision ${revision} from ${pct(before)} before, past the limit of +${g.view.maxErrorRate} (guard of ${g.view.windowMs / 1000}s, at least ${g.view.minRequests} requests)`;
    g.done = true; // a newer revision (the rollback itself) no longer supersedes it
    try {
      const outcome = await this.#store.change((cur) => {
        const undone = undoDiff(cur.specs, g.record);
        const byId = new Map(cur.specs.map((r) => [r.id, r]));
        const specs = undone.map((r) => {
          const now = byId.get(r.id);
          return keep(now && sameSpec(now, r) ? now : structuredClone(r));
        });
        return { specs: sameRoutes(specs, cur.specs) ? undefined : specs };
      }, false, { source: { kind: 'guard', guarded: revision, reason }, message: `guard: rolled back revision ${revision}` });
      g.done = false;
      this.#logger.warn({ revision, rollback: outcome.revision, routes: g.view.routes, before, after }, `guard: rolled back revision ${revision}: ${reason}`);
      this.#logger.flush(); // rare and important: not left in the log's buffer
      this.#end(g, 'rolled-back', reason, outcome.changed ? outcome.revision : undefined);
    } catch (e) {
      g.done = false;
      this.#logger.error({ revision, err: (e as Error).message }, `guard: the rollback of revision ${revision} failed; the change stays`);
      this.#end(g, 'failed', `rolling back failed: ${(e as Error).message} (it was due: ${reason})`);
    }
  }

  #onHistory(e: LogEvent): void {
    for (const g of [...this.#guards.values()]) {
      if (g.done) continue;
      if (e.type === 'reset') this.#end(g, 'superseded', 'the route history restarted');
      else if (e.record.revision > g.view.revision && touches(e.record, new Set(g.view.routes))) {
        this.#end(g, 'superseded', `revision ${e.record.revision} changed the guarded routes`, e.record.revision);
      }
    }
  }

  #end(g: Guard, state: GuardState, reason: string, by?: number): void {
    if (!this.#guards.delete(g.view.revision)) return;
    g.done = true;
    Object.assign(g.view, { state, reason, endedAt: new Date().toISOString(), ...(by !== undefined ? { by } : {}) });
    if (state === 'passed' || state === 'superseded') this.#logger.info({ revision: g.view.revision, routes: g.view.routes, before: g.view.before, after: g.view.after, by }, `guard: ${state}: ${reason}`);
    else if (state === 'abandoned') this.#logger.warn({ revision: g.view.revision }, `guard: abandoned: ${reason}`);
    this.#recent.unshift({ ...g.view });
    if (this.#recent.length > RECENT_KEPT) this.#recent.pop();
    this.#board?.finish(g.view).catch(() => {});
    this.#emit(g.view);
    if (this.#guards.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #emit(view: GuardView): void {
    if (this.#closed && view.state === 'watching') return;
    const copy = { ...view };
    for (const l of this.#listeners) l(copy);
  }
}
