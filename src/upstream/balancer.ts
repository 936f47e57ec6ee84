// Chooses an upstream of a route for each try of a request, by the route's loadBalancing policy,
// among the upstreams that are available: not ejected (passive health) and not failing the
// route's active check. If none is, every upstream is used (panic mode, Envoy's panic threshold
// at 100%): answering 503 to everything would make a partial outage total, and health state can
// be stale.
//
// - round-robin: smooth weighted round robin (nginx's: every pick adds each weight to its running
//   score and takes the highest).
// - least-request: the power of two random choices (Mitzenmacher): two distinct available
//   upstreams at random, the one with fewer requests in progress per unit of weight. A slow
//   upstream accumulates requests in progress and so gets fewer new ones.
// - consistent-hash: weighted rendezvous hashing (highest random weight) of a header, a cookie
//   or the client address: the same key goes to the same upstream in every worker and across
//   route changes that do not touch the upstream list, and when an upstream leaves only its keys
//   move. A request without the key is balanced round robin.
// Slow start: an upstream back from an ejection or an unhealthy spell, or added by a route
// change, counts with a weight that grows linearly from 10% to full over slowStartMs.
import type { Origin } from './origin-url.js';
import type { ActiveHealth, OriginHealth } from './origin-health.js';
import type { Policy } from './policy.js';

export interface Target {
  readonly origin: Origin;
  readonly weight: number;
  readonly health: OriginHealth;
  /** The route's active check of this origin; undefined when the route has none. */
  readonly active: ActiveHealth | undefined;
  /** 32-bit hash of the upstream's URL, for consistent hashing. */
  readonly hash: number;
}

/** The least share of its weight a slow-starting upstream gets. */
const SLOW_START_FLOOR = 0.1;

/** FNV-1a, 32 bits. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's finaliser: mixes a key's hash with a target's into a uniform 32-bit value. */
function mix(a: number, b: number): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class Balancer {
  readonly targets: readonly Target[];
  readonly #lb: Policy['loadBalancing'];
  readonly #scores: Float64Array;
  /** Every upstream was unavailable at the last pick (panic mode). */
  panic = false;


  constructor(targets: Target[], lb: Policy['loadBalancing']) {
    this.targets = targets;
    this.#lb = lb;
    this.#scores = new Float64Array(targets.length);
  }

  /** Available: not ejected, and healthy by the route's active check (if any). */
  static available(t: Target, now: number): boolean {
    return t.health.passing(now) && (t.active === undefined || t.active.healthy);
  }

  /** The upstream for a request's first try. `hashKey`: the consistent-hash key, if any.
   *  `limit`: requests in progress an upstream may have (null: no limit); undefined when every
   *  upstream is at it (the request waits: src/upstream/route-queue.ts). */
  pick(now: number, hashKey: string | undefined, limit: number | null): Target | undefined {
    const t = this.targets;
    if (t.length === 1) {
      const only = t[0];
      this.#setPanic(!Balancer.available(only, now));
      return limit === null || only.health.outstanding < limit ? only : undefined;
    }
    const chosen = this.#choose(now, hashKey, undefined, limit, false);
    if (chosen !== undefined) {
      this.#setPanic(false);
      return chosen;
    }
    const any = this.#choose(now, hashKey, undefined, limit, true);
    // nothing available, or nothing available with room: panic only when it is the former
    this.#setPanic(limit === null || !t.some((x) => Balancer.available(x, now)));
    return any;
  }

  /** The upstream for another try: never one already tried while an untried one is available;
   *  then an untried one even if unavailable (its state may be stale, and the request fails
   *  otherwise); undefined when every upstream was tried (or is at `limit`). */
  retry(now: number, tried: readonly Target[], hashKey: string | undefined, limit: number | null): Target | undefined {
    return this.#choose(now, hashKey, tried, limit, false) ?? this.#choose(now, hashKey, tried, limit, true);
  }

  /** Panic mode began at the last pick (the caller logs it once). */
  panicStarted = false;

  #setPanic(panic: boolean): void {
    this.panicStarted = panic && !this.panic;
    this.panic = panic;
  }

  /** By the algorithm, among targets not in `exclude`, with room under `limit`, and available
   *  (any of them when `any`). */
  #choose(now: number, hashKey: string | undefined, exclude: readonly Target[] | undefined, limit: number | null, any: boolean): Target | undefined {
    const t = this.targets;
    const usable = (x: Target) => (any || Balancer.available(x, now)) && (limit === null || x.health.outstanding < limit) && (exclude === undefined || !exclude.includes(x));
    switch (this.#lb.algorithm) {
      case 'least-request':
        return this.#leastRequest(now, usable);
      case 'consistent-hash':
        if (hashKey !== undefined) return this.#rendezvous(fnv1a(hashKey), usable);
        break;
      default:
        break;
    }
    let best = -1;
    let total = 0;
    const scores = this.#scores;
    for (let i = 0; i < t.length; i++) {
      const x = t[i];
      if (!usable(x)) continue;
      const w = this.#weight(x, now);
      total += w;
      scores[i] += w;
      if (best < 0 || scores[i] > scores[best]) best = i;
    }
    if (best < 0) return undefined;
    scores[best] -= total;
    return t[best];
  }

  #leastRequest(now: number, usable: (x: Target) => boolean): Target | undefined {
    const candidates = this.targets.filter(usable);
    if (candidates.length <= 1) return candidates[0];
    const i = Math.floor(Math.random() * candidates.length);
    let j = Math.floor(Math.random() * (candidates.length - 1));
    if (j >= i) j++;
    const a = candidates[i];
    const b = candidates[j];
    return a.health.outstanding / this.#weight(a, now) <= b.health.outstanding / this.#weight(b, now) ? a : b;
  }

  #rendezvous(key: number, usable: (x: Target) => boolean): Target | undefined {
    let best: Target | undefined;
    let bestScore = -Infinity;
    for (const x of this.targets) {
      if (!usable(x)) continue;
      // weighted rendezvous: -w / ln(u), u uniform in (0, 1)
      const u = (mix(key, x.hash) + 1) / 4294967297;
      const score = -x.weight / Math.log(u);
      if (score > bestScore) {
        bestScore = score;
        best = x;
      }
    }
    return best;
  }

  /** The target's weight now: ramped during slow start. */
  #weight(x: Target, now: number): number {
    const ramp = this.#lb.slowStartMs;
    if (ramp === 0) return x.weight;
    const h = x.health;
    if (h.availableSince < 0) h.availableSince = now; // added by a route change: ramps from its first use
    const since = Math.max(h.availableSince, x.active?.since ?? 0);
    if (since === 0) return x.weight; // available from the start: no ramp
    const elapsed = now - since;
    if (elapsed >= ramp) return x.weight;
    return x.weight * Math.max(SLOW_START_FLOOR, elapsed / ramp);
  }
}
