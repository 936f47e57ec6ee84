// What the proxy knows of each upstream origin's health, shared by every route and route-table
// revision that names it (an ejected upstream stays ejected when an unrelated route changes):
//
// - passive (outlier ejection): consecutive failures of real requests (connect errors, resets,
//   timeouts; 5xx when a route's outlier.on5xx says so) eject the origin for a base time that
//   doubles on each repeat ejection, up to a maximum; the repeat count decays by one per base
//   time spent without an ejection (Envoy's outlier detection, nginx's max_fails/fail_timeout);
// - active: the results of health probes (src/upstream/health-checker.ts), per distinct check
//   (path, host, thresholds) of the origin, fed in by whoever probes: this process, or with
//   workers the primary, which sends every change to each worker;
// - load: requests in progress (least-request balancing and concurrency limits);
// - since when it has been available, for slow start.
import type { Policy } from './policy.js';

/** One active health probe's result (src/health/health-checker.ts) and the state it leaves: sent
 *  to workers as it is. */
export interface HealthReport {
  /** originKey of the upstream, and the check's key. */
  originKey: string;
  checkKey: string;
  /** The state after this result (the thresholds applied). */
  healthy: boolean;
  /** '200', 'timeout', 'ECONNREFUSED'... */
  outcome: string;
  /** Why it is unhealthy (the outcome that made it so), when it is. */
  why?: string;
}

/** One active health check's view of one origin. */
export class ActiveHealth {
  /** Unknown until the first probe: treated as healthy (a new upstream gets traffic at once;
   *  a check that fails then takes it out). */
  healthy = true;
  /** When `healthy` last changed (clock ms; wall-clock for status in `sinceWall`). */
  since = 0;
  sinceWall = Date.now();
  /** The last probe's outcome ('200', 'timeout', 'ECONNREFUSED'...) and when (wall clock). */
  last: string | undefined;
  lastAt: number | undefined;
  /** Why it is unhealthy (the failing probes' outcome). */
  why: string | undefined;
}

export class OriginHealth {
  readonly key: string;
  /** Consecutive failures of real requests. */
  fails = 0;
  /** Ejected until this clock time (0: not ejected). */
  ejectedUntil = 0;
  /** Repeat ejections (the next lasts base * 2^ejections), decayed over time. */
  ejections = 0;
  /** Wall-clock time of the last ejection, and why (for status). */
  ejectedAt: number | undefined;
  ejectedWhy: string | undefined;
  /** Requests in progress to this origin (this process). */
  outstanding = 0;
  /** Clock time since which it is available (slow start ramps from here; 0: from the start). */
  availableSince = 0;
  /** Active checks of this origin by check key. */
  readonly #active = new Map<string, ActiveHealth>();
  /** Routes whose requests wait for a free slot on this origin (concurrency limits). */
  waiters: Set<() => void> | undefined;

  constructor(key: string) {
    this.key = key;
  }

  /** A request to it got a response (a head that is not counted as a failure). An ejected
   *  origin that answers (a retry may try one: balancer.ts) is evidently back: its ejection ends
   *  now, so a rolling restart does not keep a restarted upstream out for the whole ejection
   *  while its peer goes down in turn. */
  ok(now: number): void {
    this.fails = 0;
    if (this.ejectedUntil > now) {
      this.ejectedUntil = now;
      this.availableSince = now;
    }
  }

  /** A request to it failed; true when this failure ejected it. `mayEject`: the route would
   *  still have enough upstreams (maxEjectionPercent). */
  failed(outlier: Policy['outlier'], now: number, why: string, mayEject: boolean): boolean {
    this.fails++;
    if (this.fails < outlier.consecutiveFailures || this.ejectedUntil > now || !mayEject) return false;
    // decay: one repeat forgiven per base time since the last ejection ended
    if (this.ejectedUntil > 0) this.ejections = Math.max(0, this.ejections - Math.floor((now - this.ejectedUntil) / outlier.baseEjectionMs));
    const ms = Math.min(outlier.maxEjectionMs, outlier.baseEjectionMs * 2 ** this.ejections);
    this.ejections++;
    this.ejectedUntil = now + ms;
    this.availableSince = this.ejectedUntil;
    this.ejectedAt = Date.now();
    this.ejectedWhy = why;
    this.fails = 0;
    return true;
  }

  /** Not ejected (passive). */
  passing(now: number): boolean {
    return this.ejectedUntil <= now;
  }

  /** The active check `checkKey`'s state of this origin (made on first use). */
  active(checkKey: string): ActiveHealth {
    let a = this.#active.get(checkKey);
    if (a === undefined) {
      a = new ActiveHealth();
      this.#active.set(checkKey, a);
    }
    return a;
  }

  /** Active checks known for this origin. */
  activeChecks(): IterableIterator<[string, ActiveHealth]> {
    return this.#active.entries();
  }

  /** A probe result: a change of `healthy` (the thresholds are the prober's) for one check. */
  setActive(checkKey: string, healthy: boolean, now: number, last: string, why: string | undefined): void {
    const a = this.active(checkKey);
    a.last = last;
    a.lastAt = Date.now();
    if (a.healthy === healthy) {
      if (!healthy && why !== undefined) a.why = why;
      return;
    }
    a.healthy = healthy;
    a.since = now;
    a.sinceWall = Date.now();
    a.why = healthy ? undefined : why;
    if (healthy) this.availableSince = Math.max(this.availableSince, now);
  }

  /** A request started (true) or ended (false); ending wakes one waiting route. */
  track(started: boolean): void {
    if (started) {
      this.outstanding++;
      return;
    }
    this.outstanding--;
    const w = this.waiters;
    if (w !== undefined && w.size > 0) for (const wake of w) { wake(); break; }
  }
}

/** The health of every origin one proxy's routes name, by origin key: one per ProxyServer,
 *  handed from each route table to the next, pruned with the table (an origin no route names
 *  any more is forgotten). */
export class OriginHealthRegistry {
  readonly #byKey = new Map<string, OriginHealth>();
  /** The first table has been built: origins that appear later were added by a route change
   *  (slow start ramps them from their first use). */
  #settled = false;

  get(key: string): OriginHealth {
    let h = this.#byKey.get(key);
    if (!h) {
      h = new OriginHealth(key);
      if (this.#settled) h.availableSince = -1;
      this.#byKey.set(key, h);
    }
    return h;
  }

  /** A health probe's result (src/upstream/health-checker.ts), from this process's checker or
   *  the primary's; ignored for an origin no route names any more. */
  apply(r: HealthReport, now: number): void {
    this.#byKey.get(r.originKey)?.setActive(r.checkKey, r.healthy, now, r.outcome, r.why);
  }

  /** The latest state of every active check of every origin, as reports (for a worker that
   *  starts after the checks began). */
  reports(): HealthReport[] {
    const out: HealthReport[] = [];
    for (const [originKey, h] of this.#byKey) {
      for (const [checkKey, a] of h.activeChecks()) {
        if (a.last === undefined) continue;
        out.push({ originKey, checkKey, healthy: a.healthy, outcome: a.last, ...(a.why !== undefined ? { why: a.why } : {}) });
      }
    }
    return out;
  }

  /** The first table is built. */
  settle(): void {
    this.#settled = true;
  }

  /** The origin's health, or undefined when no route names it. */
  find(key: string): OriginHealth | undefined {
    return this.#byKey.get(key);
  }

  /** Forgets origins not in `inUse` (keys as originKey gives them). */
  prune(inUse: ReadonlySet<string>): void {
    for (const k of this.#byKey.keys()) if (!inUse.has(k)) this.#byKey.delete(k);
  }

  get size(): number { return this.#byKey.size; }
}
