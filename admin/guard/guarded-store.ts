// A route store whose writes may be guarded (?guard=30s): the change is made by the store it
// wraps; once applied, the guard keeper watches it (./guard-keeper.ts), and the write's meta says
// what X-Portico-Guard answers (admin/api/change-meta.ts guardHeader).
import type { ChangeMeta, ChangeOutcome, ChangePlan, ChangeResult, RouteStore, Snapshot, StoreStatus } from '../stores/route-store.js';
import type { RevisionLog } from '../history/revision-log.js';
import type { GuardKeeper } from './guard-keeper.js';

export class GuardedStore implements RouteStore {
  readonly #inner: RouteStore;
  readonly #keeper: GuardKeeper;

  constructor(inner: RouteStore, keeper: GuardKeeper) {
    this.#inner = inner;
    this.#keeper = keeper;
  }

  get history(): RevisionLog {
    return this.#inner.history;
  }

  snapshot(): Snapshot {
    return this.#inner.snapshot();
  }

  status(): StoreStatus {
    return this.#inner.status();
  }

  observeResults(fn: (r: ChangeResult) => void): void {
    this.#inner.observeResults(fn);
  }

  open(): Promise<void> {
    return this.#inner.open();
  }

  async change(plan: (current: Snapshot) => ChangePlan, dryRun: boolean, meta?: ChangeMeta): Promise<ChangeOutcome> {
    // the baseline ends and the guard's counts start before the change runs
    const mark = meta?.guard && !dryRun ? this.#keeper.mark() : undefined;
    const outcome = await this.#inner.change(plan, dryRun, meta);
    if (meta?.guard && mark && !outcome.dryRun) {
      if (!outcome.changed) meta.guardStarted = 'none; reason="nothing changed"';
      else if (!outcome.record) meta.guardStarted = 'none; reason="the change is not in the history"';
      else meta.guardStarted = this.#keeper.start(outcome.record, meta.guard, mark);
    }
    return outcome;
  }
}
