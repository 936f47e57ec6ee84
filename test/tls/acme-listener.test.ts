// The data plane's side of automatic HTTPS, without a CA: a real ProxyServer whose validations and
// issued certificates are set the way the control plane sets them (setAcmeChallenges,
// CertificateStore.replaceIssued), real clients on loopback. HTTP-01 answers before the redirect
// and the routes; TLS-ALPN-01 (RFC 8737) answers a ClientHello offering acme-tls/1 with the
// challenge certificate, however the ClientHello arrives; a name without its certificate yet
// fails its handshakes with one warn line; configured certificates keep priority.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import http2 from 'node:http2';
import { pino } from 'pino';
import { TestPki, type IssuedCert } from '../helpers/certs.js';
import { startProxy, startHttpOrigin, request, sleep, useCleanups, type Started } from '../helpers/harness.js';
import type { KeyPair } from '../../src/tls/pem.js';

const cleanups = useCleanups();
let pki: TestPki;
let configured: IssuedCert;
let issuedA: IssuedCert;
let issuedB: IssuedCert;
let challenge: KeyPair;
let origin: Awaited<ReturnType<typeof startHttpOrigin>>;
const KEY_AUTHORIZATION = 'tok-123.thumbprint-xyz';

/** A TLS-ALPN-01 challenge certificate as RFC 8737 §3 describes it: self-signed, the name as its
 *  only SAN, and the critical acmeIdentifier extension holding SHA-256(key authorization). */
function challengeCertificate(dir: string, name: string): KeyPair {
  const digest = createHash('sha256').update(KEY_AUTHORIZATION).digest('hex').replace(/(..)/g, '$1:').slice(0, -1);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`, '-addext', `1.3.6.1.5.5.7.1.31=critical,DER:04:20:${digest}`,
    '-keyout', join(dir, 'alpn.key'), '-out', join(dir, 'alpn.pem')], { stdio: 'ignore' });
  return { cert: readFileSync(join(dir, 'alpn.pem'), 'utf8'), key: readFileSync(join(dir, 'alpn.key'), 'utf8') };
}

beforeAll(async () => {
  pki = new TestPki();
  configured = pki.issue({ names: ['a.test'], stem: 'configured' });
  issuedA = pki.issue({ names: ['a.test'], stem: 'issued-a' });
  issuedB = pki.issue({ names: ['b.test'], stem: 'issued-b' });
  challenge = challengeCertificate(pki.dir, 'a.test');
  origin = await startHttpOrigin((req, res) => res.end(`origin ${req.method} ${req.url}`));
});

afterAll(async () => {
  await origin.close();
  pki.close();
});

function logged() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { logger, lines };
}

interface AcmeProxy extends Started { plain: number; redirect: number; secure: number }

async function acmeProxy(tlsExtra: Record<string, unknown> = {}, logger = logged().logger): Promise<AcmeProxy> {
  const p = await startProxy({
    acme: { directory: 'https://127.0.0.1:9/dir' },
    listeners: [
      { id: 'plain', listen: '127.0.0.1:0' },
      { id: 'redirect', listen: '127.0.0.1:0', redirectToHttps: { port: 443 } },
      { id: 'secure', listen: '127.0.0.1:0', tls: { acme: true, handshakeTimeoutMs: 1000, ...tlsExtra } },
    ],
    routes: [{ id: 'all', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }],
  }, { logger });
  cleanups.push(() => p.close());
  const port = (id: string) => p.proxy.listeners().find((l) => l.id === id)!.address.port;
  return { ...p, plain: port('plain'), redirect: port('redirect'), secure: port('secure') };
}

const get = (port: number, path: string, host: string, method = 'GET') => request(port, `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`, method);

function handshake(port: number, o: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...o }, () => resolve(s));
    s.once('error', reject);
  });
}

describe('ACME validations and certificates in the data plane', () => {
  it('answers a pending HTTP-01 token with the key authorization before the redirect and the routes; anything else is routed', async () => {
    const p = await acmeProxy();
    p.proxy.setAcmeChallenges({ http01: { 'tok-123': { name: 'a.test', keyAuthorization: KEY_AUTHORIZATION } }, tlsAlpn01: {} });
    const path = '/.well-known/acme-challenge/tok-123';
    const answered = await get(p.plain, path, 'a.test');
    expect(answered.status).toBe(200);
    expect(answered.body.toString()).toBe(KEY_AUTHORIZATION);
    // the redirect listener answers it too (the CA asks over plain HTTP before any redirect)
    const viaRedirect = await get(p.redirect, path, 'A.Test:80');
    expect(viaRedirect.status).toBe(200);
    expect(viaRedirect.body.toString()).toBe(KEY_AUTHORIZATION);
    const head = await get(p.plain, path, 'a.test', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    // another host, another token, another method: not ours to answer
    expect((await get(p.plain, path, 'b.test')).body.toString()).toBe(`origin GET ${path}`);
    expect((await get(p.plain, '/.well-known/acme-challenge/other', 'a.test')).body.toString()).toBe('origin GET /.well-known/acme-challenge/other');
    expect((await get(p.plain, path, 'a.test', 'DELETE')).body.toString()).toBe(`origin DELETE ${path}`);
    expect((await get(p.redirect, '/.well-known/acme-challenge/other', 'a.test')).status).toBe(308);
    // withdrawn: routed again
    p.proxy.setAcmeChallenges({ http01: {}, tlsAlpn01: {} });
    expect((await get(p.plain, path, 'a.test')).body.toString()).toBe(`origin GET ${path}`);
  });

  it('answers a ClientHello offering acme-tls/1 with the TLS-ALPN-01 certificate, then closes; other names get no handshake', async () => {
    const p = await acmeProxy();
    p.proxy.setAcmeChallenges({ http01: {}, tlsAlpn01: { 'a.test': challenge } });
    const s = await handshake(p.secure, { servername: 'a.test', ALPNProtocols: ['acme-tls/1'] });
    expect(s.alpnProtocol).toBe('acme-tls/1');
    const cert = new X509Certificate(s.getPeerX509Certificate()!.raw);
    expect(cert.fingerprint256).toBe(new X509Certificate(challenge.cert).fingerprint256);
    // the acmeIdentifier extension carries SHA-256 of the key authorization
    expect(cert.raw.includes(createHash('sha256').update(KEY_AUTHORIZATION).digest())).toBe(true);
    await new Promise<void>((resolve) => { s.on('end', () => resolve()); s.on('close', () => resolve()); s.resume(); });
    await expect(handshake(p.secure, { servername: 'b.test', ALPNProtocols: ['acme-tls/1'] })).rejects.toThrow();
  });

  it('reads a ClientHello sent one byte at a time, and closes a client that sends none within the handshake deadline', async () => {
    const p = await acmeProxy();
    p.proxy.setAcmeChallenges({ http01: {}, tlsAlpn01: { 'a.test': challenge } });
    // a real ClientHello, captured, then replayed byte by byte
    const capture = net.createServer();
    await new Promise<void>((r) => capture.listen(0, '127.0.0.1', () => r()));
    const hello = await new Promise<Buffer>((resolve) => {
      capture.once('connection', (sock) => sock.once('data', (d: Buffer) => { resolve(d); sock.destroy(); }));
      const c = tls.connect({ port: (capture.address() as net.AddressInfo).port, host: '127.0.0.1', servername: 'a.test', ALPNProtocols: ['acme-tls/1'] });
      c.on('error', () => {});
    });
    capture.close();
    const raw = net.connect(p.secure, '127.0.0.1');
    await new Promise((r) => raw.once('connect', r));
    const reply = new Promise<Buffer>((resolve) => raw.once('data', resolve));
    for (const byte of hello) {
      raw.write(Buffer.from([byte]));
      await sleep(1);
    }
    const first = await reply;
    expect([first[0], first[1], first[5]]).toEqual([22, 3, 2]); // a handshake record holding a ServerHello
    raw.destroy();
    // silence: closed by the handshake deadline (1 s here), not kept
    const silent = net.connect(p.secure, '127.0.0.1');
    const closed = await new Promise<boolean>((resolve) => { silent.on('close', () => resolve(true)); setTimeout(() => resolve(false), 15_000); });
    expect(closed).toBe(true);
  });

  it('refuses handshakes for a name awaiting its certificate (one warn line a minute), then serves the issued one; configured certificates keep priority', async () => {
    const { logger, lines } = logged();
    const p = await acmeProxy({ certificates: [{ cert: configured.cert, key: configured.key }] }, logger);
    const store = p.proxy.certificateStore('secure')!;
    store.replaceIssued({ pairs: [], names: ['b.test'] });
    await expect(handshake(p.secure, { servername: 'b.test' })).rejects.toThrow();
    await expect(handshake(p.secure, { servername: 'b.test' })).rejects.toThrow();
    const warned = lines.filter((l) => l.code === 'PRX_TLS_NO_CERTIFICATE');
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ level: 40, servername: 'b.test', listener: 'secure' });

    // issued: b.test gets its certificate; a.test keeps the configured one although one was issued
    store.replaceIssued({ pairs: [{ cert: issuedA.certPem, key: issuedA.keyPem }, { cert: issuedB.certPem, key: issuedB.keyPem }], names: ['a.test', 'b.test'] });
    const b = await handshake(p.secure, { servername: 'b.test', ca: pki.caPem, rejectUnauthorized: true });
    expect(b.getPeerCertificate().fingerprint256).toBe(new X509Certificate(issuedB.certPem).fingerprint256);
    expect(b.alpnProtocol).toBe(false);
    b.destroy();
    const a = await handshake(p.secure, { servername: 'a.test', ca: pki.caPem, rejectUnauthorized: true, ALPNProtocols: ['http/1.1'] });
    expect(a.getPeerCertificate().fingerprint256).toBe(new X509Certificate(configured.certPem).fingerprint256);
    expect(a.alpnProtocol).toBe('http/1.1');
    a.destroy();
    expect(store.list().map((c) => [c.names[0], c.source ?? 'configured'])).toEqual([['a.test', 'configured'], ['a.test', 'acme'], ['b.test', 'acme']]);
    // requests over it are routed as usual
    const c = await handshake(p.secure, { servername: 'b.test', ca: pki.caPem, rejectUnauthorized: true });
    c.write('GET /x HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n');
    const text = await new Promise<string>((resolve) => { let t = ''; c.on('data', (d: Buffer) => { t += d.toString(); }); c.on('close', () => resolve(t)); });
    expect(text).toMatch(/^HTTP\/1\.1 200[\s\S]*origin GET \/x$/);

    // an HTTP-01 request that arrives over HTTP/2 (a CA that followed a redirect) gets the key
    // authorization too
    p.proxy.setAcmeChallenges({ http01: { 'tok-h2': { name: 'b.test', keyAuthorization: KEY_AUTHORIZATION } }, tlsAlpn01: {} });
    const session = http2.connect(`https://b.test:${p.secure}`, { ca: pki.caPem, servername: 'b.test', createConnection: () => tls.connect({ port: p.secure, host: '127.0.0.1', servername: 'b.test', ca: pki.caPem, ALPNProtocols: ['h2'] }) });
    try {
      const h2 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = session.request({ ':path': '/.well-known/acme-challenge/tok-h2', ':authority': 'b.test' });
        let status = 0;
        let body = '';
        req.on('response', (h) => { status = Number(h[':status']); });
        req.on('data', (d: Buffer) => { body += d.toString(); });
        req.on('end', () => resolve({ status, body }));
        req.on('error', reject);
        req.end();
      });
      expect(h2).toEqual({ status: 200, body: KEY_AUTHORIZATION });
    } finally {
      session.close();
    }
  });
});
