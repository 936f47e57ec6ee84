// A fleet sharing routes through a real etcd (Debian's etcd-server) on loopback: convergence,
// compare-and-swap conflicts (412), an etcd outage under load, a partition with compaction.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { Etcd3 } from 'etcd3';
import { EtcdServer } from '../helpers/etcd.js';
import { startOrigin } from '../admin/helpers.js';
import { runRoutesClient, EXIT_OK } from '../../admin/cli/routes-cli.js';
import { api, etcdStore, get, startInstance, startRelay, until, type Instance } from './fleet.js';

let etcd: EtcdServer;
const origins: Array<Awaited<ReturnType<typeof startOrigin>>> = [];
const cleanups: Array<() => Promise<void>> = [];
let prefixN = 0;
const nextPrefix = () => `/portico-test-${++prefixN}`;

beforeAll(async () => {
  etcd = await EtcdServer.start();
  origins.push(await startOrigin('one'), await startOrigin('two'));
}, 60_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  for (const o of origins) await o.close();
  await etcd?.stop();
});

async function instance(prefix: string, endpoint = etcd.endpoint): Promise<Instance> {
  const inst = await startInstance(etcdStore(endpoint, prefix));
  cleanups.push(() => inst.close());
  return inst;
}

const route = (upstream: string) => ({ id: 'api', pathPrefix: '/api', upstreams: [upstream] });
const follows = (inst: Instance, name: string) => async () => (await get(inst.port, '/api/x').catch(() => ({ body: '' }))).body === `${name} /api/x`;

describe('etcd store: a fleet of two instances', () => {
  it('a change on one instance is served by the other; both agree on revision and ETags; portico routes works against either', async () => {
    const prefix = nextPrefix();
    const [a, b] = [await instance(prefix), await instance(prefix)];
    let r = await api(a, 'POST', '/v1/routes', route(origins[0].url));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const revision = Number(r.headers.get('x-portico-revision'));
    expect(await until(follows(b, 'one'))).toBeDefined();

    r = await api(b, 'PUT', '/v1/routes/api', route(origins[1].url), { 'if-match': r.headers.get('etag')! });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(Number(r.headers.get('x-portico-revision'))).toBeGreaterThan(revision);
    expect(await until(follows(a, 'two'))).toBeDefined();

    // the revision is etcd's: the global ETag of one instance is valid on the other
    const [la, lb] = [await api(a, 'GET', '/v1/routes'), await api(b, 'GET', '/v1/routes')];
    expect(la.headers.get('etag')).toBe(lb.headers.get('etag'));
    r = await api(b, 'DELETE', '/v1/routes/api', undefined, { 'if-match': la.headers.get('etag')! });
    expect(r.status, JSON.stringify(r.body)).toBe(412);

    let out = '';
    const code = await runRoutesClient(['list', '--json', '--admin', a.admin.url], { env: {}, out: (s) => { out += s; }, err: () => {} });
    expect(code).toBe(EXIT_OK);
    expect((JSON.parse(out) as { routes: unknown }).routes).toEqual([expect.objectContaining({ id: 'api', upstreams: [origins[1].url] })]);

    const status = await api(b, 'GET', '/v1/status');
    expect(status.body).toMatchObject({ revision: la.body?.revision, store: { type: 'etcd', connected: true, revision: la.body?.revision, prefix } });
  }, 60_000);

  it('two admins change the same route with the same If-Match on two instances: one wins, the other gets 412', async () => {
    const prefix = nextPrefix();
    const [a, b] = [await instance(prefix), await instance(prefix)];
    const created = await api(a, 'POST', '/v1/routes', route(origins[0].url));
    expect(created.status).toBe(201);
    await until(async () => (await api(b, 'GET', '/v1/routes/api')).status === 200);
    for (let round = 0; round < 3; round++) {
      const etag = (await api(a, 'GET', '/v1/routes/api')).headers.get('etag')!;
      await until(async () => (await api(b, 'GET', '/v1/routes/api')).headers.get('etag') === etag);
      const results = await Promise.all([
        api(a, 'PATCH', '/v1/routes/api', { pathPrefix: `/a${round}` }, { 'if-match': etag }),
        api(b, 'PATCH', '/v1/routes/api', { pathPrefix: `/b${round}` }, { 'if-match': etag }),
      ]);
      expect(results.map((x) => x.status).sort(), JSON.stringify(results.map((x) => x.body))).toEqual([200, 412]);
      const winner = results.find((x) => x.status === 200)!.body?.pathPrefix;
      expect(await until(async () => (await api(b, 'GET', '/v1/routes/api')).body?.pathPrefix === winner)).toBeDefined();
      expect((await api(a, 'GET', '/v1/routes/api')).body?.pathPrefix).toBe(winner);
    }
  }, 60_000);

  it('a partitioned instance says so, keeps serving, and on reconnect catches up (compacted history: full reload)', async () => {
    const prefix = nextPrefix();
    const relay = await startRelay(etcd.clientPort);
    cleanups.push(() => relay.close());
    const a = await instance(prefix);
    const b = await instance(prefix, `127.0.0.1:${relay.port}`);
    expect((await api(a, 'POST', '/v1/routes', route(origins[0].url))).status).toBe(201);
    expect(await until(follows(b, 'one'))).toBeDefined();

    relay.cut();
    expect(await until(async () => (await api(b, 'GET', '/v1/status')).body?.store?.connected === false)).toBeDefined();
    expect((await api(b, 'GET', '/readyz')).status).toBe(200);
    const metrics = await (await fetch(`${b.admin.url}/metrics`)).text();
    expect(metrics).toMatch(/portico_store_connected\{type="etcd"\} 0/);
    // changes b misses, then the history it would resume from is compacted away
    expect((await api(a, 'PUT', '/v1/routes/api', route(origins[1].url))).status).toBe(200);
    expect((await api(a, 'POST', '/v1/routes', { id: 'extra', pathPrefix: '/extra', upstreams: [origins[0].url] })).status).toBe(201);
    const client = new Etcd3({ hosts: `http://${etcd.endpoint}` });
    try {
      const head = await client.get('x').exec();
      await client.kv.compact({ revision: head.header.revision, physical: true });
    } finally {
      client.close();
    }
    expect((await get(b.port, '/api/x')).body).toBe('one /api/x');

    relay.heal();
    expect(await until(follows(b, 'two'))).toBeDefined();
    expect(await until(async () => (await api(b, 'GET', '/v1/status')).body?.store?.connected === true)).toBeDefined();
    expect((await api(b, 'GET', '/v1/routes')).body).toEqual((await api(a, 'GET', '/v1/routes')).body);
  }, 90_000);

  it('etcd frozen (SIGSTOP, connections open but silent): a write answers 503 in under 5 s, never hangs; after SIGCONT writes work', async () => {
    const prefix = nextPrefix();
    const a = await instance(prefix);
    expect((await api(a, 'POST', '/v1/routes', route(origins[0].url))).status).toBe(201);
    process.kill(etcd.pid!, 'SIGSTOP');
    try {
      const started = Date.now();
      const r = await api(a, 'PUT', '/v1/routes/api', route(origins[1].url));
      expect(r.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(5000);
      expect((await api(a, 'GET', '/v1/status')).body?.store?.connected).toBe(false);
      expect((await get(a.port, '/api/x')).body).toBe('one /api/x');
    } finally {
      process.kill(etcd.pid!, 'SIGCONT');
    }
    expect(await until(async () => (await api(a, 'PUT', '/v1/routes/api', route(origins[1].url))).status === 200, 30_000)).toBeDefined();
    expect(await until(async () => (await api(a, 'GET', '/v1/status')).body?.store?.connected === true)).toBeDefined();
  }, 60_000);

  it('etcd killed and restarted under load: no failed proxied request, writes 503 within 5 s, then work again', async () => {
    const prefix = nextPrefix();
    const [a, b] = [await instance(prefix), await instance(prefix)];
    expect((await api(a, 'POST', '/v1/routes', route(origins[0].url))).status).toBe(201);
    expect(await until(follows(b, 'one'))).toBeDefined();

    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const load = Array.from({ length: 8 }, async (_, i) => {
      const port = (i % 2 ? a : b).port;
      while (!stop) {
        try {
          const r = await get(port, '/api/load');
          if (r.status === 200) ok++;
          else failures.push(`${r.status} ${r.body}`);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    });
    try {
      await until(() => ok > 50);
      await etcd.kill();
      expect(await until(async () => (await api(a, 'GET', '/v1/status')).body?.store?.connected === false)).toBeDefined();
      const started = Date.now();
      const refused = await api(a, 'PUT', '/v1/routes/api', route(origins[1].url));
      const took = Date.now() - started;
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      expect(refused.body).toMatchObject({ type: 'urn:portico:problem:store-unavailable', code: 'PRX_ERR_STORE' });
      // the bound for an answer (every etcd call of a write ends within 4.5 s)
      expect(took).toBeLessThan(5000);
      expect((await api(b, 'GET', '/readyz')).status).toBe(200);
      const during = ok;
      await until(() => ok > during + 50);

      await etcd.start();
      expect(await until(async () => (await api(a, 'PUT', '/v1/routes/api', route(origins[1].url))).status === 200, 30_000)).toBeDefined();
      expect(await until(follows(b, 'two'))).toBeDefined();
      expect((await api(b, 'GET', '/v1/status')).body?.store?.connected).toBe(true);
    } finally {
      stop = true;
      await Promise.all(load);
    }
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(100);
  }, 120_000);
});
