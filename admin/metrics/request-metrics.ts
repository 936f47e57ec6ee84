// The per-request metrics (requests by route, client protocol and status class, aborted
// exchanges, the duration histogram by route and protocol), counted in plain numbers on the request path and turned into Prometheus
// series only when scraped. prom-client's Counter#inc and Histogram#observe validate the labels,
// build a label-set key string and look the series up on every call: measured on bench workload
// (a) with the admin API on, about 1 µs of CPU per request (issue 14). Here a request costs one
// Map lookup and a few additions; the metrics are prom-client metric objects as far as a Registry
// (and the workers' AggregatorRegistry, which sums them) is concerned: name, help, type,
// aggregator, get().
import type { Metric, Registry } from './prom-client.js';

/** Upper bounds of the duration histogram, seconds. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

class RouteCounts {
  /** By status class, 1xx..5xx. */
  readonly byClass = [0, 0, 0, 0, 0];
  aborted = 0;
  /** Per bucket (not cumulative); the last slot counts values above the largest bound. */
  readonly buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  sum = 0;
  count = 0;
}

/** One sample, as prom-client's own metrics give them (metricName for a histogram's parts). */
interface Sample { labels: Record<string, string | number>; value: number; metricName?: string }

/** Registers a metric object as a prom-client Registry sees one: it reads name, help, type and
 *  aggregator, and calls get() when scraped. */
function registerCustom(registry: Registry, name: string, help: string, type: 'counter' | 'histogram', samples: () => Sample[]): void {
  const head = { name, help, type, aggregator: 'sum' as const };
  registry.registerMetric({ ...head, get: async () => ({ ...head, values: samples() }) } as unknown as Metric);
}

/** The protocol a client spoke (src/dispatch/observer.ts ClientProtocol). */
export type ProtocolLabel = 'http/1.1' | 'h2';

export class RequestMetrics {
  /** By route, then by protocol (two at most: no key string built per request). */
  readonly #routes = new Map<string, Map<ProtocolLabel, RouteCounts>>();

  /** One finished request: its route id, status, duration in seconds, whether it was aborted,
   *  and the protocol its client spoke. */
  record(route: string, status: number, seconds: number, aborted: boolean, protocol: ProtocolLabel): void {
    let byProtocol = this.#routes.get(route);
    if (byProtocol === undefined) {
      byProtocol = new Map();
      this.#routes.set(route, byProtocol);
    }
    let r = byProtocol.get(protocol);
    if (r === undefined) {
      r = new RouteCounts();
      byProtocol.set(protocol, r);
    }
    const cls = Math.floor(status / 100) - 1;
    if (cls >= 0 && cls < 5) r.byClass[cls]++;
    if (aborted) r.aborted++;
    let b = 0;
    while (b < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[b]) b++;
    r.buckets[b]++;
    r.sum += seconds;
    r.count++;
  }

  /** Registers the three series in `registry` under their Prometheus names. */
  register(registry: Registry): void {
    const each = (visit: (route: string, protocol: ProtocolLabel, r: RouteCounts) => void) => {
      for (const [route, byProtocol] of this.#routes) for (const [protocol, r] of byProtocol) visit(route, protocol, r);
    };
    registerCustom(registry, 'portico_http_requests_total', 'Requests answered, by route id, client protocol and status class', 'counter', () => {
      const out: Sample[] = [];
      each((route, protocol, r) => {
        r.byClass.forEach((n, i) => { if (n > 0) out.push({ labels: { route, protocol, status_class: STATUS_CLASSES[i] }, value: n }); });
      });
      return out;
    });
    registerCustom(registry, 'portico_http_requests_aborted_total', 'Exchanges that ended abnormally after the response head was sent, by route id and client protocol', 'counter', () => {
      const out: Sample[] = [];
      each((route, protocol, r) => { if (r.aborted > 0) out.push({ labels: { route, protocol }, value: r.aborted }); });
      return out;
    });
    const duration = 'portico_http_request_duration_seconds';
    registerCustom(registry, duration, 'Request head parsed to response finished, by route id and client protocol', 'histogram', () => {
      const out: Sample[] = [];
      each((route, protocol, r) => {
        let cumulative = 0;
        DURATION_BUCKETS.forEach((le, i) => {
          cumulative += r.buckets[i];
          out.push({ labels: { le, route, protocol }, value: cumulative, metricName: `${duration}_bucket` });
        });
        out.push({ labels: { le: '+Inf', route, protocol }, value: r.count, metricName: `${duration}_bucket` });
        out.push({ labels: { route, protocol }, value: r.sum, metricName: `${duration}_sum` });
        out.push({ labels: { route, protocol }, value: r.count, metricName: `${duration}_count` });
      });
      return out;
    });
  }
}
