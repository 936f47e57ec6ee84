// The proxy: listeners, client channels, the route table holder and the upstream pools. This is
// the surface the `portico` command and the admin API use; everything below it is per connection.
import net, { type AddressInfo } from 'node:net';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { globalPolicy, parseHostPort } from '../config/config.js';
import type { RouteSpec } from '../routing/route-spec.js';
import { RouteTable, RouteTableHolder } from '../routing/route-table.js';
import { PoolRegistry } from '../upstream/pool.js';
import { H2PoolRegistry } from '../upstream/h2-session-pool.js';
import { codec, type HeadLimits } from '../wasm/codec.js';
import { AddressSet } from '../net/address-set.js';
import { ProxyError } from '../errors.js';
import { Http1Connection } from '../http1/connection.js';
import { Http2Connection, headerListBound } from '../http2/connection.js';
import { readPreface } from '../http2/preface.js';
import { localResponse } from '../http1/local-response.js';
import type { ListenerProtocol } from '../config/config.js';
import type { ListenerMode, ListenerRole, ProxyContext } from '../dispatch/context.js';
import { Dispatcher } from '../dispatch/dispatcher.js';
import { Observers, type ProxyObserver } from '../dispatch/observer.js';
import { createForwardHandler } from '../forward/forward-proxy.js';
import { planListeners, type ListenerPlan } from './listener-plan.js';
import { createTlsServer } from '../tls/tls-listener.js';
import { CertificateWatcher } from '../tls/certificate-watcher.js';
import { TicketKeyRing, type TicketKeySet } from '../tls/ticket-keys.js';
import type { CertificateStore } from '../tls/certificate-store.js';
import { AcmeChallengeAnswers, type AcmeChallengeSet } from '../acme/challenge-answers.js';
import { readCaBundle } from '../tls/pem.js';
import { systemClock, type Clock } from '../clock.js';
import { IdleList } from '../net/idle-list.js';
import { HealthChecker } from '../health/health-checker.js';
import { healthStatus, type UpstreamHealthStatus } from '../health/health-status.js';
import type { HealthReport } from '../upstream/origin-health.js';

export interface ListenerInfo { id: string; tls: boolean; address: AddressInfo }

export interface PoolStats { authority: string; /** 'h2': an HTTP/2 session pool (active: streams, idle: sessions without one). */ protocol?: 'h2'; active: number; idle: number; waiting: number; created: number; reused: number; resumed: number }
export interface ProxyStats { clientConnections: number; pools: PoolStats[] }

/** A client connection of either front end, as the server tracks it for shutdown. */
interface ClientConnection {
  readonly socket: net.Socket;
  /** Drain: finish what is in progress, take nothing new, close. */
  shutdown(): void;
}

export interface ProxyServerOptions {
  /** Every timer of the data path (default: the process clock; tests pass a FakeClock). */
  clock?: Clock;
  /** The revision of the initial table built from config.routes (default 1; a worker starts at
   *  the primary's revision). */
  revision?: number;
  /** Run the routes' active health checks in this process (default true). A worker does not:
   *  the primary probes once for all of them and sends the results (applyHealth). */
  activeChecks?: boolean;
}

/** A socket's 'error' listener before (or beside) its connection's: 'close' follows and is
 *  handled there. One function for every socket, so accepting allocates no closure for it. */
function ignoreSocketError(): void {}

export class ProxyServer {
  readonly config: Config;
  readonly logger: Logger;
  readonly routes: RouteTableHolder;
  readonly #pools: PoolRegistry;
  readonly #h2Pools: H2PoolRegistry;
  readonly #observers = new Observers();
  readonly #connections = new Set<ClientConnection>();
  /** Resolves close()'s wait when the last connection closes (set while draining). */
  #lastClosed: (() => void) | undefined;
  readonly #servers: net.Server[] = [];
  readonly #listenerInfo: Array<{ id: string; tls: boolean; server: net.Server }> = [];
  readonly #plans: ListenerPlan[];
  readonly #watchers: CertificateWatcher[] = [];
  readonly #activeChecks: boolean;
  readonly #caBundle: string | undefined;
  /** Active health checks, from listen() (a ProxyServer made only to check a configuration
   *  probes nothing). */
  #checker: HealthChecker | undefined;
  /** The ACME validations this process answers (HTTP-01 tokens, TLS-ALPN-01 certificates). */
  readonly #acmeChallenges = new AcmeChallengeAnswers();
  /** The session ticket keys of every TLS listener (sessionTickets.enabled): this process's own
   *  until the control plane sets the shared ones (setTicketKeys). */
  readonly #ticketKeys: TicketKeyRing | undefined;
  readonly #ctx: ProxyContext;
  #ready = false;
  #closing: Promise<void> | undefined;
  #requestCounter = 0;
  readonly #idPrefix = `${process.pid.toString(36)}-${Date.now().toString(36)}-`;

  constructor(config: Config, logger: Logger, options: ProxyServerOptions = {}) {
    const clock = options.clock ?? systemClock;
    this.config = config;
    this.logger = logger;
    this.routes = new RouteTableHolder(RouteTable.build(config.routes, options.revision ?? 1, globalPolicy(config)));
    // certificates and CA files are read (and checked) now: a bad file fails the start
    this.#plans = planListeners(config);
    const caBundle = config.upstream.caFile ? readCaBundle(config.upstream.caFile, '/upstream/caFile') : undefined;
    this.#caBundle = caBundle;
    this.#activeChecks = options.activeChecks ?? true;
    this.#ticketKeys = config.sessionTickets.enabled ? new TicketKeyRing() : undefined;
    const l = config.limits;
    const requestLimits: HeadLimits = { maxLine: l.maxLineBytes, maxFields: l.maxHeaderFields, maxHead: l.maxHeadBytes };
    const c = codec();
    c.setChunkLimits(l.maxChunkSizeLineBytes, l.maxTrailerBytes);
    this.#pools = new PoolRegistry({
      maxSockets: config.upstream.maxSockets,
      maxIdleSockets: config.upstream.maxIdleSockets,
      idleSocketMs: config.upstream.idleSocketMs,
      maxRequestsPerSocket: config.upstream.maxRequestsPerSocket,
      connectTimeoutMs: config.timeouts.upstreamConnectMs,
      caBundle,
      logger,
      clock,
    });
    const headerBound = headerListBound(l);
    this.#h2Pools = new H2PoolRegistry({
      maxSessions: config.upstream.maxSockets,
      idleSessionMs: config.upstream.idleSocketMs,
      connectTimeoutMs: config.timeouts.upstreamConnectMs,
      caBundle,
      logger,
      clock,
      session: { settings: { enablePush: false, maxHeaderListSize: headerBound.maxHeaderListSize }, maxHeaderListPairs: headerBound.maxHeaderListPairs },
    });
    this.#ctx = {
      codec: c,
      requestLimits,
      // responses get the same line and count limits; a larger response head is a 502
      responseLimits: requestLimits,
      config,
      logger,
      routes: this.routes,
      pools: this.#pools,
      h2Pools: this.#h2Pools,
      trustedProxies: new AddressSet(config.forwarding.trustedProxies, '/forwarding/trustedProxies'),
      observers: this.#observers,
      nextRequestId: () => this.#idPrefix + (++this.#requestCounter).toString(36),
      clock,
      idle: new IdleList(clock, config.timeouts.idleMs),
      forward: config.forwardProxy.enabled ? createForwardHandler({ config, logger, clock }) : undefined,
      acmeChallenges: config.acme ? this.#acmeChallenges : undefined,
    };
    // a swapped-in table may drop origins: close their idle pooled sockets
    this.routes.onReplace((next, prev) => {
      this.#checker?.follow(next);
      const inUse = next.authorities();
      this.#pools.prune(inUse);
      this.#h2Pools.prune(inUse);
      next.health.prune(inUse);
      this.#warnInsecure(next, prev);
    });
    this.#warnInsecure(this.routes.current, undefined);
  }

  /** Start-up (and admin change) warning for each route that skips upstream verification. */
  #warnInsecure(table: RouteTable, prev: RouteTable | undefined): void {
    for (const r of table.routes) {
      if (r.spec.upstreamTls?.insecureSkipVerify !== true || prev?.get(r.id) === r) continue;
      this.logger.warn({ route: r.id }, 'route accepts any upstream TLS certificate (upstreamTls.insecureSkipVerify): no verification, open to interception');
    }
  }

  /** The certificate store of a TLS listener (the seam the admin API changes certificates through). */
  certificateStore(listenerId: string): CertificateStore | undefined {
    return this.#plans.find((p) => p.id === listenerId)?.tls?.store;
  }

  /** Replaces the ACME validations this process answers (throws on a bad challenge certificate). */
  setAcmeChallenges(set: AcmeChallengeSet): void {
    this.#acmeChallenges.replace(set);
  }

  acmeChallenges(): AcmeChallengeSet {
    return this.#acmeChallenges.current();
  }

  /** Replaces the session ticket keys of every TLS listener (new tickets use the first key;
   *  tickets under any of them resume). Nothing when tickets are off. */
  setTicketKeys(set: TicketKeySet): void {
    this.#ticketKeys?.set(set);
  }

  ticketKeys(): TicketKeySet | undefined {
    return this.#ticketKeys?.current();
  }

  /** TLS listeners with their stores, in configuration order. */
  tlsListeners(): Array<{ id: string; listen: string; store: CertificateStore; acmeNames?: string[] }> {
    return this.#plans.flatMap((p) => (p.tls ? [{ id: p.id, listen: p.listen, store: p.tls.store, ...(p.tls.acme ? { acmeNames: p.tls.acmeNames } : {}) }] : []));
  }

  /** Every open listener with its id and whether it speaks TLS. */
  listeners(): ListenerInfo[] {
    return this.#listenerInfo.map((l) => ({ id: l.id, tls: l.tls, address: l.server.address() as AddressInfo }));
  }

  addObserver(o: ProxyObserver): () => void {
    return this.#observers.add(o);
  }

  /** Builds a table from specs without applying it; throws ProxyError (with a JSON-pointer
   *  `path`) on a semantic error. `revision`: the table's revision (default: the next one; a
   *  shared store numbers tables with its own revisions). */
  validateRoutes(specs: RouteSpec[], revision = this.revision + 1): RouteTable {
    return RouteTable.next(this.routes.current, specs, revision);
  }

  /** Builds and swaps in a new table in one step; in-flight requests keep the old one. */
  applyRoutes(specs: RouteSpec[]): RouteTable {
    return this.applyTable(this.validateRoutes(specs));
  }

  /** Swaps in a table built by validateRoutes against the current one (the admin API validates,
   *  persists, then applies the same table). */
  applyTable(table: RouteTable): RouteTable {
    if (table.revision <= this.revision) throw new Error('portico: stale route table (built against an older revision)');
    this.routes.replace(table);
    return table;
  }

  /** Active health check results (this process's checker, or with workers the primary's). */
  applyHealth(reports: readonly HealthReport[]): void {
    const now = this.#ctx.clock.now();
    const health = this.routes.current.health;
    for (const r of reports) health.apply(r, now);
  }

  /** Each route's upstreams: available or not, active check, outlier ejection (GET /v1/status). */
  upstreamHealth(): UpstreamHealthStatus[] {
    return healthStatus(this.routes.current, this.#ctx.clock.now());
  }

  get revision(): number {
    return this.routes.current.revision;
  }

  get ready(): boolean {
    return this.#ready;
  }

  stats(): ProxyStats {
    return {
      clientConnections: this.#connections.size,
      pools: [
        ...this.#pools.all().map((p) => ({ authority: p.origin.authority, active: p.activeCount, idle: p.idleCount, waiting: p.waiting, created: p.created, reused: p.reusedCount, resumed: p.resumedCount })),
        // HTTP/2: active = streams in flight, idle = sessions without one, created = sessions
        ...this.#h2Pools.all().map((p) => ({ authority: p.origin.authority, protocol: 'h2' as const, active: p.activeCount, idle: p.idleCount, waiting: p.waiting, created: p.created, reused: p.reusedCount, resumed: 0 })),
      ],
    };
  }

  /** Opens the listener(s): the main one (reverse routes, plus the forward proxy when it is
   *  enabled without a listener of its own) and the forward proxy's own listener if configured.
   *  Rejects with ProxyError PRX_ERR_LISTEN (busy port, bad address). */
  async listen(): Promise<void> {
    const fp = this.config.forwardProxy;
    const mainMode: ListenerMode = fp.enabled && !fp.listen ? 'both' : 'reverse';
    for (const plan of this.#plans) {
      const dispatcher = this.#dispatcher({ mode: mainMode, secure: plan.tls !== undefined, redirectToHttps: plan.redirectToHttps });
      const t = plan.tls;
      const protocols = plan.protocols;
      const answerTlsAlpn01 = t?.acme && this.config.acme?.challenges.includes('tls-alpn-01') ? (name: string) => this.#acmeChallenges.tlsAlpn01Context(name) : undefined;
      const server = t
        ? createTlsServer(t.store, { id: plan.id, handshakeTimeoutMs: t.handshakeTimeoutMs, logger: this.logger, alpnProtocols: protocols, answerTlsAlpn01, sessionTickets: this.#ticketKeys ?? false }, (socket: tls.TLSSocket) => this.#acceptTls(socket, dispatcher, protocols))
        : net.createServer({ allowHalfOpen: true, noDelay: true }, protocols.includes('h2c')
          ? (socket) => this.#acceptH2c(socket, dispatcher, protocols)
          : (socket) => this.#accept(socket, dispatcher));
      await this.#listenOn(server, plan.listen, plan.where, plan.id, t !== undefined);
      if (t?.watchFiles) this.#watchers.push(new CertificateWatcher(t.store, t.watchIntervalMs, this.logger));
    }
    if (fp.enabled && fp.listen) {
      const dispatcher = this.#dispatcher({ mode: 'forward', secure: false, redirectToHttps: undefined });
      await this.#listenOn(net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket, dispatcher)), fp.listen, '/forwardProxy/listen', 'forward', false);
    }
    if (this.#activeChecks) {
      const clock = this.#ctx.clock;
      this.#checker = new HealthChecker({
        clock, logger: this.logger, caBundle: this.#caBundle,
        report: (r, authority, pass) => {
          this.applyHealth([r]);
          this.#observers.healthChecked(authority, pass);
        },
      });
      this.#checker.follow(this.routes.current);
    }
    this.#ready = true;
  }

  #dispatcher(role: ListenerRole): Dispatcher {
    return new Dispatcher(this.#ctx, role);
  }

  async #listenOn(server: net.Server, address: string, where: string, id: string, secure: boolean): Promise<void> {
    const { host, port } = parseHostPort(address, where);
    server.maxConnections = this.config.limits.maxConnections;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        reject(new ProxyError('PRX_ERR_LISTEN', e.code === 'EADDRINUSE' ? `${address} is already in use` : `cannot listen on ${address}: ${e.code ?? e.message}`));
      });
      server.listen({ host, port, backlog: 1024 }, () => resolve());
    });
    server.on('error', (e) => this.logger.error({ err: e }, 'listener error'));
    this.#servers.push(server);
    this.#listenerInfo.push({ id, tls: secure, server });
  }

  addresses(): AddressInfo[] {
    return this.#servers.map((s) => s.address() as AddressInfo);
  }

  /** A TLS connection: HTTP/2 when ALPN chose h2, else HTTP/1.1 (ALPN http/1.1, or a client that
   *  offered none) where the listener speaks it. */
  #acceptTls(socket: tls.TLSSocket, dispatcher: Dispatcher, protocols: readonly ListenerProtocol[]): void {
    if (socket.alpnProtocol === 'h2') this.#acceptH2(socket, dispatcher);
    else if (protocols.includes('http/1.1')) this.#accept(socket, dispatcher);
    else {
      this.logger.debug({ client: socket.remoteAddress, alpn: socket.alpnProtocol }, 'TLS client did not negotiate h2 on an HTTP/2-only listener');
      socket.destroy();
    }
  }

  /** A plain connection on a listener that speaks h2c: the first bytes decide (../http2/preface.ts). */
  #acceptH2c(socket: net.Socket, dispatcher: Dispatcher, protocols: readonly ListenerProtocol[]): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    socket.on('error', ignoreSocketError);
    // until its first bytes arrive, a shutdown closes it (it has sent no request yet)
    const undecided: ClientConnection = { socket, shutdown: () => socket.destroy() };
    this.#connections.add(undecided);
    socket.once('close', () => this.#closed(undecided));
    readPreface(socket, this.#ctx.clock, this.config.timeouts.idleMs, (h2) => {
      this.#connections.delete(undecided);
      if (this.#closing) socket.destroy();
      else if (h2) this.#acceptH2(socket, dispatcher);
      else if (protocols.includes('http/1.1')) {
        this.#accept(socket, dispatcher);
        socket.resume();
      } else {
        // an HTTP/2-only listener: say so, then close (reading and dropping what the client
        // still sends, so the answer is not lost to a reset), cut off after abortMs
        const abort = this.#ctx.clock.deadline(() => socket.destroy());
        abort.arm(this.config.timeouts.abortMs);
        socket.once('close', () => abort.cancel());
        socket.on('data', () => {});
        socket.resume();
        socket.end(localResponse({ status: 505, code: 'HPE_UNSUPPORTED_VERSION', detail: 'this listener speaks HTTP/2 only (h2c with prior knowledge)' }, { persistence: 'close', headRequest: false }));
      }
    });
  }

  #acceptH2(socket: net.Socket, dispatcher: Dispatcher): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    socket.on('error', ignoreSocketError);
    this.#connections.add(new Http2Connection(socket, this.#ctx, dispatcher, this.#closed));
  }

  #accept(socket: net.Socket, dispatcher: Dispatcher): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    socket.on('error', ignoreSocketError); // per-socket errors are handled by the connection's close path
    let connection: Http1Connection;
    try {
      connection = new Http1Connection(socket, this.#ctx, dispatcher, this.#closed);
    } catch (e) {
      // out of codec slots: refuse this connection rather than fail the process
      this.logger.error({ err: e }, 'cannot accept connection');
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    this.#connections.add(connection);
  }

  readonly #closed = (c: ClientConnection): void => {
    this.#connections.delete(c);
    if (this.#connections.size === 0) this.#lastClosed?.();
  };

  /**
   * Graceful shutdown: stop accepting, close idle keep-alive connections, let in-flight requests
   * finish, and destroy whatever is left when `deadlineMs` passes.
   */
  close(deadlineMs = this.config.timeouts.shutdownMs): Promise<void> {
    this.#closing ??= (async () => {
      this.#checker?.close();
      this.#ready = false;
      const closed = Promise.all(this.#servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      for (const w of this.#watchers.splice(0)) w.close();
      for (const c of this.#connections) c.shutdown();
      if (this.#connections.size > 0) {
        await new Promise<void>((resolve) => {
          const deadline = this.#ctx.clock.deadline(resolve);
          this.#lastClosed = () => { deadline.cancel(); resolve(); };
          deadline.arm(deadlineMs);
        });
      }
      for (const c of this.#connections) c.socket.destroy();
      this.#ctx.idle.close();
      this.#pools.closeAll();
      this.#h2Pools.closeAll();
      await closed;
    })();
    return this.#closing;
  }
}
