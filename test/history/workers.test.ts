// `portico --workers 2` as users run it (the bin, a child process), with the route history: a
// rollback is answered once both workers serve the old routes (file store and etcd); the history
// and the feed continue across a restart of the whole process.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdServer } from '../helpers/etcd.js';
import { ensureBuilt } from '../helpers/built.js';
import { startOrigin, tempDir } from '../admin/helpers.js';
import { BIN, getFresh, killAll, spreadOverWorkers, startPortico, until, type Portico } from '../cluster/helpers.js';
import { openSse } from '../../bench/sse-client.js';
import { parseAs, type ChangeEvent, type Page, type Rollback } from './api-types.js';

let etcd: EtcdServer;
const origins: Array<Awaited<ReturnType<typeof startOrigin>>> = [];
const tmp = tempDir();

beforeAll(async () => {
  ensureBuilt(BIN, ['src', 'admin']);
  etcd = await EtcdServer.start();
  origins.push(await startOrigin('one'), await startOrigin('two'));
}, 180_000);

afterEach(() => killAll());

afterAll(async () => {
  for (const o of origins) await o.close();
  await etcd?.stop();
  tmp.cleanup();
});

const route = (upstream: string) => ({ id: 'api', pathPrefix: '/api', upstreams: [upstream] });

/** Rolls back to `rev` and checks that, once answered, both workers serve `name`. */
async function rollbackServedByBoth(p: Portico, rev: number, name: string): Promise<number> {
  const r = await p.call('POST', `/v1/revisions/${rev}/rollback`);
  expect(r.status, r.body).toBe(200);
  const revision = parseAs<Rollback>(r.body).revision;
  const s = await p.status();
  expect(s.workers.map((w) => w.revision)).toEqual([revision, revision]);
  const answers = await spreadOverWorkers(p, () => getFresh(p.port, '/api/slow?delay=1500'));
  for (const a of answers) expect(a).toEqual({ status: 200, body: `${name} /api/slow` });
  return revision;
}

async function stop(p: Portico): Promise<void> {
  p.child.kill('SIGTERM');
  expect(await p.exit).toBe(0);
}

describe('route history with --workers 2', () => {
  it('file store: a rollback is answered once both workers serve the old routes; after a restart of the process the revisions and the feed continue', async () => {
    const config = join(tmp.dir, 'workers.json');
    writeFileSync(config, JSON.stringify({ routes: [route(origins[0].url)] }));
    let p = await startPortico(['--workers', '2', '--config', config, '--log-level', 'warn']);
    expect(parseAs<Page>((await p.call('GET', '/v1/revisions')).body).current).toBe(1);
    const feed = await openSse(`${p.admin}/v1/changes`);
    await feed.waitFor(1);
    expect((await p.call('PUT', '/v1/routes/api', route(origins[1].url))).status).toBe(200);
    expect((await getFresh(p.port, '/api/x')).body).toBe('two /api/x');
    const rolled = await rollbackServedByBoth(p, 1, 'one');
    expect(rolled).toBe(3);
    const events = await feed.waitFor(3);
    expect(events.map((e) => [e.event, e.id])).toEqual([['reset', '1'], ['revision', '2'], ['revision', '3']]);
    expect(parseAs<ChangeEvent>(events[2].data)).toMatchObject({ source: { kind: 'rollback', to: 1 }, changed: [{ id: 'api', members: ['upstreams'] }] });
    feed.close();

    await stop(p);
    expect(parseAs<{ head: { revision: number } }>(readFileSync(join(tmp.dir, 'workers.history.json'), 'utf8')).head.revision).toBe(3);
    p = await startPortico(['--workers', '2', '--config', config, '--log-level', 'warn']);
    const s = await p.status();
    expect(s.revision).toBe(3);
    expect(s.workers.map((w) => w.revision)).toEqual([3, 3]);
    expect(parseAs<Page>((await p.call('GET', '/v1/revisions')).body).revisions.map((r) => r.revision)).toEqual([3, 2, 1]);
    const resumed = await openSse(`${p.admin}/v1/changes`, { 'last-event-id': '2' });
    expect((await resumed.waitFor(1)).map((e) => [e.event, e.id])).toEqual([['revision', '3']]);
    expect((await p.call('PUT', '/v1/routes/api', route(origins[1].url))).status).toBe(200);
    expect((await resumed.waitFor(2))[1]).toMatchObject({ event: 'revision', id: '4' });
    resumed.close();
    expect(await rollbackServedByBoth(p, 3, 'one')).toBe(5);
  }, 180_000);

  it('etcd store: a rollback through the admin API is answered once both workers serve the old routes', async () => {
    const prefix = '/portico-history-workers';
    const p = await startPortico(['--workers', '2', '--store', `etcd://${etcd.endpoint}${prefix}`, '--log-level', 'warn']);
    const first = await p.call('POST', '/v1/routes', route(origins[0].url));
    expect(first.status, first.body).toBe(201);
    const rev = Number(first.headers.get('x-portico-revision'));
    expect((await p.call('PUT', '/v1/routes/api', route(origins[1].url))).status).toBe(200);
    await until(() => getFresh(p.port, '/api/x'), (r) => r.body === 'two /api/x');
    const rolled = await rollbackServedByBoth(p, rev, 'one');
    expect(parseAs<Page>((await p.call('GET', '/v1/revisions?limit=1')).body).revisions[0]).toMatchObject({ revision: rolled, source: { kind: 'rollback', to: rev } });
  }, 180_000);
});
