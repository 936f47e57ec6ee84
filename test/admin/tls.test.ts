// /v1/tls through the real Fastify app (inject) against a real listening proxy: certificates are
// replaced without a restart, by upload or by file, and the next handshake shows it.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../admin/api/app.js';
import { TestPki, type IssuedCert } from '../helpers/certs.js';
import { RawClient } from '../helpers/harness.js';
import { makeConfig, makeContext, h, type TestContext } from './helpers.js';

let pki: TestPki;
let a: IssuedCert;
let b: IssuedCert;
let ctx: TestContext;
let app: FastifyInstance;
let port: number;

beforeAll(async () => {
  pki = new TestPki();
  a = pki.issue({ names: ['a.test'] });
  b = pki.issue({ names: ['b.test'] });
  ctx = makeContext({ config: makeConfig({ listen: false, listeners: [{ id: 'web', listen: '127.0.0.1:0', tls: { certificates: [{ cert: a.cert, key: a.key }], watchFiles: false } }] }) });
  await ctx.proxy.listen();
  port = ctx.proxy.listeners()[0].address.port;
  app = buildAdminApp(ctx, { defaultMetrics: false });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  await ctx.proxy.close(0);
  pki.close();
});

async function servedCn(servername: string): Promise<string> {
  const c = await RawClient.connectTls(port, { servername, ca: pki.caPem, rejectUnauthorized: false });
  const cn = c.socket.getPeerCertificate().subject.CN as string;
  c.destroy();
  return cn;
}

const put = (body: unknown, query = '', auth = true) => app.inject({ method: 'PUT', url: `/v1/tls/web/certificates${query}`, headers: h({ 'content-type': 'application/json' }, auth), payload: JSON.stringify(body) });

describe('admin /v1/tls', () => {
  it('lists the TLS listeners and their certificates', async () => {
    const r = await app.inject({ method: 'GET', url: '/v1/tls', headers: h({}, false) });
    expect(r.statusCode).toBe(200);
    const body = r.json<{ listeners: Array<{ id: string; certificates: Array<{ names: string[]; certFile?: string }> }> }>();
    expect(body.listeners).toMatchObject([{ id: 'web', certificates: [{ names: ['a.test'], certFile: a.cert }] }]);
  });

  it('replaces certificates by upload and by file; the next handshake uses them', async () => {
    expect(await servedCn('b.test')).toBe('a.test');
    const up = await put({ certificates: [{ cert: a.certPem, key: a.keyPem }, { cert: b.certPem, key: b.keyPem }] });
    expect(up.statusCode).toBe(200);
    expect(up.json<{ certificates: Array<{ names: string[] }> }>().certificates.map((c) => c.names)).toEqual([['a.test'], ['b.test']]);
    expect(await servedCn('b.test')).toBe('b.test');
    const byFile = await put({ certificates: [{ certFile: b.cert, keyFile: b.key }] });
    expect(byFile.statusCode).toBe(200);
    expect(await servedCn('a.test')).toBe('b.test');
  });

  it('dry run validates only; bad pairs are 422 naming the entry; unknown listener 404; no token 401', async () => {
    const before = await servedCn('a.test');
    const dry = await put({ certificates: [{ cert: a.certPem, key: a.keyPem }] }, '?dryRun=true');
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toMatchObject({ dryRun: true });
    expect(await servedCn('a.test')).toBe(before);
    const mismatch = await put({ certificates: [{ certFile: a.cert, keyFile: b.key }] });
    expect(mismatch.statusCode).toBe(422);
    expect(mismatch.json()).toMatchObject({ pointer: '/certificates/0/key', detail: expect.stringContaining(b.key) as string });
    const missing = await put({ certificates: [{ certFile: '/nonexistent.pem', keyFile: b.key }] });
    expect(missing.statusCode).toBe(422);
    expect(missing.json()).toMatchObject({ pointer: '/certificates/0/cert', detail: expect.stringContaining('/nonexistent.pem') as string });
    expect((await put({ certificates: [{ cert: 'not a pem', key: 'x' }] })).statusCode).toBe(422);
    expect((await app.inject({ method: 'PUT', url: '/v1/tls/nope/certificates', headers: h({ 'content-type': 'application/json' }), payload: '{"certificates":[{"cert":"x","key":"y"}]}' })).statusCode).toBe(404);
    expect((await put({ certificates: [{ cert: a.certPem, key: a.keyPem }] }, '', false)).statusCode).toBe(401);
    expect(await servedCn('a.test')).toBe(before);
  });
});
