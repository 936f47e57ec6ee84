// HTTP/2 sessions to upstream origins, for routes with `upstreamProtocol` "h2" (TLS, ALPN h2) or
// "h2c" (prior knowledge): requests are streams multiplexed over a few long-lived sessions per
// origin instead of a connection each (./pool.ts).
//
// - A request takes a stream on the first session with room: streams open on it below the
//   origin's SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §5.1.2; at most MAX_STREAMS_PER_SESSION,
//   and until the origin's first SETTINGS arrive, the 100 RFC 9113 recommends as a minimum).
//   With every session full, another is opened, up to upstream.maxSockets sessions per origin;
//   past that, requests wait (FIFO) for a stream to close, bounded by the connect timeout
//   (PRX_ERR_POOL_FULL).
// - A new session is used once the origin's SETTINGS frame arrived (its stream limit is known).
// - GOAWAY from the origin (RFC 9113 §6.8): the session takes no new stream; streams the origin
//   will still process finish on it, the rest (above its last-stream-id) are refused by nghttp2
//   (REFUSED_STREAM: never processed, so the exchange may retry them) and new requests go to
//   another session. An error or a closed connection removes the session the same way.
// - A session without streams for upstream.idleSocketMs is closed (GOAWAY NO_ERROR).
// - Sessions to an origin share its pool key (originKey: differently configured TLS never shares).
import http2 from 'node:http2';
import type { Logger } from 'pino';
import type { Origin } from './origin-url.js';
import { originKey } from './upstream-tls.js';
import { dialUpstream, upstreamSecureContext, type TlsDialState } from './upstream-dial.js';
import { ProxyError } from '../errors.js';
import type { Clock, Deadline } from '../clock.js';

/** Streams one session carries at once at most, whatever the origin allows. */
export const MAX_STREAMS_PER_SESSION = 1000;
/** Streams assumed allowed before the origin's SETTINGS say (RFC 9113 §6.5.2 recommends >= 100). */
const STREAMS_BEFORE_SETTINGS = 100;

export interface H2PoolOptions {
  /** Sessions per origin at most (upstream.maxSockets). */
  maxSessions: number;
  /** A session without streams this long is closed (upstream.idleSocketMs). */
  idleSessionMs: number;
  connectTimeoutMs: number;
  caBundle: string | undefined;
  logger: Logger | undefined;
  clock: Clock;
  /** The client session's own settings and bounds (the header list bound of `limits`). */
  session: http2.ClientSessionOptions;
}

/** One session and the streams it carries. */
export class PooledSession {
  readonly session: http2.ClientHttp2Session;
  /** Streams open on it (counted by the pool). */
  streams = 0;
  /** GOAWAY received, or the session failed: no new streams. */
  draining = false;
  readonly idleTimer: Deadline;

  constructor(session: http2.ClientHttp2Session, clock: Clock) {
    this.session = session;
    this.idleTimer = clock.deadline(() => { if (this.streams === 0) session.close(); });
  }

  /** Streams it may still open. */
  get room(): number {
    if (this.draining || this.session.closed || this.session.destroyed) return 0;
    const allowed = this.session.remoteSettings.maxConcurrentStreams ?? STREAMS_BEFORE_SETTINGS;
    return Math.min(allowed, MAX_STREAMS_PER_SESSION) - this.streams;
  }
}

type Waiter = { resolve: (s: PooledSession) => void; reject: (e: Error) => void; timer: Deadline };

export class H2SessionPool {
  readonly origin: Origin;
  readonly #o: H2PoolOptions;
  readonly #sessions: PooledSession[] = [];
  #connecting = 0;
  readonly #waiters: Waiter[] = [];
  #tls: TlsDialState | undefined;
  #closed = false;
  /** Sessions opened (stats: "created"), streams that went on a session already open ("reused"). */
  created = 0;
  reusedCount = 0;

  constructor(origin: Origin, options: H2PoolOptions) {
    this.origin = origin;
    this.#o = options;
  }

  get activeCount(): number { return this.#sessions.reduce((n, s) => n + s.streams, 0); }
  get idleCount(): number { return this.#sessions.filter((s) => s.streams === 0).length; }
  get waiting(): number { return this.#waiters.length; }
  get sessionCount(): number { return this.#sessions.length; }

  /** A session with room for one more stream, now, or undefined (the stream is counted). */
  acquireReady(): PooledSession | undefined {
    for (const s of this.#sessions) {
      if (s.room > 0) {
        this.#opened(s);
        this.reusedCount++;
        return s;
      }
    }
    return undefined;
  }

  /** A session for one more stream: one with room, a new one, or the next with room again, within
   *  `connectMs`. `reused` says whether it was open already. */
  acquire(connectMs = this.#o.connectTimeoutMs): Promise<{ session: PooledSession; reused: boolean }> {
    const ready = this.acquireReady();
    if (ready !== undefined) return Promise.resolve({ session: ready, reused: true });
    if (this.#closed) return Promise.reject(new ProxyError('PRX_ERR_POOL_FULL', 'pool closed'));
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve: (session) => resolve({ session, reused: false }),
        reject,
        timer: this.#o.clock.deadline(() => {
          this.#dropWaiter(w);
          reject(new ProxyError('PRX_ERR_POOL_FULL', `no HTTP/2 stream to ${this.origin.authority} within ${connectMs} ms`));
        }),
      };
      w.timer.arm(connectMs);
      this.#waiters.push(w);
      this.#growIfNeeded(connectMs);
    });
  }

  /** The stream taken on `s` closed. */
  release(s: PooledSession): void {
    s.streams--;
    if (s.streams === 0) {
      if (s.draining) s.session.close();
      else s.idleTimer.arm(this.#o.idleSessionMs);
    }
    this.#serveWaiters();
  }

  #opened(s: PooledSession): void {
    s.streams++;
    s.idleTimer.disarm();
  }

  #dropWaiter(w: Waiter): void {
    const i = this.#waiters.indexOf(w);
    if (i >= 0) this.#waiters.splice(i, 1);
  }

  /** Hands sessions with room to waiting requests, in order; opens another session for those
   *  left, if allowed. */
  #serveWaiters(): void {
    while (this.#waiters.length > 0) {
      const s = this.#sessions.find((x) => x.room > 0);
      if (s === undefined) break;
      const w = this.#waiters.shift()!;
      w.timer.cancel();
      this.#opened(s);
      w.resolve(s);
    }
    this.#growIfNeeded(this.#o.connectTimeoutMs);
  }

  /** One session is opened at a time (it may take a hundred streams): another only for requests
   *  still waiting once it is up, and within maxSessions. */
  #growIfNeeded(connectMs: number): void {
    if (this.#waiters.length > 0 && this.#connecting === 0 && this.#sessions.length < this.#o.maxSessions) this.#connect(connectMs);
  }

  /** Opens a session. If it cannot be made, the requests waiting for it fail with the reason
   *  (those a session already open may still serve go on waiting). */
  #connect(connectMs: number): void {
    this.#connecting++;
    const t = this.origin.tls;
    if (t) this.#tls ??= { context: upstreamSecureContext(t, this.#o.caBundle), alpn: 'h2', session: undefined };
    dialUpstream(this.origin, { connectMs, clock: this.#o.clock, logger: this.#o.logger, tls: this.#tls })
      .then((socket) => new Promise<PooledSession>((resolve, reject) => {
        const alpn = (socket as { alpnProtocol?: string | false }).alpnProtocol;
        if (t && alpn !== 'h2') {
          socket.destroy();
          reject(new ProxyError('PRX_ERR_UPSTREAM_TLS', `https://${this.origin.authority} did not negotiate HTTP/2 (ALPN: ${alpn || 'none'}); upstreamProtocol "h2" needs it`));
          return;
        }
        const session = http2.connect(`${t ? 'https' : 'http'}://${this.origin.authority}`, { ...this.#o.session, createConnection: () => socket });
        const failed = (e: Error) => reject(new ProxyError('PRX_ERR_UPSTREAM_CONNECT', `HTTP/2 session with ${this.origin.authority} failed: ${e.message}`));
        session.once('error', failed);
        session.once('close', () => failed(new Error('closed before its SETTINGS')));
        // the origin's stream limit is known once its SETTINGS arrive (it sends them first)
        session.once('remoteSettings', () => {
          session.off('error', failed);
          session.removeAllListeners('close');
          resolve(this.#adopt(session));
        });
      }))
      .then(
        () => { this.#connecting--; this.#serveWaiters(); },
        (e: Error) => {
          this.#connecting--;
          const failing = this.#sessions.length === 0 ? this.#waiters.splice(0) : this.#waiters.splice(0, 1);
          for (const w of failing) { w.timer.cancel(); w.reject(e); }
        },
      );
  }

  #adopt(session: http2.ClientHttp2Session): PooledSession {
    this.created++;
    const s = new PooledSession(session, this.#o.clock);
    this.#sessions.push(s);
    const gone = () => {
      s.draining = true;
      s.idleTimer.cancel();
      const i = this.#sessions.indexOf(s);
      if (i >= 0) this.#sessions.splice(i, 1);
      this.#growIfNeeded(this.#o.connectTimeoutMs);
    };
    session.on('goaway', (code: number) => {
      this.#o.logger?.debug({ upstream: this.origin.authority, code }, 'upstream HTTP/2 session: GOAWAY');
      gone();
      if (s.streams === 0) session.close();
    });
    session.on('error', (e: Error) => this.#o.logger?.debug({ upstream: this.origin.authority, err: e.message }, 'upstream HTTP/2 session error'));
    session.on('close', gone);
    if (this.#closed) session.close();
    return s;
  }

  /** Closes sessions without streams; the others close when their streams are done. */
  closeIdle(): void {
    for (const s of [...this.#sessions]) {
      if (s.streams === 0) s.session.close();
    }
  }

  /** Refuses new work; sessions close once their streams are done. */
  close(): void {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) { w.timer.cancel(); w.reject(new ProxyError('PRX_ERR_POOL_FULL', 'pool closed')); }
    for (const s of [...this.#sessions]) {
      s.draining = true;
      if (s.streams === 0) s.session.close();
    }
  }
}

/** HTTP/2 session pools by origin key. Pools without sessions are forgotten when pruned. */
export class H2PoolRegistry {
  readonly #pools = new Map<string, H2SessionPool>();
  readonly #options: H2PoolOptions;

  constructor(options: H2PoolOptions) {
    this.#options = options;
  }

  get(origin: Origin): H2SessionPool {
    const key = originKey(origin);
    let p = this.#pools.get(key);
    if (p === undefined) {
      p = new H2SessionPool(origin, this.#options);
      this.#pools.set(key, p);
    }
    return p;
  }

  /** Closes the idle sessions of origins no longer used and forgets their empty pools. */
  prune(inUse: ReadonlySet<string>): void {
    for (const [k, p] of this.#pools) {
      if (inUse.has(k)) continue;
      p.closeIdle();
      if (p.activeCount === 0) this.#pools.delete(k);
    }
  }

  all(): H2SessionPool[] {
    return [...this.#pools.values()];
  }

  closeAll(): void {
    for (const p of this.#pools.values()) p.close();
  }
}
