// The client of `npm run bench:deploy`: a steady keep-alive load through an undici Pool (a fixed number
// of connections, one request at a time on each), paced to a total rate, that counts every outcome
// itself: a response that is not 2xx or a request that ends in an error is a failed request. Every
// request belongs to the phase that was current when it was sent (bench/deploy.ts names a phase per
// deploy), so failures are counted per deploy. A share of the requests are POSTs without
// Idempotency-Key, each with a unique id in its path that the origins record (duplicates).
import { Pool } from 'undici';

/** What the client counted during one phase. */
export interface PhaseCounts {
  name: string;
  requests: number;
  gets: number;
  posts: number;
  failedGets: number;
  failedPosts: number;
  /** Failures by what the client saw: "status 502", "UND_ERR_SOCKET", ... */
  failures: Record<string, number>;
}

export interface PhaseStats extends PhaseCounts {
  /** When the phase began, ms after the load started. */
  startMs: number;
  /** Latencies of the requests of this phase, ms. */
  latencies: number[];
  /** When each failed request was sent, ms after the phase began. */
  failedAt: number[];
}

export interface LoadOptions {
  host: string;
  port: number;
  connections: number;
  /** Requests per second over all connections. */
  rate: number;
  /** One request in this many (on average, chosen at random) is a POST (0: none). */
  postEvery: number;
  /** Unique per run: POST ids are `${idPrefix}-${n}`. */
  idPrefix: string;
  /** A request without a complete response after this long fails (client timeout). */
  timeoutMs: number;
  /** The Host field of every request (default: host:port). */
  authority?: string;
}

const POST_BODY = Buffer.from('{"order":"bench"}');

export class SteadyLoad {
  readonly phases: PhaseStats[] = [];
  #current!: PhaseStats;
  #stopping = false;
  #workers: Promise<void>[] = [];
  #t0 = 0;
  #seq = 0;
  readonly #pool: Pool;
  readonly #host: Record<string, string>;

  constructor(readonly opts: LoadOptions) {
    this.#host = opts.authority !== undefined ? { host: opts.authority } : {};
    this.#pool = new Pool(`http://${opts.host}:${opts.port}`, {
      connections: opts.connections,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 60_000,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connectTimeout: opts.timeoutMs,
    });
  }

  /** Starts the load in a phase called `phase`. */
  start(phase: string): void {
    this.#t0 = performance.now();
    this.phase(phase);
    // Each worker keeps one request in flight at a time at rate/connections per second; the offsets
    // spread the workers over one interval so the total is steady rather than bursty.
    const intervalMs = (1000 * this.opts.connections) / this.opts.rate;
    for (let w = 0; w < this.opts.connections; w++) this.#workers.push(this.#worker((w * intervalMs) / this.opts.connections, intervalMs));
  }

  /** Requests sent from now on count in a new phase. */
  phase(name: string): PhaseStats {
    this.#current = { name, startMs: this.#t0 ? performance.now() - this.#t0 : 0, requests: 0, gets: 0, posts: 0, failedGets: 0, failedPosts: 0, failures: {}, latencies: [], failedAt: [] };
    this.phases.push(this.#current);
    return this.#current;
  }

  #stopped: Promise<void> | undefined;

  /** Stops sending, waits for the requests in flight, closes the pool (once, however often called). */
  stop(): Promise<void> {
    this.#stopping = true;
    this.#stopped ??= Promise.all(this.#workers).then(() => this.#pool.close());
    return this.#stopped;
  }

  async #worker(offsetMs: number, intervalMs: number): Promise<void> {
    let next = performance.now() + offsetMs;
    while (!this.#stopping) {
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (this.#stopping) break;
      // Behind by more than one interval (a slow response): start again from now rather than send a
      // burst to catch up, so that the rate stays steady.
      const now = performance.now();
      next = next + intervalMs < now ? now + intervalMs : next + intervalMs;
      await this.#one();
    }
  }

  async #one(): Promise<void> {
    const phase = this.#current;
    const n = this.#seq++;
    // At random, not every Nth: the requests arrive in a steady order, and every Nth would fall into
    // step with a round robin (with two upstreams and N = 10, every POST would go to the same one).
    const post = this.opts.postEvery > 0 && Math.random() * this.opts.postEvery < 1;
    phase.requests++;
    if (post) phase.posts++;
    else phase.gets++;
    const t = performance.now();
    let failure: string | undefined;
    try {
      const res = await this.#pool.request(
        post
          ? { method: 'POST', path: `/post/${this.opts.idPrefix}-${n}`, body: POST_BODY, headers: { 'content-type': 'application/json', ...this.#host } }
          : { method: 'GET', path: '/get', headers: this.#host },
      );
      await res.body.dump({ limit: 1 << 20 });
      if (res.statusCode < 200 || res.statusCode > 299) failure = `status ${res.statusCode}`;
    } catch (e) {
      failure = (e as { code?: string }).code ?? (e as Error).name;
    }
    phase.latencies.push(performance.now() - t);
    if (failure !== undefined) {
      if (post) phase.failedPosts++;
      else phase.failedGets++;
      phase.failures[failure] = (phase.failures[failure] ?? 0) + 1;
      phase.failedAt.push(t - this.#t0 - phase.startMs);
    }
  }
}

/** The p-th percentile (0..100) of a list of numbers; NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
