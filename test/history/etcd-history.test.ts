// The route history on a real etcd shared by a fleet: one history for every instance, kept under
// the prefix (compaction loses none of it), revisions numbered like the routes' ETags, rollback
// through any instance, changes made outside Portico recorded once, the feed on every instance.
import { describe, it, expect, beforeAll, afterAll, afterEach, vi } from 'vitest';
import { Etcd3 } from 'etcd3';
import { EtcdServer } from '../helpers/etcd.js';
import { startOrigin, tempDir } from '../admin/helpers.js';
import { api as fleetApi, etcdStore, get, startInstance, until, type Instance } from '../store/fleet.js';
import { parseAs, type ChangeEvent, type Diff, type Page, type ResetEvent, type RevisionRoutes, type Rollback, type RoutesBody } from './api-types.js';
import { openSse, type SseStream } from '../../bench/sse-client.js';
import { applyDiff } from '../../admin/history/route-diff.js';
import { routesHash } from '../../admin/history/revision-log.js';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runStoreCli } from '../../admin/cli/store-cli.js';

let etcd: EtcdServer;
let client: Etcd3;
const origins: Array<Awaited<ReturnType<typeof startOrigin>>> = [];
const cleanups: Array<() => Promise<void> | void> = [];
let prefixN = 0;
const nextPrefix = () => `/portico-history-${++prefixN}`;

beforeAll(async () => {
  etcd = await EtcdServer.start();
  client = new Etcd3({ hosts: `http://${etcd.endpoint}` });
  origins.push(await startOrigin('one'), await startOrigin('two'));
}, 60_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  client?.close();
  for (const o of origins) await o.close();
  await etcd?.stop();
});

async function instance(prefix: string, keep?: number): Promise<Instance> {
  const inst = await startInstance(etcdStore(etcd.endpoint, prefix), keep);
  let closed = false;
  const close = inst.close.bind(inst);
  inst.close = async () => {
    if (closed) return;
    closed = true;
    await close();
  };
  cleanups.push(() => inst.close());
  return inst;
}

async function follow(inst: Instance, headers: Record<string, string> = {}): Promise<SseStream> {
  const s = await openSse(`${inst.admin.url}/v1/changes`, headers);
  cleanups.push(() => s.close());
  return s;
}

const route = (id: string, upstream: string): RouteSpec => ({ id, pathPrefix: `/${id}`, upstreams: [upstream] });
const serves = (inst: Instance, path: string, name: string) => async () => (await get(inst.port, `${path}/x`).catch(() => ({ body: '' }))).body === `${name} ${path}/x`;
/** An admin API call whose answer is read as `T`. */
async function api<T = unknown>(inst: Instance, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await fleetApi(inst, method, path, body, headers);
  return { ...r, body: r.body as T };
}
const revisions = async (inst: Instance) => (await api<Page>(inst, 'GET', '/v1/revisions?limit=1000')).body;

describe('route history (etcd): one history for the fleet', () => {
  it('a write on one instance is the same revision on both (number = the routes\' revision, source, message); rollback through the other; both serve the old routes', async () => {
    const prefix = nextPrefix();
    const [a, b] = [await instance(prefix), await instance(prefix)];
    let r = await api(a, 'POST', '/v1/routes', route('api', origins[0].url), { 'x-portico-change-message': 'first api' });
    expect(r.status).toBe(201);
    const rev1 = Number(r.headers.get('x-portico-revision'));
    r = await api(b, 'PUT', '/v1/routes/api', route('api', origins[1].url));
    const rev2 = Number(r.headers.get('x-portico-revision'));
    expect(await until(serves(a, '/api', 'two'))).toBeDefined();
    expect(await until(async () => (await revisions(a)).current === rev2)).toBeDefined();
    const [ha, hb] = [await revisions(a), await revisions(b)];
    expect(ha.revisions).toEqual(hb.revisions);
    expect(ha.revisions.map((x) => x.revision).slice(0, 2)).toEqual([rev2, rev1]);
    expect(ha.revisions[1]).toMatchObject({ message: 'first api', added: 1, source: { kind: 'admin', token: 'admin' } });
    expect(ha.revisions[0]).toMatchObject({ previous: rev1, changed: 1 });
    // the first record: the (empty) routes as the first instance found them
    expect(ha.revisions.at(-1)).toMatchObject({ initial: true, routes: 0, source: { kind: 'etcd' } });
    expect((await api<Diff>(a, 'GET', `/v1/revisions/${rev1}/diff?from=${rev2}`)).body.changed[0].members).toEqual(['upstreams']);

    // rollback through b, to a's first write
    const rb3 = await api<Rollback>(b, 'POST', `/v1/revisions/${rev1}/rollback`);
    expect(rb3.status, JSON.stringify(rb3.body)).toBe(200);
    const rev3 = rb3.body.revision;
    expect(rev3).toBeGreaterThan(rev2);
    const t0 = Date.now();
    expect(await until(serves(a, '/api', 'one'), 5000)).toBeDefined();
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await until(async () => (await revisions(a)).current === rev3)).toBeDefined();
    const [ra, rb] = [await api<RoutesBody>(a, 'GET', '/v1/routes'), await api<RoutesBody>(b, 'GET', '/v1/routes')];
    expect(ra.headers.get('etag')).toBe(rb.headers.get('etag'));
    expect(ra.body.revision).toBe(rev3);
    expect((await revisions(a)).revisions[0]).toMatchObject({ revision: rev3, previous: rev2, source: { kind: 'rollback', to: rev1 } });
    expect((await api<RevisionRoutes>(a, 'GET', `/v1/revisions/${rev1}`)).body.routes).toEqual(ra.body.routes);
  }, 60_000);

  it('kept under the prefix: a new instance and a restarted one read the same history, after etcd compacted its own; revision numbers and ETags stay', async () => {
    const prefix = nextPrefix();
    const a = await instance(prefix);
    for (const [i, o] of [origins[0], origins[1], origins[0]].entries()) {
      expect((await api(a, 'PUT', '/v1/config', { routes: [route('api', o.url), ...(i > 0 ? [route(`x${i}`, o.url)] : [])] })).status).toBe(200);
    }
    const before = await revisions(a);
    const etag = (await api(a, 'GET', '/v1/routes')).headers.get('etag');
    // unrelated writes move etcd's revision on; then etcd forgets every past value
    await client.put('/elsewhere').value('x');
    const head = await client.get('/elsewhere').exec();
    await client.kv.compact({ revision: head.header.revision, physical: true });
    await a.close();
    const c = await instance(prefix);
    const after = await revisions(c);
    expect(after.revisions).toEqual(before.revisions);
    expect(after.current).toBe(before.current);
    const routes = await api<RoutesBody>(c, 'GET', '/v1/routes');
    expect(routes.headers.get('etag')).toBe(etag);
    expect(routes.body.revision).toBe(before.current);
    // every kept revision is still there, whole
    for (const rev of before.revisions) expect((await api(c, 'GET', `/v1/revisions/${rev.revision}`)).status).toBe(200);
    expect((await api(c, 'POST', `/v1/revisions/${before.revisions[2].revision}/rollback`)).status).toBe(200);
    expect(await until(serves(c, '/api', 'one'))).toBeDefined();
  }, 60_000);

  it('changes made outside Portico (etcdctl) are recorded once, source etcd, while instances run and while none does', async () => {
    const prefix = nextPrefix();
    const [a, b] = [await instance(prefix), await instance(prefix)];
    await api(a, 'POST', '/v1/routes', route('api', origins[0].url));
    // by hand, as with etcdctl put
    const put = await client.put(`${prefix}/routes/hand`).value(JSON.stringify(route('hand', origins[1].url))).exec();
    const handRev = Number(put.header.revision);
    expect(await until(serves(b, '/hand', 'two'))).toBeDefined();
    for (const inst of [a, b]) {
      expect(await until(async () => (await revisions(inst)).current === handRev)).toBeDefined();
      expect((await revisions(inst)).revisions[0]).toMatchObject({ revision: handRev, added: 1, source: { kind: 'etcd' } });
    }
    // written once (both instances tried)
    expect(await until(async () => (await client.getAll().prefix(`${prefix}/history/revisions/r-`).keys()).length === 2)).toBeDefined();

    // while no instance runs
    await a.close();
    await b.close();
    const del = await client.delete().key(`${prefix}/routes/hand`).exec();
    const c = await instance(prefix);
    const h = await revisions(c);
    expect(h.revisions[0]).toMatchObject({ previous: handRev, removed: 1, source: { kind: 'etcd' } });
    expect(h.revisions[0].revision).toBeGreaterThanOrEqual(Number(del.header.revision));
    expect(h.revisions.map((x) => x.revision)).toContain(handRev);
    expect((await api<RoutesBody>(c, 'GET', '/v1/routes')).body.revision).toBe(h.revisions[0].revision);
  }, 60_000);

  it('portico store import is a revision of its own (source import), in the same transaction as the routes', async () => {
    const prefix = nextPrefix();
    const a = await instance(prefix);
    await api(a, 'POST', '/v1/routes', route('api', origins[0].url));
    const tmp = tempDir();
    cleanups.push(() => tmp.cleanup());
    const file = join(tmp.dir, 'routes.json');
    writeFileSync(file, JSON.stringify({ routes: [route('api', origins[1].url), route('web', origins[1].url)] }));
    // its report line goes to stderr: kept out of the test output
    const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runStoreCli(['import', file, '--store', `etcd://${etcd.endpoint}${prefix}`])).toBe(0);
    } finally {
      quiet.mockRestore();
    }
    expect(await until(serves(a, '/web', 'two'))).toBeDefined();
    const top = (await revisions(a)).revisions[0];
    expect(top).toMatchObject({ added: 1, changed: 1, removed: 0, source: { kind: 'import', file } });
    expect((await api<RoutesBody>(a, 'GET', '/v1/routes')).body.revision).toBe(top.revision);
  }, 60_000);

  it('keeps the last history.keep records in etcd (older keys are deleted by the writers)', async () => {
    const prefix = nextPrefix();
    const a = await instance(prefix, 3);
    for (let i = 0; i < 6; i++) expect((await api(a, 'POST', '/v1/routes', route(`r${i}`, origins[0].url))).status).toBe(201);
    const h = await revisions(a);
    expect(h.revisions).toHaveLength(3);
    expect(await until(async () => (await client.getAll().prefix(`${prefix}/history/revisions/`).keys()).length === 3)).toBeDefined();
    expect((await api(a, 'GET', `/v1/revisions/${(h.oldest ?? 0) - 1}`)).status).toBe(410);
  }, 60_000);
});

describe('route history (etcd): the change feed on every instance', () => {
  it('each instance streams the fleet\'s changes in order; Last-Event-ID resumes on another instance and after a restart', async () => {
    const prefix = nextPrefix();
    const [a, b] = [await instance(prefix), await instance(prefix)];
    const sb = await follow(b);
    const [reset] = await sb.waitFor(1);
    expect(reset.event).toBe('reset');
    let routes: ReadonlyArray<Readonly<RouteSpec>> = parseAs<ResetEvent>(reset.data).routes;
    for (let i = 0; i < 20; i++) {
      const [inst, other] = i % 2 ? [a, b] : [b, a];
      const r = i % 5 === 4 ? await api(inst, 'DELETE', `/v1/routes/r${i - 1}`) : await api(inst, 'POST', '/v1/routes', route(`r${i}`, origins[i % 2].url));
      expect(r.status).toBeLessThan(300);
      // the next write goes through the other instance: it must have this one first
      const rev = Number(r.headers.get('x-portico-revision'));
      expect(await until(async () => (await revisions(other)).current === rev)).toBeDefined();
    }
    const events = (await sb.waitFor(21)).slice(1);
    let prev = Number(reset.id);
    for (const e of events) {
      const d = parseAs<ChangeEvent>(e.data);
      expect(e.event).toBe('revision');
      expect(d.previous).toBe(prev);
      expect(Number(e.id)).toBe(d.revision);
      routes = applyDiff(routes, d);
      expect(routesHash(routes)).toBe(d.hash);
      prev = d.revision;
    }
    // resume on a, from the 10th event
    const sa = await follow(a, { 'last-event-id': events[9].id! });
    expect((await sa.waitFor(10)).map((e) => e.id)).toEqual(events.slice(10).map((e) => e.id));
    // and after a restarts (changes made meanwhile on b)
    sa.close();
    await a.close();
    for (let i = 20; i < 25; i++) await api(b, 'POST', '/v1/routes', route(`r${i}`, origins[0].url));
    const a2 = await instance(prefix);
    const sa2 = await follow(a2, { 'last-event-id': events.at(-1)!.id! });
    const more = await sa2.waitFor(5);
    expect(more.map((e) => e.event)).toEqual(Array(5).fill('revision'));
    expect(parseAs<ChangeEvent>(more[0].data).previous).toBe(prev);
  }, 90_000);
});
