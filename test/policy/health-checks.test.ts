// Active health checks (issue 20, src/health/health-checker.ts): real origins whose health path
// fails and recovers, a real proxy (and with --workers 2, the real primary and workers) probing
// them; an unhealthy upstream gets no new requests, probes do not multiply with routes or workers.
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet, sleep, startHttpOrigin, startProxy, useCleanups, request } from '../helpers/harness.js';
import { ensureBuilt } from '../helpers/built.js';
import { BIN, killAll, metricSum, startPortico, until } from '../cluster/helpers.js';

const cleanups = useCleanups();

/** An origin answering its name; /health answers `healthy()` ? 200 : 500; counts probes. */
async function origin(name: string) {
  let healthy = true;
  let probes = 0;
  let hits = 0;
  const o = await startHttpOrigin((req, res) => {
    req.resume();
    if (req.url === '/health') {
      probes++;
      res.statusCode = healthy ? 200 : 500;
      res.end();
      return;
    }
    hits++;
    res.end(name);
  });
  cleanups.push(() => o.close());
  return {
    url: `http://127.0.0.1:${o.port}`, port: o.port,
    setHealthy: (h: boolean) => { healthy = h; },
    probes: () => probes, hits: () => hits,
  };
}

const check = { path: '/health', intervalMs: 100, timeoutMs: 500, healthyThreshold: 2, unhealthyThreshold: 2 };

describe('active health checks in one process', () => {
  it('an upstream failing its check gets no new requests until it passes again; status says why; probes are counted', async () => {
    const a = await origin('a');
    const b = await origin('b');
    const p = await startProxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams: [a.url, b.url], policy: { healthCheck: check } }] });
    cleanups.push(() => p.proxy.close(0));
    const probes: string[] = [];
    p.proxy.addObserver({ healthChecked: (u, pass) => probes.push(`${u} ${pass}`) });
    b.setHealthy(false);
    const statusOf = () => p.proxy.upstreamHealth().find((u) => u.upstream === `127.0.0.1:${b.port}`)!;
    await until(async () => statusOf(), (s) => !s.available, 10_000);
    const down = statusOf();
    expect(down).toMatchObject({ route: 'r', available: false, check: { healthy: false, last: '500' } });
    expect(down.check!.why).toMatch(/\/health: 500/);
    const before = b.hits();
    for (let i = 0; i < 10; i++) expect((await request(p.port, 'GET /x HTTP/1.1\r\nHost: t\r\n\r\n')).body.toString()).toBe('a');
    expect(b.hits()).toBe(before);
    b.setHealthy(true);
    await until(async () => statusOf(), (s) => s.available, 10_000);
    const bodies = new Set<string>();
    for (let i = 0; i < 10; i++) bodies.add((await request(p.port, 'GET /x HTTP/1.1\r\nHost: t\r\n\r\n')).body.toString());
    expect(bodies).toEqual(new Set(['a', 'b']));
    expect(probes.some((x) => x.endsWith('false'))).toBe(true);
    expect(probes.some((x) => x.endsWith('true'))).toBe(true);
  });

  it('one probe per upstream and check per interval, whatever the number of routes that share them; a route change to others keeps them', async () => {
    const a = await origin('a');
    const routes = Array.from({ length: 5 }, (_, i) => ({ id: `r${i}`, pathPrefix: `/${i}`, upstreams: [a.url], policy: { healthCheck: { ...check, intervalMs: 200 } } }));
    const p = await startProxy({ routes });
    cleanups.push(() => p.proxy.close(0));
    await sleep(1100);
    p.proxy.applyRoutes([...routes, { id: 'other', pathPrefix: '/o', upstreams: [a.url] }]);
    await sleep(1000);
    // ~10 probes in ~2.1 s at one per 200 ms (not 5x that); slack for a slow machine
    expect(a.probes()).toBeGreaterThanOrEqual(4);
    expect(a.probes()).toBeLessThanOrEqual(12);
  });

  it('every upstream failing its check: traffic still goes to them (panic mode)', async () => {
    const a = await origin('a');
    a.setHealthy(false);
    const p = await startProxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams: [a.url], policy: { healthCheck: check } }] });
    cleanups.push(() => p.proxy.close(0));
    await until(async () => p.proxy.upstreamHealth()[0], (s) => !s.available, 10_000);
    expect((await httpGet(p.port, '/x', false)).status).toBe(200);
  });
});

describe('active health checks with workers', () => {
  beforeAll(() => ensureBuilt(BIN, ['src', 'admin']), 180_000);
  afterEach(() => killAll());

  it('the primary probes once for every worker; each worker stops sending to an unhealthy upstream; /v1/status and /metrics show it', async () => {
    const a = await origin('a');
    const b = await origin('b');
    const dir = mkdtempSync(join(tmpdir(), 'portico-hc-'));
    const file = join(dir, 'portico.json');
    writeFileSync(file, JSON.stringify({ routes: [{ id: 'r', pathPrefix: '/', upstreams: [a.url, b.url], policy: { healthCheck: { ...check, intervalMs: 200 } } }] }));
    const p = await startPortico(['--workers', '2', '--config', file, '--log-level', 'warn']);
    b.setHealthy(false);
    const s = await until(() => p.status(), (st) => (st as unknown as { upstreams?: Array<{ upstream: string; available: boolean }> }).upstreams?.some((u) => u.upstream === `127.0.0.1:${b.port}` && !u.available) ?? false, 15_000);
    const ups = (s as unknown as { upstreams: Array<{ upstream: string; available: boolean; check?: { healthy: boolean } }> }).upstreams;
    expect(ups.find((u) => u.upstream === `127.0.0.1:${b.port}`)).toMatchObject({ available: false, check: { healthy: false } });
    // both workers learnt it: new connections (spread by the kernel over the workers) all go to a
    await sleep(300);
    const before = b.hits();
    for (let i = 0; i < 16; i++) expect((await httpGet(p.port, '/x', false)).body).toBe('a');
    expect(b.hits()).toBe(before);
    // probes: one per interval from the primary, not one per worker
    const start = b.probes();
    await sleep(1000);
    const perSecond = b.probes() - start;
    expect(perSecond).toBeGreaterThanOrEqual(2);
    expect(perSecond).toBeLessThanOrEqual(7);
    const text = await (await fetch(`${p.admin}/metrics`)).text();
    expect(metricSum(text, 'portico_health_checks_total', 'result="fail"')).toBeGreaterThan(0);
    expect(metricSum(text, 'portico_upstream_available', `upstream="127.0.0.1:${b.port}"`)).toBe(0);
    expect(metricSum(text, 'portico_upstream_available', `upstream="127.0.0.1:${a.port}"`)).toBe(1);
  }, 60_000);
});
