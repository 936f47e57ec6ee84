// The admin API over real HTTP against a running proxy: traffic follows route changes, route
// changes under load fail no request, in-flight requests finish on the old table, a restart keeps
// the routes, and mutations need the token.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, statSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Pool, request } from 'undici';
import { resolveConfig, type Config } from '../../src/config/config.js';
import { ProxyServer } from '../../src/server/proxy-server.js';
import { InProcessDataPlane } from '../../admin/cluster/in-process.js';
import { startAdmin } from '../../admin/api/start-admin.js';
import type { AdminHandle } from '../../admin/api/admin-context.js';
import { TOKEN, makeConfig, silent, startOrigin, tempDir } from './helpers.js';

/** The proxy core may still be a placeholder (listen() resolves but `ready` stays false). */
async function proxyIsReal(): Promise<boolean> {
  const p = new ProxyServer(makeConfig(), silent);
  try {
    await p.listen();
    return p.ready && p.addresses().length > 0;
  } finally {
    await p.close(0);
  }
}
const real = await proxyIsReal();
const SKIP_REASON = 'skipped: ProxyServer is still the placeholder (ready stays false after listen())';
if (!real) console.warn(`test/admin/http.test.ts: ${SKIP_REASON}`);

interface Running {
  proxy: ProxyServer;
  admin: AdminHandle;
  base: string;
  close: () => Promise<void>;
}

async function startPortico(config: Config, configPath?: string): Promise<Running> {
  const proxy = new ProxyServer(config, silent);
  await proxy.listen();
  const admin = await startAdmin({ dataPlane: new InProcessDataPlane(proxy), config, configPath, listen: '127.0.0.1:0', token: TOKEN, logger: silent });
  const base = `http://127.0.0.1:${proxy.addresses()[0].port}`;
  return { proxy, admin, base, close: async () => { await admin.close(); await proxy.close(1000); } };
}

async function api(r: Running, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(r.admin.url + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as unknown) : undefined };
}

async function fetchText(url: string): Promise<{ status: number; text: string }> {
  const res = await request(url);
  return { status: res.statusCode, text: await res.body.text() };
}

describe.skipIf(!real)(`admin API over real HTTP${real ? '' : ` (${SKIP_REASON})`}`, () => {
  let a: Awaited<ReturnType<typeof startOrigin>>;
  let b: Awaited<ReturnType<typeof startOrigin>>;
  let tmp: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    a = await startOrigin('A');
    b = await startOrigin('B');
    tmp = tempDir();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    tmp?.cleanup();
  });

  it('add, change and remove a route: traffic follows; /readyz is 200; metrics count it', async () => {
    const r = await startPortico(makeConfig());
    try {
      expect((await fetchText(`${r.base}/svc/x`)).status).toBe(404);
      let res = await api(r, 'POST', '/v1/routes', { id: 'svc', pathPrefix: '/svc', upstreams: [a.url], stripPrefix: true });
      expect(res.status).toBe(201);
      expect(await fetchText(`${r.base}/svc/x`)).toEqual({ status: 200, text: 'A /x' });
      res = await api(r, 'PATCH', '/v1/routes/svc', { upstreams: [b.url], stripPrefix: false });
      expect(res.status).toBe(200);
      expect(await fetchText(`${r.base}/svc/x`)).toEqual({ status: 200, text: 'B /svc/x' });
      res = await api(r, 'PUT', '/v1/routes/svc', { pathPrefix: '/svc', upstreams: [b.url], rewritePrefix: '/v2' });
      expect(await fetchText(`${r.base}/svc/x`)).toEqual({ status: 200, text: 'B /v2/x' });
      res = await api(r, 'DELETE', '/v1/routes/svc');
      expect(res.status).toBe(204);
      expect((await fetchText(`${r.base}/svc/x`)).status).toBe(404);

      expect((await api(r, 'GET', '/readyz')).status).toBe(200);
      const metrics = await (await fetch(`${r.admin.url}/metrics`)).text();
      expect(metrics).toMatch(/portico_http_requests_total\{route="svc",protocol="http\/1.1",status_class="2xx"\} 3/);
      expect(metrics).toMatch(/portico_http_requests_total\{route="\(none\)",protocol="http\/1.1",status_class="4xx"\} 2/);
      expect(metrics).toMatch(/portico_http_request_duration_seconds_count\{route="svc",protocol="http\/1.1"\} 3/);
      expect(metrics).toMatch(/portico_config_revision 5/);
      expect(metrics).toMatch(/portico_upstream_socket_acquisitions_total\{upstream="127\.0\.0\.1:\d+",reused="false"\} \d/);
    } finally {
      await r.close();
    }
  });

  it('200 route changes while load runs on two other routes: zero failed requests', async () => {
    const r = await startPortico(makeConfig({ routes: [
      { id: 'steady', pathPrefix: '/steady', upstreams: [a.url] },
      { id: 'flip', pathPrefix: '/flip', upstreams: [a.url] },
    ] }));
    const pool = new Pool(r.base, { connections: 16 });
    let stop = false;
    const stats = { ok: 0, failed: 0, firstFailure: '' };
    const worker = async (path: string, accept: RegExp) => {
      while (!stop) {
        try {
          const res = await pool.request({ path, method: 'GET' });
          const text = await res.body.text();
          if (res.statusCode === 200 && accept.test(text)) stats.ok++;
          else { stats.failed++; stats.firstFailure ||= `${res.statusCode} ${text}`; }
        } catch (e) {
          stats.failed++;
          stats.firstFailure ||= String(e);
        }
      }
    };
    try {
      const workers = [
        ...Array.from({ length: 8 }, () => worker('/steady/x', /^A \/steady\/x$/)),
        // the route being changed keeps answering, from one upstream or the other
        ...Array.from({ length: 8 }, () => worker('/flip/y', /^[AB] \/flip\/y$/)),
      ];
      const times: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        let res;
        if (i % 4 === 0) res = await api(r, 'POST', '/v1/routes', { id: `extra-${i}`, pathPrefix: `/extra/${i}`, upstreams: [b.url] });
        else if (i % 4 === 1) res = await api(r, 'DELETE', `/v1/routes/extra-${i - 1}`);
        else res = await api(r, 'PATCH', '/v1/routes/flip', { upstreams: [i % 4 === 2 ? b.url : a.url] });
        times.push(performance.now() - t0);
        expect(res.status).toBeLessThan(300);
      }
      stop = true;
      await Promise.all(workers);
      expect(stats.failed, stats.firstFailure).toBe(0);
      expect(stats.ok).toBeGreaterThan(200);
      expect(r.proxy.revision).toBe(201);
      times.sort((x, y) => x - y);
      console.log(`200 route changes under load: apply p50 ${times[100].toFixed(2)} ms, p99 ${times[197].toFixed(2)} ms; ${stats.ok} requests, ${stats.failed} failed`);
    } finally {
      stop = true;
      await pool.close();
      await r.close();
    }
  });

  it('a change during a slow in-flight request lets it finish on the old table', async () => {
    const r = await startPortico(makeConfig({ routes: [{ id: 'slow', pathPrefix: '/slow', upstreams: [a.url] }] }));
    try {
      const inFlight = fetchText(`${r.base}/slow/z?delay=800`);
      await new Promise((res) => setTimeout(res, 200));
      expect((await api(r, 'PATCH', '/v1/routes/slow', { upstreams: [b.url] })).status).toBe(200);
      expect(await fetchText(`${r.base}/slow/fast`)).toEqual({ status: 200, text: 'B /slow/fast' });
      expect((await api(r, 'DELETE', '/v1/routes/slow')).status).toBe(204);
      expect((await fetchText(`${r.base}/slow/fast`)).status).toBe(404);
      expect(await inFlight).toEqual({ status: 200, text: 'A /slow/z' });
    } finally {
      await r.close();
    }
  });

  it('accepted changes are persisted atomically (0600) and a restart serves the same routes', async () => {
    const path = join(tmp.dir, 'sub-portico.json');
    expect(existsSync(path)).toBe(false);
    const first = await startPortico(makeConfig(), path);
    try {
      // a rejected change creates nothing
      expect((await api(first, 'POST', '/v1/routes', { id: 'bad', pathPrefix: '/bad', upstreams: ['ftp://x.example'] })).status).toBe(422);
      expect(existsSync(path)).toBe(false);
      expect((await api(first, 'POST', '/v1/routes', { id: 'one', pathPrefix: '/one', upstreams: [a.url] })).status).toBe(201);
      expect((await api(first, 'POST', '/v1/routes', { id: 'two', pathPrefix: '/two', upstreams: [b.url], stripPrefix: true })).status).toBe(201);
      expect((await api(first, 'PATCH', '/v1/routes/one', { host: 'localhost' })).status).toBe(200);
    } finally {
      await first.close();
    }
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    const saved = JSON.parse(readFileSync(path, 'utf8')) as { routes: Array<{ id: string }> };
    expect(saved.routes.map((x: { id: string }) => x.id)).toEqual(['one', 'two']);

    // restart from the file (the listen address is overridden, as `--listen` does)
    const second = await startPortico(resolveConfig({ ...saved, listen: '127.0.0.1:0', logLevel: 'silent' }), path);
    try {
      const list = await api(second, 'GET', '/v1/routes');
      expect((list.json as { routes: unknown }).routes).toEqual(saved.routes);
      const port = second.base.split(':').pop();
      expect((await request(`${second.base}/one/p`, { headers: { host: `localhost:${port}` } }).then(async (x) => ({ s: x.statusCode, t: await x.body.text() })))).toEqual({ s: 200, t: 'A /one/p' });
      expect(await fetchText(`${second.base}/two/p`)).toEqual({ status: 200, text: 'B /p' });
      // and it keeps writing the same file
      expect((await api(second, 'DELETE', '/v1/routes/two')).status).toBe(204);
      expect((JSON.parse(readFileSync(path, 'utf8')) as { routes: Array<{ id: string }> }).routes.map((x: { id: string }) => x.id)).toEqual(['one']);
    } finally {
      await second.close();
    }
  });

  it('unauthenticated and wrong-token mutations are refused (401); GET mutations do not exist', async () => {
    const r = await startPortico(makeConfig({ routes: [{ id: 'keep', pathPrefix: '/keep', upstreams: [a.url] }] }));
    try {
      const body = JSON.stringify({ id: 'evil', pathPrefix: '/evil', upstreams: [b.url] });
      let res = await fetch(`${r.admin.url}/v1/routes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      res = await fetch(`${r.admin.url}/v1/routes/keep`, { method: 'DELETE', headers: { authorization: 'Bearer wrong-token-wrong-token' } });
      expect(res.status).toBe(401);
      res = await fetch(`${r.admin.url}/v1/config`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}`, 'content-type': 'application/json' }, body: '{"routes":[]}' });
      expect(res.status).toBe(401);
      for (const path of ['/v1/routes/keep/delete', '/v1/routes/keep?delete=true', '/v1/config?routes=[]', '/v1/routes?id=evil&pathPrefix=/evil']) {
        const g = await fetch(`${r.admin.url}${path}`);
        expect([400, 404]).toContain(g.status);
      }
      // DNS rebinding: a page served from evil.example resolved to 127.0.0.1
      const port = r.admin.url.split(':').pop();
      const rebound = await request(`${r.admin.url}/v1/config`, { headers: { host: `evil.example:${port}` } });
      expect(rebound.statusCode).toBe(403);
      await rebound.body.text();
      expect(r.proxy.routes.current.routes.map((x) => x.id)).toEqual(['keep']);
      expect(r.proxy.revision).toBe(1);
    } finally {
      await r.close();
    }
  });

  it('startAdmin refuses a non-loopback listener without a token, and a busy port, with clear errors', async () => {
    const proxy = new ProxyServer(makeConfig(), silent);
    const config = makeConfig();
    await expect(startAdmin({ dataPlane: new InProcessDataPlane(proxy), config, configPath: undefined, listen: '0.0.0.0:0', token: undefined, logger: silent }))
      .rejects.toThrow(/refusing to serve the admin API on 0\.0\.0\.0:0 .*without a token.*PORTICO_ADMIN_TOKEN/);
    await expect(startAdmin({ dataPlane: new InProcessDataPlane(proxy), config, configPath: undefined, listen: '127.0.0.1:0', token: 'short', logger: silent }))
      .rejects.toThrow(/too short/);
    const first = await startAdmin({ dataPlane: new InProcessDataPlane(proxy), config, configPath: undefined, listen: '127.0.0.1:0', token: undefined, logger: silent });
    try {
      const port = first.url.split(':').pop();
      await expect(startAdmin({ dataPlane: new InProcessDataPlane(proxy), config, configPath: undefined, listen: `127.0.0.1:${port}`, token: TOKEN, logger: silent }))
        .rejects.toThrow(/already in use/);
    } finally {
      await first.close();
    }
  });
});
