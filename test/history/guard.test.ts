// Guarded changes (issue 22 §4) as users run them: `portico` (the bin, a child process) under
// keep-alive load, a write with ?guard= that points a route at a dead upstream is rolled back
// automatically (history, feed, status, log); a clean one ends without a rollback; a newer change
// supersedes the guard; with --workers 2; and on an etcd fleet of two instances, where the
// instance that accepted the write judges with the counts of the other one.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdServer } from '../helpers/etcd.js';
import { ensureBuilt } from '../helpers/built.js';
import { startOrigin, tempDir } from '../admin/helpers.js';
import { BIN, getFresh, killAll, startLoad, startPortico, until, type Load, type Portico, type Status } from '../cluster/helpers.js';
import { openSse, type SseEvent } from '../../bench/sse-client.js';
import { freePort } from '../../bench/ports.js';
import { sleep } from '../helpers/harness.js';
import { parseAs, type ChangeEvent, type Guard, type GuardStatus, type Page } from './api-types.js';

let etcd: EtcdServer;
const origins: Array<Awaited<ReturnType<typeof startOrigin>>> = [];
const tmp = tempDir();
let load: Load | undefined;

beforeAll(async () => {
  ensureBuilt(BIN, ['src', 'admin']);
  etcd = await EtcdServer.start();
  origins.push(await startOrigin('one'), await startOrigin('two'));
}, 180_000);

afterEach(async () => {
  await load?.stop();
  load = undefined;
  killAll();
});

afterAll(async () => {
  for (const o of origins) await o.close();
  await etcd?.stop();
  tmp.cleanup();
});

const route = (upstream: string) => ({ id: 'api', pathPrefix: '/api', upstreams: [upstream] });

async function startWithConfig(name: string, extra: string[] = []): Promise<Portico> {
  const config = join(tmp.dir, `${name}.json`);
  writeFileSync(config, JSON.stringify({ routes: [route(origins[0].url)] }));
  return startPortico([...extra, '--config', config, '--log-level', 'warn']);
}

async function guardStatus(p: Portico): Promise<GuardStatus & Status> {
  return (await p.status()) as GuardStatus & Status;
}

/** Load on the proxy, and enough answers that the routes have a baseline before the change. */
async function loaded(port: number): Promise<Load> {
  load = startLoad(port, '/api/x', 4);
  const l = load;
  await until(async () => l.ok, (n) => n >= 40, 20_000);
  expect(l.ok).toBeGreaterThanOrEqual(40);
  return l;
}

const guardEvents = (events: SseEvent[]) => events.filter((e) => e.event === 'guard').map((e) => parseAs<Guard>(e.data));

/** Points `api` at a port nobody listens on, guarded; waits for the guard's rollback. */
async function breakAndWaitForRollback(writer: Portico, query: string): Promise<{ guarded: number; rollback: number; header: string }> {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const put = await writer.call('PUT', `/v1/routes/api?${query}`, route(dead));
  expect(put.status, put.body).toBe(200);
  const guarded = Number(put.headers.get('x-portico-revision'));
  const header = put.headers.get('x-portico-guard') ?? '';
  const page = await until(async () => parseAs<Page>((await writer.call('GET', '/v1/revisions?limit=1')).body), (pg) => pg.revisions[0].source.kind === 'guard', 30_000);
  const top = page.revisions[0];
  expect(top).toMatchObject({ previous: guarded, source: { kind: 'guard', guarded }, message: `guard: rolled back revision ${guarded}` });
  expect(top.source.reason).toMatch(/^failure rate \(5xx and upstream connect failures\) of api rose to \d/);
  return { guarded, rollback: top.revision, header };
}

describe('guarded changes: one process (file store)', () => {
  it('a change that points a route at a dead upstream under load is rolled back: a new revision of source guard, the feed, GET /v1/status and the log say so; the old upstream serves again', async () => {
    const p = await startWithConfig('dead');
    const feed = await openSse(`${p.admin}/v1/changes`);
    await feed.waitFor(1);
    await loaded(p.port);
    const { guarded, rollback, header } = await breakAndWaitForRollback(p, 'guard=30s&guardMinRequests=10');
    expect(guarded).toBe(2);
    expect(rollback).toBe(3);
    expect(header).toMatch(/^revision=2; routes="api"; until=\S+; maxErrorRate=0.05; minRequests=10$/);
    // the rollback runs: the old upstream answers again
    expect((await getFresh(p.port, '/api/x')).body).toBe('one /api/x');

    const events = await feed.waitFor(5);
    expect(events.filter((e) => e.event !== 'guard').map((e) => [e.event, e.id])).toEqual([['reset', '1'], ['revision', '2'], ['revision', '3']]);
    expect(parseAs<ChangeEvent>(events.find((e) => e.id === '3')!.data)).toMatchObject({ source: { kind: 'guard', guarded: 2 }, changed: [{ id: 'api', members: ['upstreams'] }] });
    const notices = guardEvents(events);
    expect(notices.map((g) => g.state)).toEqual(['watching', 'rolled-back']);
    expect(notices[1]).toMatchObject({ revision: 2, routes: ['api'], by: 3 });
    feed.close();

    const s = await guardStatus(p);
    expect(s.guards).toEqual([]);
    const ended = s.recentGuards[0];
    expect(ended).toMatchObject({ revision: 2, state: 'rolled-back', by: 3, routes: ['api'], minRequests: 10 });
    expect(ended.after.requests).toBeGreaterThanOrEqual(10);
    expect(ended.after.errors / ended.after.requests).toBeGreaterThan(0.05);
    expect(ended.before.requests).toBeGreaterThan(0);
    expect(ended.before.errors, JSON.stringify(ended)).toBe(0);
    const logged = await until(async () => p.stdout() + p.stderr(), (text) => /guard: rolled back revision 2/.test(text), 5_000);
    expect(logged).toMatch(/"level":40.*guard: rolled back revision 2: failure rate/);
  }, 120_000);

  it('a clean guarded change ends without a rollback (passed), shown while in progress; a newer change to the same route supersedes a guard', async () => {
    const p = await startWithConfig('clean');
    const feed = await openSse(`${p.admin}/v1/changes`);
    await feed.waitFor(1);
    await loaded(p.port);
    const put = await p.call('PUT', '/v1/routes/api?guard=2s&guardMinRequests=5', route(origins[1].url));
    expect(put.status, put.body).toBe(200);
    expect(put.headers.get('x-portico-guard')).toMatch(/^revision=2; /);
    const during = await guardStatus(p);
    expect(during.guards).toEqual([expect.objectContaining({ revision: 2, state: 'watching', routes: ['api'], windowMs: 2000, minRequests: 5 })]);
    const s = await until(() => guardStatus(p), (st) => st.recentGuards.length > 0, 20_000);
    expect(s.recentGuards[0]).toMatchObject({ revision: 2, state: 'passed', after: { errors: 0 } });
    expect(s.recentGuards[0].after.requests).toBeGreaterThan(0);
    expect(s.guards).toEqual([]);
    expect(parseAs<Page>((await p.call('GET', '/v1/revisions?limit=1')).body).current).toBe(2);
    expect((await getFresh(p.port, '/api/x')).body).toBe('two /api/x');

    // a guard of an hour, then another change of the same route: the guard ends, superseded
    const long = await p.call('PUT', '/v1/routes/api?guard=1h', route(origins[0].url));
    expect(long.status).toBe(200);
    expect((await p.call('PUT', '/v1/routes/api', route(origins[1].url))).status).toBe(200);
    const after = await guardStatus(p);
    expect(after.guards).toEqual([]);
    expect(after.recentGuards[0]).toMatchObject({ revision: 3, state: 'superseded', by: 4 });
    const notices = guardEvents(await feed.waitFor(7));
    expect(notices.map((g) => [g.revision, g.state])).toEqual([[2, 'watching'], [2, 'passed'], [3, 'watching'], [3, 'superseded']]);
    feed.close();
    // a guarded write that changes nothing starts no guard, and says so
    const same = await p.call('PUT', '/v1/routes/api?guard=5s', route(origins[1].url));
    expect(same.headers.get('x-portico-guard')).toBe('none; reason="nothing changed"');
  }, 120_000);


  it('a route with little traffic is judged on its own: it is not hidden by a busy route changed with it (PUT /v1/config, the whole change undone)', async () => {
    const config = join(tmp.dir, 'two-routes.json');
    const low = { id: 'low', pathPrefix: '/low', upstreams: [origins[0].url] };
    writeFileSync(config, JSON.stringify({ routes: [route(origins[0].url), low] }));
    const p = await startPortico(['--config', config, '--log-level', 'warn']);
    await loaded(p.port);
    // a trickle on /low next to the load on /api
    let trickling = true;
    const trickle = (async () => {
      while (trickling) {
        await getFresh(p.port, '/low/x', 5_000).catch(() => undefined);
        await sleep(20);
      }
    })();
    try {
      await sleep(500); // the trickle has a past
      const dead = `http://127.0.0.1:${await freePort()}`;
      const put = await p.call('PUT', '/v1/config?guard=30s&guardMinRequests=5', { routes: [route(origins[1].url), { ...low, upstreams: [dead] }] });
      expect(put.status, put.body).toBe(200);
      const s = await until(() => guardStatus(p), (st) => st.recentGuards.length > 0, 30_000);
      const ended = s.recentGuards[0];
      expect(ended).toMatchObject({ revision: 2, state: 'rolled-back', by: 3, routes: ['api', 'low'] });
      expect(ended.reason).toMatch(/^failure rate \(5xx and upstream connect failures\) of low rose to /);
      // together the two routes stayed under the limit: the busy one hid the other
      expect(ended.after.errors / ended.after.requests).toBeLessThan(ended.byRoute!.low.after.errors / ended.byRoute!.low.after.requests);
      expect(ended.byRoute!.api.after.errors).toBe(0);
      // the whole change is undone: both routes as before
      const routes = parseAs<{ routes: Array<{ id: string; upstreams: string[] }> }>((await p.call('GET', '/v1/routes')).body).routes;
      expect(routes.map((r) => [r.id, r.upstreams])).toEqual([['api', [origins[0].url]], ['low', [origins[0].url]]]);
    } finally {
      trickling = false;
      await trickle;
    }
  }, 120_000);
});

describe('guarded changes: --workers 2 and an etcd fleet', () => {
  it('--workers 2: the primary adds up both workers\' counts and rolls back once', async () => {
    const p = await startWithConfig('workers', ['--workers', '2']);
    await loaded(p.port);
    const { guarded, rollback } = await breakAndWaitForRollback(p, 'guard=30s&guardMinRequests=10');
    const s = await until(() => guardStatus(p), (st) => st.recentGuards.length > 0);
    expect(s.workers.map((w) => w.revision)).toEqual([rollback, rollback]);
    expect(s.recentGuards).toEqual([expect.objectContaining({ revision: guarded, state: 'rolled-back', by: rollback })]);
    expect(parseAs<Page>((await p.call('GET', '/v1/revisions')).body).revisions.filter((r) => r.source.kind === 'guard')).toHaveLength(1);
    expect((await getFresh(p.port, '/api/x')).body).toBe('one /api/x');
  }, 180_000);

  it('etcd fleet of two: the instance that accepted the write judges with the other\'s counts (all the load is on the other) and its rollback reaches both', async () => {
    const url = `etcd://${etcd.endpoint}/portico-guard-fleet`;
    const a = await startPortico(['--store', url, '--log-level', 'warn']);
    expect((await a.call('POST', '/v1/routes', route(origins[0].url))).status).toBe(201);
    const b = await startPortico(['--store', url, '--log-level', 'warn']);
    await until(() => getFresh(b.port, '/api/x'), (r) => r.body === 'one /api/x');
    await loaded(b.port);
    const dead = `http://127.0.0.1:${await freePort()}`;
    const put = await a.call('PUT', '/v1/routes/api?guard=30s&guardMinRequests=10', route(dead));
    expect(put.status, put.body).toBe(200);
    const guarded = Number(put.headers.get('x-portico-revision'));
    // b shows the guard that a judges while it is in progress (it reports its counts to a)
    const seen = await until(() => guardStatus(b), (st) => st.guards.some((g) => g.revision === guarded) || st.revision > guarded, 20_000);
    if (seen.revision === guarded) expect(seen.guards[0]).toMatchObject({ revision: guarded, judge: expect.stringContaining(':') as string });
    const s = await until(() => guardStatus(a), (st) => st.recentGuards.length > 0, 30_000);
    const ended = s.recentGuards[0];
    expect(ended).toMatchObject({ revision: guarded, state: 'rolled-back', instances: 2 });
    expect(ended.after.errors).toBeGreaterThanOrEqual(10);
    const rollback = ended.by!;
    const top = parseAs<Page>((await b.call('GET', '/v1/revisions?limit=1')).body).revisions[0];
    expect(top).toMatchObject({ revision: rollback, source: { kind: 'guard', guarded, instance: ended.judge } });
    expect(ended.judge).toMatch(new RegExp(`:${a.child.pid}$`));
    await until(() => getFresh(b.port, '/api/x'), (r) => r.body === 'one /api/x');
    expect((await getFresh(b.port, '/api/x')).body).toBe('one /api/x');
    // the board's keys went with the guard's lease
    const left = await until(() => guardStatus(b), (st) => st.guards.length === 0, 20_000);
    expect(left.guards).toEqual([]);
  }, 180_000);

  it('etcd fleet: when the judge dies mid-guard its lease expires, the other instance forgets the guard, and the change stays', async () => {
    const url = `etcd://${etcd.endpoint}/portico-guard-judge-dies`;
    const a = await startPortico(['--store', url, '--log-level', 'warn']);
    expect((await a.call('POST', '/v1/routes', route(origins[0].url))).status).toBe(201);
    const b = await startPortico(['--store', url, '--log-level', 'warn']);
    const put = await a.call('PUT', '/v1/routes/api?guard=1h', route(origins[1].url));
    expect(put.status, put.body).toBe(200);
    const guarded = Number(put.headers.get('x-portico-revision'));
    const seen = await until(() => guardStatus(b), (st) => st.guards.some((g) => g.revision === guarded), 20_000);
    expect(seen.guards).toEqual([expect.objectContaining({ revision: guarded, state: 'watching', routes: ['api'], judge: expect.stringMatching(new RegExp(`:${a.child.pid}$`)) as string })]);
    a.child.kill('SIGKILL');
    await a.exit;
    // the lease (10 s) expires: the keys go, b stops reporting and shows no guard
    const after = await until(() => guardStatus(b), (st) => st.guards.length === 0, 30_000);
    expect(after.guards).toEqual([]);
    expect(after.revision).toBe(guarded);
    expect((await getFresh(b.port, '/api/x')).body).toBe('two /api/x');
  }, 120_000);
});
