// https:// upstreams: real node:https origins with openssl-made certificates behind a real proxy.
// Verification is on by default; a failure is a 502 with the reason logged; mTLS; keep-alive and
// TLS session resumption in the pool.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import { pino } from 'pino';
import { TestPki, makeCert, type IssuedCert } from '../helpers/certs.js';
import { startProxy, request, type Started } from '../helpers/harness.js';

let pki: TestPki;
let good: IssuedCert;
const stops: Array<() => Promise<void> | void> = [];

beforeAll(() => {
  pki = new TestPki();
  good = pki.issue({ names: ['localhost'], ips: ['127.0.0.1'] });
});
afterAll(() => pki.close());
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

interface Origin { port: number; clientCNs: Array<string | undefined>; sessions: number }

async function httpsOrigin(opts: https.ServerOptions): Promise<Origin> {
  const o: Origin = { port: 0, clientCNs: [], sessions: 0 };
  const server = https.createServer(opts, (req, res) => {
    const cert = (req.socket as tls.TLSSocket).getPeerCertificate();
    const cn = cert?.subject?.CN; // a subject may repeat CN (string[])
    o.clientCNs.push(Array.isArray(cn) ? cn.join(',') : cn);
    res.end(`secure ${req.url}`);
  });
  server.on('secureConnection', () => { o.sessions++; });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  o.port = (server.address() as net.AddressInfo).port;
  stops.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return o;
}

function capturedLogger() {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, logger: pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } }) };
}

async function proxyTo(url: string, routeExtra: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, logger = capturedLogger().logger): Promise<Started> {
  const p = await startProxy({ routes: [{ id: 'up', pathPrefix: '/', upstreams: [url], ...routeExtra }], ...extra }, { logger });
  stops.push(() => p.close());
  return p;
}

const get = (port: number, path = '/x') => request(port, `GET ${path} HTTP/1.1\r\nHost: front.test\r\n\r\n`, 'GET', 10_000);

describe('https:// upstreams', () => {
  it('verifies against the configured CA, keeps the connection alive and resumes TLS sessions on new ones', async () => {
    const o = await httpsOrigin({ cert: good.certPem, key: good.keyPem });
    const p = await proxyTo(`https://localhost:${o.port}/base`, {}, { upstream: { caFile: pki.caFile } });
    const r1 = await get(p.port);
    expect(r1.status).toBe(200);
    expect(r1.body.toString()).toBe('secure /base/x');
    const r2 = await get(p.port);
    expect(r2.status).toBe(200);
    const pool = p.proxy.stats().pools[0];
    expect(pool.authority).toBe(`localhost:${o.port}`);
    expect(pool.created).toBe(1);
    expect(pool.reused).toBe(1);
    expect(o.sessions).toBe(1);
  });

  it('offers the pool\'s TLS session on each new connection (resumption)', async () => {
    const o = await httpsOrigin({ cert: good.certPem, key: good.keyPem });
    // no idle sockets kept: every request needs a new connection
    const p = await proxyTo(`https://127.0.0.1:${o.port}`, { upstreamTls: { ca: pki.caFile } }, { upstream: { maxIdleSockets: 0 } });
    for (let i = 0; i < 3; i++) expect((await get(p.port)).status).toBe(200);
    expect(o.sessions).toBe(3);
    expect(p.proxy.stats().pools[0].created).toBe(3);
    expect(p.proxy.stats().pools[0].resumed).toBeGreaterThanOrEqual(1);
  });

  it('an unknown CA (Node\'s default store only), an expired or a wrong-name certificate is a 502 with the reason logged', async () => {
    const expired = pki.issue({ names: ['localhost'], ips: ['127.0.0.1'], expired: true, stem: 'expired' });
    const wrongName = pki.issue({ names: ['other.test'], stem: 'wrong' });
    const cases: Array<[IssuedCert, Record<string, unknown>, string]> = [
      [good, {}, 'SELF_SIGNED_CERT_IN_CHAIN'], // the chain ends in our CA, which Node's store lacks
      [expired, { upstream: { caFile: pki.caFile } }, 'CERT_HAS_EXPIRED'],
      [wrongName, { upstream: { caFile: pki.caFile } }, 'ERR_TLS_CERT_ALTNAME_INVALID'],
    ];
    for (const [cert, extra, reason] of cases) {
      const o = await httpsOrigin({ cert: cert.certPem, key: cert.keyPem });
      const { logger, lines } = capturedLogger();
      const p = await proxyTo(`https://localhost:${o.port}`, {}, extra, logger);
      const r = await get(p.port);
      expect(r.status, reason).toBe(502);
      expect(r.body.toString()).toContain(reason);
      expect(r.body.toString()).toContain('PRX_ERR_UPSTREAM_TLS');
      const warn = lines.find((l) => l.msg === 'upstream TLS handshake failed');
      expect(warn?.reason).toContain(reason);
      expect(warn?.level).toBe(40);
      expect(o.clientCNs).toEqual([]); // nothing was sent
    }
  });

  it('servername overrides SNI and the verified name', async () => {
    const named = pki.issue({ names: ['api.internal.test'], stem: 'named' });
    let sni: string | false | undefined;
    const o = await httpsOrigin({ cert: named.certPem, key: named.keyPem, SNICallback: (n, cb) => { sni = n; cb(null, undefined); } });
    const p = await proxyTo(`https://127.0.0.1:${o.port}`, { upstreamTls: { ca: pki.caFile, servername: 'api.internal.test' } });
    expect((await get(p.port)).status).toBe(200);
    expect(sni).toBe('api.internal.test');
  });

  it('presents a client certificate (mTLS) when the route has one; without it the origin refuses: 502', async () => {
    const client = pki.issue({ names: ['portico-client'], stem: 'client' });
    const o = await httpsOrigin({ cert: good.certPem, key: good.keyPem, ca: pki.caPem, requestCert: true, rejectUnauthorized: true });
    const p = await proxyTo(`https://localhost:${o.port}`, { upstreamTls: { ca: pki.caFile, cert: client.cert, key: client.key } });
    const r = await get(p.port);
    expect(r.status).toBe(200);
    expect(o.clientCNs).toEqual(['portico-client']);
    const without = await proxyTo(`https://localhost:${o.port}`, { upstreamTls: { ca: pki.caFile } });
    expect((await get(without.port)).status).toBe(502);
    expect(o.clientCNs).toEqual(['portico-client']);
  });

  it('insecureSkipVerify is an explicit per-route opt-in, warned about at start-up', async () => {
    const self = makeCert();
    const o = await httpsOrigin({ cert: self.cert, key: self.key });
    const { logger, lines } = capturedLogger();
    const p = await proxyTo(`https://localhost:${o.port}`, { upstreamTls: { insecureSkipVerify: true } }, {}, logger);
    expect(lines.some((l) => l.level === 40 && l.route === 'up' && String(l.msg).includes('insecureSkipVerify'))).toBe(true);
    expect((await get(p.port)).status).toBe(200);
    // another route to the same origin without the opt-in is verified (its own pool): 502
    const strict = await proxyTo(`https://localhost:${o.port}`);
    expect((await get(strict.port)).status).toBe(502);
  });

  it('unreadable or mismatched route TLS files are configuration errors naming the file', async () => {
    const other = pki.issue({ names: ['x.test'], stem: 'x' });
    await expect(startProxy({ routes: [{ id: 'up', pathPrefix: '/', upstreams: ['https://localhost:1'], upstreamTls: { ca: '/nonexistent/ca.pem' } }] }))
      .rejects.toMatchObject({ code: 'PRX_ERR_BAD_ROUTE', path: '/routes/0/upstreamTls/ca', message: expect.stringContaining('/nonexistent/ca.pem') as string });
    await expect(startProxy({ routes: [{ id: 'up', pathPrefix: '/', upstreams: ['https://localhost:1'], upstreamTls: { cert: good.cert, key: other.key } }] }))
      .rejects.toMatchObject({ path: '/routes/0/upstreamTls/key', message: expect.stringContaining(`key file ${other.key} does not match certificate file ${good.cert}`) as string });
  });
});

describe('forward proxy TLS origination', () => {
  it('fetches https:// absolute-form targets over verified TLS when originateTls is on; CONNECT stays the default', async () => {
    const o = await httpsOrigin({ cert: good.certPem, key: good.keyPem });
    const forwardProxy = { enabled: true, httpsPorts: [o.port], allowDestinations: ['127.0.0.0/8'] };
    const req = `GET https://127.0.0.1:${o.port}/f?q=1 HTTP/1.1\r\nHost: 127.0.0.1:${o.port}\r\n\r\n`;
    const off = await startProxy({ forwardProxy });
    stops.push(() => off.close());
    const refused = await request(off.port, req);
    expect(refused.status).toBe(400);
    expect(refused.body.toString()).toContain('PRX_FORWARD_USE_CONNECT');

    const on = await startProxy({ forwardProxy: { ...forwardProxy, originateTls: true }, upstream: { caFile: pki.caFile } });
    stops.push(() => on.close());
    const r = await request(on.port, req);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('secure /f?q=1');

    // without the CA it is not trusted: 502, never a plaintext retry
    const untrusted = await startProxy({ forwardProxy: { ...forwardProxy, originateTls: true } });
    stops.push(() => untrusted.close());
    const bad = await request(untrusted.port, req);
    expect(bad.status).toBe(502);
    expect(bad.body.toString()).toContain('PRX_ERR_UPSTREAM_TLS');
  });
});
