// GET /metrics: Prometheus text format from a registry of our own (not prom-client's global one,
// so several proxies in one process, e.g. tests, do not mix their numbers).
// One process: the data path's metrics (./proxy-metrics.ts) and the control plane's in one
// registry. With workers: each worker keeps its own data-path registry; a scrape asks every worker
// for it over IPC and sums them with prom-client's AggregatorRegistry (per-worker series keep a
// `worker` label), next to the primary's own (admin changes, revision, supervision).
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics } from '../metrics/prom-client.js';
import type { DataPlane } from '../../src/contract/data-plane.js';
import type { ClusterDataPlane } from '../cluster/primary.js';
import { registerProxyMetrics, type ProxyMetrics } from '../metrics/proxy-metrics.js';
import type { ChangeResult, RouteStore } from '../stores/route-store.js';
import { noQuery } from '../protocol/schemas.js';
import type { AuthEvents } from './auth.js';
import type { AcmeView } from './admin-context.js';
import { registerAcmeMetrics } from '../metrics/acme-metrics.js';

export class AdminMetrics {
  readonly registry = new Registry();
  readonly #plane: DataPlane;
  readonly #proxyMetrics: ProxyMetrics | undefined;
  readonly #changes: Counter<'result'>;
  readonly #authFailures: Counter<'reason'>;
  readonly #authThrottled: Counter<'action'>;
  #unsubscribe: (() => void) | undefined;

  constructor(plane: DataPlane, opts: { defaultMetrics?: boolean; store?: RouteStore; acme?: AcmeView } = {}) {
    this.#plane = plane;
    const registers = [this.registry];
    this.#changes = new Counter({ name: 'portico_admin_changes_total', help: 'Admin API changes by result (applied, noop, dry_run, rejected)', labelNames: ['result'], registers });
    this.#authFailures = new Counter({
      name: 'portico_admin_auth_failures_total', registers, labelNames: ['reason'],
      help: 'Admin API requests refused for their credential: missing (401), invalid (a wrong token: 401, or 429 over the address\'s budget), forbidden (a read credential on a mutation: 403)',
    });
    this.#authThrottled = new Counter({
      name: 'portico_admin_auth_throttled_total', registers, labelNames: ['action'],
      help: 'Wrong credentials beyond their address\'s budget: answered late (delayed) or at once with the connection closed, when the address already had its share of held answers (refused)',
    });
    // every series from the start, so a rate() sees the first failure
    for (const reason of ['missing', 'invalid', 'forbidden']) this.#authFailures.inc({ reason }, 0);
    for (const action of ['delayed', 'refused']) this.#authThrottled.inc({ action }, 0);
    new Gauge({
      name: 'portico_config_revision', help: 'Revision of the running route configuration', registers,
      collect() { this.set(plane.routes.current.revision); },
    });
    new Gauge({
      name: 'portico_routes', help: 'Routes in the running configuration', registers,
      collect() { this.set(plane.routes.current.routes.length); },
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
    if (opts.acme) registerAcmeMetrics(this.registry, opts.acme);
    const cluster = 'supervision' in plane ? (plane as ClusterDataPlane) : undefined;
    if (plane.proxy) this.#proxyMetrics = registerProxyMetrics(this.registry, plane.proxy);
    else if (cluster) registerSupervisionMetrics(this.registry, cluster);
    // with workers, each process's CPU and memory are series of their own (worker="primary", "0"...)
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, ...(cluster ? { labels: { worker: 'primary' } } : {}) });
  }

  /** Starts counting the in-process proxy's events (workers count their own). */
  attach(): void {
    this.#unsubscribe = this.#proxyMetrics?.attach();
  }

  detach(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  changeResult(r: ChangeResult): void {
    this.#changes.inc({ result: r });
  }

  /** The auth hook's events (admin/api/auth.ts). */
  readonly authEvents: AuthEvents = {
    failure: (reason) => this.#authFailures.inc({ reason }),
    throttled: (action) => this.#authThrottled.inc({ action }),
  };

  /** The exposition text: this process's registry, plus the workers' summed. */
  async text(): Promise<string> {
    if (!('workerMetrics' in this.#plane)) return this.registry.metrics();
    const own = await this.registry.getMetricsAsJSON();
    const workers = await (this.#plane as ClusterDataPlane).workerMetrics();
    return AggregatorRegistry.aggregate([own, ...workers] as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  }
}

function registerSupervisionMetrics(registry: Registry, cluster: ClusterDataPlane): void {
  const registers = [registry];
  // the primary probes for every worker: its counts are the only ones
  const counted = new Map<string, { pass: number; fail: number }>();
  new Counter({
    name: 'portico_health_checks_total', help: 'Active health probes by upstream and result (pass, fail)', labelNames: ['upstream', 'result'], registers,
    collect() {
      for (const [upstream, n] of cluster.supervision().healthChecks) {
        const before = counted.get(upstream) ?? { pass: 0, fail: 0 };
        if (n.pass > before.pass) this.inc({ upstream, result: 'pass' }, n.pass - before.pass);
        if (n.fail > before.fail) this.inc({ upstream, result: 'fail' }, n.fail - before.fail);
        counted.set(upstream, { ...n });
      }
    },
  });
  new Gauge({
    name: 'portico_worker_restarts', help: 'Times each worker slot was replaced after its worker died', labelNames: ['worker'], registers,
    collect() { for (const s of cluster.supervision().slots) this.set({ worker: String(s.slot) }, s.restarts); },
  });
  new Gauge({
    name: 'portico_worker_backoff_seconds', help: 'Crash loop: seconds until the slot\'s next start (0: running)', labelNames: ['worker'], registers,
    collect() { for (const s of cluster.supervision().slots) this.set({ worker: String(s.slot) }, s.backoffMs / 1000); },
  });
  new Gauge({
    name: 'portico_worker_ack_timeouts', help: 'Workers replaced because they did not acknowledge a route change in time', registers,
    collect() { this.set(cluster.supervision().ackTimeouts); },
  });
}

export interface MetricsPluginOptions {
  metrics: AdminMetrics;
}

export const metricsPlugin: FastifyPluginAsync<MetricsPluginOptions> = async (app: FastifyInstance, { metrics }) => {
  metrics.attach();
  app.addHook('onClose', async () => metrics.detach());
  app.get('/metrics', {
    // a read, or open to anyone with admin.metricsAuth: false (../api/access-policy.ts)
    config: { access: 'metrics' },
    schema: {
      tags: ['metrics'],
      summary: 'Prometheus metrics (text exposition format); with workers, summed over them',
      querystring: noQuery,
      response: { 200: { type: 'string', description: 'Prometheus text format 0.0.4' } },
    },
  }, async (_request, reply) => {
    const text = await metrics.text();
    return reply.type(metrics.registry.contentType).send(text);
  });
};
