// Where the instances of an etcd fleet meet about a guarded change (./guard-keeper.ts): the
// instance that accepted the write announces the guard and judges it; every other instance
// publishes its own counts of the guarded routes until the guard ends (./etcd-guard-board.ts).
import type { Counts, PerRoute } from './route-counts.js';
import type { GuardView } from './guard-keeper.js';

/** One instance's counts for a guard it does not judge. */
export interface GuardNotice {
  instance: string;
  /** Its counts of the guarded routes over the baseline before the change. */
  before: Counts;
  /** Its counts since it runs the guarded revision. */
  after: Counts;
  /** The same, route by route. */
  byRoute: PerRoute;
  at: string;
}

export interface GuardBoard {
  /** How long after a window the judge waits for the last counts. */
  readonly settleMs: number;
  /** Starts following the guards other instances announce. */
  start(): Promise<void>;
  /** The judge: tells the fleet that `view` is guarded (the others start publishing). */
  announce(view: GuardView): Promise<void>;
  /** The judge: the other instances' latest counts for the guard of `revision`. */
  gather(revision: number): Promise<GuardNotice[]>;
  /** The judge: the guard ended; the others stop publishing. */
  finish(view: GuardView): Promise<void>;
  /** Guards that other instances judge (as announced), for GET /v1/status. */
  othersInProgress(): GuardView[];
  close(): Promise<void>;
}
