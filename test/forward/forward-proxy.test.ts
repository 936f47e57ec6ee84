// The forward proxy end to end on loopback, with real clients: curl -x, undici's ProxyAgent (http
// and a CONNECT tunnel to a local TLS origin), raw CONNECT with pipelined bytes, a WebSocket through
// CONNECT, and the denials.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import net from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ProxyAgent, request } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { makeCert, type TestCert } from '../helpers/certs.js';
import {
  LOOPBACK, startOrigin, startTlsOrigin, startEcho, startForwardProxy, close, curl, rawExchange, readUntil, statusOf, ipv6Available, listen,
  type Seen,
} from './helpers.js';
import { deadPort } from '../helpers/harness.js';
import type { ProxyServer } from '../../src/server/proxy-server.js';
import type http from 'node:http';
import type https from 'node:https';
import type { AddressInfo } from 'node:net';

let cert: TestCert;
let certDir: string;
let origin: { server: http.Server; port: number; seen: Seen[] };
let origin6: { server: http.Server; port: number; seen: Seen[] } | undefined;
let tls: { server: https.Server; port: number };
let echo: { server: net.Server; port: number };
let wss: WebSocketServer;
let wsPort: number;
let refused: number;
let p: { proxy: ProxyServer; port: number; url: string };

beforeAll(async () => {
  cert = makeCert();
  certDir = mkdtempSync(join(tmpdir(), 'portico-fwd-'));
  writeFileSync(join(certDir, 'ca.pem'), cert.cert);
  origin = await startOrigin();
  if (await ipv6Available()) origin6 = await startOrigin('::1');
  tls = await startTlsOrigin(cert);
  echo = await startEcho();
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  wsPort = (wss.address() as AddressInfo).port;
  wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(binary ? m : `echo:${(m as Buffer).toString()}`)));
  refused = await deadPort();
  p = await startForwardProxy({
    allowDestinations: LOOPBACK,
    denyDestinations: ['127.0.0.2/32'],
    denyHosts: ['.blocked.test', 'exact.test'],
    httpPorts: [origin.port, refused, ...(origin6 ? [origin6.port] : [])],
    connectPorts: [tls.port, echo.port, wsPort, refused, origin.port],
  });
});

afterAll(async () => {
  await p?.proxy.close(100);
  await Promise.all([close(origin?.server), close(origin6?.server), close(tls?.server), close(echo?.server)]);
  await new Promise<void>((r) => (wss ? wss.close(() => r()) : r()));
  rmSync(certDir, { recursive: true, force: true });
});

describe('absolute-form http:// requests', () => {
  it('curl -x: GET reaches the origin with an origin-form target, a regenerated Host and Via', async () => {
    const r = await curl(p.url, ['-H', 'Proxy-Authorization: Basic Zm9vOmJhcg==', `http://127.0.0.1:${origin.port}/a/b?x=1&y=%20`]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body) as Seen;
    expect(seen.method).toBe('GET');
    expect(seen.url).toBe('/a/b?x=1&y=%20');
    expect(seen.headers.host).toBe(`127.0.0.1:${origin.port}`);
    expect(seen.headers.via).toBe('1.1 portico');
    expect(seen.headers['proxy-authorization']).toBeUndefined();
    expect(seen.headers['proxy-connection']).toBeUndefined();
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('curl -x: POST body is relayed', async () => {
    const r = await curl(p.url, ['--data-binary', 'hello=world', `http://127.0.0.1:${origin.port}/post`]);
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body) as Seen;
    expect(seen.method).toBe('POST');
    expect(seen.body).toBe('hello=world');
  });

  it('Host comes from the target, not from the client (RFC 9112 §3.2.2); empty path is /', async () => {
    const res = await rawExchange(p.port, `GET http://127.0.0.1:${origin.port} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
    expect(statusOf(res)).toBe(200);
    const seen = JSON.parse(res.slice(res.indexOf('\r\n\r\n') + 4)) as Seen;
    expect(seen.url).toBe('/');
    expect(seen.headers.host).toBe(`127.0.0.1:${origin.port}`);
    const rawHosts = seen.rawHeaders.filter((_, i) => i % 2 === 0 && seen.rawHeaders[i].toLowerCase() === 'host');
    expect(rawHosts).toHaveLength(1);
  });

  it('a query without a path becomes /?query; the scheme is case-insensitive', async () => {
    const res = await rawExchange(p.port, `GET HTTP://127.0.0.1:${origin.port}?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(statusOf(res)).toBe(200);
    expect((JSON.parse(res.slice(res.indexOf('\r\n\r\n') + 4)) as { url: string }).url).toBe('/?q=1');
  });

  it('keep-alive: several absolute-form requests on one client connection', async () => {
    const req = (path: string, close = false) => `GET http://127.0.0.1:${origin.port}${path} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
    const res = await rawExchange(p.port, req('/one') + req('/two') + req('/three', true));
    expect(res.match(/HTTP\/1\.1 200/g)).toHaveLength(3);
    expect(res).toContain('"url":"/one"');
    expect(res).toContain('"url":"/three"');
  });

  it('IPv6 literal targets: http://[::1]:port/ with Host [::1]:port', async (ctx) => {
    if (!origin6) return ctx.skip();
    const res = await rawExchange(p.port, `GET http://[::1]:${origin6.port}/six HTTP/1.1\r\nHost: [::1]:${origin6.port}\r\nConnection: close\r\n\r\n`);
    expect(statusOf(res)).toBe(200);
    const seen = JSON.parse(res.slice(res.indexOf('\r\n\r\n') + 4)) as Seen;
    expect(seen.url).toBe('/six');
    expect(seen.headers.host).toBe(`[::1]:${origin6.port}`);
  });

  it('undici ProxyAgent (proxyTunnel: false): http request as absolute-form', async () => {
    const agent = new ProxyAgent({ uri: p.url, proxyTunnel: false });
    try {
      const res = await request(`http://127.0.0.1:${origin.port}/undici?z=9`, { dispatcher: agent, method: 'PUT', body: 'payload' });
      expect(res.statusCode).toBe(200);
      const seen = (await res.body.json()) as Seen;
      expect(seen.method).toBe('PUT');
      expect(seen.url).toBe('/undici?z=9');
      expect(seen.body).toBe('payload');
      expect(seen.headers.host).toBe(`127.0.0.1:${origin.port}`);
    } finally {
      await agent.close();
    }
  });

  it('undici ProxyAgent (default: tunnels http:// too): CONNECT to an http origin whose port is in connectPorts', async () => {
    const agent = new ProxyAgent(p.url);
    try {
      const res = await request(`http://127.0.0.1:${origin.port}/tunnelled`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      const seen = (await res.body.json()) as Seen;
      expect(seen.url).toBe('/tunnelled');
      expect(seen.headers.via).toBeUndefined(); // inside a tunnel the proxy sees nothing
    } finally {
      await agent.close();
    }
  });

  it('a refused origin is 502', async () => {
    const r = await curl(p.url, [`http://127.0.0.1:${refused}/`]);
    expect(r.status).toBe(502);
  });
});

describe('bad targets get 400 with a reason', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['GET', 'http://127.0.0.1:abc/', /invalid port "abc"/],
    ['GET', 'http://127.0.0.1:99999/', /out of range/],
    ['GET', 'http://:8080/x', /empty host/],
    ['GET', 'http://user:pw@127.0.0.1/', /userinfo/],
    ['GET', 'ftp://127.0.0.1/file', /unsupported scheme "ftp"/],
    ['GET', 'http:/no-authority', /without an authority/],
    ['GET', 'http://[::1/', /IPv6/],
    ['GET', 'http://[fe80::1%25eth0]:80/', /zone/],
    ['GET', 'http://bad_host!.test/', /invalid host name/],
    ['CONNECT', '127.0.0.1', /host:port/],
    ['CONNECT', '127.0.0.1:', /host:port/],
    ['CONNECT', 'user@127.0.0.1:443', /userinfo/],
  ];
  for (const [method, target, reason] of cases) {
    it(`${method} ${target}`, async () => {
      const res = await rawExchange(p.port, `${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(statusOf(res)).toBe(400);
      expect(res).toMatch(reason);
    });
  }

  it('https:// absolute-form is 400 telling the client to use CONNECT', async () => {
    const res = await rawExchange(p.port, `GET https://127.0.0.1:${tls.port}/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    expect(statusOf(res)).toBe(400);
    expect(res).toContain('CONNECT');
    expect(res).toContain('PRX_FORWARD_USE_CONNECT');
  });

  it('CONNECT with a body is 400', async () => {
    const res = await rawExchange(p.port, `CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc`);
    expect(statusOf(res)).toBe(400);
  });
});

describe('CONNECT tunnels', () => {
  it('curl -x: https through a CONNECT tunnel to a local TLS origin', async () => {
    const r = await curl(p.url, ['--cacert', join(certDir, 'ca.pem'), `https://127.0.0.1:${tls.port}/secret?k=v`]);
    expect(r.stderr).toBe('');
    expect(r.headers).toMatch(/^HTTP\/1\.1 200 Connection Established/);
    expect(r.status).toBe(200);
    expect(r.body).toBe(`secure GET /secret?k=v via 127.0.0.1:${tls.port}`);
  });

  it('undici ProxyAgent: https through a CONNECT tunnel, certificate verified', async () => {
    const agent = new ProxyAgent({ uri: p.url, requestTls: { ca: cert.cert } });
    try {
      const res = await request(`https://localhost:${tls.port}/via-undici`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe(`secure GET /via-undici via localhost:${tls.port}`);
    } finally {
      await agent.close();
    }
  });

  it('raw TCP echo: bytes pipelined after the CONNECT head go first, then 4 MiB both ways', async () => {
    const s = net.connect({ host: '127.0.0.1', port: p.port });
    try {
      s.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nHost: 127.0.0.1:${echo.port}\r\n\r\nearly-bytes|`);
      const head = 'HTTP/1.1 200 Connection Established\r\n\r\n';
      const first = await readUntil(s, (b) => b.length >= head.length + 'early-bytes|'.length);
      expect(first.toString('latin1')).toBe(head + 'early-bytes|');
      const big = randomBytes(4 << 20);
      const got = readUntil(s, (b) => b.length >= big.length, 20_000);
      s.write(big);
      expect((await got).equals(big)).toBe(true);
      // half-close passes through: the echo server ends its side, so do we
      const ended = new Promise<void>((r) => s.once('end', () => r()));
      s.end();
      await ended;
    } finally {
      s.destroy();
    }
  });

  it('1 MiB pipelined in the same write as the CONNECT head (more than the pipeline buffer) arrives intact', async () => {
    const s = net.connect({ host: '127.0.0.1', port: p.port });
    try {
      const head = Buffer.from(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const established = 'HTTP/1.1 200 Connection Established\r\n\r\n'.length;
      const big = randomBytes(1 << 20);
      const got = readUntil(s, (b) => b.length >= established + big.length, 20_000);
      s.write(Buffer.concat([head, big]));
      expect((await got).subarray(established).equals(big)).toBe(true);
    } finally {
      s.destroy();
    }
  });

  it('WebSocket through a CONNECT tunnel', async () => {
    const s = net.connect({ host: '127.0.0.1', port: p.port });
    s.write(`CONNECT 127.0.0.1:${wsPort} HTTP/1.1\r\nHost: 127.0.0.1:${wsPort}\r\n\r\n`);
    await readUntil(s, (b) => b.includes('\r\n\r\n'));
    const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/chat`, { createConnection: () => s });
    try {
      await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
      const reply = new Promise<string>((r) => ws.once('message', (m) => r((m as Buffer).toString())));
      ws.send('hi');
      expect(await reply).toBe('echo:hi');
    } finally {
      ws.terminate();
    }
  });

  it('a refused destination is 502', async () => {
    const res = await rawExchange(p.port, `CONNECT 127.0.0.1:${refused} HTTP/1.1\r\nHost: x\r\n\r\n`.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    expect(statusOf(res)).toBe(502);
    expect(res).toContain('ECONNREFUSED');
  });

  it('idle tunnels close after timeouts.tunnelIdleMs; a client reset tears down the upstream side', async () => {
    const upstreamClosed: Array<Promise<void>> = [];
    const server = net.createServer((c) => {
      c.on('error', () => {});
      upstreamClosed.push(new Promise((r) => c.once('close', () => r())));
      c.on('data', (d) => c.write(d));
    });
    await listen(server, '127.0.0.1');
    const port = (server.address() as AddressInfo).port;
    const q = await startForwardProxy({ allowDestinations: LOOPBACK, connectPorts: [port] }, { timeouts: { tunnelIdleMs: 300 } });
    try {
      // idle: the proxy closes both sides
      const idle = net.connect({ host: '127.0.0.1', port: q.port });
      idle.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await readUntil(idle, (b) => b.includes('\r\n\r\n'));
      const started = Date.now();
      await new Promise<void>((r) => idle.once('close', () => r()));
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      await upstreamClosed[0];
      // reset by the client: the upstream connection goes too
      const reset = net.connect({ host: '127.0.0.1', port: q.port });
      reset.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: x\r\n\r\nping`);
      await readUntil(reset, (b) => b.toString().endsWith('ping'));
      reset.resetAndDestroy();
      await upstreamClosed[1];
    } finally {
      await q.proxy.close(100);
      await close(server);
    }
  });

  it('the tunnel is torn down when the upstream closes', async () => {
    const closer = net.createServer((c) => c.end('bye'));
    await listen(closer, '127.0.0.1');
    const port = (closer.address() as AddressInfo).port;
    const q = await startForwardProxy({ allowDestinations: LOOPBACK, connectPorts: [port] });
    try {
      const res = await rawExchange(q.port, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(res).toBe('HTTP/1.1 200 Connection Established\r\n\r\nbye');
    } finally {
      await q.proxy.close(100);
      await close(closer);
    }
  });
});

describe('access control', () => {
  it('the default config denies loopback destinations (SSRF) even on allowed ports', async () => {
    const d = await startForwardProxy({});
    try {
      const http80 = await curl(d.url, ['http://127.0.0.1/']);
      expect(http80.status).toBe(403);
      expect(http80.body).toMatch(/127\.0\.0\.1 is a loopback address/);
      const c443 = await rawExchange(d.port, 'CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\nConnection: close\r\n\r\n');
      expect(statusOf(c443)).toBe(403);
      expect(c443).toContain('PRX_FORWARD_DESTINATION_DENIED');
      const named = await curl(d.url, ['http://localhost/']);
      expect(named.status).toBe(403);
      expect(named.body).toMatch(/localhost resolves only to denied addresses: .* loopback/);
      const v6 = await rawExchange(d.port, 'GET http://[::ffff:127.0.0.1]/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(statusOf(v6)).toBe(403);
      // IPv4-translated (::ffff:0:0/96) is judged by the IPv4 address it embeds
      const translated = await rawExchange(d.port, 'GET http://[::ffff:0:127.0.0.1]/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(translated).toMatch(/^HTTP\/1\.1 403[\s\S]*embeds 127\.0\.0\.1, a loopback address/);
      const translatedConnect = await rawExchange(d.port, 'CONNECT [::ffff:0:a00:1]:443 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(translatedConnect).toMatch(/^HTTP\/1\.1 403[\s\S]*embeds 10\.0\.0\.1, a private/);
      const private10 = await rawExchange(d.port, 'CONNECT 10.1.2.3:443 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(private10).toMatch(/403[\s\S]*private/);
      const linkLocal = await rawExchange(d.port, 'GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(linkLocal).toMatch(/403[\s\S]*link-local/);
      // and the default port lists: CONNECT only to 443, http only to 80 and 8080
      const port22 = await rawExchange(d.port, 'CONNECT example.com:22 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(port22).toMatch(/403[\s\S]*port 22 is not allowed/);
    } finally {
      await d.proxy.close(100);
    }
  });

  it('a client outside allowClients gets 403', async () => {
    const d = await startForwardProxy({ allowClients: ['10.0.0.0/8'], allowDestinations: LOOPBACK, httpPorts: [origin.port] });
    try {
      const r = await curl(d.url, [`http://127.0.0.1:${origin.port}/`]);
      expect(r.status).toBe(403);
      expect(r.body).toContain('client 127.0.0.1 is not allowed');
      const c = await rawExchange(d.port, `CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(statusOf(c)).toBe(403);
    } finally {
      await d.proxy.close(100);
    }
  });

  it('ports outside connectPorts / httpPorts get 403', async () => {
    const c = await rawExchange(p.port, `CONNECT 127.0.0.1:${await deadPort()} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(statusOf(c)).toBe(403);
    expect(c).toContain('PRX_FORWARD_PORT_DENIED');
    const r = await curl(p.url, [`http://127.0.0.1:${echo.port}/`]);
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/httpPorts/);
  });

  it('denyDestinations wins over allowDestinations; denyHosts matches names and subdomains', async () => {
    const d1 = await curl(p.url, [`http://127.0.0.2:${origin.port}/`]);
    expect(d1.status).toBe(403);
    expect(d1.body).toContain('denyDestinations');
    for (const host of ['blocked.test', 'a.b.blocked.test', 'EXACT.test.']) {
      const r = await rawExchange(p.port, `GET http://${host}:${origin.port}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(statusOf(r)).toBe(403);
      expect(r).toContain('PRX_FORWARD_HOST_DENIED');
    }
  });
});

describe('proxy authentication', () => {
  let a: { proxy: ProxyServer; port: number; url: string };
  beforeAll(async () => {
    a = await startForwardProxy({ allowDestinations: LOOPBACK, httpPorts: [origin.port], connectPorts: [tls.port, echo.port], auth: { realm: 'test "realm"', users: { alice: 's3cret:with colon', bob: 'pässword' } } });
  });
  afterAll(async () => { await a?.proxy.close(100); });

  it('407 with Proxy-Authenticate without credentials', async () => {
    const r = await curl(a.url, [`http://127.0.0.1:${origin.port}/`]);
    expect(r.status).toBe(407);
    expect(r.headers).toMatch(/\r\nProxy-Authenticate: Basic realm="test \\"realm\\"", charset="UTF-8"(\r\n|$)/i);
    const c = await rawExchange(a.port, `CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(statusOf(c)).toBe(407);
    expect(c).toContain('Proxy-Authenticate: Basic');
  });

  it('407 with a wrong password or an unknown user', async () => {
    for (const user of ['alice:wrong', 'mallory:s3cret:with colon']) {
      const r = await curl(a.url, ['--proxy-user', user, `http://127.0.0.1:${origin.port}/`]);
      expect(r.status).toBe(407);
      expect(r.body).toContain('bad credentials');
    }
  });

  it('the right credentials pass, for http and CONNECT; the credentials do not reach the origin', async () => {
    const r = await curl(a.url, ['--proxy-user', 'alice:s3cret:with colon', `http://127.0.0.1:${origin.port}/authed`]);
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body) as Seen).headers['proxy-authorization']).toBeUndefined();
    const t = await curl(a.url, ['--proxy-user', 'bob:pässword', '--cacert', join(certDir, 'ca.pem'), `https://127.0.0.1:${tls.port}/`]);
    expect(t.status).toBe(200);
    expect(t.body).toContain('secure GET /');
  });

  it('undici ProxyAgent with a token reaches the TLS origin', async () => {
    const agent = new ProxyAgent({ uri: a.url, token: `Basic ${Buffer.from('alice:s3cret:with colon').toString('base64')}`, requestTls: { ca: cert.cert } });
    try {
      const res = await request(`https://127.0.0.1:${tls.port}/tok`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    } finally {
      await agent.close();
    }
  });
});

describe('listeners', () => {
  it('forwardProxy.listen: a separate forward listener; origin-form there is 400', async () => {
    const d = await startForwardProxy({ listen: '127.0.0.1:0', allowDestinations: LOOPBACK, httpPorts: [origin.port] });
    try {
      const fwd = d.proxy.addresses()[1].port;
      const r = await curl(`http://127.0.0.1:${fwd}`, [`http://127.0.0.1:${origin.port}/sep`]);
      expect(r.status).toBe(200);
      const o = await rawExchange(fwd, 'GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(statusOf(o)).toBe(400);
      // the main listener is reverse-only now: CONNECT is refused there
      const c = await rawExchange(d.port, `CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(statusOf(c)).toBe(405);
    } finally {
      await d.proxy.close(100);
    }
  });
});
