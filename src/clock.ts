// Time for the data path: every timer of the client channel, the exchange, the upstream pools,
// tunnels and the forward proxy's dial is a Deadline from a Clock, never a setTimeout of its own
// (Twisted's reactor.callLater seam, which lets its tests run timeouts on task.Clock). A Deadline
// is made once per connection or exchange and armed, refreshed and cancelled in place, so the
// clock behind it can change without touching its users: a process-wide deadline structure (a
// timer wheel, issue 14) is one more Clock.
//
// systemClock, the default, gives each Deadline one Node timer. A one-timer-per-process deadline
// list (DeadlineList below: arm/refresh write a number into a Set, one Node timer set for the
// earliest deadline) was measured as the process clock and cost more, not less: workload (a)
// of the bench went from ~24 to ~27 µs CPU per request and from ~74 to ~102 MiB peak RSS (Node's
// timer lists already make refresh cheap; the list adds a performance.now() per arm or refresh
// and Set churn per request). A wheel would have to beat Node's own timers there to replace it.
//
// FakeClock runs the deadline list on a time that moves only when a test says so.

/** One timeout: fires its callback once when due, unless cancelled or pushed later first. */
export interface Deadline {
  /** (Re)arms: due `ms` from now. */
  arm(ms: number): void;
  /** Re-arms with the last `ms` from now (activity seen); nothing when not armed. */
  refresh(): void;
  /** Stops it for good: nothing of it stays scheduled (an owner that goes away cancels). */
  cancel(): void;
  /** Not due any more, but kept ready for the next arm(): the cheap stop for the deadlines of
   *  long-lived owners (a connection, a pooled socket) that arm and disarm per request. The
   *  underlying timer may stay scheduled, holding on to the owner, until it would have fired
   *  (then it does nothing) or the owner cancels: short-lived owners use cancel(). */
  disarm(): void;
  readonly armed: boolean;
}

export interface Clock {
  /** Milliseconds on a monotonic scale (only differences mean anything). */
  now(): number;
  /** A new, unarmed deadline that calls `onExpire` when due. */
  deadline(onExpire: () => void): Deadline;
}

class ListDeadline implements Deadline {
  at = Infinity;
  ms = 0;
  constructor(readonly list: DeadlineList, readonly onExpire: () => void) {}
  get armed(): boolean { return this.at !== Infinity; }
  arm(ms: number): void { this.ms = ms; this.list.arm(this, ms); }
  refresh(): void { if (this.at !== Infinity) this.list.arm(this, this.ms); }
  cancel(): void { this.list.cancel(this); }
  disarm(): void { this.list.cancel(this); }
}

/** The deadlines of one clock, checked by one scheduled callback (the FakeClock's engine). */
class DeadlineList implements Clock {
  readonly #armed = new Set<ListDeadline>();
  readonly #now: () => number;
  /** Sets the one process timer to call check() after `ms` (or clears it for Infinity). */
  readonly #schedule: (ms: number) => void;
  /** When the scheduled check runs (Infinity: none scheduled). */
  #next = Infinity;

  constructor(now: () => number, schedule: (ms: number) => void) {
    this.#now = now;
    this.#schedule = schedule;
  }

  now(): number { return this.#now(); }
  deadline(onExpire: () => void): Deadline { return new ListDeadline(this, onExpire); }
  get size(): number { return this.#armed.size; }

  arm(d: ListDeadline, ms: number): void {
    d.at = this.#now() + ms;
    this.#armed.add(d);
    if (d.at < this.#next) this.#scheduleAt(d.at);
  }

  cancel(d: ListDeadline): void {
    d.at = Infinity;
    this.#armed.delete(d);
  }

  /** Fires every deadline due now (each once; a callback may arm or cancel others) and schedules
   *  the next check for the earliest one left. */
  check(): void {
    this.#next = Infinity;
    const now = this.#now();
    const due: ListDeadline[] = [];
    let earliest = Infinity;
    for (const d of this.#armed) {
      if (d.at <= now) due.push(d);
      else if (d.at < earliest) earliest = d.at;
    }
    if (earliest !== Infinity) this.#scheduleAt(earliest);
    for (const d of due) {
      if (d.at > now) continue; // re-armed or cancelled by an earlier callback
      this.cancel(d);
      d.onExpire();
    }
  }

  #earliest(): number {
    let earliest = Infinity;
    for (const d of this.#armed) if (d.at < earliest) earliest = d.at;
    return earliest;
  }

  #scheduleAt(at: number): void {
    this.#next = at;
    this.#schedule(Math.max(0, at - this.#now()));
  }

  /** The earliest armed deadline (FakeClock). */
  get earliest(): number { return this.#earliest(); }
}

/** One Node timer per deadline, re-armed in place by Timeout#refresh: arming again with the
 *  same duration, as a connection does for every request, allocates nothing and touches only
 *  Node's timer list (a new setTimeout per arm cost a Timeout object, an async id and a list
 *  insertion, several per proxied request: issue 14). */
class TimerDeadline implements Deadline {
  #timer: NodeJS.Timeout | undefined;
  /** The duration #timer was made with. */
  #ms = 0;
  #armed = false;
  constructor(readonly onExpire: () => void) {}
  get armed(): boolean { return this.#armed; }
  arm(ms: number): void {
    this.#armed = true;
    if (this.#timer !== undefined && ms === this.#ms) {
      this.#timer.refresh(); // also re-activates a timer that already fired (documented)
      return;
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#ms = ms;
    this.#timer = setTimeout(this.#fire, ms);
    // the sockets a deadline guards keep the process alive; a pending timeout alone must not
    this.#timer.unref();
  }
  refresh(): void { if (this.#armed) this.#timer!.refresh(); }
  disarm(): void { this.#armed = false; }
  cancel(): void {
    this.#armed = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
  readonly #fire = (): void => {
    if (!this.#armed) return; // disarmed since it was scheduled
    this.#armed = false;
    this.onExpire();
  };
}

/** The clock every ProxyServer uses unless given another: Node timers (see the top of the file
 *  for why not the one-timer deadline list). */
export const systemClock: Clock = {
  now: () => performance.now(),
  deadline: (onExpire) => new TimerDeadline(onExpire),
};

/** A clock for tests: time moves only by advance(), which fires what falls due, in order. */
export class FakeClock implements Clock {
  #time = 0;
  readonly #list = new DeadlineList(() => this.#time, () => {});

  now(): number { return this.#time; }
  deadline(onExpire: () => void): Deadline { return this.#list.deadline(onExpire); }
  /** Armed deadlines. */
  get pending(): number { return this.#list.size; }
  /** Milliseconds until the earliest armed deadline (Infinity: none): a test waits for a
   *  timer to be armed (say, the head timer after the first byte) before it moves time. */
  get nextIn(): number { return this.#list.earliest - this.#time; }

  /** Moves time forward by `ms`, firing each deadline at its own time. */
  advance(ms: number): void {
    const target = this.#time + ms;
    for (let at = this.#list.earliest; at <= target; at = this.#list.earliest) {
      this.#time = Math.max(this.#time, at);
      this.#list.check();
    }
    this.#time = target;
  }
}
