// The data path's Prometheus metrics, registered where the proxy runs: the one process, or each
// worker (labelled with its slot, then summed by the primary: admin/metrics.ts). Event counts come
// from a ProxyObserver; levels (connections, pool sizes) are read from the proxy when scraped.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ProxyServer } from '../src/proxy/proxy-server.js';
import type { ProxyObserver } from '../src/proxy/observer.js';

export const NO_ROUTE = '(none)';

export interface ProxyMetrics {
  /** Starts counting the proxy's events; returns the function that stops it. */
  attach(): () => void;
}

/** `worker`: the worker slot; adds per-worker series (requests, connections, revision). */
export function registerProxyMetrics(registry: Registry, proxy: ProxyServer, opts: { worker?: string } = {}): ProxyMetrics {
  const registers = [registry];
  const requests = new Counter({ name: 'portico_http_requests_total', help: 'Requests answered, by route id and status class', labelNames: ['route', 'status_class'], registers });
  const aborted = new Counter({ name: 'portico_http_requests_aborted_total', help: 'Exchanges that ended abnormally after the response head was sent', labelNames: ['route'], registers });
  const duration = new Histogram({
    name: 'portico_http_request_duration_seconds',
    help: 'Request head parsed to response finished, by route id',
    labelNames: ['route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const upstreamErrors = new Counter({ name: 'portico_upstream_errors_total', help: 'Upstream failures by kind (connect, timeout, reset, invalid, pool) and origin', labelNames: ['kind', 'upstream'], registers });
  const sockets = new Counter({ name: 'portico_upstream_socket_acquisitions_total', help: 'Upstream sockets handed to requests, new (reused="false") or from the pool (reused="true")', labelNames: ['upstream', 'reused'], registers });

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

  let perWorker: Counter<'worker'> | undefined;
  const worker = opts.worker;
  if (worker !== undefined) {
    perWorker = new Counter({ name: 'portico_worker_requests_total', help: 'Requests answered by each worker (balance between workers)', labelNames: ['worker'], registers });
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
          const route = r.routeId ?? NO_ROUTE;
          requests.inc({ route, status_class: `${Math.floor(r.status / 100)}xx` });
          duration.observe({ route }, r.durationMs / 1000);
          if (r.aborted) aborted.inc({ route });
          perWorker?.inc({ worker: worker! });
        },
        upstreamError: (kind, authority) => upstreamErrors.inc({ kind, upstream: authority }),
        upstreamSocket: (authority, reused) => sockets.inc({ upstream: authority, reused: String(reused) }),
      };
      return proxy.addObserver(observer);
    },
  };
}
