// HTTP/2 to upstreams (docs/http2.md, "Upstream HTTP/2"): a route with upstreamProtocol "h2c"
// (prior knowledge) or "h2" (TLS, ALPN h2) relays its requests as streams of pooled sessions,
// multiplexed up to the origin's SETTINGS_MAX_CONCURRENT_STREAMS, a GOAWAY handled, trailers both
// ways, resets both ways. Real node:http2 origins, real TLS.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { pino } from 'pino';
import { TestPki, type IssuedCert } from '../helpers/certs.js';
import { startProxy, RawClient, useCleanups, sleep } from '../helpers/harness.js';
import { connectH2, h2Get, h2Request } from '../helpers/h2-client.js';
import { resolveConfig } from '../../src/config/config.js';
import { ProxyServer } from '../../src/server/proxy-server.js';

const cleanups = useCleanups();
let pki: TestPki;
let cert: IssuedCert;

beforeAll(() => {
  pki = new TestPki();
  cert = pki.issue({ names: ['origin.test'], ips: ['127.0.0.1'] });
});
afterAll(() => pki.close());

interface Origin {
  port: number;
  /** The raw connections (node:http2 forbids touching a session's socket). */
  sockets: net.Socket[];
  sessions: http2.ServerHttp2Session[];
  streams: Array<{ headers: http2.IncomingHttpHeaders; session: http2.ServerHttp2Session; stream: http2.ServerHttp2Stream; body: string }>;
  close(): Promise<void>;
}

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: string) => void;

const echo: Handler = (stream, headers, body) => {
  stream.respond({ ':status': 200, 'x-path': String(headers[':path']), 'x-proto': 'h2' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'x-digest': `len=${body.length}` }));
  stream.end(`echo ${headers[':method']} ${headers[':path']} ${body}`);
};

/** A node:http2 origin (h2c, or TLS with ALPN `alpn`), each request's body read before `handler`. */
async function origin(handler: Handler = echo, o: { tls?: boolean; settings?: http2.Settings } = {}): Promise<Origin> {
  const sessions: Origin['sessions'] = [];
  const streams: Origin['streams'] = [];
  const server = o.tls
    ? http2.createSecureServer({ key: cert.keyPem, cert: cert.certPem, settings: o.settings })
    : http2.createServer({ settings: o.settings });
  const sockets: net.Socket[] = [];
  server.on('connection', (sock: net.Socket) => sockets.push(sock));
  server.on('session', (s) => { sessions.push(s); s.on('error', () => {}); });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      streams.push({ headers, session: stream.session as http2.ServerHttp2Session, stream, body });
      handler(stream, headers, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const close = () => new Promise<void>((r) => { for (const s of sessions) s.destroy(); server.close(() => r()); });
  cleanups.push(close);
  return { port, sockets, sessions, streams, close };
}

/** A proxy with a plain HTTP/1.1 listener and an h2c one, routing / to `upstream`. */
async function proxy(upstream: string, upstreamProtocol: string, extra: Record<string, unknown> = {}, route: Record<string, unknown> = {}) {
  const p = await startProxy({
    listen: false,
    listeners: [{ listen: '127.0.0.1:0' }, { listen: '127.0.0.1:0', protocols: ['h2c'] }],
    upstream: { caFile: pki.caFile },
    routes: [{ id: 'r', pathPrefix: '/', upstreams: [upstream], upstreamProtocol, ...route }],
    ...extra,
  });
  cleanups.push(() => p.close());
  const [h1Port, h2cPort] = p.proxy.addresses().map((a) => a.port);
  return { ...p, h1Port, h2cPort };
}

async function h2(port: number) {
  const s = await connectH2(`http://127.0.0.1:${port}`);
  cleanups.push(() => s.destroy());
  return s;
}

describe('HTTP/2 to upstreams', () => {
  it('h2c: an HTTP/1.1 client\'s request goes upstream as an HTTP/2 stream; body, trailers relayed (chunked to the HTTP/1.1 client)', async () => {
    const o = await origin();
    const p = await proxy(`http://127.0.0.1:${o.port}`, 'h2c');
    const c = await RawClient.connect(p.h1Port);
    cleanups.push(() => c.destroy());
    c.send('POST /up?q=1 HTTP/1.1\r\nHost: front.test\r\nContent-Length: 5\r\nX-Client: yes\r\n\r\nhello', 'POST');
    const [r] = await c.read(1);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('echo POST /up?q=1 hello');
    expect(r.framing).toBe('chunked');
    expect(r.rawHead).toContain('x-proto: h2');
    expect(r.rawHead).toMatch(/\r\nVia: 2 portico/);
    const seen = o.streams[0].headers;
    expect(seen[':authority']).toBe(`127.0.0.1:${o.port}`);
    expect(seen[':scheme']).toBe('http');
    expect(seen['x-client']).toBe('yes');
    expect(seen.via).toBe('1.1 portico');
    expect(seen['content-length']).toBe('5');
    expect(seen.connection).toBeUndefined();
    const c2 = await RawClient.connect(p.h1Port);
    cleanups.push(() => c2.destroy());
    const got = await new Promise<string>((resolve) => {
      let text = '';
      c2.socket.on('data', (d: Buffer) => { text += d.toString('latin1'); if (text.endsWith('\r\n\r\n') && text.includes('\r\n0\r\n')) resolve(text); });
      c2.send('GET /t HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    expect(got).toMatch(/\r\n0\r\nx-digest: len=0\r\n\r\n$/);
  });

  it('h2 over TLS (ALPN h2, the upstream verified): an HTTP/2 client end to end, trailers both ways', async () => {
    const o = await origin((stream, headers, body) => {
      stream.respond({ ':status': 201 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-back': 'b' }));
      stream.end(`got ${body} te=${String(headers.te)}`);
    }, { tls: true });
    const p = await proxy(`https://127.0.0.1:${o.port}`, 'h2', {}, { upstreamTls: { servername: 'origin.test' } });
    const s = await h2(p.h2cPort);
    const r = await h2Request(s, { ':method': 'POST', ':path': '/t', te: 'trailers' }, { body: 'abc', trailers: { 'x-sum': '3' } });
    expect(r.status).toBe(201);
    expect(r.body.toString()).toBe('got abc te=trailers');
    expect(r.trailers).toMatchObject({ 'x-back': 'b' });
    expect(o.sessions[0].socket).toBeDefined();
    expect((o.sessions[0] as unknown as { alpnProtocol: string }).alpnProtocol).toBe('h2');
  });

  it('an upstream that does not negotiate h2 is a 502 naming the reason', async () => {
    const h1 = https.createServer({ key: cert.keyPem, cert: cert.certPem, ALPNProtocols: ['http/1.1'] }, (_req, res) => res.end('http/1.1 only'));
    await new Promise<void>((r) => h1.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => { h1.closeAllConnections(); h1.close(() => r()); }));
    const p = await proxy(`https://127.0.0.1:${(h1.address() as net.AddressInfo).port}`, 'h2', {}, { upstreamTls: { servername: 'origin.test' } });
    const c = await RawClient.connect(p.h1Port);
    cleanups.push(() => c.destroy());
    c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const [r] = await c.read(1);
    expect(r.status).toBe(502);
    expect(r.body.toString()).toContain('PRX_ERR_UPSTREAM_TLS');
  });

  it('refuses upstreamProtocol "h2" with an http:// upstream and "h2c" with an https:// one', () => {
    const make = (url: string, upstreamProtocol: string) => () => new ProxyServer(resolveConfig({ admin: false, routes: [{ id: 'r', pathPrefix: '/', upstreams: [url], upstreamProtocol }] }), pino({ level: 'silent' }));
    expect(make('http://127.0.0.1:1', 'h2')).toThrow(/upstreamProtocol "h2" needs https:\/\//);
    expect(make('https://127.0.0.1:1', 'h2c')).toThrow(/upstreamProtocol "h2c" needs http:\/\//);
  });

  it('multiplexes up to the origin\'s SETTINGS_MAX_CONCURRENT_STREAMS per session, opening another session past it', async () => {
    let open = 0;
    let peak = 0;
    const o = await origin((stream) => {
      open++;
      peak = Math.max(peak, open);
      setTimeout(() => { open--; stream.respond({ ':status': 200 }); stream.end('ok'); }, 150);
    }, { settings: { maxConcurrentStreams: 10 } });
    const p = await proxy(`http://127.0.0.1:${o.port}`, 'h2c');
    const s = await h2(p.h2cPort);
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => h2Get(s, `/m${i}`)));
    expect(rs.every((r) => r.status === 200)).toBe(true);
    const perSession = new Map<http2.ServerHttp2Session, number>();
    for (const x of o.streams) perSession.set(x.session, (perSession.get(x.session) ?? 0) + 1);
    expect(o.sessions.length).toBeGreaterThanOrEqual(2);
    expect(o.sessions.length).toBeLessThanOrEqual(5);
    expect(peak).toBeLessThanOrEqual(40);
    // one session carries streams one after another beyond its limit of 10 at once
    const pool = p.proxy.stats().pools.find((x) => x.protocol === 'h2')!;
    expect(pool.created).toBe(o.sessions.length);
  });

  it('a GOAWAY from the origin: its open stream finishes, new requests go to a new session', async () => {
    let slow: http2.ServerHttp2Stream | undefined;
    const o = await origin((stream, headers) => {
      if (headers[':path'] === '/slow') { slow = stream; return; }
      stream.respond({ ':status': 200 });
      stream.end(`fast ${headers[':path']}`);
    });
    const p = await proxy(`http://127.0.0.1:${o.port}`, 'h2c');
    const s = await h2(p.h2cPort);
    expect((await h2Get(s, '/one')).status).toBe(200);
    const pending = h2Get(s, '/slow');
    for (let i = 0; i < 100 && slow === undefined; i++) await sleep(20);
    o.sessions[0].goaway(http2.constants.NGHTTP2_NO_ERROR);
    await sleep(100);
    const after = await h2Get(s, '/two');
    expect(after.body.toString()).toBe('fast /two');
    expect(o.sessions).toHaveLength(2);
    slow!.respond({ ':status': 200 });
    slow!.end('slow done');
    expect((await pending).body.toString()).toBe('slow done');
  });

  it('resets: the origin\'s before the head is a 502, a session lost mid-body resets the client\'s stream; the client\'s reset cancels the upstream stream', async () => {
    let cancelled: number | undefined;
    const o: Origin = await origin((stream, headers) => {
      if (headers[':path'] === '/early') stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      else if (headers[':path'] === '/late') { stream.respond({ ':status': 200 }); stream.write('part'); setTimeout(() => { for (const sock of o.sockets) sock.destroy(); }, 50); }
      else stream.on('close', () => { cancelled = stream.rstCode; });
    });
    const p = await proxy(`http://127.0.0.1:${o.port}`, 'h2c', {}, { policy: { retries: { maxTries: 1 } } });
    const s = await h2(p.h2cPort);
    expect((await h2Get(s, '/early')).status).toBe(502);
    const late = await h2Get(s, '/late');
    expect(late.status).toBe(200);
    expect(late.body.toString()).toBe('part');
    expect(late.rstCode).not.toBe(http2.constants.NGHTTP2_NO_ERROR);
    const req = s.request({ ':method': 'GET', ':path': '/hang' });
    req.on('error', () => {});
    for (let i = 0; i < 100 && !o.streams.some((x) => x.headers[':path'] === '/hang'); i++) await sleep(20);
    req.close(http2.constants.NGHTTP2_CANCEL);
    for (let i = 0; i < 100 && cancelled === undefined; i++) await sleep(20);
    expect(cancelled).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it('an origin that refuses a stream (REFUSED_STREAM: not processed) is retried on another upstream', async () => {
    const refusing = await origin((stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM));
    const fine = await origin();
    const p = await proxy(`http://127.0.0.1:${refusing.port}`, 'h2c', {}, { upstreams: [`http://127.0.0.1:${refusing.port}`, `http://127.0.0.1:${fine.port}`] });
    const s = await h2(p.h2cPort);
    const r = await h2Request(s, { ':method': 'POST', ':path': '/once' });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toContain('echo POST /once');
  });
});
