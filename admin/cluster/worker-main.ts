// Entry point of a worker process (node:cluster forks it; see ./primary.ts): the data plane of
// src/worker/worker.ts plus its Prometheus registry, which the primary collects and sums.
import { Registry, collectDefaultMetrics } from 'prom-client';
import { runWorker } from '../../src/worker/worker.js';
import { registerProxyMetrics } from '../metrics/proxy-metrics.js';

runWorker({
  onProxy(proxy, slot) {
    const registry = new Registry();
    const worker = String(slot);
    registerProxyMetrics(registry, proxy, { worker }).attach();
    collectDefaultMetrics({ register: registry, labels: { worker } });
    return () => registry.getMetricsAsJSON();
  },
});
