// Automatic HTTPS in /metrics (the manager runs in the primary: these are the primary's series).
// Alert on portico_acme_certificate_expiry_days (e.g. < 10 for 90-day certificates: renewal has
// failed for weeks) and on portico_acme_renewal_failures > 0 for long.
import { Counter, Gauge, type Registry } from './prom-client.js';
import type { AcmeMetricsView } from '../acme/acme-manager.js';

export function registerAcmeMetrics(registry: Registry, acme: { metrics(): AcmeMetricsView }): void {
  const registers = [registry];
  new Gauge({
    name: 'portico_acme_certificate_expiry_days', help: 'Days until the ACME certificate of each name expires (negative: expired)', labelNames: ['name'], registers,
    collect() {
      this.reset();
      for (const e of acme.metrics().expiryDays) this.set({ name: e.name }, e.days);
    },
  });
  new Gauge({
    name: 'portico_acme_renewal_failures', help: 'Failed ACME orders in a row for each name (0: the last one worked)', labelNames: ['name'], registers,
    collect() {
      this.reset();
      for (const f of acme.metrics().failures) this.set({ name: f.name }, f.failures);
    },
  });
  // the manager counts; each scrape adds what is new
  const reported = { issued: 0, failed: 0, rateLimited: 0 };
  new Counter({
    name: 'portico_acme_orders_total', help: 'ACME orders by result: issued, failed, rate_limited', labelNames: ['result'], registers,
    collect() {
      const o = acme.metrics().orders;
      for (const [key, result] of [['issued', 'issued'], ['failed', 'failed'], ['rateLimited', 'rate_limited']] as const) {
        this.inc({ result }, o[key] - reported[key]);
        reported[key] = o[key];
      }
    },
  });
}
