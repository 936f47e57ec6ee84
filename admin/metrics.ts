// GET /metrics: Prometheus text format from a registry of our own (not prom-client's global one,
// so several proxies in one process, e.g. tests, do not mix their numbers).
// Event counts come from a ProxyObserver; levels (connections, pool sizes, revision) are read
// from the proxy when scraped.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ProxyServer } from '../src/proxy/proxy-server.js';
import type { ProxyObserver } from '../src/proxy/observer.js';
import type { ChangeResult, RouteStore } from './route-store.js';
import { noQuery } from './schemas.js';

export const NO_ROUTE = '(none)';

export class AdminMetrics {
  readonly registry = new Registry();
  readonly #proxy: ProxyServer;
  readonly #requests: Counter<'route' | 'status_class'>;
  readonly #aborted: Counter<'route'>;
  readonly #duration: Histogram<'route'>;
  readonly #upstreamErrors: Counter<'kind' | 'upstream'>;
  readonly #sockets: Counter<'upstream' | 'reused'>;
  readonly #changes: Counter<'result'>;
  #unsubscribe: (() => void) | undefined;

  constructor(proxy: ProxyServer, opts: { defaultMetrics?: boolean; store?: RouteStore } = {}) {
    this.#proxy = proxy;
    const registers = [this.registry];
    this.#requests = new Counter({ name: 'portico_http_requests_total', help: 'Requests answered, by route id and status class', labelNames: ['route', 'status_class'], registers });
    this.#aborted = new Counter({ name: 'portico_http_requests_aborted_total', help: 'Exchanges that ended abnormally after the response head was sent', labelNames: ['route'], registers });
    this.#duration = new Histogram({
      name: 'portico_http_request_duration_seconds',
      help: 'Request head parsed to response finished, by route id',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#upstreamErrors = new Counter({ name: 'portico_upstream_errors_total', help: 'Upstream failures by kind (connect, timeout, reset, invalid, pool) and origin', labelNames: ['kind', 'upstream'], registers });
    this.#sockets = new Counter({ name: 'portico_upstream_socket_acquisitions_total', help: 'Upstream sockets handed to requests, new (reused="false") or from the pool (reused="true")', labelNames: ['upstream', 'reused'], registers });
    this.#changes = new Counter({ name: 'portico_admin_changes_total', help: 'Admin API changes by result (applied, noop, dry_run, rejected)', labelNames: ['result'], registers });

    new Gauge({
      name: 'portico_client_connections', help: 'Open client connections', registers,
      collect() { this.set(proxy.stats().clientConnections); },
    });
    new Gauge({
      name: 'portico_upstream_pool_sockets', help: 'Upstream sockets per origin: in use (active) or kept alive (idle)', labelNames: ['upstream', 'state'], registers,
      collect() {
        this.reset();
        for (const p of proxy.stats().pools) {
          this.set({ upstream: p.authority, state: 'active' }, p.active);
          this.set({ upstream: p.authority, state: 'idle' }, p.idle);
        }
      },
    });
    new Gauge({
      name: 'portico_upstream_pool_waiting', help: 'Requests waiting for a free upstream socket', labelNames: ['upstream'], registers,
      collect() {
        this.reset();
        for (const p of proxy.stats().pools) this.set({ upstream: p.authority }, p.waiting);
      },
    });
    new Gauge({
      name: 'portico_upstream_pool_created', help: 'Upstream sockets opened since the pool was created', labelNames: ['upstream'], registers,
      collect() {
        this.reset();
        for (const p of proxy.stats().pools) this.set({ upstream: p.authority }, p.created);
      },
    });
    new Gauge({
      name: 'portico_upstream_pool_reused', help: 'Requests that got a kept-alive socket since the pool was created', labelNames: ['upstream'], registers,
      collect() {
        this.reset();
        for (const p of proxy.stats().pools) this.set({ upstream: p.authority }, p.reused);
      },
    });
    new Gauge({
      name: 'portico_config_revision', help: 'Revision of the running route configuration', registers,
      collect() { this.set(proxy.revision); },
    });
    new Gauge({
      name: 'portico_routes', help: 'Routes in the running configuration', registers,
      collect() { this.set(proxy.routes.current.routes.length); },
    });
    const store = opts.store;
    if (store) {
      new Gauge({
        name: 'portico_store_connected', help: 'Whether the route store (file or etcd) can be reached (1) or not (0): the proxy serves its last table meanwhile', labelNames: ['type'], registers,
        collect() { const s = store.status(); this.reset(); this.set({ type: s.type }, s.connected ? 1 : 0); },
      });
      new Gauge({
        name: 'portico_store_state_since_seconds', help: 'Unix time at which portico_store_connected last changed (or the start)', labelNames: ['type'], registers,
        collect() { const s = store.status(); this.reset(); this.set({ type: s.type }, Date.parse(s.since) / 1000); },
      });
    }
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Starts counting the proxy's events. */
  attach(): void {
    const observer: ProxyObserver = {
      requestFinished: (r) => {
        const route = r.routeId ?? NO_ROUTE;
        this.#requests.inc({ route, status_class: `${Math.floor(r.status / 100)}xx` });
        this.#duration.observe({ route }, r.durationMs / 1000);
        if (r.aborted) this.#aborted.inc({ route });
      },
      upstreamError: (kind, authority) => this.#upstreamErrors.inc({ kind, upstream: authority }),
      upstreamSocket: (authority, reused) => this.#sockets.inc({ upstream: authority, reused: String(reused) }),
    };
    this.#unsubscribe = this.#proxy.addObserver(observer);
  }

  detach(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  changeResult(r: ChangeResult): void {
    this.#changes.inc({ result: r });
  }
}

export interface MetricsPluginOptions {
  metrics: AdminMetrics;
}

export const metricsPlugin: FastifyPluginAsync<MetricsPluginOptions> = async (app: FastifyInstance, { metrics }) => {
  metrics.attach();
  app.addHook('onClose', async () => metrics.detach());
  app.get('/metrics', {
    schema: {
      tags: ['metrics'],
      summary: 'Prometheus metrics (text exposition format)',
      querystring: noQuery,
      response: { 200: { type: 'string', description: 'Prometheus text format 0.0.4' } },
    },
  }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
};
