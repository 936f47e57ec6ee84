// The per-request metrics are counted in plain numbers and exported at scrape time
// (admin/metrics/request-metrics.ts). They must read exactly as prom-client's own Counter and Histogram
// would for the same requests: same series, labels, bucket counts, sums; and sum across workers.
import { describe, it, expect } from 'vitest';
import { AggregatorRegistry, Counter, Histogram, Registry, type RegistryContentType } from 'prom-client';
import { DURATION_BUCKETS, RequestMetrics } from '../../admin/metrics/request-metrics.js';

type Req = [route: string, status: number, seconds: number, aborted: boolean, protocol: 'http/1.1' | 'h2'];

/** The same requests through prom-client's own metric classes. */
function reference(reqs: Req[]): Registry {
  const registry = new Registry();
  const registers = [registry];
  const requests = new Counter({ name: 'portico_http_requests_total', help: 'Requests answered, by route id, client protocol and status class', labelNames: ['route', 'protocol', 'status_class'], registers });
  const aborted = new Counter({ name: 'portico_http_requests_aborted_total', help: 'Exchanges that ended abnormally after the response head was sent, by route id and client protocol', labelNames: ['route', 'protocol'], registers });
  const duration = new Histogram({ name: 'portico_http_request_duration_seconds', help: 'Request head parsed to response finished, by route id and client protocol', labelNames: ['route', 'protocol'], buckets: [...DURATION_BUCKETS], registers });
  for (const [route, status, seconds, wasAborted, protocol] of reqs) {
    requests.inc({ route, protocol, status_class: `${Math.floor(status / 100)}xx` });
    duration.observe({ route, protocol }, seconds);
    if (wasAborted) aborted.inc({ route, protocol });
  }
  return registry;
}

function ours(reqs: Req[]): Registry {
  const registry = new Registry();
  const m = new RequestMetrics();
  m.register(registry);
  for (const r of reqs) m.record(...r);
  return registry;
}

/** Exposition lines, sorted (series order is not part of the format's meaning). */
const lines = async (r: Registry<RegistryContentType>) => (await r.metrics()).split('\n').filter((l) => l !== '').sort();

// durations on and around every bucket bound, far above the last, and zero
const seconds = [0, 0.0005, ...DURATION_BUCKETS.flatMap((b) => [b * 0.999, b, b * 1.001]), 31, 3600];
const reqs: Req[] = seconds.flatMap((s, i): Req[] => [
  ['api', [200, 201, 304, 404, 502, 101][i % 6], s, i % 7 === 0, i % 3 === 0 ? 'h2' : 'http/1.1'],
  ['(none)', 404, s / 3, false, 'http/1.1'],
]);

describe('request metrics counted at scrape time', () => {
  it('read exactly as prom-client Counter and Histogram would for the same requests', async () => {
    expect(await lines(ours(reqs))).toEqual(await lines(reference(reqs)));
  });

  it('sum across workers as prom-client\'s own metrics do (AggregatorRegistry)', async () => {
    const half = Math.floor(reqs.length / 2);
    const mine = AggregatorRegistry.aggregate([await ours(reqs.slice(0, half)).getMetricsAsJSON(), await ours(reqs.slice(half)).getMetricsAsJSON()]);
    const theirs = AggregatorRegistry.aggregate([await reference(reqs.slice(0, half)).getMetricsAsJSON(), await reference(reqs.slice(half)).getMetricsAsJSON()]);
    expect(await lines(mine)).toEqual(await lines(theirs));
  });
});
