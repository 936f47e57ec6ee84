// Bounds on what an HTTP/2 client may make the proxy do without asking for anything: streams it
// resets (rapid reset, CVE-2023-44487), PINGs and SETTINGS it sends (each answered with an ACK:
// CVE-2019-9512, CVE-2019-9515). node:http2 (nghttp2 1.57+) has limits of its own, but they end
// the connection with INTERNAL_ERROR after 1000 resets, or only once 1000 ACKs wait unsent; these
// act first, with ENHANCE_YOUR_CALM (RFC 9113 §5.4.1, §10.5). Each is a token bucket per
// connection: `burst` events at once, `perSecond` more each second; an event that finds the
// bucket empty ends the connection.
//
// The numbers leave room for what real clients do: a browser cancels a page's streams when the
// user navigates away (at most maxConcurrentStreams at once, so the reset burst is twice that);
// Chrome and gRPC clients send a PING every few seconds at most (keepalive), a client one SETTINGS
// at the start and rarely another.
import type { Clock } from '../clock.js';

export interface BudgetSize {
  burst: number;
  perSecond: number;
}

/** Resets the client may send (or cause by protocol errors on streams): the burst is twice the
 *  stream limit, see Http2Connection. */
export const RESETS_PER_SECOND = 100;
export const PINGS: BudgetSize = { burst: 100, perSecond: 20 };
export const SETTINGS: BudgetSize = { burst: 20, perSecond: 1 };

export class FloodBudget {
  readonly #clock: Clock;
  readonly #size: BudgetSize;
  #tokens: number;
  #at: number;

  constructor(clock: Clock, size: BudgetSize) {
    this.#clock = clock;
    this.#size = size;
    this.#tokens = size.burst;
    this.#at = clock.now();
  }

  /** Takes one token; false when there is none left (the flood is over the bound). */
  take(): boolean {
    const now = this.#clock.now();
    const { burst, perSecond } = this.#size;
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#at) / 1000) * perSecond);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
