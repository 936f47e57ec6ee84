// Entry point of a worker process (node:cluster forks it; see ./primary.ts): the data plane of
// src/worker/worker.ts plus its Prometheus registry, which the primary collects and sums, and its
// per-route request counts, which it pushes to the primary for guarded changes (admin/guard/).
import { runWorker } from '../../src/worker/worker.js';
import type { WorkerReply } from '../../src/contract/ipc-protocol.js';
import { RouteCounter, WORKER_PUSH_MS } from '../guard/route-counts.js';

runWorker({
  async onProxy(proxy, slot) {
    // the primary asks its workers for their metrics only to answer GET /metrics, and judges
    // guarded changes only in the admin API: with the admin API off nobody can, so a worker
    // neither counts routes nor loads prom-client (no observer: the dispatcher builds no
    // per-request record; issue 23: each worker's RSS at most one single process's)
    if (proxy.config.admin === false) return undefined;
    const counter = new RouteCounter();
    proxy.addObserver(counter.observer);
    setInterval(() => {
      const counts = counter.drain();
      const m: WorkerReply = { type: 'portico:routeCounts', id: 0, counts };
      if (counts.length > 0 && process.connected) process.send!(m);
    }, WORKER_PUSH_MS).unref();
    const [{ Registry, collectDefaultMetrics }, { registerProxyMetrics }] = await Promise.all([import('../metrics/prom-client.js'), import('../metrics/proxy-metrics.js')]);
    const registry = new Registry();
    const worker = String(slot);
    registerProxyMetrics(registry, proxy, { worker }).attach();
    collectDefaultMetrics({ register: registry, labels: { worker } });
    return () => registry.getMetricsAsJSON();
  },
});
