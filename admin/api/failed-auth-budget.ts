// How many failed authentications each client address may make before its failures are answered
// late: a budget of `burst` failures, one regained every `refillMs` (the generic cell rate
// algorithm, GCRA: one number per address, the time at which its budget would be full again).
// Only failures are counted (a wrong token, a rejected client certificate); a request with a valid
// credential is never counted nor held, so a burst of bad tokens, even from the same address,
// never slows a good one.
//
// Bounded whatever the traffic: at most `maxAddresses` addresses are remembered (the one that
// failed least recently is forgotten first, which only gives it its budget back), and at most
// `maxHeldPerAddress` / `maxHeld` answers are held at once; past that a failure is answered at once
// and its connection closed. Holding is the cheap part (a timer, on a connection that is open
// anyway): with a cap of 4 per address, 64 connections of wrong tokens from one address got ~400
// answers a second (most of them answered at once and reconnecting) and tripled the valid token's
// p50; with 64, 66 a second and no change (bench/admin-auth.ts, docs/admin-security.md). IPv6 clients are counted per /64, the block one host usually holds
// (RFC 4291 §2.5.4), so that walking through the addresses of one's own /64 gains nothing.
//
// Why not @fastify/rate-limit: it counts every request in its hook, before the outcome is known,
// and answers 429 to all of an address's requests once over, valid tokens included; here only
// failures count and only failures wait.
import net from 'node:net';
import type { FailedAuthConfig } from '../../src/config/admin-schema.js';

export interface BudgetLimits {
  maxAddresses: number;
  maxHeldPerAddress: number;
  maxHeld: number;
}

export const DEFAULT_BUDGET_LIMITS: BudgetLimits = { maxAddresses: 10_000, maxHeldPerAddress: 64, maxHeld: 1024 };

export interface FailureVerdict {
  /** The failure is beyond the budget: answer it late (or at once, if no hold is free). */
  over: boolean;
  /** Seconds until the address may fail again at full speed (Retry-After). */
  retryAfterS: number;
  /** The first failure over the budget since the address was last within it (log it once). */
  firstOver: boolean;
}

interface AddressState {
  /** Time (ms) at which the address's budget would be full again. */
  fullAt: number;
  warned: boolean;
}

/** The key an address is counted under: IPv4 as is, IPv6 by its /64. */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1];
  if (!net.isIPv6(ip)) return ip;
  const groups = expandIPv6(ip);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

function expandIPv6(ip: string): string[] {
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''));
}

export class FailedAuthBudget {
  readonly #intervalMs: number;
  readonly #burst: number;
  readonly #limits: BudgetLimits;
  readonly #now: () => number;
  /** In order of last failure (re-inserted on each), so the first is the one to forget. */
  readonly #addresses = new Map<string, AddressState>();
  readonly #held = new Map<string, number>();
  #heldTotal = 0;

  constructor(o: Pick<FailedAuthConfig, 'burst' | 'refillMs'>, limits: BudgetLimits = DEFAULT_BUDGET_LIMITS, now: () => number = Date.now) {
    this.#intervalMs = o.refillMs;
    this.#burst = o.burst;
    this.#limits = limits;
    this.#now = now;
  }

  /** Addresses remembered now (for tests and metrics). */
  get size(): number {
    return this.#addresses.size;
  }

  /** Counts a failed authentication from `key` (see addressKey). */
  fail(key: string): FailureVerdict {
    const now = this.#now();
    const state = this.#addresses.get(key);
    // an address whose budget filled up again starts afresh (and is warned about afresh)
    const live = state !== undefined && state.fullAt > now ? state : undefined;
    const fullAt = (live?.fullAt ?? now) + this.#intervalMs;
    const capacity = this.#burst * this.#intervalMs;
    if (fullAt - now <= capacity) {
      this.#remember(key, { fullAt, warned: live?.warned ?? false });
      return { over: false, retryAfterS: 0, firstOver: false };
    }
    // over: not counted (the budget refills on schedule whatever the client does meanwhile)
    const current = live!;
    const firstOver = !current.warned;
    this.#remember(key, { fullAt: current.fullAt, warned: true });
    const retryAfterMs = current.fullAt - capacity + this.#intervalMs - now;
    return { over: true, retryAfterS: Math.max(1, Math.ceil(retryAfterMs / 1000)), firstOver };
  }

  #remember(key: string, state: AddressState): void {
    this.#addresses.delete(key);
    this.#addresses.set(key, state);
    while (this.#addresses.size > this.#limits.maxAddresses) {
      this.#addresses.delete(this.#addresses.keys().next().value!);
    }
  }

  /** Reserves one held answer for `key`: its release function, or undefined when the address or
   *  the process already holds as many as allowed. */
  hold(key: string): (() => void) | undefined {
    const n = this.#held.get(key) ?? 0;
    if (n >= this.#limits.maxHeldPerAddress || this.#heldTotal >= this.#limits.maxHeld) return undefined;
    this.#held.set(key, n + 1);
    this.#heldTotal++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#heldTotal--;
      const left = (this.#held.get(key) ?? 1) - 1;
      if (left > 0) this.#held.set(key, left);
      else this.#held.delete(key);
    };
  }
}
