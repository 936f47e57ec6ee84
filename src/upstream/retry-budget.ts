// A route's retry budget (Envoy's retry budget, Finagle's RetryBudget): retries may add at most
// budgetPercent of the route's requests over the last 10 seconds, plus budgetMinPerSecond a second,
// so an outage of every upstream does not multiply the load on them by maxTries. Counted in ten
// one-second buckets (this process; each worker keeps its own), advanced lazily on use.
import type { Policy } from './policy.js';

const BUCKETS = 10;
const BUCKET_MS = 1000;

export class RetryBudget {
  readonly #requests = new Float64Array(BUCKETS);
  readonly #retries = new Float64Array(BUCKETS);
  /** The bucket `now` falls in, as a count of BUCKET_MS since the clock's zero. */
  #at = 0;

  /** A request (its first try) started. */
  request(now: number): void {
    this.#advance(now);
    this.#requests[this.#at % BUCKETS] += 1;
  }

  /** Whether one more retry fits the budget; if it does, it is counted. */
  tryRetry(now: number, retries: Policy['retries']): boolean {
    this.#advance(now);
    let requests = 0;
    let done = 0;
    for (let i = 0; i < BUCKETS; i++) {
      requests += this.#requests[i];
      done += this.#retries[i];
    }
    const allowed = (requests * retries.budgetPercent) / 100 + retries.budgetMinPerSecond * (BUCKETS * BUCKET_MS / 1000);
    if (done + 1 > allowed) return false;
    this.#retries[this.#at % BUCKETS] += 1;
    return true;
  }

  #advance(now: number): void {
    const at = Math.floor(now / BUCKET_MS);
    if (at === this.#at) return;
    // clear the buckets the window moved past (all of them after a long quiet spell)
    for (let i = Math.max(this.#at + 1, at - BUCKETS + 1); i <= at; i++) {
      this.#requests[i % BUCKETS] = 0;
      this.#retries[i % BUCKETS] = 0;
    }
    this.#at = at;
  }
}
