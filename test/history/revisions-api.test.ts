// The route history on the file store, through the admin API: every applied change is a revision
// (who, when, why), listed by pages, read whole, compared, rolled back in one call, and kept across
// restarts next to the config file.
import { describe, it, expect, afterEach } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { A, B, C, startFileAdmin, utf8Header, type FileAdmin } from './helpers.js';
import type { Changed, Diff, Page, Placed, GuardStatus, ProblemBody, RevisionRoutes, Rollback, RoutesBody, Summary } from './api-types.js';
import type { RouteSpec } from '../../src/routing/route-spec.js';

let admin: FileAdmin;

afterEach(async () => {
  await admin?.close();
});

const routesNow = async () => (await admin.inject('GET', '/v1/routes')).json<RoutesBody>();

describe('route history (file store): revisions', () => {
  it('every applied change is a revision with its time, source (token name) and message; dry runs, no-ops and rejected changes are not', async () => {
    admin = await startFileAdmin([A]);
    const first = (await admin.inject('GET', '/v1/revisions')).json<Page>();
    expect(first.current).toBe(1);
    expect(first.revisions).toEqual([expect.objectContaining({ revision: 1, previous: null, initial: true, routes: 1, added: 1, source: { kind: 'file', instance: `${hostname()}:${process.pid}` } })]);

    const t0 = Date.now();
    expect((await admin.inject('POST', '/v1/routes', B, { 'x-portico-change-message': utf8Header('add b — déploiement') })).statusCode).toBe(201);
    expect((await admin.inject('PATCH', '/v1/routes/a', { stripPrefix: true })).statusCode).toBe(200);
    expect((await admin.inject('DELETE', '/v1/routes/b')).statusCode).toBe(204);
    // none of these is a revision
    expect((await admin.inject('POST', '/v1/routes?dryRun=true', C)).statusCode).toBe(200);
    expect((await admin.inject('PATCH', '/v1/routes/a', { stripPrefix: true })).statusCode).toBe(200);
    expect((await admin.inject('POST', '/v1/routes', { ...C, upstreams: ['ftp://x.example'] })).statusCode).toBe(422);

    const page = (await admin.inject('GET', '/v1/revisions')).json<Page>();
    expect(page.current).toBe(4);
    expect(page.revisions.map((r: { revision: number }) => r.revision)).toEqual([4, 3, 2, 1]);
    const [del, patch, post] = page.revisions;
    expect(post).toMatchObject({ revision: 2, previous: 1, added: 1, removed: 0, changed: 0, routes: 2, message: 'add b — déploiement', source: { kind: 'admin', token: 'admin' } });
    expect(patch).toMatchObject({ revision: 3, previous: 2, added: 0, removed: 0, changed: 1, reordered: false });
    expect(del).toMatchObject({ revision: 4, previous: 3, removed: 1, routes: 1 });
    expect(del.message).toBeUndefined();
    const time = Date.parse(post.time);
    expect(time).toBeGreaterThanOrEqual(t0 - 1000);
    expect(time).toBeLessThanOrEqual(Date.now());
  });

  it('pages newest first with ?limit and ?before (next and Link: rel="next")', async () => {
    admin = await startFileAdmin([]);
    for (let i = 0; i < 6; i++) await admin.inject('POST', '/v1/routes', { id: `r${i}`, pathPrefix: `/r${i}`, upstreams: ['http://127.0.0.1:9'] });
    const seen: number[] = [];
    let url: string | undefined = '/v1/revisions?limit=3';
    for (let pages = 0; url && pages < 10; pages++) {
      const res = await admin.inject('GET', url);
      const body = res.json<Page>();
      seen.push(...body.revisions.map((r: { revision: number }) => r.revision));
      if (body.next) expect(res.headers.link).toBe(`<${body.next}>; rel="next"`);
      else expect(res.headers.link).toBeUndefined();
      url = body.next;
    }
    expect(seen).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect((await admin.inject('GET', '/v1/revisions?limit=0')).statusCode).toBe(400);
    expect((await admin.inject('GET', '/v1/revisions?limit=1001')).statusCode).toBe(400);
    expect((await admin.inject('GET', '/v1/revisions?page=2')).statusCode).toBe(400);
  });

  it('GET /v1/revisions/:rev: the routes and ETag that GET /v1/routes had then; 404 for no such revision, 410 past history.keep', async () => {
    admin = await startFileAdmin([A], { history: { keep: 3 } });
    const then: Array<{ etag: unknown; body: RoutesBody }> = [];
    const snap = async () => {
      const res = await admin.inject('GET', '/v1/routes');
      then[res.json<RoutesBody>().revision] = { etag: res.headers.etag, body: res.json<RoutesBody>() };
    };
    await snap();
    for (const r of [B, C]) {
      await admin.inject('POST', '/v1/routes', r);
      await snap();
    }
    await admin.inject('PUT', '/v1/routes/a', { ...A, upstreams: ['http://127.0.0.1:9999'] });
    await snap();
    // 4 revisions, 3 kept
    for (const rev of [2, 3, 4]) {
      const res = await admin.inject('GET', `/v1/revisions/${rev}`);
      expect(res.statusCode).toBe(200);
      expect(res.json<RevisionRoutes>().routes).toEqual(then[rev].body.routes);
      expect(res.json<RevisionRoutes>().revision).toBe(rev);
      expect(res.headers.etag).toBe(then[rev].etag);
      expect((await admin.inject('GET', `/v1/revisions/${rev}`, undefined, { 'if-none-match': String(then[rev].etag) })).statusCode).toBe(304);
    }
    const gone = await admin.inject('GET', '/v1/revisions/1');
    expect(gone.statusCode).toBe(410);
    expect(gone.json<ProblemBody>()).toMatchObject({ type: 'urn:portico:problem:gone', in: 'params', pointer: '/rev' });
    expect(gone.json<ProblemBody>().detail).toMatch(/keeps the last 3; the oldest is 2/);
    expect((await admin.inject('GET', '/v1/revisions/5')).statusCode).toBe(404);
    expect((await admin.inject('GET', '/v1/revisions/abc')).statusCode).toBe(400);
    expect((await admin.inject('GET', '/v1/revisions/0')).statusCode).toBe(400);
    expect((await admin.inject('GET', '/v1/revisions')).json<Page>()).toMatchObject({ oldest: 2, keep: 3 });
  });

  it('diff: routes added, removed, changed (with the members that changed); from the revision before by default, ?from=0, and backwards', async () => {
    admin = await startFileAdmin([A, B]);
    await admin.inject('PUT', '/v1/config', { routes: [{ ...A, upstreams: ['http://127.0.0.1:7777'], host: 'a.example' }, C] }); // 2
    const d = (await admin.inject('GET', '/v1/revisions/2/diff')).json<Diff>();
    expect(d.from).toBe(1);
    expect(d.to).toBe(2);
    expect(d).toMatchObject({
      added: [{ index: 1, route: { id: 'c' } }],
      removed: [{ index: 1, route: { id: 'b' } }],
      changed: [{ id: 'a', members: ['host', 'upstreams'], before: { upstreams: A.upstreams }, after: { host: 'a.example' } }],
    });
    expect(d.order).toBeUndefined();
    const back = (await admin.inject('GET', '/v1/revisions/1/diff?from=2')).json<Diff>();
    expect(back.added.map((p: Placed) => p.route.id)).toEqual(['b']);
    expect(back.removed.map((p: Placed) => p.route.id)).toEqual(['c']);
    expect(back.changed[0].after.upstreams).toEqual(A.upstreams);
    const all = (await admin.inject('GET', '/v1/revisions/2/diff?from=0')).json<Diff>();
    expect(all.added.map((p: Placed) => p.route.id)).toEqual(['a', 'c']);
    // the first revision, compared with nothing
    expect((await admin.inject('GET', '/v1/revisions/1/diff')).json<Diff>()).toMatchObject({ from: 0, to: 1, removed: [], changed: [] });
    // reordering is told
    await admin.inject('PUT', '/v1/config', { routes: [C, { ...A, upstreams: ['http://127.0.0.1:7777'], host: 'a.example' }] }); // 3
    expect((await admin.inject('GET', '/v1/revisions/3/diff')).json<Diff>().order).toEqual({ before: ['a', 'c'], after: ['c', 'a'] });
    expect((await admin.inject('GET', '/v1/revisions/2/diff?from=9')).statusCode).toBe(404);
    expect((await admin.inject('GET', '/v1/revisions/2/diff?from=x')).statusCode).toBe(400);
  });
});

describe('route history (file store): rollback', () => {
  it('makes a new revision whose routes equal the old one\'s, applied and persisted; the source says so', async () => {
    admin = await startFileAdmin([A]);
    const rev1 = await routesNow();
    await admin.inject('POST', '/v1/routes', B);
    await admin.inject('PATCH', '/v1/routes/a', { upstreams: ['http://127.0.0.1:1234'] });
    expect(admin.ctx.proxy.revision).toBe(3);
    const res = await admin.inject('POST', '/v1/revisions/1/rollback', undefined, { 'x-portico-change-message': 'b broke checkout' });
    expect(res.statusCode).toBe(200);
    const body = res.json<Rollback>();
    expect(body).toMatchObject({ revision: 4, rolledBackTo: 1, applied: true, dryRun: false });
    expect(body.diff.from).toBe(3);
    expect(body.diff.removed.map((p: Placed) => p.route.id)).toEqual(['b']);
    expect(body.diff.changed.map((c: Changed) => c.members)).toEqual([['upstreams']]);
    expect(res.headers['x-portico-revision']).toBe('4');
    const now = await routesNow();
    expect(now).toEqual({ revision: 4, routes: rev1.routes });
    expect(res.headers.etag).toBe((await admin.inject('GET', '/v1/routes')).headers.etag);
    expect(admin.ctx.proxy.revision).toBe(4);
    expect(admin.ctx.proxy.routes.current.routes.map((r) => r.spec)).toEqual(rev1.routes);
    expect((JSON.parse(readFileSync(admin.path, 'utf8')) as RoutesBody).routes).toEqual(rev1.routes);
    const listed = (await admin.inject('GET', '/v1/revisions?limit=1')).json<Page>().revisions[0];
    expect(listed).toMatchObject({ revision: 4, previous: 3, message: 'b broke checkout', source: { kind: 'rollback', token: 'admin', to: 1 } });
  });

  it('If-Match: 412 when the routes moved on (nothing changes); ?dryRun=true answers the diff and changes nothing; a rollback to what runs is no new revision', async () => {
    admin = await startFileAdmin([A]);
    const etag1 = String((await admin.inject('GET', '/v1/routes')).headers.etag);
    await admin.inject('POST', '/v1/routes', B);
    const stale = await admin.inject('POST', '/v1/revisions/1/rollback', undefined, { 'if-match': etag1 });
    expect(stale.statusCode).toBe(412);
    expect(stale.json<ProblemBody>().pointer).toBe('/if-match');
    expect((await routesNow()).revision).toBe(2);
    const etag2 = String((await admin.inject('GET', '/v1/routes')).headers.etag);
    const dry = await admin.inject('POST', '/v1/revisions/1/rollback?dryRun=true', undefined, { 'if-match': etag2 });
    expect(dry.statusCode).toBe(200);
    expect(dry.json<Rollback>()).toMatchObject({ revision: 3, rolledBackTo: 1, applied: false, dryRun: true, diff: { from: 2, to: 3, added: [], changed: [] } });
    expect(dry.json<Rollback>().diff.removed.map((p: Placed) => p.route.id)).toEqual(['b']);
    expect((await routesNow()).revision).toBe(2);
    expect((await admin.inject('GET', '/v1/revisions')).json<Page>().revisions).toHaveLength(2);
    const ok = await admin.inject('POST', '/v1/revisions/1/rollback', undefined, { 'if-match': etag2 });
    expect(ok.json<Rollback>()).toMatchObject({ revision: 3, applied: true });
    // revision 3 runs revision 1's routes: rolling back to 1 again changes nothing
    const same = await admin.inject('POST', '/v1/revisions/1/rollback');
    expect(same.json<Rollback>()).toMatchObject({ revision: 3, applied: false, dryRun: false, diff: { added: [], removed: [], changed: [] } });
    expect((await admin.inject('GET', '/v1/revisions')).json<Page>().current).toBe(3);
  });

  it('needs the token; 404/410 for revisions that are not kept; a rollback can itself be rolled back', async () => {
    admin = await startFileAdmin([A], { history: { keep: 2 } });
    await admin.inject('POST', '/v1/routes', B); // 2
    await admin.inject('POST', '/v1/routes', C); // 3 (1 is gone)
    const noToken = await admin.app.inject({ method: 'POST', url: '/v1/revisions/2/rollback', headers: { host: '127.0.0.1:9090' } });
    expect(noToken.statusCode).toBe(401);
    expect((await admin.inject('POST', '/v1/revisions/1/rollback')).statusCode).toBe(410);
    expect((await admin.inject('POST', '/v1/revisions/9/rollback')).statusCode).toBe(404);
    expect((await admin.inject('POST', '/v1/revisions/2/rollback')).json<Rollback>()).toMatchObject({ revision: 4, applied: true });
    expect((await routesNow()).routes.map((r: RouteSpec) => r.id)).toEqual(['a', 'b']);
    expect((await admin.inject('POST', '/v1/revisions/2/rollback')).statusCode).toBe(410); // keep 2: 3 and 4 now
    expect((await admin.inject('GET', '/v1/revisions/4/diff')).json<Diff>().removed.map((p: Placed) => p.route.id)).toEqual(['c']);
    expect((await admin.inject('GET', '/v1/revisions/1/rollback')).statusCode).toBe(405);
  });
});

describe('route history (file store): kept across restarts', () => {
  it('revision numbers and the history continue after a restart; a config file edited while Portico was stopped becomes a revision of its own (source file)', async () => {
    admin = await startFileAdmin([A]);
    await admin.inject('POST', '/v1/routes', B, { 'x-portico-change-message': 'two' });
    await admin.inject('POST', '/v1/routes', C);
    const etag = (await admin.inject('GET', '/v1/routes')).headers.etag;
    const historyFile = admin.path.replace(/\.json$/, '.history.json');
    expect(existsSync(historyFile)).toBe(true);

    await admin.restart();
    const after = await admin.inject('GET', '/v1/routes');
    expect(after.json<RoutesBody>().revision).toBe(3);
    expect(after.headers.etag).toBe(etag);
    expect(admin.ctx.proxy.revision).toBe(3);
    const listed = (await admin.inject('GET', '/v1/revisions')).json<Page>();
    expect(listed.revisions.map((r: Summary) => [r.revision, r.message])).toEqual([[3, undefined], [2, 'two'], [1, undefined]]);
    await admin.inject('DELETE', '/v1/routes/a');
    expect((await routesNow()).revision).toBe(4);

    // edited by hand while stopped
    await admin.app.close();
    const doc = JSON.parse(readFileSync(admin.path, 'utf8')) as RoutesBody;
    doc.routes.push({ id: 'd', pathPrefix: '/d', upstreams: ['http://127.0.0.1:8084'] });
    writeFileSync(admin.path, JSON.stringify(doc));
    await admin.restart();
    const edited = (await admin.inject('GET', '/v1/revisions?limit=1')).json<Page>().revisions[0];
    expect(edited).toMatchObject({ revision: 5, previous: 4, added: 1, removed: 0, source: { kind: 'file' } });
    expect((await routesNow()).revision).toBe(5);
    expect((await admin.inject('POST', '/v1/revisions/2/rollback')).json<Rollback>()).toMatchObject({ revision: 6, applied: true });
    expect((await routesNow()).routes.map((r: RouteSpec) => r.id)).toEqual(['a', 'b']);
  });

  it('an unreadable history file is moved aside (not lost), and a new history starts', async () => {
    admin = await startFileAdmin([A]);
    await admin.inject('POST', '/v1/routes', B);
    await admin.app.close();
    const historyFile = admin.path.replace(/\.json$/, '.history.json');
    writeFileSync(historyFile, '{"format": "portico-route-history/1", "head": ');
    await admin.restart();
    const aside = readdirSync(admin.dir).filter((f) => f.startsWith('portico.history.json.unreadable-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(`${admin.dir}/${aside[0]}`, 'utf8')).toContain('"head": ');
    const page = (await admin.inject('GET', '/v1/revisions')).json<Page>();
    expect(page.revisions).toEqual([expect.objectContaining({ revision: 1, initial: true, routes: 2 })]);
    // and it is saved again
    expect((JSON.parse(readFileSync(historyFile, 'utf8')) as { head: { revision: number } }).head.revision).toBe(1);
  });
});

describe('route history (file store): change messages and guard parameters', () => {
  it('X-Portico-Change-Message: kept as UTF-8; longer than 1000 characters or not UTF-8 is 400 and changes nothing', async () => {
    admin = await startFileAdmin([]);
    const long = await admin.inject('POST', '/v1/routes', A, { 'x-portico-change-message': 'x'.repeat(1001) });
    expect(long.statusCode).toBe(400);
    expect(long.json<ProblemBody>()).toMatchObject({ in: 'headers', pointer: '/x-portico-change-message' });
    const bad = await admin.inject('POST', '/v1/routes', A, { 'x-portico-change-message': '\xff\xfe' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<ProblemBody>().detail).toMatch(/not UTF-8/);
    expect((await routesNow()).revision).toBe(1);
    await admin.inject('POST', '/v1/routes', A, { 'x-portico-change-message': utf8Header('日本語 ok') });
    expect((await admin.inject('GET', '/v1/revisions')).json<Page>().revisions[0].message).toBe('日本語 ok');
  });

  it('guard parameters are checked: a duration of 1s to 1h, and guardMaxErrorRate/guardMinRequests only with guard', async () => {
    admin = await startFileAdmin([]);
    for (const q of ['guard=0s', 'guard=2h', 'guard=3601s', 'guard=abc', 'guardMaxErrorRate=0.1', 'guardMinRequests=5', 'guard=30s&guardMaxErrorRate=2', 'guard=30s&guardMinRequests=0']) {
      const res = await admin.inject('POST', `/v1/routes?${q}`, A);
      expect(res.statusCode, q).toBe(400);
      expect(res.json<ProblemBody>().in, q).toBe('querystring');
    }
    expect((await routesNow()).revision).toBe(1);
  });

  it('a valid guard is accepted: X-Portico-Guard says what is watched, the record keeps what was asked, GET /v1/status shows it in progress; dry runs and removals start none', async () => {
    admin = await startFileAdmin([]);
    const dry = await admin.inject('POST', '/v1/routes?guard=30s&dryRun=true', A);
    expect(dry.statusCode).toBe(200);
    expect(dry.headers['x-portico-guard']).toBeUndefined();
    const res = await admin.inject('POST', '/v1/routes?guard=1h&guardMaxErrorRate=0.2&guardMinRequests=50', A);
    expect(res.statusCode).toBe(201);
    expect(res.headers['x-portico-guard']).toMatch(/^revision=2; routes="a"; until=\S+Z; maxErrorRate=0.2; minRequests=50$/);
    expect((await admin.inject('GET', '/v1/revisions/2')).json<{ guard: unknown }>().guard).toEqual({ windowMs: 3_600_000, maxErrorRate: 0.2, minRequests: 50 });
    const status = (await admin.inject('GET', '/v1/status')).json<GuardStatus>();
    expect(status.guards).toEqual([expect.objectContaining({ revision: 2, routes: ['a'], state: 'watching', windowMs: 3_600_000, before: { requests: 0, errors: 0 }, after: { requests: 0, errors: 0 } })]);
    const rm = await admin.inject('DELETE', '/v1/routes/a?guard=30s');
    expect(rm.statusCode).toBe(204);
    expect(rm.headers['x-portico-guard']).toBe('none; reason="the change only removed routes: nothing to watch"');
    // the removal of the guarded route ended its guard
    const after = (await admin.inject('GET', '/v1/status')).json<GuardStatus>();
    expect(after.guards).toEqual([]);
    expect(after.recentGuards[0]).toMatchObject({ revision: 2, state: 'superseded', by: 3 });
  });
});
