// Chooses an upstream for each request: smooth weighted round robin (nginx's algorithm: every
// pick adds each weight to its running score and takes the highest), skipping upstreams that were
// ejected after consecutive connect failures until their cool-down ends (passive health, like
// nginx max_fails/fail_timeout). If every upstream is ejected, the one whose cool-down ends first
// is tried rather than failing outright.
import type { Origin } from './origin-url.js';

export interface HealthPolicy {
  /** Consecutive failures that eject an upstream. */
  maxFails: number;
  /** How long an ejected upstream is skipped. */
  cooldownMs: number;
}

/** The health state of every origin one proxy's routes name, by origin key: kept across table
 *  revisions so an ejected upstream stays ejected when an unrelated route changes, and pruned
 *  with the table (an origin no route names any more is forgotten). One per ProxyServer, handed
 *  from each route table to the next. */
export class OriginHealthRegistry {
  readonly #byKey = new Map<string, OriginHealth>();

  get(key: string): OriginHealth {
    let h = this.#byKey.get(key);
    if (!h) {
      h = new OriginHealth();
      this.#byKey.set(key, h);
    }
    return h;
  }

  /** Forgets origins not in `inUse` (keys as originKey gives them). */
  prune(inUse: ReadonlySet<string>): void {
    for (const k of this.#byKey.keys()) if (!inUse.has(k)) this.#byKey.delete(k);
  }

  get size(): number { return this.#byKey.size; }
}

/** Health of one origin, shared by every route and table revision that uses it. */
export class OriginHealth {
  fails = 0;
  ejectedUntil = 0;

  ok(): void {
    this.fails = 0;
    this.ejectedUntil = 0;
  }

  failed(policy: HealthPolicy, now: number): void {
    this.fails++;
    if (this.fails >= policy.maxFails) this.ejectedUntil = now + policy.cooldownMs;
  }

  available(now: number): boolean {
    return this.ejectedUntil <= now;
  }
}

export interface Target {
  origin: Origin;
  weight: number;
  health: OriginHealth;
}

export class Balancer {
  readonly targets: readonly Target[];
  readonly #scores: Float64Array;

  constructor(targets: Target[]) {
    this.targets = targets;
    this.#scores = new Float64Array(targets.length);
  }

  pick(now = Date.now()): Target {
    const t = this.targets;
    if (t.length === 1) return t[0];
    let best = -1;
    let total = 0;
    for (let i = 0; i < t.length; i++) {
      if (!t[i].health.available(now)) continue;
      total += t[i].weight;
      this.#scores[i] += t[i].weight;
      if (best < 0 || this.#scores[i] > this.#scores[best]) best = i;
    }
    if (best < 0) {
      // all ejected: the one that comes back first
      best = 0;
      for (let i = 1; i < t.length; i++) if (t[i].health.ejectedUntil < t[best].health.ejectedUntil) best = i;
      return t[best];
    }
    this.#scores[best] -= total;
    return t[best];
  }
}
