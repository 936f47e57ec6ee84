// HTTP/2 to clients on the same ports (docs/http2.md): ALPN h2 on TLS listeners, h2c with prior
// knowledge where a plain listener opts in, and every stream a request through the same
// dispatcher as HTTP/1.1 (routes, forwarding fields, Via, access log, metrics). Real clients
// (curl --http2 and --http2-prior-knowledge, node:http2), real TLS (openssl certificates), real
// origins on loopback.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import http from 'node:http';
import http2 from 'node:http2';
import { pino } from 'pino';
import { TestPki, type IssuedCert } from '../helpers/certs.js';
import { startProxy, startHttpOrigin, startRawOrigin, RawClient, useCleanups, sleep, type Started } from '../helpers/harness.js';
import { connectH2, h2Get, h2Request } from '../helpers/h2-client.js';
import { RawH2Client, dataFrame, headerBlock, headersFrame, requestFields, ErrorCode, errorCodeOf } from '../helpers/h2-frames.js';
import type { RequestRecord } from '../../src/dispatch/observer.js';
import { resolveConfig } from '../../src/config/config.js';
import { ProxyServer } from '../../src/server/proxy-server.js';

const run = promisify(execFile);
const cleanups = useCleanups();

let pki: TestPki;
let cert: IssuedCert;
let origin: Awaited<ReturnType<typeof startHttpOrigin>>;
const seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: string; trailers: Record<string, string> }> = [];

beforeAll(async () => {
  pki = new TestPki();
  cert = pki.issue({ names: ['a.test'], ips: ['127.0.0.1'] });
  origin = await startHttpOrigin((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString(), trailers: req.trailers as Record<string, string> });
      res.end(`hello ${req.method} ${req.url}`);
    });
  });
});

afterAll(async () => {
  await origin.close();
  pki.close();
});

function lines() {
  const out: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => { out.push(JSON.parse(s) as Record<string, unknown>); } });
  return { logger, out };
}

/** A proxy with a TLS listener (default protocols) and a plain h2c+http/1.1 listener. */
async function proxy(extra: Record<string, unknown> = {}, logger = pino({ level: 'silent' }), upstreamPort = origin.port): Promise<Started & { tlsPort: number; h2cPort: number }> {
  seen.length = 0;
  const p = await startProxy({
    listen: false,
    listeners: [
      { listen: '127.0.0.1:0', tls: { certificates: [{ cert: cert.cert, key: cert.key }] } },
      { listen: '127.0.0.1:0', protocols: ['h2c', 'http/1.1'] },
    ],
    routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${upstreamPort}`] }],
    ...extra,
  }, { logger });
  cleanups.push(() => p.close());
  const [tlsPort, h2cPort] = p.proxy.addresses().map((a) => a.port);
  return { ...p, tlsPort, h2cPort };
}

async function h2(url: string, options: http2.SecureClientSessionOptions = {}) {
  const s = await connectH2(url, url.startsWith('https') ? { ca: pki.caPem, servername: 'a.test', ...options } : options);
  cleanups.push(() => s.destroy());
  return s;
}

describe('HTTP/2 to clients', () => {
  it('curl --http2 negotiates h2 by ALPN on a TLS listener; the upstream gets HTTP/1.1 with Via 2, X-Forwarded-Proto https and a Host from :authority', async () => {
    const { logger, out } = lines();
    const p = await proxy({}, logger);
    const { stdout } = await run('curl', ['-sS', '-i', '--http2', '--cacert', pki.caFile, '--resolve', `a.test:${p.tlsPort}:127.0.0.1`, `https://a.test:${p.tlsPort}/x?y=1`]);
    expect(stdout).toMatch(/^HTTP\/2 200/);
    expect(stdout).toContain('hello GET /x?y=1');
    expect(stdout).toMatch(/\r\nvia: 1\.1 portico\r\n/);
    const h = seen[0].headers;
    expect(h.via).toBe('2 portico');
    expect(h['x-forwarded-proto']).toBe('https');
    expect(h['x-forwarded-host']).toBe(`a.test:${p.tlsPort}`);
    expect(h.host).toBe(`127.0.0.1:${origin.port}`);
    const log = out.find((l) => l.msg === 'request');
    expect(log).toMatchObject({ proto: 'h2', method: 'GET', target: '/x?y=1', route: 'r', status: 200 });
  });

  it('keeps HTTP/1.1 for clients that ask for it (ALPN http/1.1, or none) on the same TLS port', async () => {
    const p = await proxy();
    const { stdout } = await run('curl', ['-sS', '-i', '--http1.1', '--cacert', pki.caFile, '--resolve', `a.test:${p.tlsPort}:127.0.0.1`, `https://a.test:${p.tlsPort}/one`]);
    expect(stdout).toMatch(/^HTTP\/1\.1 200 OK/);
    const c = await RawClient.connectTls(p.tlsPort, { ca: pki.caPem, servername: 'a.test' });
    cleanups.push(() => c.destroy());
    expect(c.socket.alpnProtocol).toBe(false);
    c.send('GET /none HTTP/1.1\r\nHost: a.test\r\n\r\n');
    expect((await c.read(1))[0]?.status).toBe(200);
  });

  it('a TLS listener with protocols ["http/1.1"] does not offer h2', async () => {
    seen.length = 0;
    const p = await startProxy({
      listen: false,
      listeners: [{ listen: '127.0.0.1:0', protocols: ['http/1.1'], tls: { certificates: [{ cert: cert.cert, key: cert.key }] } }],
      routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }],
    });
    cleanups.push(() => p.close());
    const { stdout } = await run('curl', ['-sS', '-i', '--http2', '--cacert', pki.caFile, '--resolve', `a.test:${p.port}:127.0.0.1`, `https://a.test:${p.port}/old`]);
    expect(stdout).toMatch(/^HTTP\/1\.1 200 OK/);
  });

  it('h2c with prior knowledge and HTTP/1.1 share a plain port that lists h2c; a plain port that does not answers the preface 505', async () => {
    const p = await proxy();
    const prior = await run('curl', ['-sS', '-i', '--http2-prior-knowledge', `http://127.0.0.1:${p.h2cPort}/h2c`]);
    expect(prior.stdout).toMatch(/^HTTP\/2 200/);
    expect(prior.stdout).toContain('hello GET /h2c');
    expect(seen[0].headers['x-forwarded-proto']).toBe('http');
    const one = await run('curl', ['-sS', '-i', `http://127.0.0.1:${p.h2cPort}/h1`]);
    expect(one.stdout).toMatch(/^HTTP\/1\.1 200 OK/);
    // Upgrade: h2c is not supported (RFC 9113 §3.1): served as HTTP/1.1, upstream without Upgrade
    const upgrade = await run('curl', ['-sS', '-i', '--http2', `http://127.0.0.1:${p.h2cPort}/upgrade`]);
    expect(upgrade.stdout).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(seen.at(-1)!.headers.upgrade).toBeUndefined();

    const plain = await startProxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }] });
    cleanups.push(() => plain.close());
    const refused = await run('curl', ['-sS', '-i', '--http2-prior-knowledge', `http://127.0.0.1:${plain.port}/x`]).catch((e: { stdout: string }) => e);
    expect(refused.stdout).not.toMatch(/^HTTP\/2 200/);
  });

  it('a plain listener with protocols ["h2c"] only answers an HTTP/1.1 request 505', async () => {
    const p = await startProxy({ listen: false, listeners: [{ listen: '127.0.0.1:0', protocols: ['h2c'] }], routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }] });
    cleanups.push(() => p.close());
    const c = await RawClient.connect(p.port);
    cleanups.push(() => c.destroy());
    c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const [r] = await c.read(1);
    expect(r.status).toBe(505);
    expect(r.body.toString()).toContain('HTTP/2 only');
    const s = await h2(`http://127.0.0.1:${p.port}`);
    expect((await h2Get(s, '/ok')).status).toBe(200);
  });

  it('refuses h2c on a TLS listener and h2 on a plain one, naming the setting', () => {
    const tls = { certificates: [{ cert: cert.cert, key: cert.key }] };
    expect(() => new ProxyServer(resolveConfig({ listen: false, admin: false, listeners: [{ listen: '127.0.0.1:0', tls, protocols: ['h2c'] }] }), pino({ level: 'silent' })))
      .toThrow(/\/listeners\/0\/protocols: "h2c" is HTTP\/2 without TLS/);
    expect(() => new ProxyServer(resolveConfig({ listen: false, admin: false, listeners: [{ listen: '127.0.0.1:0', protocols: ['h2', 'http/1.1'] }] }), pino({ level: 'silent' })))
      .toThrow(/\/listeners\/0\/protocols: "h2" is HTTP\/2 over TLS/);
    expect(() => resolveConfig({ listeners: [{ listen: '127.0.0.1:1', protocols: ['h3'] }] })).toThrow(/protocols\/0 must be one of/);
  });

  it('multiplexes: 50 concurrent streams on one connection, each its own request through the dispatcher', async () => {
    const p = await proxy();
    const s = await h2(`https://127.0.0.1:${p.tlsPort}`);
    const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => h2Get(s, `/m${i}`)));
    rs.forEach((r, i) => { expect(r.status).toBe(200); expect(r.body.toString()).toBe(`hello GET /m${i}`); });
    expect(p.proxy.stats().clientConnections).toBe(1);
    expect(seen).toHaveLength(50);
  });

  it('joins cookie crumbs with "; " for the HTTP/1.1 upstream (RFC 9113 §8.2.3), keeps field order and duplicates', async () => {
    const p = await proxy();
    const s = await h2(`http://127.0.0.1:${p.h2cPort}`);
    const r = await h2Request(s, { ':method': 'GET', ':path': '/c', cookie: ['a=1', 'b=2'], 'x-one': '1', 'x-dup': ['p', 'q'], 'x-two': '2' });
    expect(r.status).toBe(200);
    const raw = seen[0].rawHeaders;
    const names = raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(seen[0].headers.cookie).toBe('a=1; b=2');
    expect(names.filter((n) => n === 'cookie')).toHaveLength(1);
    expect(names.indexOf('x-one')).toBeLessThan(names.indexOf('x-dup'));
    expect(names.filter((n) => n === 'x-dup')).toHaveLength(2);
    expect(names.indexOf('x-dup')).toBeLessThan(names.indexOf('x-two'));
  });

  it('answers 400 to a Host field that names another authority than :authority, and to an unsupported :scheme', async () => {
    const p = await proxy();
    const s = await h2(`http://127.0.0.1:${p.h2cPort}`);
    const r = await h2Request(s, { ':method': 'GET', ':path': '/h', ':authority': 'a.example', host: 'b.example' });
    expect(r.status).toBe(400);
    expect(r.body.toString()).toContain('PRX_H2_MALFORMED');
    const ftp = await h2Request(s, { ':method': 'GET', ':path': '/h', ':scheme': 'ftp' });
    expect(ftp.status).toBe(400);
    expect(seen).toHaveLength(0);
    expect((await h2Get(s, '/after')).status).toBe(200);
  });

  it('routes by :authority like Host, and answers no route 404 in HTTP/2', async () => {
    seen.length = 0;
    const p = await startProxy({
      listen: false,
      listeners: [{ listen: '127.0.0.1:0', protocols: ['h2c'] }],
      routes: [{ id: 'only-a', host: 'a.example', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }],
    });
    cleanups.push(() => p.close());
    const s = await h2(`http://127.0.0.1:${p.port}`);
    expect((await h2Request(s, { ':method': 'GET', ':path': '/x', ':authority': 'a.example' })).status).toBe(200);
    const miss = await h2Request(s, { ':method': 'GET', ':path': '/x', ':authority': 'b.example' });
    expect(miss.status).toBe(404);
    expect(miss.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(miss.body.toString()).toContain('PRX_NO_ROUTE');
  });

  it('sends request bodies upstream: with content-length as is, without it chunked, with the client\'s trailers', async () => {
    const p = await proxy();
    const s = await h2(`http://127.0.0.1:${p.h2cPort}`);
    const withLength = await h2Request(s, { ':method': 'POST', ':path': '/len', 'content-length': '6' }, { body: 'abcdef' });
    expect(withLength.status).toBe(200);
    expect(seen[0].body).toBe('abcdef');
    expect(seen[0].headers['content-length']).toBe('6');
    const streamed = await h2Request(s, { ':method': 'POST', ':path': '/chunked' }, { body: 'x'.repeat(100_000), trailers: { 'x-sum': '42', 'content-type': 'not/forwarded' } });
    expect(streamed.status).toBe(200);
    expect(seen[1].body).toBe('x'.repeat(100_000));
    expect(seen[1].headers['transfer-encoding']).toBe('chunked');
    expect(seen[1].trailers).toEqual({ 'x-sum': '42' });
  });

  it('relays the response: hop-by-hop fields dropped, 103 Early Hints, trailers, HEAD and 204/304 without DATA', async () => {
    const raw = await startRawOrigin((sock, data) => {
      const req = data.toString('latin1');
      const path = /^\S+ (\S+)/.exec(req)?.[1];
      if (path === '/hop') sock.write('HTTP/1.1 200 OK\r\nConnection: X-Secret, keep-alive\r\nKeep-Alive: timeout=5\r\nX-Secret: s\r\nX-Kept: k\r\nContent-Length: 2\r\n\r\nok');
      else if (path === '/hints') sock.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz');
      else if (path === '/trailers') sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 9\r\nSet-Cookie: dropped=1\r\n\r\n');
      else if (path === '/head') sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n');
      else if (path === '/204') sock.write('HTTP/1.1 204 No Content\r\n\r\n');
      else if (path === '/304') sock.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: "e"\r\n\r\n');
    });
    cleanups.push(() => raw.close());
    const p = await proxy({}, undefined, raw.port);
    const s = await h2(`http://127.0.0.1:${p.h2cPort}`);
    const hop = await h2Get(s, '/hop');
    expect(hop.status).toBe(200);
    expect(hop.headers['x-kept']).toBe('k');
    expect(hop.headers['x-secret']).toBeUndefined();
    expect(hop.headers['keep-alive']).toBeUndefined();
    expect(hop.headers['content-length']).toBe('2');
    expect(hop.headers.via).toBe('1.1 portico');
    const hints = await h2Get(s, '/hints');
    expect(hints.informational.map((h) => h[':status'])).toEqual([103]);
    expect(hints.informational[0].link).toBe('</a.css>; rel=preload');
    expect(hints.body.toString()).toBe('z');
    const tr = await h2Get(s, '/trailers');
    expect(tr.body.toString()).toBe('abc');
    expect(tr.trailers).toMatchObject({ 'x-checksum': '9' });
    expect(tr.trailers?.['set-cookie']).toBeUndefined();
    const head = await h2Request(s, { ':method': 'HEAD', ':path': '/head' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('1234');
    expect(head.body.length).toBe(0);
    const noContent = await h2Get(s, '/204');
    expect(noContent.status).toBe(204);
    expect(noContent.body.length).toBe(0);
    const notModified = await h2Get(s, '/304');
    expect(notModified.status).toBe(304);
    expect(notModified.headers.etag).toBe('"e"');
    expect(notModified.headers['content-length']).toBe('99');
  });

  it('answers 431 past limits.maxHeaderFields or limits.maxHeadBytes (RST_STREAM ENHANCE_YOUR_CALM past twice those), 413 past limits.maxBodyBytes', async () => {
    const p = await proxy({ limits: { maxHeaderFields: 10, maxHeadBytes: 2048, maxBodyBytes: 100 } });
    const s = await h2(`http://127.0.0.1:${p.h2cPort}`);
    const many: http2.OutgoingHttpHeaders = { ':method': 'GET', ':path': '/many' };
    for (let i = 0; i < 11; i++) many[`x-f${i}`] = 'v';
    const m = await h2Request(s, many);
    expect([m.status, m.rstCode]).toEqual([431, 0]);
    expect((await h2Request(s, { ':method': 'GET', ':path': '/big', 'x-big': 'b'.repeat(3000) })).status).toBe(431);
    const huge = await h2Request(s, { ':method': 'GET', ':path': '/huge', 'x-big': 'b'.repeat(6000) });
    expect([huge.status, huge.rstCode]).toEqual([0, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM]);
    expect((await h2Request(s, { ':method': 'POST', ':path': '/cl', 'content-length': '101' }, { body: 'y'.repeat(101) })).status).toBe(413);
    expect((await h2Request(s, { ':method': 'POST', ':path': '/streamed' }, { body: 'y'.repeat(500) })).status).toBe(413);
    expect((await h2Get(s, '/fine')).status).toBe(200);
    expect(seen.map((x) => x.url)).toEqual(['/fine']);
  });

  it('a stream whose client does not read stalls only its own upstream read; the other streams go on', async () => {
    const big = 32 * 1024 * 1024;
    let written = 0;
    const slowOrigin = await startHttpOrigin((req, res) => {
      if (req.url !== '/big') { res.end('small'); return; }
      res.setHeader('content-length', big);
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = () => {
        while (written < big) {
          written += chunk.length;
          if (!res.write(chunk)) { res.once('drain', pump); return; }
        }
        res.end();
      };
      pump();
    });
    cleanups.push(() => slowOrigin.close());
    const p = await proxy({}, undefined, slowOrigin.port);
    const s = await h2(`http://127.0.0.1:${p.h2cPort}`);
    const req = s.request({ ':method': 'GET', ':path': '/big' });
    req.on('error', () => {});
    req.pause(); // this stream's window stays closed once its first 64 KiB arrived
    await new Promise<void>((r) => req.once('response', () => r()));
    await sleep(300);
    const stalledAt = written;
    for (let i = 0; i < 5; i++) expect((await h2Get(s, '/small')).body.toString()).toBe('small');
    await sleep(300);
    // the origin could write only what the sockets and queues hold, far from 32 MiB
    expect(written - stalledAt).toBeLessThan(1024 * 1024);
    expect(written).toBeLessThan(big / 4);
    let got = 0;
    req.on('data', (d: Buffer) => { got += d.length; });
    req.resume();
    await new Promise<void>((r) => req.once('end', () => r()));
    expect(got).toBe(big);
  });

  it('shutdown sends GOAWAY; an open stream finishes, the connection then closes', async () => {
    const slow = await startHttpOrigin((_req, res) => { setTimeout(() => res.end('late'), 300); });
    cleanups.push(() => slow.close());
    const p = await proxy({}, undefined, slow.port);
    const s = await h2(`http://127.0.0.1:${p.h2cPort}`);
    const goaway = new Promise<number>((r) => s.once('goaway', (code: number) => r(code)));
    const inFlight = h2Get(s, '/slow');
    await sleep(100);
    const closing = p.proxy.close(5000);
    expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('late');
    await closing;
    await new Promise<void>((res) => { if (s.closed || s.destroyed) res(); else s.once('close', () => res()); });
  });

  it('a content-length that disagrees with the DATA is a stream error, and the upstream never gets a complete body', async () => {
    const raw = await startRawOrigin(() => {});
    cleanups.push(() => raw.close());
    const p = await proxy({}, undefined, raw.port);
    const c = await RawH2Client.connect(p.h2cPort);
    cleanups.push(() => c.destroy());
    const post = (id: number) => headersFrame(id, headerBlock([...requestFields(`/cl${id}`, { method: 'POST', scheme: 'http' }), ['content-length', '5']]));
    // fewer bytes than declared, then END_STREAM
    c.send(post(1), dataFrame(1, 'abc', true));
    // all the declared bytes without END_STREAM, then more
    c.send(post(3), dataFrame(3, 'abcde'));
    await sleep(200);
    c.send(dataFrame(3, 'xyz', true));
    expect(errorCodeOf((await c.reset(1))!)).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(errorCodeOf((await c.reset(3))!)).toBe(ErrorCode.PROTOCOL_ERROR);
    await sleep(200);
    const got = raw.received.map((chunks) => Buffer.concat(chunks).toString('latin1'));
    for (const g of got) {
      const body = g.slice(g.indexOf('\r\n\r\n') + 4);
      expect(body.length).toBeLessThan(5);
    }
    // the upstream connections of both were closed, so neither request can complete
    expect(raw.connections.every((sock) => sock.destroyed || sock.readableEnded)).toBe(true);
  });

  it('a client RST_STREAM cancels the upstream request: its upstream connection is closed, not reused', async () => {
    let upstreamClosed = false;
    const hang = await startRawOrigin((sock) => { sock.on('close', () => { upstreamClosed = true; }); });
    cleanups.push(() => hang.close());
    const records: RequestRecord[] = [];
    const p = await proxy({}, undefined, hang.port);
    p.proxy.addObserver({ requestFinished: (r) => records.push(r) });
    const s = await h2(`http://127.0.0.1:${p.h2cPort}`);
    const req = s.request({ ':method': 'GET', ':path': '/hang' });
    req.on('error', () => {});
    for (let i = 0; i < 100 && hang.connections.length === 0; i++) await sleep(20);
    req.close(http2.constants.NGHTTP2_CANCEL);
    for (let i = 0; i < 100 && !upstreamClosed; i++) await sleep(20);
    expect(upstreamClosed).toBe(true);
    expect(records).toMatchObject([{ protocol: 'h2', aborted: true, status: 0 }]);
  });

  it('answers 408 to a request body that stops arriving for timeouts.bodyIdleMs', async () => {
    const p = await proxy({ timeouts: { bodyIdleMs: 300 } });
    const s = await h2(`http://127.0.0.1:${p.h2cPort}`);
    const req = s.request({ ':method': 'POST', ':path': '/slow-upload' });
    req.on('error', () => {});
    req.write('part');
    const status = await new Promise<number>((r) => req.once('response', (h) => r(Number(h[':status']))));
    expect(status).toBe(408);
    expect(seen).toHaveLength(0);
  });

  it('picks the certificate by SNI and follows a replaced certificate for h2 connections as for HTTP/1.1', async () => {
    const b = pki.issue({ names: ['b.test'] });
    const p = await startProxy({ listen: false, listeners: [{ listen: '127.0.0.1:0', tls: { certificates: [cert, b].map((c) => ({ cert: c.cert, key: c.key })) } }], routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }] });
    cleanups.push(() => p.close());
    const cn = async (servername: string) => {
      const s = await connectH2(`https://127.0.0.1:${p.port}`, { ca: pki.caPem, servername });
      const c = (s.socket as import('node:tls').TLSSocket).getPeerCertificate();
      const alpn = s.alpnProtocol;
      expect((await h2Get(s, '/sni')).status).toBe(200);
      s.destroy();
      return { cn: c.subject.CN, fingerprint: c.fingerprint256, alpn };
    };
    expect(await cn('a.test')).toMatchObject({ cn: 'a.test', alpn: 'h2' });
    const before = await cn('b.test');
    expect(before.cn).toBe('b.test');
    const b2 = pki.issue({ names: ['b.test'] });
    p.proxy.certificateStore('tls-1')!.replace([cert, b2].map((c) => ({ cert: c.certPem, key: c.keyPem })));
    const after = await cn('b.test');
    expect(after.cn).toBe('b.test');
    expect(after.fingerprint).not.toBe(before.fingerprint);
  });

  it('tunnels CONNECT over HTTP/2 (RFC 9113 §8.5) where the forward proxy is on', async () => {
    const echo = await startRawOrigin((sock, data) => sock.write(Buffer.concat([Buffer.from('echo:'), data])));
    cleanups.push(() => echo.close());
    const p = await startProxy({
      listen: false,
      listeners: [{ listen: '127.0.0.1:0', protocols: ['h2c'] }],
      forwardProxy: { enabled: true, allowDestinations: ['127.0.0.0/8'], connectPorts: [echo.port] },
    });
    cleanups.push(() => p.close());
    const s = await h2(`http://127.0.0.1:${p.port}`);
    const req = s.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${echo.port}` }, { endStream: false });
    req.on('error', () => {});
    const status = await new Promise<number>((r) => req.once('response', (h) => r(Number(h[':status']))));
    expect(status).toBe(200);
    req.write('ping');
    const back = await new Promise<string>((r) => req.once('data', (d: Buffer) => r(d.toString())));
    expect(back).toBe('echo:ping');
    req.close();
  });

  it('the access log has one line per stream with proto h2, and the metrics record the protocol', async () => {
    const { logger, out } = lines();
    const p = await proxy({}, logger);
    const records: RequestRecord[] = [];
    p.proxy.addObserver({ requestFinished: (r) => records.push(r) });
    const s = await h2(`http://127.0.0.1:${p.h2cPort}`);
    await Promise.all([h2Get(s, '/l1'), h2Get(s, '/l2'), h2Get(s, '/l3')]);
    await run('curl', ['-sS', `http://127.0.0.1:${p.h2cPort}/l4`]);
    const requests = out.filter((l) => l.msg === 'request');
    expect(requests.map((l) => [l.proto, l.target]).sort()).toEqual([['h2', '/l1'], ['h2', '/l2'], ['h2', '/l3'], ['http/1.1', '/l4']]);
    expect(records.map((r) => r.protocol).sort()).toEqual(['h2', 'h2', 'h2', 'http/1.1']);
  });
});
