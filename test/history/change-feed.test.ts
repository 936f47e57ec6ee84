// GET /v1/changes on the file store, over a real listener: one SSE event per applied revision, in
// order and without gaps, resumable with Last-Event-ID across an admin restart; a reset for a
// follower that is too far behind; heartbeats; a bound on followers.
import { describe, it, expect, afterEach } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import { startAdmin } from '../../admin/api/start-admin.js';
import type { AdminHandle } from '../../admin/api/admin-context.js';
import { applyDiff } from '../../admin/history/route-diff.js';
import { routesHash } from '../../admin/history/revision-log.js';
import { openSse, type SseEvent, type SseStream } from '../../bench/sse-client.js';
import { TOKEN, makeConfig, makeContext, tempDir } from '../admin/helpers.js';
import { parseAs, type ChangeEvent, type ProblemBody, type ResetEvent, type RoutesBody } from './api-types.js';

interface Running { admin: AdminHandle; path: string; dir: string; restart(): Promise<void>; close(): Promise<void> }

const streams: SseStream[] = [];
let running: Running | undefined;

afterEach(async () => {
  for (const s of streams.splice(0)) s.close();
  await running?.close();
  running = undefined;
});

async function start(routes: unknown[], extra: Record<string, unknown> = {}): Promise<Running> {
  const tmp = tempDir();
  const path = join(tmp.dir, 'portico.json');
  writeFileSync(path, JSON.stringify({ ...extra, routes }));
  const boot = () => {
    const ctx = makeContext({ config: makeConfig(parseAs<Record<string, unknown>>(readFileSync(path, 'utf8'))), configPath: path, listen: '127.0.0.1:0' });
    return startAdmin(ctx);
  };
  const r: Running = {
    admin: await boot(), path, dir: tmp.dir,
    async restart() {
      await r.admin.close();
      r.admin = await boot();
    },
    async close() {
      await r.admin.close();
      tmp.cleanup();
    },
  };
  running = r;
  return r;
}

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(running!.admin.url + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? parseAs<unknown>(text) : undefined };
}

async function follow(headers: Record<string, string> = {}, query = ''): Promise<SseStream> {
  const s = await openSse(`${running!.admin.url}/v1/changes${query}`, headers);
  streams.push(s);
  return s;
}

const route = (i: number): RouteSpec => ({ id: `r${i % 7}`, pathPrefix: `/r${i % 7}`, upstreams: [`http://127.0.0.1:${9000 + i}`] });

/** Writes of every kind: create, replace, delete. */
async function write(i: number): Promise<void> {
  const r = route(i);
  const exists = (await call('GET', `/v1/routes/${r.id}`)).status === 200;
  const res = exists && i % 3 === 0 ? await call('DELETE', `/v1/routes/${r.id}`) : exists ? await call('PUT', `/v1/routes/${r.id}`, r) : await call('POST', '/v1/routes', r);
  expect(res.status).toBeLessThan(300);
}

/** Checks a run of revision events: consecutive, each following the one before, and applying
 *  their diffs to `routes` gives sets whose hashes they announce. Returns the routes at the end. */
function replay(events: SseEvent[], routes: ReadonlyArray<Readonly<RouteSpec>>, after: number): ReadonlyArray<Readonly<RouteSpec>> {
  let prev = after;
  for (const e of events) {
    expect(e.event).toBe('revision');
    const data = parseAs<ChangeEvent>(e.data);
    expect(Number(e.id)).toBe(data.revision);
    expect(data.previous).toBe(prev);
    expect(data.revision).toBe(prev + 1); // the file store numbers revisions one by one
    routes = applyDiff(routes, data);
    expect(routesHash(routes)).toBe(data.hash);
    prev = data.revision;
  }
  return routes;
}

describe('GET /v1/changes (file store)', () => {
  it('starts with a reset (the whole route set), then one event per applied revision, in order, each with its diff', async () => {
    await start([{ id: 'a', pathPrefix: '/a', upstreams: ['http://127.0.0.1:8081'] }]);
    const s = await follow();
    expect(s.status).toBe(200);
    expect(s.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(s.headers.get('cache-control')).toBe('no-store');
    const [reset] = await s.waitFor(1);
    expect(reset).toMatchObject({ id: '1', event: 'reset' });
    const start0 = parseAs<ResetEvent>(reset.data);
    expect(start0).toMatchObject({ revision: 1, reason: 'start' });
    expect(start0.routes.map((r: RouteSpec) => r.id)).toEqual(['a']);
    for (let i = 0; i < 40; i++) await write(i);
    const events = await s.waitFor(41);
    const end = replay(events.slice(1), start0.routes, 1);
    expect(parseAs<unknown>(JSON.stringify(end))).toEqual(((await call('GET', '/v1/routes')).body as RoutesBody).routes);
    // a change made with a message carries it
    await call('POST', '/v1/routes', { id: 'z', pathPrefix: '/z', upstreams: ['http://127.0.0.1:1'] });
    const [last] = (await s.waitFor(42)).slice(41);
    expect(parseAs<ChangeEvent>(last.data)).toMatchObject({ source: { kind: 'admin', token: 'admin' }, added: [{ route: { id: 'z' } }] });
  });

  it('Last-Event-ID resumes after that revision across an admin restart: no gap, no repeat', async () => {
    await start([]);
    const s1 = await follow();
    await s1.waitFor(1);
    for (let i = 0; i < 60; i++) await write(i);
    const got = (await s1.waitFor(61)).slice(1);
    // the follower loses its connection after 30 of them; the admin restarts; 60 more writes
    const seen = got.slice(0, 30);
    s1.close();
    await running!.restart();
    for (let i = 60; i < 120; i++) await write(i);
    const s2 = await follow({ 'last-event-id': seen.at(-1)!.id! });
    const rest = await s2.waitFor(90);
    const all = [...seen, ...rest];
    const end = replay(all, [], 1);
    expect(parseAs<unknown>(JSON.stringify(end))).toEqual(((await call('GET', '/v1/routes')).body as RoutesBody).routes);
    expect(all.map((e) => Number(e.id))).toEqual(Array.from({ length: 120 }, (_, i) => i + 2));
    // ?lastEventId= does the same for clients that cannot set the header
    const s3 = await follow({}, '?lastEventId=100');
    expect((await s3.waitFor(21)).map((e) => Number(e.id))).toEqual(Array.from({ length: 21 }, (_, i) => i + 101));
  });

  it('a follower further behind than the history keeps gets one reset with the whole current set, then the live events; a bad id is 400', async () => {
    await start([], { history: { keep: 5 } });
    for (let i = 0; i < 10; i++) await write(i);
    const s = await follow({ 'last-event-id': '2' });
    const [reset] = await s.waitFor(1);
    const data = parseAs<ResetEvent>(reset.data);
    expect(reset).toMatchObject({ event: 'reset', id: '11' });
    expect(data).toMatchObject({ revision: 11, reason: 'behind', routes: ((await call('GET', '/v1/routes')).body as RoutesBody).routes });
    expect(data.hash).toBe(routesHash(data.routes));
    await write(10);
    const [next] = (await s.waitFor(2)).slice(1);
    expect(next).toMatchObject({ event: 'revision', id: '12' });
    // an id from the future (another store, a lost history) is no better
    const f = await follow({ 'last-event-id': '999' });
    expect((await f.waitFor(1))[0]).toMatchObject({ event: 'reset', id: '12' });
    // from the newest revision: nothing until the next one; from the one before the oldest kept
    // (8 is the oldest, it follows 7): all of them
    const fromNewest = await follow({ 'last-event-id': '12' });
    const fromOldest = await follow({ 'last-event-id': '7' });
    await write(11);
    expect((await fromNewest.waitFor(1)).map((e) => [e.event, e.id])).toEqual([['revision', '13']]);
    expect((await fromOldest.waitFor(6)).map((e) => e.id)).toEqual(['8', '9', '10', '11', '12', '13']);
    const bad = await fetch(`${running!.admin.url}/v1/changes`, { headers: { 'last-event-id': 'abc' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as ProblemBody).pointer).toBe('/last-event-id');
  });

  it('sends heartbeats while idle; at most history.maxSubscribers followers (503 + Retry-After beyond); HEAD answers the headers; closing the admin ends the streams', async () => {
    await start([], { history: { heartbeatMs: 200, maxSubscribers: 2 } });
    const a = await follow();
    const b = await follow();
    await a.waitFor(1);
    const third = await fetch(`${running!.admin.url}/v1/changes`);
    expect(third.status).toBe(503);
    expect(third.headers.get('retry-after')).toBe('5');
    expect(((await third.json()) as ProblemBody).type).toBe('urn:portico:problem:too-many-followers');
    // one leaves: another may come
    b.close();
    let joined: SseStream | undefined;
    for (let i = 0; i < 50 && !joined; i++) {
      const s = await follow();
      if (s.status === 200) joined = s;
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(joined?.status).toBe(200);
    await new Promise((r) => setTimeout(r, 700));
    expect(a.comments.filter((c) => c.startsWith('heartbeat')).length).toBeGreaterThanOrEqual(2);
    const head = await fetch(`${running!.admin.url}/v1/changes`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await running!.admin.close();
    await Promise.race([a.ended, new Promise((_, reject) => setTimeout(() => reject(new Error('the stream did not end')), 5000))]);
    running!.admin = { url: running!.admin.url, close: async () => {} };
  });
});
