// `portico --workers 2 --store etcd://...`: the routes come from a real etcd, and a change made
// through etcd (by another instance of the fleet, or this one's admin API) reaches both workers,
// revision by revision.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { EtcdServer } from '../helpers/etcd.js';
import { ensureBuilt } from '../helpers/built.js';
import { startOrigin } from '../admin/helpers.js';
import { api, etcdStore, startInstance, type Instance } from '../store/fleet.js';
import { BIN, getFresh, killAll, spreadOverWorkers, startPortico, until } from './helpers.js';

let etcd: EtcdServer;
const origins: Array<Awaited<ReturnType<typeof startOrigin>>> = [];
let writer: Instance | undefined;

beforeAll(async () => {
  ensureBuilt(BIN, ['src', 'admin']);
  etcd = await EtcdServer.start();
  origins.push(await startOrigin('one'), await startOrigin('two'));
}, 180_000);

afterEach(async () => {
  killAll();
  await writer?.close();
  writer = undefined;
});

afterAll(async () => {
  for (const o of origins) await o.close();
  await etcd?.stop();
});

const route = (upstream: string) => ({ id: 'api', pathPrefix: '/api', upstreams: [upstream] });

describe('portico --workers 2 with an etcd store', () => {
  it('starts from the store; every change via etcd is applied by both workers, in order, and served by both', async () => {
    const prefix = '/portico-workers';
    writer = await startInstance(etcdStore(etcd.endpoint, prefix));
    let r = await api(writer, 'POST', '/v1/routes', route(origins[0].url));
    expect(r.status, JSON.stringify(r.body)).toBe(201);

    const p = await startPortico(['--workers', '2', '--store', `etcd://${etcd.endpoint}${prefix}`, '--log-level', 'warn']);
    expect((await getFresh(p.port, '/api/first')).body).toBe('one /api/first');

    // several revisions in a row through etcd: each worker gets each one, in order
    for (const o of [origins[1], origins[0], origins[1]]) {
      r = await api(writer, 'PUT', '/v1/routes/api', route(o.url));
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    const revision = Number(r.headers.get('x-portico-revision'));
    const s = await until(() => p.status(), (st) => st.workers.every((w) => w.revision === revision));
    expect(s).toMatchObject({ revision, mode: 'cluster', store: { type: 'etcd', connected: true, revision } });
    expect(s.workers.map((w) => w.revision)).toEqual([revision, revision]);

    const answers = await spreadOverWorkers(p, () => getFresh(p.port, '/api/slow?delay=1500'));
    for (const a of answers) expect(a).toEqual({ status: 200, body: 'two /api/slow' });

    // a change through this instance's own admin API is answered once both workers run it
    const own = await p.call('PUT', '/v1/routes/api', route(origins[0].url));
    expect(own.status, own.body).toBe(200);
    const ownRevision = Number(own.headers.get('x-portico-revision'));
    expect((await p.status()).workers.map((w) => w.revision)).toEqual([ownRevision, ownRevision]);
    for (const a of await spreadOverWorkers(p, () => getFresh(p.port, '/api/slow?delay=1500'))) expect(a).toEqual({ status: 200, body: 'one /api/slow' });
    expect(p.stdout()).not.toMatch(/not applied/);
  }, 120_000);
});
