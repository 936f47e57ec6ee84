// The admin API surface through inject(): every status code, ETags, dry runs, auth, Host check.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../admin/api/app.js';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFile, type Config } from '../../src/config/config.js';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import type { Problem } from '../../admin/protocol/problem.js';
import { Writable } from 'node:stream';
import pino from 'pino';
import { TOKEN, h, makeConfig, makeContext, tempDir, type TestContext } from './helpers.js';

const API = { id: 'api', pathPrefix: '/api', upstreams: ['http://127.0.0.1:8081'], stripPrefix: true };
const WEB = { id: 'web', pathPrefix: '/', upstreams: [{ url: 'http://127.0.0.1:8082', weight: 2 }, 'http://127.0.0.1:8083'] };

/** Bodies of GET /v1/routes, GET and PUT /v1/config, GET /docs/json (the parts asserted here). */
type RouteList = { revision: number; routes: RouteSpec[] };
type ConfigDocument = { revision: number; config: Config };
type OpenApiDocument = {
  openapi: string;
  paths: Record<string, Record<string, { security?: unknown }>>;
  components: { schemas: Record<string, { properties: Record<string, unknown> }>; securitySchemes: Record<string, unknown> };
};

let ctx: TestContext;
let app: FastifyInstance;

async function setup(c: TestContext = makeContext()) {
  ctx = c;
  app = buildAdminApp(ctx, { defaultMetrics: false });
  await app.ready();
}

const post = (url: string, payload: unknown, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url, headers: h(headers), payload: payload as object });
const put = (url: string, payload: unknown, headers: Record<string, string> = {}) => app.inject({ method: 'PUT', url, headers: h(headers), payload: payload as object });
const patch = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: 'PATCH', url, headers: h({ 'content-type': 'application/merge-patch+json', ...headers }), payload: JSON.stringify(payload) });
const del = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'DELETE', url, headers: h(headers) });
const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers: h(headers, false) });

function expectProblem(res: { statusCode: number; headers: Record<string, unknown>; json<T>(): T }, status: number, pointer?: string): Problem {
  expect(res.statusCode).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
  const p = res.json<Problem>();
  expect(p.status).toBe(status);
  expect(p.type).toMatch(/^urn:portico:problem:/);
  expect(typeof p.title).toBe('string');
  expect(typeof p.detail).toBe('string');
  if (pointer !== undefined) expect(p.pointer).toBe(pointer);
  return p;
}

afterEach(async () => {
  await app?.close();
});

describe('routes: create, read', () => {
  beforeEach(() => setup());

  it('lists no routes at first, with the global revision and ETag', async () => {
    const res = await get('/v1/routes');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ revision: 1, routes: [] });
    expect(res.headers.etag).toMatch(/^"1-[A-Za-z0-9_-]+"$/);
  });

  it('POST creates a route: 201, Location, ETag, defaults filled; GET returns it with the same ETag', async () => {
    const res = await post('/v1/routes', API);
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe('/v1/routes/api');
    expect(res.headers.etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(res.json()).toEqual({ ...API, preserveHost: false });
    const one = await get('/v1/routes/api');
    expect(one.statusCode).toBe(200);
    expect(one.json()).toEqual(res.json());
    expect(one.headers.etag).toBe(res.headers.etag);
    expect(ctx.proxy.revision).toBe(2);
    expect(ctx.proxy.routes.current.get('api')?.spec).toEqual(res.json());
    const list = await get('/v1/routes');
    expect(list.json<RouteList>().revision).toBe(2);
    expect(list.json<RouteList>().routes.map((r: { id: string }) => r.id)).toEqual(['api']);
  });

  it('GET with If-None-Match of the current ETag answers 304', async () => {
    const etag = (await post('/v1/routes', API)).headers.etag as string;
    expect((await get('/v1/routes/api', { 'if-none-match': etag })).statusCode).toBe(304);
    const list = await get('/v1/routes');
    expect((await get('/v1/routes', { 'if-none-match': list.headers.etag as string })).statusCode).toBe(304);
  });

  it('accepts weighted upstream objects', async () => {
    const res = await post('/v1/routes', WEB);
    expect(res.statusCode).toBe(201);
    expect(res.json<RouteSpec>().upstreams).toEqual(WEB.upstreams);
  });

  it('accepts the per-route Via settings (via, proxyName) and refuses a pseudonym that is not a token', async () => {
    const res = await post('/v1/routes', { ...API, via: false, proxyName: 'edge-1' });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ via: false, proxyName: 'edge-1' });
    expectProblem(await post('/v1/routes', { ...API, id: 'x', pathPrefix: '/x', proxyName: 'two words' }), 400, '/proxyName');
    expectProblem(await post('/v1/routes', { ...API, id: 'y', pathPrefix: '/y', via: 'yes' }), 400, '/via');
  });

  it('a route\'s traffic policy: created, shown by GET /v1/routes/:id, merge-patched field by field, applied to the running table; bad values are 400/422 naming the member', async () => {
    const policy = { retries: { onStatus: [503], maxTries: 2 }, loadBalancing: { algorithm: 'consistent-hash', hashOn: { header: 'x-user' } }, limits: { maxConcurrentPerUpstream: 10 } };
    const res = await post('/v1/routes', { ...API, policy });
    expect(res.statusCode, res.body).toBe(201);
    expect((await get('/v1/routes/api')).json()).toMatchObject({ policy });
    const patched = await patch('/v1/routes/api', { policy: { retries: { maxTries: 4 }, limits: null } });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ policy: { retries: { onStatus: [503], maxTries: 4 }, loadBalancing: policy.loadBalancing } });
    expect(patched.json<{ policy: Record<string, unknown> }>().policy.limits).toBeUndefined();
    const running = ctx.proxy.routes.current.get('api')!.policy;
    expect(running.retries).toMatchObject({ maxTries: 4, onStatus: [503], budgetPercent: 20 });
    expect(running.limits.maxConcurrentPerUpstream).toBeNull();
    expectProblem(await post('/v1/routes', { ...API, id: 'b', pathPrefix: '/b', policy: { retries: { maxTries: 0 } } }), 400, '/policy/retries/maxTries');
    expectProblem(await post('/v1/routes', { ...API, id: 'c', pathPrefix: '/c', policy: { retry: {} } }), 400);
    expectProblem(await post('/v1/routes', { ...API, id: 'd', pathPrefix: '/d', policy: { loadBalancing: { algorithm: 'consistent-hash' } } }), 422, '/policy/loadBalancing/hashOn');
  });

  it('409 on a duplicate id, naming /id', async () => {
    await post('/v1/routes', API);
    const p = expectProblem(await post('/v1/routes', { ...API, pathPrefix: '/other' }), 409, '/id');
    expect(p.detail).toContain('api');
    expect(ctx.proxy.revision).toBe(2);
  });

  it('400 on schema errors, naming the field (missing, unknown, wrong type: no coercion)', async () => {
    expectProblem(await post('/v1/routes', { id: 'x', pathPrefix: '/x' }), 400, '/upstreams');
    expectProblem(await post('/v1/routes', { ...API, bogus: 1 }), 400, '/bogus');
    const misspelt = expectProblem(await post('/v1/routes', { ...API, stripPrefx: true }), 400, '/stripPrefx');
    expect(misspelt.detail).toBe('/stripPrefx is not a known member (did you mean "stripPrefix"?)');
    expectProblem(await post('/v1/routes', { ...API, stripPrefix: 'true' }), 400, '/stripPrefix');
    expectProblem(await post('/v1/routes', { ...API, id: 'bad id!' }), 400, '/id');
    expectProblem(await post('/v1/routes', { ...API, pathPrefix: 'api' }), 400, '/pathPrefix');
    expectProblem(await post('/v1/routes', { ...API, upstreams: [] }), 400, '/upstreams');
    expectProblem(await post('/v1/routes', { ...API, upstreams: [{ url: 'http://127.0.0.1:1', weight: 0 }] }), 400, '/upstreams/0');
    expectProblem(await post('/v1/routes', [API]), 400, '');
    expect(ctx.proxy.revision).toBe(1);
  });

  it('400 on malformed JSON', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/routes', headers: h({ 'content-type': 'application/json' }), payload: '{"id": ' });
    const p = expectProblem(res, 400, '');
    expect(p.type).toBe('urn:portico:problem:malformed-json');
  });

  it('422 on semantic errors (bad upstream URL, conflicting route), with a JSON pointer into the body', async () => {
    let p = expectProblem(await post('/v1/routes', { ...API, upstreams: ['http://127.0.0.1:1', 'ftp://files.example'] }), 422, '/upstreams/1');
    expect(p.code).toBe('PRX_ERR_BAD_UPSTREAM_URL');
    expect(p.detail).toContain('ftp:');
    expectProblem(await post('/v1/routes', { ...API, upstreams: ['http://user:pw@127.0.0.1:1'] }), 422, '/upstreams/0');
    await post('/v1/routes', API);
    p = expectProblem(await post('/v1/routes', { ...API, id: 'api2' }), 422, '');
    expect(p.code).toBe('PRX_ERR_BAD_ROUTE');
    expect(p.detail).toContain('same requests');
    expect(ctx.proxy.routes.current.routes.map((r) => r.id)).toEqual(['api']);
  });

  it('422 naming the field for upstream URLs and rewrite prefixes that would reach the wire altered', async () => {
    const split = 'http://127.0.0.1:9/x HTTP/1.1\r\nHost: a\r\n\r\nGET /smuggled';
    for (const url of [split, 'http://127.0.0.1:9/x y', 'http:/127.0.0.1:9', 'http:127.0.0.1:9', 'http://0/', 'http://127.0.0.1:0/', 'http://evil.example\\@127.0.0.1/',
      'http://127.0.0.1:9/base/../admin', 'http://127.0.0.1:9/base/%2e%2e/admin']) {
      const p = expectProblem(await post('/v1/routes', { ...API, upstreams: ['http://127.0.0.1:1', url] }), 422, '/upstreams/1');
      expect(p.code, url).toBe('PRX_ERR_BAD_UPSTREAM_URL');
      expectProblem(await post('/v1/routes', { ...API, upstreams: [{ url, weight: 2 }] }), 422, '/upstreams/0');
    }
    for (const rewritePrefix of ['/v2/..', '/%2E%2E/admin']) {
      const p = expectProblem(await post('/v1/routes', { ...API, rewritePrefix }), 422, '/rewritePrefix');
      expect(p.detail).toContain('dot segment');
    }
    await post('/v1/routes', API);
    expectProblem(await patch('/v1/routes/api', { upstreams: [split] }), 422, '/upstreams/0');
    expectProblem(await patch('/v1/routes/api', { rewritePrefix: '/x/%2e%2e' }), 422, '/rewritePrefix');
    expectProblem(await put('/v1/config', { routes: [{ ...API, upstreams: [split] }] }), 422, '/routes/0/upstreams/0');
    expect(ctx.proxy.routes.current.routes.map((r) => r.spec.upstreams)).toEqual([API.upstreams]);
  });

  it('400 (not a crash) for bodies nested deeper than the limit', async () => {
    await post('/v1/routes', API);
    const deep = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
    for (const n of [100, 10_000, 200_000]) {
      const res = await app.inject({ method: 'PATCH', url: '/v1/routes/api', headers: h({ 'content-type': 'application/merge-patch+json' }), payload: `{"headers":${deep(n)}}` });
      const p = expectProblem(res, 400, '');
      expect(p.detail).toMatch(/nested deeper than 32 levels/);
      expectProblem(await app.inject({ method: 'POST', url: '/v1/routes', headers: h({ 'content-type': 'application/json' }), payload: deep(n) }), 400, '');
      expectProblem(await app.inject({ method: 'PUT', url: '/v1/config', headers: h({ 'content-type': 'application/json' }), payload: `{"routes":[],"x":${deep(n)}}` }), 400, '');
    }
    const arrays = '['.repeat(50_000) + ']'.repeat(50_000);
    expectProblem(await app.inject({ method: 'PATCH', url: '/v1/routes/api', headers: h({ 'content-type': 'application/merge-patch+json' }), payload: `{"methods":${arrays}}` }), 400, '');
    // a patch nested within the limit is still merged and validated as usual
    expectProblem(await patch('/v1/routes/api', { headers: { 'x-a': { b: 1 } } }), 400, '/headers/x-a');
    expect(ctx.proxy.revision).toBe(2);
  });

  it('415 on a wrong content type (text/plain, merge-patch on POST)', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/routes', headers: h({ 'content-type': 'text/plain' }), payload: JSON.stringify(API) });
    expectProblem(res, 415);
    const res2 = await app.inject({ method: 'POST', url: '/v1/routes', headers: h({ 'content-type': 'application/merge-patch+json' }), payload: JSON.stringify(API) });
    expectProblem(res2, 415);
    const res3 = await app.inject({ method: 'POST', url: '/v1/routes', headers: h({ 'content-type': 'application/x-www-form-urlencoded' }), payload: 'id=api' });
    expectProblem(res3, 415);
    expect(ctx.proxy.revision).toBe(1);
  });

  it('404 for unknown ids and unknown paths', async () => {
    expectProblem(await get('/v1/routes/nope'), 404, '/id');
    expectProblem(await put('/v1/routes/nope', { pathPrefix: '/n', upstreams: API.upstreams }), 404, '/id');
    expectProblem(await patch('/v1/routes/nope', { host: 'a.example' }), 404, '/id');
    expectProblem(await del('/v1/routes/nope'), 404, '/id');
    expectProblem(await get('/v1/nothing'), 404);
    expectProblem(await get('/'), 404);
  });

  it('405 with Allow for a method a resource does not serve', async () => {
    let res = await del('/v1/routes');
    expectProblem(res, 405);
    expect(res.headers.allow).toBe('GET, POST, HEAD');
    res = await post('/v1/routes/api', API);
    expectProblem(res, 405);
    expect(res.headers.allow).toBe('GET, PUT, PATCH, DELETE, HEAD');
    res = await app.inject({ method: 'POST', url: '/v1/config', headers: h(), payload: {} });
    expectProblem(res, 405);
    expect(res.headers.allow).toBe('GET, PUT, HEAD');
    expectProblem(await app.inject({ method: 'PUT', url: '/v1/upstreams', headers: h(), payload: {} }), 405);
  });
});

describe('routes: replace, patch, delete, preconditions', () => {
  beforeEach(async () => {
    await setup();
    await post('/v1/routes', API);
    await post('/v1/routes', WEB);
  });

  it('PUT replaces a route; the id may be omitted; a different id is refused', async () => {
    const res = await put('/v1/routes/api', { pathPrefix: '/api', upstreams: ['http://127.0.0.1:9001'] });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: 'api', pathPrefix: '/api', upstreams: ['http://127.0.0.1:9001'], stripPrefix: false, preserveHost: false });
    expect(res.headers.etag).toBe((await get('/v1/routes/api')).headers.etag);
    expect(ctx.proxy.revision).toBe(4);
    expectProblem(await put('/v1/routes/api', { ...API, id: 'other' }), 400, '/id');
    expectProblem(await put('/v1/routes/api', { pathPrefix: '/api' }), 400, '/upstreams');
  });

  it('PUT of an identical route is a no-op: no new revision', async () => {
    const before = ctx.proxy.revision;
    const res = await put('/v1/routes/api', API);
    expect(res.statusCode).toBe(200);
    expect(ctx.proxy.revision).toBe(before);
  });

  it('unchanged routes keep their compiled state (and so their balancer and pools)', async () => {
    const web = ctx.proxy.routes.current.get('web');
    const api = ctx.proxy.routes.current.get('api');
    expect((await patch('/v1/routes/api', { host: 'api.example.com' })).statusCode).toBe(200);
    expect(ctx.proxy.routes.current.get('web')).toBe(web);
    expect(ctx.proxy.routes.current.get('api')).not.toBe(api);
    expect((await put('/v1/config', { routes: [ctx.proxy.routes.current.get('api')!.spec, WEB] })).statusCode).toBe(200);
    expect(ctx.proxy.routes.current.get('web')).toBe(web);
  });

  it('PATCH merges (RFC 7396): members replaced, null removes, result validated', async () => {
    let res = await patch('/v1/routes/api', { host: '*.example.com', stripPrefix: null, methods: ['GET', 'HEAD'] });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: 'api', host: '*.example.com', pathPrefix: '/api', methods: ['GET', 'HEAD'], upstreams: API.upstreams, stripPrefix: false, preserveHost: false });
    res = await patch('/v1/routes/api', { host: null });
    expect(res.json<RouteSpec>().host).toBeUndefined();
    // application/json is accepted for PATCH too
    res = await app.inject({ method: 'PATCH', url: '/v1/routes/api', headers: h({ 'content-type': 'application/json' }), payload: JSON.stringify({ preserveHost: true }) });
    expect(res.statusCode).toBe(200);
    expect(res.json<RouteSpec>().preserveHost).toBe(true);
    expectProblem(await patch('/v1/routes/api', { pathPrefix: null }), 400, '/pathPrefix');
    expectProblem(await patch('/v1/routes/api', { upstreams: 'http://127.0.0.1:1' }), 400, '/upstreams');
    expectProblem(await patch('/v1/routes/api', { id: 'renamed' }), 400, '/id');
    expectProblem(await patch('/v1/routes/api', { upstreams: ['ftp://127.0.0.1:21'] }), 422, '/upstreams/0');
    const text = await app.inject({ method: 'PATCH', url: '/v1/routes/api', headers: h({ 'content-type': 'text/plain' }), payload: '{}' });
    expectProblem(text, 415);
  });

  it('DELETE answers 204 and the route is gone', async () => {
    const res = await del('/v1/routes/api');
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect(res.headers['x-portico-revision']).toBe('4');
    expectProblem(await get('/v1/routes/api'), 404);
    expect(ctx.proxy.routes.current.routes.map((r) => r.id)).toEqual(['web']);
  });

  it('412 on a stale If-Match; the current ETag (or *) succeeds; a malformed one is 400', async () => {
    const etag = (await get('/v1/routes/api')).headers.etag as string;
    expect((await patch('/v1/routes/api', { host: 'a.example' }, { 'if-match': etag })).statusCode).toBe(200);
    // etag is now stale
    const p = expectProblem(await put('/v1/routes/api', API, { 'if-match': etag }), 412, '/if-match');
    expect(p.detail).toContain('changed');
    expectProblem(await patch('/v1/routes/api', { host: 'b.example' }, { 'if-match': etag }), 412);
    expectProblem(await del('/v1/routes/api', { 'if-match': etag }), 412);
    expectProblem(await del('/v1/routes/api', { 'if-match': `W/${etag}` }), 412);
    expectProblem(await del('/v1/routes/api', { 'if-match': 'no-quotes' }), 400, '/if-match');
    expectProblem(await del('/v1/routes/nope', { 'if-match': '*' }), 412);
    const fresh = (await get('/v1/routes/api')).headers.etag as string;
    expect((await del('/v1/routes/api', { 'if-match': `"other", ${fresh}` })).statusCode).toBe(204);
    // If-Match on the collection compares the global ETag
    const list = await get('/v1/routes');
    expect((await post('/v1/routes', API, { 'if-match': list.headers.etag as string })).statusCode).toBe(201);
    expectProblem(await post('/v1/routes', { ...API, id: 'api3', pathPrefix: '/3' }, { 'if-match': list.headers.etag as string }), 412);
  });

  it('concurrent writers are serialised: one If-Match wins, the others get 412', async () => {
    const etag = (await get('/v1/routes/api')).headers.etag as string;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      put('/v1/routes/api', { ...API, upstreams: [`http://127.0.0.1:${9000 + i}`] }, { 'if-match': etag })));
    const codes = results.map((r) => r.statusCode).sort();
    expect(codes.filter((c) => c === 200)).toHaveLength(1);
    expect(codes.filter((c) => c === 412)).toHaveLength(9);
  });

  it('concurrent creates all apply, one revision each', async () => {
    const before = ctx.proxy.revision;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => post('/v1/routes', { id: `r${i}`, pathPrefix: `/r${i}`, upstreams: ['http://127.0.0.1:9000'] })));
    expect(results.every((r) => r.statusCode === 201)).toBe(true);
    expect(ctx.proxy.revision).toBe(before + 20);
    expect(new Set(results.map((r) => r.headers['x-portico-revision'])).size).toBe(20);
  });
});

describe('dry runs', () => {
  beforeEach(async () => {
    await setup();
    await post('/v1/routes', API);
  });

  it('?dryRun=true on every mutation validates, shows the result and changes nothing', async () => {
    const rev = ctx.proxy.revision;
    const table = ctx.proxy.routes.current;
    let res = await post('/v1/routes?dryRun=true', WEB);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ dryRun: true, revision: rev + 1, changed: true, route: { id: 'web' } });
    expect(res.json<RouteList>().routes.map((r: { id: string }) => r.id)).toEqual(['api', 'web']);
    res = await put('/v1/routes/api?dryRun=true', { ...API, pathPrefix: '/v2' });
    expect(res.json()).toMatchObject({ dryRun: true, route: { pathPrefix: '/v2' } });
    res = await patch('/v1/routes/api?dryRun=true', { host: 'x.example' });
    expect(res.json()).toMatchObject({ dryRun: true, route: { host: 'x.example' } });
    res = await del('/v1/routes/api?dryRun=true');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ dryRun: true, routes: [] });
    res = await put('/v1/config?dryRun=true', { routes: [WEB] });
    expect(res.json()).toMatchObject({ dryRun: true, routes: [{ id: 'web' }] });
    expect(ctx.proxy.revision).toBe(rev);
    expect(ctx.proxy.routes.current).toBe(table);
  });

  it('a dry run reports errors like the real thing', async () => {
    expectProblem(await post('/v1/routes?dryRun=true', API), 409);
    expectProblem(await post('/v1/routes?dryRun=true', { ...API, id: 'x', upstreams: ['ftp://a.example'] }), 422, '/upstreams/0');
    expectProblem(await post('/v1/routes?dryRun=true', { id: 'x' }), 400);
  });

  it('a dry run of a no-op says changed: false; dryRun=false applies', async () => {
    const res = await put('/v1/routes/api?dryRun=true', API);
    expect(res.json()).toMatchObject({ dryRun: true, changed: false, revision: ctx.proxy.revision });
    expect((await post('/v1/routes?dryRun=false', WEB)).statusCode).toBe(201);
  });

  it('an unknown query parameter is refused (a misspelt dryRun must not apply)', async () => {
    const rev = ctx.proxy.revision;
    expectProblem(await post('/v1/routes?dryrun=true', WEB), 400, '/dryrun');
    expectProblem(await del('/v1/routes/api?dryRun=yes'), 400, '/dryRun');
    expect(ctx.proxy.revision).toBe(rev);
  });
});

describe('/v1/config', () => {
  it('GET shows the running config with the current routes, revision and ETag, and no secrets', async () => {
    const config = makeConfig({
      admin: { listen: '127.0.0.1:9090', token: TOKEN, tokens: [{ name: 'grafana', role: 'read', token: 'grafana-token-0123456789' }] },
      routes: [API],
      forwardProxy: { enabled: true, auth: { users: { alice: 'secret-password' } } },
    });
    await setup(makeContext({ config }));
    const res = await get('/v1/config');
    expect(res.statusCode).toBe(200);
    const doc = res.json<ConfigDocument>();
    expect(doc.revision).toBe(1);
    expect(res.headers.etag).toMatch(/^"1-/);
    expect(doc.config.routes).toEqual([{ ...API, preserveHost: false }]);
    expect(doc.config.admin).toEqual({ listen: '127.0.0.1:9090', tokens: [{ name: 'grafana', role: 'read' }], metricsAuth: true, failedAuth: { burst: 10, refillMs: 6000, delayMs: 1000 } });
    expect(res.body).not.toContain(TOKEN);
    expect(res.body).not.toContain('grafana-token-0123456789');
    // a body made from it round-trips: token values left out are the running ones
    expect((await put('/v1/config', doc.config)).statusCode).toBe(200);
    expectProblem(await put('/v1/config', { ...doc.config, admin: { ...doc.config.admin, tokens: [{ name: 'grafana', role: 'read', token: 'another-token-0123456789' }] } }), 422, '/admin/tokens/0/token');
    expect(res.body).not.toContain('secret-password');
    expect(doc.config.forwardProxy.auth).toEqual({ realm: 'portico' });
  });

  it('PUT replaces the route list atomically; GET -> PUT round-trips', async () => {
    await setup(makeContext({ config: makeConfig({ routes: [API], forwardProxy: { auth: { users: { alice: 'pw' } } } }) }));
    const before = (await get('/v1/config')).json<ConfigDocument>().config;
    const res = await put('/v1/config', { ...before, routes: [WEB, { ...API, pathPrefix: '/v2' }] });
    expect(res.statusCode).toBe(200);
    expect(res.json<ConfigDocument>().revision).toBe(2);
    expect(res.headers.etag).toMatch(/^"2-/);
    expect(ctx.proxy.routes.current.routes.map((r) => [r.id, r.pathPrefix])).toEqual([['web', '/'], ['api', '/v2']]);
    // only the routes are needed
    expect((await put('/v1/config', { routes: [] })).json<ConfigDocument>().config.routes).toEqual([]);
    // identical: no new revision
    const rev = ctx.proxy.revision;
    expect((await put('/v1/config', { routes: [] })).statusCode).toBe(200);
    expect(ctx.proxy.revision).toBe(rev);
  });

  it('PUT: 400 without routes or with schema errors, 422 for restart-only settings and semantic errors, 412 stale', async () => {
    await setup(makeContext({ config: makeConfig({ routes: [API] }) }));
    const etag = (await get('/v1/config')).headers.etag as string;
    expectProblem(await put('/v1/config', {}), 400, '/routes');
    expectProblem(await put('/v1/config', { routes: [], bogus: 1 }), 400, '/bogus');
    expectProblem(await put('/v1/config', { routes: [{ ...API, stripPrefix: 1 }] }), 400, '/routes/0/stripPrefix');
    let p = expectProblem(await put('/v1/config', { routes: [], listen: '127.0.0.1:1234' }), 422, '/listen');
    expect(p.type).toBe('urn:portico:problem:restart-required');
    expectProblem(await put('/v1/config', { routes: [], timeouts: { idleMs: 5 } }), 422, '/timeouts/idleMs');
    expectProblem(await put('/v1/config', { routes: [], admin: { listen: '127.0.0.1:9090', token: 'x'.repeat(20) } }), 422, '/admin/token');
    p = expectProblem(await put('/v1/config', { routes: [API, { ...WEB, id: 'api' }] }), 422, '/routes/1/id');
    expect(p.code).toBe('PRX_ERR_DUPLICATE_ROUTE');
    expectProblem(await put('/v1/config', { routes: [{ ...API, upstreams: ['http://a b'] }] }), 422, '/routes/0/upstreams/0');
    expect(ctx.proxy.revision).toBe(1);
    expect((await put('/v1/config', { routes: [WEB] }, { 'if-match': etag })).statusCode).toBe(200);
    expectProblem(await put('/v1/config', { routes: [API] }, { 'if-match': etag }), 412);
    expect((await put('/v1/config', { routes: [WEB], listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:9090' } })).statusCode).toBe(200);
  });
});

describe('auth and Host check', () => {
  it('mutations need the bearer token (401 without or with a wrong one); reads do not', async () => {
    await setup();
    const noAuth = await app.inject({ method: 'POST', url: '/v1/routes', headers: { host: '127.0.0.1:9090' }, payload: API });
    const p = expectProblem(noAuth, 401);
    expect(noAuth.headers['www-authenticate']).toContain('Bearer');
    expect(p.type).toBe('urn:portico:problem:unauthorized');
    const wrong = await app.inject({ method: 'POST', url: '/v1/routes', headers: { host: '127.0.0.1:9090', authorization: `Bearer ${TOKEN}x` }, payload: API });
    expectProblem(wrong, 401);
    const basic = await app.inject({ method: 'DELETE', url: '/v1/routes/api', headers: { host: '127.0.0.1:9090', authorization: `Basic ${Buffer.from(`a:${TOKEN}`).toString('base64')}` } });
    expectProblem(basic, 401);
    // auth runs before routing: nothing is revealed to an unauthenticated client
    expectProblem(await app.inject({ method: 'PUT', url: '/v1/nothing', headers: { host: '127.0.0.1:9090' }, payload: {} }), 401);
    expect((await get('/v1/routes')).statusCode).toBe(200);
    expect(ctx.proxy.revision).toBe(1);
    // the scheme name is case-insensitive
    expect((await app.inject({ method: 'POST', url: '/v1/routes', headers: { host: '127.0.0.1:9090', authorization: `bearer ${TOKEN}` }, payload: API })).statusCode).toBe(201);
  });

  it('with no token configured, mutations are refused (403) and reads work', async () => {
    await setup(makeContext({ token: null }));
    const p = expectProblem(await post('/v1/routes', API), 403);
    expect(p.detail).toContain('PORTICO_ADMIN_TOKEN');
    expect((await get('/v1/config')).statusCode).toBe(200);
  });

  it('a loopback listener refuses foreign Host headers (DNS rebinding), on reads too', async () => {
    await setup();
    for (const host of ['localhost:9090', '127.0.0.1:9090', '[::1]:9090', 'LOCALHOST:9090']) {
      expect((await app.inject({ url: '/v1/routes', headers: { host } })).statusCode).toBe(200);
    }
    for (const host of ['evil.example:9090', 'evil.example', 'localhost', 'localhost:9091', '127.0.0.1.nip.io:9090']) {
      const res = await app.inject({ url: '/v1/routes', headers: { host } });
      expectProblem(res, 403, '/host');
    }
    expectProblem(await app.inject({ method: 'POST', url: '/v1/routes', headers: { host: 'evil.example:9090', authorization: `Bearer ${TOKEN}` }, payload: API }), 403);
  });

  it('a listener on another address does not check Host', async () => {
    await setup(makeContext({ listen: '0.0.0.0:9090' }));
    expect((await app.inject({ url: '/v1/routes', headers: { host: 'admin.internal:9090', authorization: `Bearer ${TOKEN}` } })).statusCode).toBe(200);
  });

  it('no GET changes anything (mutations are never GET)', async () => {
    await setup();
    await post('/v1/routes', API);
    const rev = ctx.proxy.revision;
    const doc = (await get('/docs/json')).json<OpenApiDocument>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      // the change feed is a stream that does not end (test/history/change-feed.test.ts)
      if (path === '/v1/changes') continue;
      const url = path.replace('{id}', 'api').replace('{rev}', String(rev));
      const res = await get(url);
      if (!ops.get) {
        // an action or mutation-only resource (POST /v1/workers/restart, PUT /v1/tls/{listener}/certificates)
        expect(res.statusCode, url).toBe(405);
        continue;
      }
      expect(res.statusCode, url).toBe(url === '/readyz' ? 503 : 200);
      // the document's security applies (a credential, unless reads are open), or none (probes)
      if (ops.get) expect(ops.get.security ?? [], `GET ${path} is not a mutation`).toEqual([]);
      for (const q of ['?dryRun=false', '?delete=1']) expect((await get(url + q)).statusCode).toBe(400);
    }
    expect(ctx.proxy.revision).toBe(rev);
  });
});

describe('health, metrics, docs, upstreams', () => {
  beforeEach(() => setup(makeContext({ config: makeConfig({ routes: [API, WEB] }) })));

  it('/healthz is 200; /readyz is 503 until the proxy listens', async () => {
    expect((await get('/healthz')).json()).toEqual({ status: 'ok' });
    const res = await get('/readyz');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ status: 'not ready', checks: { proxyListening: false, configLoaded: true } });
  });

  it('/metrics is Prometheus text from a registry of its own', async () => {
    const res = await get('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const name of ['portico_http_requests_total', 'portico_http_request_duration_seconds', 'portico_upstream_errors_total',
      'portico_client_connections', 'portico_upstream_pool_sockets', 'portico_upstream_socket_acquisitions_total', 'portico_config_revision', 'portico_routes']) {
      expect(res.body).toContain(`# TYPE ${name} `);
    }
    expect(res.body).toContain('portico_config_revision 1');
    expect(res.body).toContain('portico_routes 2');
    await del('/v1/routes/api');
    const after = (await get('/metrics')).body;
    expect(after).toContain('portico_config_revision 2');
    expect(after).toContain('portico_admin_changes_total{result="applied"} 1');
  });

  it('/docs/json is an OpenAPI 3.1 document generated from the schemas', async () => {
    const res = await get('/docs/json');
    expect(res.statusCode).toBe(200);
    const doc = res.json<OpenApiDocument>();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/routes', '/v1/routes/{id}', '/v1/config', '/v1/upstreams', '/healthz', '/readyz', '/metrics']));
    expect(Object.keys(doc.paths['/v1/routes/{id}'])).toEqual(expect.arrayContaining(['get', 'put', 'patch', 'delete']));
    expect(doc.components.schemas.Route.properties.upstreams).toBeDefined();
    expect(doc.components.schemas.Problem).toBeDefined();
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer' });
    expect(doc.paths['/v1/routes'].post.security).toEqual([{ bearerAuth: [] }]);
    expect(JSON.stringify(doc.components.schemas.ConfigView)).not.toContain('"token"');
  });

  it('/v1/upstreams lists origins and the routes that use them', async () => {
    const res = await get('/v1/upstreams');
    expect(res.statusCode).toBe(200);
    expect(res.json<{ upstreams: unknown[] }>().upstreams).toEqual([
      { authority: '127.0.0.1:8081', routes: ['api'] },
      { authority: '127.0.0.1:8082', routes: ['web'] },
      { authority: '127.0.0.1:8083', routes: ['web'] },
    ]);
  });
});

describe('persistence', () => {
  it('rewrites only `routes` in an existing config file, atomically, mode 0600', async () => {
    const tmp = tempDir();
    try {
      const path = join(tmp.dir, 'portico.json');
      const raw = { listen: '127.0.0.1:8080', timeouts: { idleMs: 30000 }, routes: [API] };
      writeFileSync(path, JSON.stringify(raw), { mode: 0o644 });
      // the running config differs from the file (a --listen override): the file keeps its own value
      await setup(makeContext({ config: makeConfig(raw), configPath: path }));
      expect((await post('/v1/routes', WEB)).statusCode).toBe(201);
      const saved: unknown = JSON.parse(readFileSync(path, 'utf8'));
      expect(saved).toEqual({ listen: '127.0.0.1:8080', timeouts: { idleMs: 30000 }, routes: [{ ...API, preserveHost: false }, { ...WEB, stripPrefix: false, preserveHost: false }] });
      expect(statSync(path).mode & 0o777).toBe(0o600);
      // the config file and, next to it, the route history (docs/route-history.md)
      expect(readdirSync(tmp.dir)).toEqual(['portico.history.json', 'portico.json']);
      // the file is a valid config that a restart loads
      expect(loadConfigFile(path, false).routes.map((r) => r.id)).toEqual(['api', 'web']);
      // dry runs and rejected changes do not touch it
      const before = readFileSync(path, 'utf8');
      await del('/v1/routes/api?dryRun=true');
      await post('/v1/routes', { ...API, id: 'x', upstreams: ['ftp://a.example'] });
      expect(readFileSync(path, 'utf8')).toBe(before);
    } finally {
      tmp.cleanup();
    }
  });

  it('when the file cannot be written, the change is refused (500) and nothing changes', async () => {
    const tmp = tempDir();
    try {
      await setup(makeContext({ configPath: join(tmp.dir, 'missing-dir', 'portico.json') }));
      const p = expectProblem(await post('/v1/routes', API), 500);
      expect(p.type).toBe('urn:portico:problem:persistence');
      expect(p.detail).toContain('nothing was changed');
      expect(ctx.proxy.revision).toBe(1);
      expect(ctx.proxy.routes.current.routes).toHaveLength(0);
    } finally {
      tmp.cleanup();
    }
  });
});

describe('tokens', () => {
  it('a token with spaces and punctuation works', async () => {
    const token = 'correct horse, battery staple!';
    await setup(makeContext({ token }));
    const res = await app.inject({ method: 'POST', url: '/v1/routes', headers: { host: '127.0.0.1:9090', authorization: `Bearer ${token}` }, payload: API });
    expect(res.statusCode).toBe(201);
    const bad = await app.inject({ method: 'DELETE', url: '/v1/routes/api', headers: { host: '127.0.0.1:9090', authorization: `Bearer ${token.slice(0, -1)}` } });
    expect(bad.statusCode).toBe(401);
  });
});

describe('admin access log', () => {
  it('never logs a query string (credentials passed as ?token= stay out of the log)', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    await setup({ ...makeContext(), logger: pino({ level: 'info' }, sink) });
    const secret = 'sEcReT-in-the-query-0123456789';
    expect((await post('/v1/routes?dryRun=true', API)).statusCode).toBe(200);
    expect((await post(`/v1/routes?token=${secret}&dryRun=true`, API)).statusCode).toBe(400); // not a known query member
    expect((await del(`/v1/routes/nope?token=${secret}`)).statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: `/v1/nothing-here?token=${secret}`, headers: h() })).statusCode).toBe(404);
    const notFound = await app.inject({ method: 'DELETE', url: `/v1/routes/nope?access_token=${secret}`, headers: h() });
    expect(notFound.json<Problem>().instance).toBe('/v1/routes/nope');
    await new Promise((r) => setImmediate(r));
    const log = lines.join('');
    expect(log).toContain('"url":"/v1/routes"');
    expect(log).not.toContain(secret);
    expect(log).not.toContain('token=');
  });
});
