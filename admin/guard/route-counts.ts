// Per-route outcome counts for guarded changes (admin/guard/guard-keeper.ts): every route's
// requests and failures since this process started, and a short past of those totals, so the
// rate of a route *before* a change (its baseline) can be compared with its rate after it.
//
// A request is counted when it is answered (ProxyObserver.requestFinished). It failed when its
// status is 5xx, whether Portico generated it (502/503/504: connect failure, timeout, overload) or
// relayed it from the upstream. An upstream connect failure that was retried (ProxyObserver.retried
// with reason `connect`) counts as one more failed attempt, so a route whose new upstream refuses
// connections shows even when the retry on another upstream saved the request.
//
// One-process mode counts the proxy's events here; with workers each worker counts its own and
// pushes what is new every WORKER_PUSH_MS (admin/cluster/worker-main.ts), added here in the primary.
import type { ProxyObserver } from '../../src/dispatch/observer.js';
import type { RouteCountDelta } from '../../src/contract/ipc-protocol.js';

export interface Counts { requests: number; errors: number }

/** How often a worker pushes its counts to the primary (and one process drains its own). */
export const WORKER_PUSH_MS = 100;

/** How often the totals are remembered for baselines, and how many are kept (5 min). */
export const SNAPSHOT_MS = 5_000;
export const SNAPSHOTS_KEPT = 60;
/** The longest past a baseline looks at. */
export const MAX_BASELINE_MS = SNAPSHOT_MS * SNAPSHOTS_KEPT;

/** Each watched route's counts before a change and since it. */
export type PerRoute = Record<string, { before: Counts; after: Counts }>;

export const ZERO: Readonly<Counts> = Object.freeze({ requests: 0, errors: 0 });

export function minus(a: Counts, b: Counts): Counts {
  return { requests: Math.max(0, a.requests - b.requests), errors: Math.max(0, a.errors - b.errors) };
}

export function plus(a: Counts, b: Counts): Counts {
  return { requests: a.requests + b.requests, errors: a.errors + b.errors };
}

export function rate(c: Counts): number {
  return c.requests > 0 ? Math.min(1, c.errors / c.requests) : 0;
}

/** Counts route by route, as a ProxyObserver (or from workers' deltas). */
export class RouteCounter {
  readonly #delta = new Map<string, Counts>();

  count(route: string, requests: number, errors: number): void {
    let c = this.#delta.get(route);
    if (!c) this.#delta.set(route, (c = { requests: 0, errors: 0 }));
    c.requests += requests;
    c.errors += errors;
  }

  readonly observer: ProxyObserver = {
    requestFinished: (r) => {
      if (r.routeId !== undefined) this.count(r.routeId, 1, r.status >= 500 ? 1 : 0);
    },
    retried: (route, reason) => {
      if (reason === 'connect') this.count(route, 1, 1);
    },
  };

  /** What was counted since the last drain (and forgets it). */
  drain(): RouteCountDelta[] {
    const out: RouteCountDelta[] = [];
    for (const [route, c] of this.#delta) out.push([route, c.requests, c.errors]);
    this.#delta.clear();
    return out;
  }
}

/** Every route's totals at one moment (taken just before a change is applied). */
export interface Mark {
  at: number;
  totals: ReadonlyMap<string, Counts>;
}

/** The running totals of every route, with their past (one snapshot every SNAPSHOT_MS). */
export class RouteTotals {
  readonly #totals = new Map<string, Counts>();
  /** One process: the counter whose counts are pulled in before every read. */
  #source: RouteCounter | undefined;
  /** Oldest first; taken when counts arrive, so an idle proxy keeps none it does not need. */
  readonly #past: Array<{ at: number; totals: Map<string, Counts> }> = [];
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** One process: counts come from `counter` (pulled before every read, and by `add([])`). */
  pullFrom(counter: RouteCounter): void {
    this.#source = counter;
  }

  add(deltas: Iterable<RouteCountDelta>): void {
    this.#remember();
    for (const [route, requests, errors] of deltas) {
      const c = this.#totals.get(route);
      if (c) {
        c.requests += requests;
        c.errors += errors;
      } else {
        this.#totals.set(route, { requests, errors });
      }
    }
  }

  /** The routes' totals together, now. */
  total(routes: readonly string[]): Counts {
    this.#pull();
    return sum(this.#totals, routes);
  }

  /** Each route's baseline before `mark` and its counts since (see recent). */
  perRoute(routes: readonly string[], windowMs: number, mark: Mark): PerRoute {
    const out: PerRoute = {};
    for (const r of routes) out[r] = { before: this.recent([r], windowMs, mark), after: minus(this.total([r]), this.totalAt(mark, [r])) };
    return out;
  }

  /** Every route's totals now. */
  mark(): Mark {
    this.#pull();
    return { at: this.#now(), totals: copyOf(this.#totals) };
  }

  /** The routes' totals together at `mark`. */
  totalAt(mark: Mark, routes: readonly string[]): Counts {
    return sum(mark.totals, routes);
  }

  /**
   * The routes' counts over the `windowMs` before `mark` (default now; at most MAX_BASELINE_MS,
   * and only as far back as the snapshots go: a process that just started has a short past).
   */
  recent(routes: readonly string[], windowMs: number, mark: Mark = this.mark()): Counts {
    const since = mark.at - Math.min(windowMs, MAX_BASELINE_MS);
    // the oldest snapshot within the span, else the newest before it
    let then = this.#past.find((s) => s.at >= since && s.at <= mark.at);
    for (let i = this.#past.length - 1; !then && i >= 0; i--) if (this.#past[i].at <= mark.at) then = this.#past[i];
    return minus(sum(mark.totals, routes), then ? sum(then.totals, routes) : ZERO);
  }

  /** Forgets the routes that are not in `ids` (removed: their past goes with the snapshots). */
  retain(ids: ReadonlySet<string>): void {
    this.#pull();
    for (const route of this.#totals.keys()) if (!ids.has(route)) this.#totals.delete(route);
  }

  #pull(): void {
    if (this.#source) this.add(this.#source.drain());
  }

  #remember(): void {
    const now = this.#now();
    const last = this.#past[this.#past.length - 1];
    if (last && now - last.at < SNAPSHOT_MS) return;
    this.#past.push({ at: now, totals: copyOf(this.#totals) });
    if (this.#past.length > SNAPSHOTS_KEPT) this.#past.shift();
  }
}

function copyOf(totals: ReadonlyMap<string, Counts>): Map<string, Counts> {
  const copy = new Map<string, Counts>();
  for (const [route, c] of totals) copy.set(route, { ...c });
  return copy;
}

function sum(totals: ReadonlyMap<string, Counts>, routes: readonly string[]): Counts {
  let out: Counts = { requests: 0, errors: 0 };
  for (const r of routes) {
    const c = totals.get(r);
    if (c) out = plus(out, c);
  }
  return out;
}
