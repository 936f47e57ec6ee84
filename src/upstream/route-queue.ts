// A route's wait queue for its concurrency limit (limits.maxConcurrentPerUpstream): a request that
// finds every upstream of its route at the limit waits here, first come first served, for at most
// limits.queueTimeoutMs, and at most limits.maxQueue requests wait; beyond either the client gets
// 503 with Retry-After (PRX_ERR_OVERLOADED). A request leaves the queue with an upstream whose slot
// is already counted as taken (OriginHealth#track), so a slot freed is given to exactly one
// waiter and nothing queued is sent twice; a waiter whose client went away is dropped unserved.
import type { Clock, Deadline } from '../clock.js';
import type { Balancer, Target } from './balancer.js';
import type { Policy } from './policy.js';

interface Waiter {
  readonly hashKey: string | undefined;
  readonly gone: () => boolean;
  readonly settle: (t: Target | undefined) => void;
  readonly timer: Deadline;
}

export class RouteQueue {
  readonly #balancer: Balancer;
  readonly #limits: Policy['limits'];
  readonly #waiters: Waiter[] = [];
  #clock: Clock | undefined;
  /** Registered on the route's upstreams while someone waits: a freed slot serves the queue. */
  readonly #wake = (): void => this.#serve();

  constructor(balancer: Balancer, limits: Policy['limits']) {
    this.#balancer = balancer;
    this.#limits = limits;
  }

  get length(): number { return this.#waiters.length; }

  /** Waits for an upstream with room: the target (its slot taken), or undefined on timeout or
   *  when the client went away; undefined at once (no promise) when the queue is full. */
  wait(clock: Clock, hashKey: string | undefined, gone: () => boolean): Promise<Target | undefined> | undefined {
    if (this.#waiters.length >= this.#limits.maxQueue) return undefined;
    this.#clock = clock;
    return new Promise((settle) => {
      const w: Waiter = {
        hashKey, gone, settle,
        timer: clock.deadline(() => {
          const i = this.#waiters.indexOf(w);
          if (i >= 0) this.#waiters.splice(i, 1);
          this.#unregisterIfIdle();
          settle(undefined);
        }),
      };
      w.timer.arm(this.#limits.queueTimeoutMs);
      if (this.#waiters.push(w) === 1) for (const t of this.#balancer.targets) (t.health.waiters ??= new Set()).add(this.#wake);
    });
  }

  /** A slot freed on one of the route's upstreams: serve waiters in order while there is room. */
  #serve(): void {
    const limit = this.#limits.maxConcurrentPerUpstream;
    const now = this.#clock!.now();
    while (this.#waiters.length > 0) {
      const w = this.#waiters[0];
      if (w.gone()) {
        this.#waiters.shift();
        w.timer.cancel();
        w.settle(undefined);
        continue;
      }
      const t = this.#balancer.pick(now, w.hashKey, limit);
      if (t === undefined) break;
      this.#waiters.shift();
      w.timer.cancel();
      t.health.track(true);
      w.settle(t);
    }
    this.#unregisterIfIdle();
  }

  #unregisterIfIdle(): void {
    if (this.#waiters.length > 0) return;
    for (const t of this.#balancer.targets) t.health.waiters?.delete(this.#wake);
  }
}
