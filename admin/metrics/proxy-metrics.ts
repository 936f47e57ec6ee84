// The data path's Prometheus metrics, registered where the proxy runs: the one process, or each
// worker (labelled with its slot, then summed by the primary: admin/api/metrics-api.ts). Event counts come
// from a ProxyObserver; levels (connections, pool sizes) are read from the proxy when scraped.
import { Counter, Gauge, type Registry } from './prom-client.js';
import { RequestMetrics } from './request-metrics.js';
import type { ProxyServer } from '../../src/server/proxy-server.js';
import type { ProxyObserver } from '../../src/dispatch/observer.js';

export const NO_ROUTE = '(none)';

export interface ProxyMetrics {
  /** Starts counting the proxy's events; returns the function that stops it. */
  attach(): () => void;
}

/** `worker`: the worker slot; adds per-worker series (requests, connections, revision). */
export function registerProxyMetrics(registry: Registry, proxy: ProxyServer, opts: { worker?: string } = {}): ProxyMetrics {
  const registers = [registry];
  const requestMetrics = new RequestMetrics();
  requestMetrics.register(registry);
  const upstreamErrors = new Counter({ name: 'portico_upstream_errors_total', help: 'Upstream failures by kind (connect, timeout, reset, invalid, pool) and origin', labelNames: ['kind', 'upstream'], registers });
  const retries = new Counter({ name: 'portico_retries_total', help: 'Requests retried on another upstream, by route and reason (connect, reset, timeout, status)', labelNames: ['route', 'reason'], registers });
  const budgetExhausted = new Counter({ name: 'portico_retry_budget_exhausted_total', help: 'Retries the policy allowed but the route\'s retry budget refused (the failure was answered)', labelNames: ['route'], registers });
  const overloaded = new Counter({ name: 'portico_overloaded_total', help: 'Requests refused with 503 (PRX_ERR_OVERLOADED) by the route\'s concurrency limit or queue', labelNames: ['route'], registers });
  const ejections = new Counter({ name: 'portico_upstream_ejections_total', help: 'Outlier ejections of each upstream', labelNames: ['upstream'], registers });
  const healthChecks = new Counter({ name: 'portico_health_checks_total', help: 'Active health probes by upstream and result (pass, fail)', labelNames: ['upstream', 'result'], registers });
  new Gauge({
    name: 'portico_upstream_available', help: 'Whether an upstream takes new requests (1): not ejected and healthy by every route\'s check of it; with workers, 0 when any worker has it out', labelNames: ['upstream'], registers, aggregator: 'min',
    collect() {
      this.reset();
      const byUpstream = new Map<string, number>();
      for (const u of proxy.upstreamHealth()) byUpstream.set(u.upstream, Math.min(byUpstream.get(u.upstream) ?? 1, u.available ? 1 : 0));
      for (const [upstream, v] of byUpstream) this.set({ upstream }, v);
    },
  });
  // counted per request in a Map, added to the Prometheus counter when scraped (see request-metrics.ts)
  const pendingSockets = new Map<string, { fresh: number; reused: number }>();
  new Counter({
    name: 'portico_upstream_socket_acquisitions_total', help: 'Upstream sockets handed to requests, new (reused="false") or from the pool (reused="true")', labelNames: ['upstream', 'reused'], registers,
    collect() {
      for (const [upstream, n] of pendingSockets) {
        if (n.fresh > 0) this.inc({ upstream, reused: 'false' }, n.fresh);
        if (n.reused > 0) this.inc({ upstream, reused: 'true' }, n.reused);
        n.fresh = 0;
        n.reused = 0;
      }
    },
  });
  const countSocket = (upstream: string, reused: boolean): void => {
    let n = pendingSockets.get(upstream);
    if (n === undefined) {
      n = { fresh: 0, reused: 0 };
      pendingSockets.set(upstream, n);
    }
    if (reused) n.reused++;
    else n.fresh++;
  };

  new Gauge({
    name: 'portico_client_connections', help: 'Open client connections', registers,
    collect() { this.set(proxy.stats().clientConnections); },
  });
  const poolGauge = (name: string, help: string, field: 'waiting' | 'created' | 'reused') => new Gauge({
    name, help, labelNames: ['upstream'], registers,
    collect() {
      this.reset();
      for (const p of proxy.stats().pools) this.set({ upstream: p.authority }, p[field]);
    },
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
  poolGauge('portico_upstream_pool_waiting', 'Requests waiting for a free upstream socket', 'waiting');
  poolGauge('portico_upstream_pool_created', 'Upstream sockets opened since the pool was created', 'created');
  poolGauge('portico_upstream_pool_reused', 'Requests that got a kept-alive socket since the pool was created', 'reused');

  let workerRequests = 0;
  const worker = opts.worker;
  if (worker !== undefined) {
    new Counter({
      name: 'portico_worker_requests_total', help: 'Requests answered by each worker (balance between workers)', labelNames: ['worker'], registers,
      collect() {
        if (workerRequests > 0) this.inc({ worker }, workerRequests);
        workerRequests = 0;
      },
    });
    new Gauge({
      name: 'portico_worker_client_connections', help: 'Open client connections of each worker', labelNames: ['worker'], registers,
      collect() { this.set({ worker }, proxy.stats().clientConnections); },
    });
    new Gauge({
      name: 'portico_worker_config_revision', help: 'Route table revision each worker runs', labelNames: ['worker'], registers,
      collect() { this.set({ worker }, proxy.revision); },
    });
  }

  return {
    attach() {
      const observer: ProxyObserver = {
        requestFinished: (r) => {
          requestMetrics.record(r.routeId ?? NO_ROUTE, r.status, r.durationMs / 1000, r.aborted, r.protocol);
          workerRequests++;
        },
        upstreamError: (kind, authority) => upstreamErrors.inc({ kind, upstream: authority }),
        upstreamSocket: countSocket,
        retried: (route, reason) => retries.inc({ route, reason }),
        retryBudgetExhausted: (route) => budgetExhausted.inc({ route }),
        overloaded: (route) => overloaded.inc({ route }),
        upstreamEjected: (authority) => ejections.inc({ upstream: authority }),
        healthChecked: (authority, pass) => healthChecks.inc({ upstream: authority, result: pass ? 'pass' : 'fail' }),
      };
      return proxy.addObserver(observer);
    },
  };
}
