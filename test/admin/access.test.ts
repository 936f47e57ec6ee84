// Who may use the admin API, over real HTTP on 127.0.0.1 (docs/admin-security.md): reads closed
// (admin.openReads: false, the default beyond loopback) or open (the default on loopback), read and
// admin tokens (401 vs 403), /metrics opened alone, the access log naming who made a change.
// Tests listen on loopback only, so the listener is a loopback one: the rules are driven through
// the explicit setting, and the default (loopback: open, elsewhere: closed) is checked on the
// function that decides it.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveOpenReads, accessOf, exposureNotices } from '../../admin/api/access-policy.js';
import { TOKEN, adminCall, capturingLogger, startAdminWith, tempDir } from './helpers.js';

const READ = 'grafana-read-token-0123456789';
const DEPLOY = 'deployer-token-abcdefghijklmnop';
const ROUTE = { id: 'api', pathPrefix: '/api', upstreams: ['http://127.0.0.1:9'] };

describe('the default of admin.openReads', () => {
  it('is open on a loopback listener and closed on any other; an explicit setting wins', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '[::1]', '::1']) expect(resolveOpenReads(undefined, host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '[::]', '10.0.0.5', '192.168.1.2', 'admin.internal', '[2001:db8::1]']) expect(resolveOpenReads(undefined, host), host).toBe(false);
    expect(resolveOpenReads(true, '0.0.0.0')).toBe(true);
    expect(resolveOpenReads(false, '127.0.0.1')).toBe(false);
  });

  it('access: probes public, /metrics its own, GET/HEAD read, the rest admin', () => {
    expect(accessOf('GET', { access: 'public' })).toBe('public');
    expect(accessOf('GET', { access: 'metrics' })).toBe('metrics');
    expect(accessOf('HEAD', {})).toBe('read');
    expect(accessOf('GET', undefined)).toBe('read');
    for (const m of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) expect(accessOf(m, {})).toBe('admin');
  });

  it('start-up warnings: none on loopback; beyond it, reads that now need a token, reads left open, tokens in clear', () => {
    expect(exposureNotices({ listen: '127.0.0.1:9090' })).toEqual([]);
    const upgraded = exposureNotices({ listen: '0.0.0.0:9090' });
    expect(upgraded).toHaveLength(2);
    expect(upgraded[0]).toMatch(/^warning: the admin API on 0\.0\.0\.0:9090 \(not a loopback address\) answers only requests with a token, reads included/);
    expect(upgraded[0]).toMatch(/now get 401.*admin\.openReads: true/);
    expect(upgraded[1]).toMatch(/plain HTTP: bearer tokens cross the network in clear text/);
    expect(exposureNotices({ listen: '0.0.0.0:9090', openReads: false, tls: { certificates: [], handshakeTimeoutMs: 1, watchFiles: false, watchIntervalMs: 1 } })).toEqual([]);
    expect(exposureNotices({ listen: '[::]:9090', openReads: true })[0]).toMatch(/^warning: admin\.openReads is true: .*lets anyone who can reach it read the routes/);
  });
});

describe('closed reads (admin.openReads: false), read and admin tokens', () => {
  let admin: Awaited<ReturnType<typeof startAdminWith>>;
  let tmp: ReturnType<typeof tempDir>;
  const log = capturingLogger();

  beforeAll(async () => {
    tmp = tempDir();
    const tokenFile = join(tmp.dir, 'deployer.token');
    writeFileSync(tokenFile, `${DEPLOY}\n`);
    admin = await startAdminWith({
      openReads: false,
      tokens: [{ name: 'grafana', role: 'read', token: READ }, { name: 'deployer', role: 'admin', tokenFile }],
    }, { logger: log.logger });
  });
  afterAll(async () => {
    await admin?.close();
    tmp?.cleanup();
  });

  it('every GET endpoint but /healthz and /readyz answers 401 without a token, and 200 with a read token', async () => {
    const doc = (await adminCall(`${admin.url}/docs/json`, { token: READ })).json<{ paths: Record<string, Record<string, unknown>> }>();
    const gets = Object.entries(doc.paths).filter(([, ops]) => ops.get).map(([p]) => p.replace('{id}', 'api').replace('{rev}', '1'));
    expect(gets).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics', '/v1/routes', '/v1/config', '/v1/status', '/v1/tls', '/v1/upstreams']));
    for (const path of [...gets, '/docs/json']) {
      const anonymous = await adminCall(admin.url + path);
      if (path === '/healthz' || path === '/readyz') {
        expect(anonymous.status, path).toBe(200);
        continue;
      }
      expect(anonymous.status, path).toBe(401);
      expect(anonymous.headers['www-authenticate'], path).toBe('Bearer realm="portico-admin"');
      expect(anonymous.json().detail, path).toMatch(/GET needs a token \(read or admin\)/);
      expect((await adminCall(admin.url + path, { method: 'HEAD' })).status, `HEAD ${path}`).toBe(401);
      // the change feed is a stream that does not end: its headers are enough
      const read = await adminCall(admin.url + path, { token: READ, ...(path === '/v1/changes' ? { method: 'HEAD' } : {}) });
      expect(read.status, path).toBe(path === '/v1/routes/api' ? 404 : 200);
    }
  });

  it('an unknown path answers 401, not 404, to a client without a token (nothing is revealed)', async () => {
    expect((await adminCall(`${admin.url}/v1/secret-things`)).status).toBe(401);
    expect((await adminCall(`${admin.url}/v1/secret-things`, { token: READ })).status).toBe(404);
  });

  it('a wrong token is 401 invalid_token on reads too', async () => {
    const r = await adminCall(`${admin.url}/v1/routes`, { token: 'not-a-token-of-this-proxy' });
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer realm="portico-admin", error="invalid_token"');
    expect((await adminCall(`${admin.url}/v1/routes`, { headers: { authorization: `Basic ${Buffer.from(`x:${READ}`).toString('base64')}` } })).status).toBe(401);
  });

  it('a read token on a mutation is 403 insufficient_scope (not 401); an admin token from a token file changes; the log names who', async () => {
    const refused = await adminCall(`${admin.url}/v1/routes`, { method: 'POST', token: READ, body: ROUTE });
    expect(refused.status).toBe(403);
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="portico-admin", error="insufficient_scope"');
    expect(refused.json()).toMatchObject({ type: 'urn:portico:problem:forbidden', detail: '"grafana" may only read (role "read"): POST needs an admin token' });
    expect((await adminCall(`${admin.url}/v1/routes`, { method: 'POST', body: ROUTE })).status).toBe(401);
    expect((await adminCall(`${admin.url}/v1/routes`, { method: 'POST', token: DEPLOY, body: ROUTE })).status).toBe(201);
    expect((await adminCall(`${admin.url}/v1/routes/api`, { method: 'DELETE', token: TOKEN })).status).toBe(204);
    // (the 401 is not logged: refusals for a credential are counted, not logged one by one)
    const changes = log.lines().filter((l) => l.msg === 'admin request');
    expect(changes.map((l) => [l.method, l.url, l.status, l.principal])).toEqual([
      ['POST', '/v1/routes', 403, 'grafana'],
      ['POST', '/v1/routes', 201, 'deployer'],
      ['DELETE', '/v1/routes/api', 204, 'admin'],
    ]);
    for (const secret of [READ, DEPLOY, TOKEN]) expect(log.text()).not.toContain(secret);
    // wrong tokens on mutations: answered, counted, not one log line each
    const before = log.text();
    for (let i = 0; i < 3; i++) expect((await adminCall(`${admin.url}/v1/routes/api`, { method: 'DELETE', token: `wrong-token-${i}-0123456789` })).status).toBe(401);
    expect(log.text()).toBe(before);
  });

  it('refusals are counted in portico_admin_auth_failures_total', async () => {
    const text = (await adminCall(`${admin.url}/metrics`, { token: READ })).body;
    const count = (reason: string) => Number(new RegExp(`^portico_admin_auth_failures_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    expect(count('forbidden')).toBe(1);
    expect(count('missing')).toBeGreaterThanOrEqual(9);
    expect(count('invalid')).toBeGreaterThanOrEqual(2);
  });
});

describe('open reads (the loopback default)', () => {
  let admin: Awaited<ReturnType<typeof startAdminWith>>;
  beforeAll(async () => { admin = await startAdminWith({ tokens: [{ name: 'grafana', role: 'read', token: READ }] }); });
  afterAll(async () => { await admin?.close(); });

  it('reads need no token; a token that is sent must be right; mutations need an admin token', async () => {
    expect((await adminCall(`${admin.url}/v1/routes`)).status).toBe(200);
    expect((await adminCall(`${admin.url}/metrics`)).status).toBe(200);
    expect((await adminCall(`${admin.url}/v1/routes`, { token: 'not-a-token-of-this-proxy' })).status).toBe(401);
    expect((await adminCall(`${admin.url}/v1/routes`, { method: 'POST', body: ROUTE })).status).toBe(401);
    expect((await adminCall(`${admin.url}/v1/routes`, { method: 'POST', token: READ, body: ROUTE })).status).toBe(403);
    expect((await adminCall(`${admin.url}/v1/routes`, { method: 'POST', token: TOKEN, body: ROUTE })).status).toBe(201);
  });
});

describe('/metrics opened alone (admin.metricsAuth: false)', () => {
  let admin: Awaited<ReturnType<typeof startAdminWith>>;
  beforeAll(async () => { admin = await startAdminWith({ openReads: false, metricsAuth: false }); });
  afterAll(async () => { await admin?.close(); });

  it('answers a scraper without credentials while every other read still needs one', async () => {
    const m = await adminCall(`${admin.url}/metrics`);
    expect(m.status).toBe(200);
    expect(m.body).toContain('portico_routes ');
    expect((await adminCall(`${admin.url}/v1/routes`)).status).toBe(401);
    expect((await adminCall(`${admin.url}/docs/json`)).status).toBe(401);
    expect((await adminCall(`${admin.url}/v1/routes`, { token: TOKEN })).status).toBe(200);
  });
});

describe('read tokens only (no admin credential)', () => {
  it('reads work with the read token; every mutation is refused (403: changes are disabled)', async () => {
    const admin = await startAdminWith({ openReads: false, tokens: [{ name: 'grafana', role: 'read', token: READ }] }, { token: null });
    try {
      expect((await adminCall(`${admin.url}/v1/routes`, { token: READ })).status).toBe(200);
      const r = await adminCall(`${admin.url}/v1/routes`, { method: 'POST', token: READ, body: ROUTE });
      expect(r.status).toBe(403);
      expect(r.json().detail).toMatch(/changes are disabled: no admin token is configured/);
    } finally {
      await admin.close();
    }
  });
});
