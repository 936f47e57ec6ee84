// TLS listeners end to end: real openssl-made certificates, a real ProxyServer with TLS listeners,
// real clients (curl --cacert, undici with a custom CA, node:tls), a real origin behind.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { execFile } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { Agent, request as undiciRequest } from 'undici';
import { TestPki, type IssuedCert } from '../helpers/certs.js';
import { startProxy, startHttpOrigin, RawClient, header, sleep, type Started } from '../helpers/harness.js';

const run = promisify(execFile);

let pki: TestPki;
let a: IssuedCert;
let b: IssuedCert;
let wild: IssuedCert;
let origin: Awaited<ReturnType<typeof startHttpOrigin>>;
const seen: Array<Record<string, string | string[] | undefined>> = [];

beforeAll(async () => {
  pki = new TestPki();
  a = pki.issue({ names: ['a.test'], ips: ['127.0.0.1'] });
  b = pki.issue({ names: ['b.test'] });
  wild = pki.issue({ names: ['*.w.test'] });
  origin = await startHttpOrigin((req, res) => {
    seen.push(req.headers);
    res.end(`hello ${req.url}`);
  });
});

afterAll(async () => {
  await origin.close();
  pki.close();
});

const stops: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
  seen.length = 0;
});

/** Log lines as objects (pino at debug) for checking what the proxy logged. */
function capturedLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { logger, lines };
}

async function tlsProxy(tlsExtra: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, logger = capturedLogger().logger): Promise<Started> {
  const p = await startProxy({
    listen: false,
    listeners: [{ listen: '127.0.0.1:0', tls: { certificates: [a, b, wild].map((c) => ({ cert: c.cert, key: c.key })), ...tlsExtra } }],
    forwarding: { forwarded: true },
    routes: [{ id: 'all', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }],
    ...extra,
  }, { logger });
  stops.push(() => p.close());
  return p;
}

/** The certificate a handshake with `servername` (undefined: no SNI) gets. */
async function servedCert(port: number, servername: string | undefined): Promise<{ cn: string; fingerprint: string; alpn: string | false | null; protocol: string | null }> {
  const c = await RawClient.connectTls(port, { servername, ca: pki.caPem, rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'] });
  const cert = c.socket.getPeerCertificate();
  const out = { cn: cert.subject.CN as string, fingerprint: cert.fingerprint256, alpn: c.socket.alpnProtocol, protocol: c.socket.getProtocol() };
  c.destroy();
  return out;
}

describe('TLS listener', () => {
  it('serves curl --cacert over HTTPS and tells the upstream the request came over https', async () => {
    const p = await tlsProxy();
    const { stdout } = await run('curl', ['-sS', '-i', '--http1.1', '--cacert', pki.caFile, '--resolve', `a.test:${p.port}:127.0.0.1`, `https://a.test:${p.port}/x?y=1`]);
    expect(stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(stdout).toContain('hello /x?y=1');
    expect(seen[0]['x-forwarded-proto']).toBe('https');
    expect(seen[0].forwarded).toMatch(/proto=https$/);
  });

  it('serves undici with a custom CA, keep-alive on one TLS connection', async () => {
    const p = await tlsProxy();
    const agent = new Agent({ connect: { ca: pki.caPem, servername: 'b.test' }, connections: 1 });
    stops.push(() => agent.close());
    for (let i = 0; i < 3; i++) {
      const r = await undiciRequest(`https://127.0.0.1:${p.port}/u${i}`, { dispatcher: agent });
      expect(r.statusCode).toBe(200);
      expect(await r.body.text()).toBe(`hello /u${i}`);
    }
    expect(p.proxy.stats().clientConnections).toBe(1);
  });

  it('chooses the certificate by SNI: exact, wildcard for one label, else the first; ALPN h2 first (docs/http2.md); TLS 1.2+', async () => {
    const p = await tlsProxy();
    expect((await servedCert(p.port, 'a.test')).cn).toBe('a.test');
    expect((await servedCert(p.port, 'B.TEST')).cn).toBe('b.test');
    expect((await servedCert(p.port, 'x.w.test')).cn).toBe('*.w.test');
    expect((await servedCert(p.port, 'x.y.w.test')).cn).toBe('a.test');
    expect((await servedCert(p.port, 'other.test')).cn).toBe('a.test');
    const noSni = await servedCert(p.port, undefined);
    expect(noSni.cn).toBe('a.test');
    expect(noSni.alpn).toBe('h2');
    expect(['TLSv1.2', 'TLSv1.3']).toContain(noSni.protocol);
    await expect(RawClient.connectTls(p.port, { servername: 'a.test', ca: pki.caPem, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' })).rejects.toThrow();
  });

  it('with one certificate serves it to every name (no SNI callback); once the store holds more, SNI chooses again, and back', async () => {
    const p = await tlsProxy({ certificates: [{ cert: b.cert, key: b.key }] });
    expect((await servedCert(p.port, 'a.test')).cn).toBe('b.test');
    const store = p.proxy.certificateStore('tls-1')!;
    store.replace([b, a].map((c) => ({ cert: c.certPem, key: c.keyPem })));
    expect((await servedCert(p.port, 'a.test')).cn).toBe('a.test');
    expect((await servedCert(p.port, 'other.test')).cn).toBe('b.test');
    store.replace([{ cert: a.certPem, key: a.keyPem }]);
    expect((await servedCert(p.port, 'b.test')).cn).toBe('a.test');
  });

  it('plaintext HTTP and a silent client cost one connection each (handshake deadline) and a debug line', async () => {
    const { logger, lines } = capturedLogger();
    const p = await tlsProxy({ handshakeTimeoutMs: 500 }, {}, logger);
    const closed = (s: net.Socket) => new Promise<void>((r) => { s.on('close', () => r()); s.on('error', () => {}); });
    const plain = net.connect(p.port, '127.0.0.1');
    plain.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n');
    const silent = net.connect(p.port, '127.0.0.1');
    await Promise.all([closed(plain), closed(silent)]);
    const failures = lines.filter((l) => l.msg === 'TLS handshake failed');
    expect(failures.length).toBe(2);
    expect(failures.every((l) => l.level === 20)).toBe(true);
    expect(failures.map((l) => l.reason)).toContain('ERR_TLS_HANDSHAKE_TIMEOUT');
    // the listener still serves
    const { stdout } = await run('curl', ['-sS', '--cacert', pki.caFile, `https://127.0.0.1:${p.port}/after`]);
    expect(stdout).toBe('hello /after');
  });

  it('a plain listener with redirectToHttps answers 308 to the https:// URL', async () => {
    const p = await startProxy({ listeners: [{ listen: '127.0.0.1:0', redirectToHttps: { port: 8443 } }], routes: [{ id: 'all', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }] });
    stops.push(() => p.close());
    const redirecting = p.proxy.listeners().find((l) => l.id === 'http-1')!.address.port;
    const c = await RawClient.connect(redirecting);
    c.send('POST /p/q?x=1 HTTP/1.1\r\nHost: Example.COM:80\r\nContent-Length: 2\r\n\r\nhi', 'POST');
    await c.read(1, 5000);
    c.destroy();
    expect(c.responses[0].status).toBe(308);
    expect(header(c.responses[0], 'location')).toEqual(['https://example.com:8443/p/q?x=1']);
    expect(seen.length).toBe(0);
    // the main listener is unaffected
    const { stdout } = await run('curl', ['-sS', `http://127.0.0.1:${p.port}/plain`]);
    expect(stdout).toBe('hello /plain');
  });
});

describe('certificate hot swap', () => {
  it('replaces certificates through the store under load: zero failed requests, new handshakes get the new one, open connections keep theirs', async () => {
    const p = await tlsProxy();
    const store = p.proxy.certificateStore('tls-1')!;
    const before = await servedCert(p.port, 'a.test');
    // a kept-alive connection made before the swap
    const early = await RawClient.connectTls(p.port, { servername: 'a.test', ca: pki.caPem });
    stops.push(() => early.destroy());
    const earlyFingerprint = early.socket.getPeerCertificate().fingerprint256;

    const a2 = pki.issue({ names: ['a.test'], ips: ['127.0.0.1'], stem: 'a-renewed' });
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    // keep-alive clients and clients that handshake for every request
    const keepAlive = new Agent({ connect: { ca: pki.caPem, servername: 'a.test' }, connections: 4 });
    const fresh = new Agent({ connect: { ca: pki.caPem, servername: 'a.test' }, pipelining: 0 });
    stops.push(() => keepAlive.close(), () => fresh.close());
    const worker = async (agent: Agent, reset: boolean) => {
      while (!stop) {
        try {
          const r = await undiciRequest(`https://127.0.0.1:${p.port}/load`, { dispatcher: agent, reset });
          const body = await r.body.text();
          if (r.statusCode === 200 && body === 'hello /load') ok++; else failures.push(`${r.statusCode} ${body}`);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    };
    const workers = Array.from({ length: 4 }, () => worker(keepAlive, false)).concat(Array.from({ length: 4 }, () => worker(fresh, true)));
    for (let i = 0; i < 10; i++) {
      await sleep(50);
      const next = i % 2 === 0 ? a2 : a;
      store.replace([next, b, wild].map((c) => ({ cert: c.certPem, key: c.keyPem, certFile: c.cert, keyFile: c.key })));
    }
    await sleep(50);
    stop = true;
    await Promise.all(workers);
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(20);
    // last replace (i = 9) installed `a` again; swap to a2 and look
    store.replace([a2, b, wild].map((c) => ({ cert: c.certPem, key: c.keyPem })));
    const after = await servedCert(p.port, 'a.test');
    expect(after.fingerprint).not.toBe(before.fingerprint);
    expect((await servedCert(p.port, undefined)).fingerprint).toBe(after.fingerprint); // the no-SNI default too
    // the early connection still works, on its original certificate
    early.send('GET /early HTTP/1.1\r\nHost: a.test\r\n\r\n', 'GET');
    await early.read(1, 5000);
    expect(early.responses[0].status).toBe(200);
    expect(early.socket.getPeerCertificate().fingerprint256).toBe(earlyFingerprint);
  });

  it('a bad replacement changes nothing', async () => {
    const p = await tlsProxy();
    const store = p.proxy.certificateStore('tls-1')!;
    const before = await servedCert(p.port, 'b.test');
    expect(() => store.replace([{ cert: a.certPem, key: a.keyPem }, { cert: b.certPem, key: a.keyPem }], '/certificates')).toThrow(/does not match/);
    expect((await servedCert(p.port, 'b.test')).fingerprint).toBe(before.fingerprint);
  });

  it('reloads certificates when their files change (renewal), and keeps the old ones while the files do not match', async () => {
    const { logger, lines } = capturedLogger();
    // the listener reads copies that this test "renews"
    const live = { cert: `${pki.dir}/live-b.pem`, key: `${pki.dir}/live-b.key` };
    copyFileSync(b.cert, live.cert);
    copyFileSync(b.key, live.key);
    const p = await startProxy({
      listen: false,
      listeners: [{ listen: '127.0.0.1:0', tls: { certificates: [{ cert: a.cert, key: a.key }, live], watchIntervalMs: 50 } }],
      routes: [{ id: 'all', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }],
    }, { logger });
    stops.push(() => p.close());
    const before = await servedCert(p.port, 'b.test');
    const renewed = pki.issue({ names: ['b.test'], stem: 'b-renewed' });
    // first only the certificate: it does not match the old key, so nothing changes
    copyFileSync(renewed.cert, live.cert);
    for (let i = 0; i < 100 && !lines.some((l) => l.msg?.toString().startsWith('TLS certificate files changed but do not load')); i++) await sleep(50);
    expect((await servedCert(p.port, 'b.test')).fingerprint).toBe(before.fingerprint);
    copyFileSync(renewed.key, live.key);
    let now = before.fingerprint;
    for (let i = 0; i < 100 && now === before.fingerprint; i++) {
      await sleep(50);
      now = (await servedCert(p.port, 'b.test')).fingerprint;
    }
    expect(now).not.toBe(before.fingerprint);
    expect(lines.some((l) => l.msg === 'TLS certificates reloaded from their files')).toBe(true);
  });
});

describe('listener configuration', () => {
  const routes = [{ id: 'all', pathPrefix: '/', upstreams: ['http://127.0.0.1:1'] }];
  it('refuses nothing to listen on, redirectToHttps on a TLS listener, duplicate ids and bad files, naming the setting', async () => {
    const tlsEntry = { listen: '127.0.0.1:0', tls: { certificates: [{ cert: a.cert, key: a.key }] } };
    await expect(startProxy({ listen: false, routes })).rejects.toMatchObject({ code: 'PRX_ERR_BAD_CONFIG', path: '/listeners' });
    await expect(startProxy({ listeners: [{ ...tlsEntry, redirectToHttps: {} }], routes })).rejects.toMatchObject({ path: '/listeners/0/redirectToHttps' });
    await expect(startProxy({ listeners: [{ ...tlsEntry, id: 'x' }, { ...tlsEntry, id: 'x' }], routes })).rejects.toMatchObject({ path: '/listeners/1/id' });
    await expect(startProxy({ listeners: [{ listen: '127.0.0.1:0', tls: { certificates: [{ cert: a.cert, key: `${pki.dir}/none.key` }] } }], routes }))
      .rejects.toMatchObject({ code: 'PRX_ERR_TLS_FILE', path: '/listeners/0/tls/certificates/0/key', message: expect.stringContaining(`${pki.dir}/none.key`) as string });
    await expect(startProxy({ listeners: [{ listen: '127.0.0.1:0', tls: { certificates: [{ cert: a.key, key: a.key }] } }], routes }))
      .rejects.toMatchObject({ path: '/listeners/0/tls/certificates/0/cert', message: expect.stringContaining(`certificate file ${a.key} is not a valid PEM certificate`) as string });
  });
});
