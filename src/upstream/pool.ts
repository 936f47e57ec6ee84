// Keep-alive connection pools, one per upstream origin (host:port), shared by every route and
// route-table revision that names the origin: a route change never drops a pooled connection.
//
// Policy: at most maxSockets per origin (excess requests wait in a
// FIFO queue, bounded by the connect timeout), at most maxIdleSockets kept idle (LIFO, so the
// warmest socket is reused), each idle socket closed after idleSocketMs (shorter than the usual
// origin keep-alive of 5 s, so we close first and never write into a socket the origin is
// closing), and retired after maxRequestsPerSocket. An idle socket that receives bytes or EOF is
// discarded. Both address families: net.connect with autoSelectFamily (localhost may be ::1).
//
// https:// origins: verified TLS with ALPN http/1.1 and session resumption (./upstream-dial.ts).
import type net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { Origin } from './origin-url.js';
import { originKey } from './upstream-tls.js';
import { dialUpstream, upstreamSecureContext, type TlsDialState } from './upstream-dial.js';
import { ProxyError } from '../errors.js';
import { systemClock, type Clock, type Deadline } from '../clock.js';
import { UpstreamReads, type OwnedReads } from '../net/owned-reads.js';

export interface PoolOptions {
  maxSockets: number;
  maxIdleSockets: number;
  idleSocketMs: number;
  maxRequestsPerSocket: number;
  connectTimeoutMs: number;
  /** PEM CA bundle for https:// origins whose route names none (default: Node's CA store). */
  caBundle?: string;
  /** Where TLS failures are logged (warn, with the reason). */
  logger?: Logger;
  /** Connect, queue and idle-socket timers (default: the process clock). */
  clock?: Clock;
}

/** Where a pooled socket's events go: the exchange using it, or the idle handler. Listeners are
 *  installed once per socket and dispatch here, so handing a socket to the next request costs no
 *  listener churn. */
export interface SocketHandler {
  data(chunk: Buffer): void;
  /** EOF, error or close: the socket is gone (or going). */
  gone(reason: 'end' | 'error' | 'close', error?: Error): void;
  drain(): void;
  /** The socket's `timer` expired. */
  timeout(): void;
}

const DISCARD: SocketHandler = { data() {}, gone() {}, drain() {}, timeout() {} };

/** A pooled socket and how many requests it has carried. */
export class PooledSocket {
  readonly socket: net.Socket;
  requests = 0;
  /** True when it came from the idle list (a stale keep-alive is possible: retry once). */
  reused = false;
  handler: SocketHandler = DISCARD;
  /** The deadline of the request on it (the exchange's head and idle timeouts): one per socket,
   *  re-armed per request, so a request makes no timer of its own. Expiry goes to the handler. */
  readonly timer: Deadline;
  /** While idle in the pool: closes it after idleSocketMs. */
  readonly idleTimer: Deadline;
  /** Its handler while idle in the pool (made once). */
  idleHandler: SocketHandler | undefined;
  /** Per-socket state of the code that uses it (the response parser), released on close. */
  context: { release(): void } | undefined;
  /** Plain TCP sockets read into a buffer of their own (handler.data gets views of it, valid only
   *  during the call: src/net/owned-reads.ts); TLS sockets read the usual way (undefined). */
  readonly reads: OwnedReads | undefined;

  constructor(socket: net.Socket, clock: Clock, reads?: UpstreamReads) {
    this.socket = socket;
    this.reads = reads;
    this.timer = clock.deadline(() => this.handler.timeout());
    this.idleTimer = clock.deadline(() => this.idleHandler?.timeout());
    if (reads) {
      reads.attach(socket);
      reads.onRead = (view) => this.handler.data(view);
    }
    socket.on('data', (chunk: Buffer) => this.handler.data(chunk));
    socket.on('end', () => this.handler.gone('end'));
    socket.on('error', (e: Error) => this.handler.gone('error', e));
    socket.on('close', () => {
      this.timer.cancel();
      this.idleTimer.cancel();
      this.handler.gone('close');
      this.context?.release();
      this.context = undefined;
      this.reads?.release();
    });
    socket.on('drain', () => this.handler.drain());
  }

  /** The socket leaves the pool's protocol for a tunnel: its reads go to the tunnel's 'data'
   *  listeners (owned reads as copies), and its timers stop (the tunnel has its own). */
  detachForTunnel(): void {
    this.reads?.detach();
    this.handler = DISCARD;
    this.timer.cancel();
    this.idleTimer.cancel();
  }
}

type Waiter = { resolve: (s: PooledSocket) => void; reject: (e: Error) => void; connectMs: number; timer: Deadline };

export class OriginPool {
  readonly origin: Origin;
  #options: PoolOptions;
  readonly #clock: Clock;
  readonly #idle: PooledSocket[] = [];
  readonly #waiters: Waiter[] = [];
  #active = 0; // sockets handed out or connecting
  created = 0;
  reusedCount = 0;
  #closed = false;
  /** https only: the client context (CA, client certificate) and the latest session ticket the
   *  origin gave, offered on the next connect; made on first use. */
  #tls: TlsDialState | undefined;
  /** https only: connections that resumed a session (for tests and stats). */
  resumedCount = 0;

  constructor(origin: Origin, options: PoolOptions) {
    this.origin = origin;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  get activeCount(): number { return this.#active; }
  get idleCount(): number { return this.#idle.length; }
  get waiting(): number { return this.#waiters.length; }

  setOptions(o: PoolOptions): void { this.#options = o; }

  /** An idle connected socket for one request, at once, or undefined when none is idle. The
   *  common case of a busy keep-alive pool: no promise, no microtask (issue 14). */
  acquireIdle(): PooledSocket | undefined {
    while (this.#idle.length > 0) {
      const p = this.#idle.pop()!;
      this.#unidle(p);
      if (p.socket.destroyed || p.socket.readyState !== 'open') { p.socket.destroy(); continue; }
      this.#active++;
      p.reused = true;
      this.reusedCount++;
      return p;
    }
    return undefined;
  }

  /** A connected socket for one request: an idle one, a new one, or the next one freed, within
   *  `connectMs` (the route's connect timeout; default: the pool's). */
  acquire(connectMs = this.#options.connectTimeoutMs): Promise<PooledSocket> {
    const idle = this.acquireIdle();
    if (idle !== undefined) return Promise.resolve(idle);
    if (this.#active < this.#options.maxSockets) {
      this.#active++;
      return this.#connect(connectMs).catch((e: Error) => { this.#active--; this.#drainWaiters(); throw e; });
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve, reject, connectMs,
        timer: this.#clock.deadline(() => {
          const i = this.#waiters.indexOf(w);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(new ProxyError('PRX_ERR_POOL_FULL', `no free connection to ${this.origin.authority} within ${connectMs} ms`));
        }),
      };
      w.timer.arm(connectMs);
      this.#waiters.push(w);
    });
  }

  #connect(connectMs: number): Promise<PooledSocket> {
    const t = this.origin.tls;
    const reads = t ? undefined : new UpstreamReads();
    if (t) this.#tls ??= { context: upstreamSecureContext(t, this.#options.caBundle), alpn: 'http/1.1', session: undefined };
    return dialUpstream(this.origin, { connectMs, clock: this.#clock, logger: this.#options.logger, tls: this.#tls, onread: reads?.option }).then((socket) => {
      this.created++;
      if (t && (socket as tls.TLSSocket).isSessionReused()) this.resumedCount++;
      return new PooledSocket(socket, this.#clock, reads);
    });
  }

  /** Returns a socket after a complete exchange that left it reusable. */
  release(p: PooledSocket): void {
    p.requests++;
    if (this.#closed || p.socket.destroyed || p.requests >= this.#options.maxRequestsPerSocket) {
      this.discard(p);
      return;
    }
    const w = this.#waiters.shift();
    if (w) {
      w.timer.cancel();
      p.reused = true;
      this.reusedCount++;
      w.resolve(p);
      return;
    }
    this.#active--;
    if (this.#idle.length >= this.#options.maxIdleSockets) {
      p.socket.destroy();
      return;
    }
    const s = p.socket;
    // bytes or EOF on an idle socket: the origin closed it or misbehaves; never reuse it
    p.idleHandler ??= this.#idleHandler(p);
    p.handler = p.idleHandler;
    p.idleTimer.arm(this.#options.idleSocketMs);
    if (s.isPaused()) s.resume();
    this.#idle.push(p);
  }

  /** While idle: any byte or EOF (the origin closed it or misbehaves) or the idle timeout ends
   *  it; it is never reused. */
  #idleHandler(p: PooledSocket): SocketHandler {
    const end = (): void => { this.#removeIdle(p); p.socket.destroy(); };
    return { data: end, gone: end, timeout: end, drain() {} };
  }

  /** Drops a socket that cannot be reused (error, close-delimited body, Connection: close). */
  discard(p: PooledSocket): void {
    p.handler = DISCARD;
    p.socket.destroy();
    this.#active--;
    this.#drainWaiters();
  }

  /** Takes a socket out of the pool's accounting without closing it (it became a tunnel). */
  detach(p: PooledSocket): void {
    p.detachForTunnel();
    this.#active--;
    this.#drainWaiters();
  }

  #drainWaiters(): void {
    while (this.#waiters.length > 0 && this.#active < this.#options.maxSockets) {
      const w = this.#waiters.shift()!;
      w.timer.cancel();
      this.#active++;
      this.#connect(w.connectMs).then(w.resolve, (e: Error) => { this.#active--; w.reject(e); this.#drainWaiters(); });
    }
  }

  #unidle(p: PooledSocket): void {
    p.idleTimer.disarm();
    p.handler = DISCARD;
  }

  #removeIdle(p: PooledSocket): void {
    const i = this.#idle.indexOf(p);
    if (i >= 0) this.#idle.splice(i, 1);
    this.#unidle(p);
  }

  /** Closes idle sockets and refuses new work; active exchanges finish on their own sockets. */
  close(): void {
    this.#closed = true;
    for (const p of this.#idle.splice(0)) { this.#unidle(p); p.socket.destroy(); }
    for (const w of this.#waiters.splice(0)) { w.timer.cancel(); w.reject(new ProxyError('PRX_ERR_POOL_FULL', 'pool closed')); }
  }

  /** Closes idle sockets only (graceful shutdown, origin removed from every route). */
  closeIdle(): void {
    for (const p of this.#idle.splice(0)) { this.#unidle(p); p.socket.destroy(); }
  }
}

/** Pools by origin authority. Pools that hold no socket are forgotten every SWEEP_MS, so
 *  forward-proxy destinations (one pool each) do not accumulate. */
export class PoolRegistry {
  readonly #pools = new Map<string, OriginPool>();
  #options: PoolOptions;
  readonly #sweeper: Deadline;

  static readonly SWEEP_MS = 30_000;

  constructor(options: PoolOptions) {
    this.#options = options;
    this.#sweeper = (options.clock ?? systemClock).deadline(() => this.#sweep());
    this.#sweeper.arm(PoolRegistry.SWEEP_MS);
  }

  #sweep(): void {
    for (const [k, p] of this.#pools) if (p.activeCount === 0 && p.idleCount === 0 && p.waiting === 0) this.#pools.delete(k);
    this.#sweeper.arm(PoolRegistry.SWEEP_MS);
  }

  get(origin: Origin): OriginPool {
    const key = originKey(origin);
    let p = this.#pools.get(key);
    if (!p) {
      p = new OriginPool(origin, this.#options);
      this.#pools.set(key, p);
    }
    return p;
  }

  /** Closes the idle sockets of pools whose origin is no longer used and forgets idle pools. */
  prune(inUse: Set<string>): void {
    for (const [k, p] of this.#pools) {
      if (inUse.has(k)) continue;
      p.closeIdle();
      if (p.activeCount === 0) this.#pools.delete(k);
    }
  }

  all(): OriginPool[] {
    return [...this.#pools.values()];
  }

  closeAll(): void {
    this.#sweeper.cancel();
    for (const p of this.#pools.values()) p.close();
  }
}
