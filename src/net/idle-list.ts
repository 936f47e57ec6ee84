// The idle keep-alive client connections of one server, on one timer. Every idle connection has
// the same timeout (timeouts.idleMs), so the order in which connections become idle is the order
// in which they fall due: a list appended at the tail is sorted by due time with no search, a
// connection leaves it in O(1) (intrusive links, no Set or Map entry), and one Deadline, armed
// for the head, serves them all.
//
// Why (issue 23, workload e): an idle connection kept a Node Timeout, its TimerDeadline and the
// closures between them, about 300 of the ~1 KB of objects it held on the JavaScript heap. With
// this list an idle connection holds three fields; the per-connection deadline is made only for
// what a connection rarely needs (a head that arrives in pieces, a request body, a closing
// handshake). The request path pays one clock read, an unlink and an append per response,
// where a Node timer's refresh() also reads the clock and moves the timer in Node's lists.
import type { Clock, Deadline } from '../clock.js';

/** What the list links: a connection's own fields, so being idle allocates nothing. */
export interface IdleEntry {
  idlePrev: IdleEntry | undefined;
  idleNext: IdleEntry | undefined;
  /** When it falls due (clock.now() scale); NaN: not on the list. */
  idleDue: number;
  /** Due: it has been taken off the list before this is called. */
  idleExpired(): void;
}

export class IdleList {
  readonly #clock: Clock;
  readonly #ms: number;
  readonly #deadline: Deadline;
  #head: IdleEntry | undefined;
  #tail: IdleEntry | undefined;
  #size = 0;

  constructor(clock: Clock, idleMs: number) {
    this.#clock = clock;
    this.#ms = idleMs;
    this.#deadline = clock.deadline(() => this.#expire());
  }

  /** Entries on the list. */
  get size(): number { return this.#size; }

  /** Puts `e` at the tail, due idleMs from now (moved there if it was on the list). */
  add(e: IdleEntry): void {
    if (!Number.isNaN(e.idleDue)) this.remove(e);
    e.idleDue = this.#clock.now() + this.#ms;
    e.idlePrev = this.#tail;
    e.idleNext = undefined;
    if (this.#tail === undefined) this.#head = e;
    else this.#tail.idleNext = e;
    this.#tail = e;
    this.#size++;
    // armed for an earlier head, the deadline re-arms itself for the next due when it fires
    if (!this.#deadline.armed) this.#deadline.arm(this.#ms);
  }

  /** Takes `e` off the list (nothing if it is not on it). The deadline stays as it is: when it
   *  fires for an entry that left, it re-arms for the new head (one spare wake-up per idleMs,
   *  rather than a timer operation per request). */
  remove(e: IdleEntry): void {
    if (Number.isNaN(e.idleDue)) return;
    const { idlePrev: prev, idleNext: next } = e;
    if (prev === undefined) this.#head = next;
    else prev.idleNext = next;
    if (next === undefined) this.#tail = prev;
    else next.idlePrev = prev;
    e.idlePrev = e.idleNext = undefined;
    e.idleDue = NaN;
    this.#size--;
  }

  /** The server closes: nothing stays scheduled (the connections are closed by their own path). */
  close(): void {
    this.#deadline.cancel();
  }

  /** Expires every entry due now, in order, then arms for the next one. An entry's idleExpired
   *  may add or remove others (a closing connection leaves the list). */
  #expire(): void {
    const now = this.#clock.now();
    for (let e = this.#head; e !== undefined && e.idleDue <= now; e = this.#head) {
      this.remove(e);
      e.idleExpired();
    }
    const head = this.#head;
    // ceil and at least 1 ms: a timer that fires a fraction early must not spin
    if (head !== undefined) this.#deadline.arm(Math.max(1, Math.ceil(head.idleDue - now)));
  }
}
