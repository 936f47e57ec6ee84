// The reverse proxy end to end on loopback: what reaches the origin, what reaches the client.
import { describe, it, expect } from 'vitest';
import net from 'node:net';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { WebSocketServer, WebSocket } from 'ws';
import { startProxy, startHttpOrigin, startRawOrigin, RawClient, request, header, sleep, type Started, useCleanups, tracker } from '../helpers/harness.js';

const cleanups = useCleanups();
const track = tracker(cleanups);

/** An origin that answers with the raw request head it received (as the body). */
async function echoHeadOrigin(extraResponse = '') {
  return track(await startRawOrigin((s, d) => {
    const text = d.toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = text.slice(0, end + 4);
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${head.length}\r\n${extraResponse}\r\n${head}`);
  }));
}

async function proxyTo(port: number, route: Record<string, unknown> = {}, more: Record<string, unknown> = {}): Promise<Started> {
  return track(await startProxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${port}`], ...route }], ...more }));
}

describe('request forwarding', () => {
  it('forwards field lines as received (case, order, duplicates) and drops hop-by-hop fields', async () => {
    const origin = await echoHeadOrigin();
    const p = await proxyTo(origin.port);
    const r = await request(p.port, 'GET /a?b=%2F HTTP/1.1\r\nHost: front.test\r\nX-Mixed-CASE: 1\r\nAccept: a\r\naccept: b\r\n'
      + 'Connection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\nProxy-Authorization: Basic eDp5\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nX-Last:  v  \r\n\r\n');
    expect(r.status).toBe(200);
    const seen = r.body.toString('latin1');
    expect(seen.startsWith('GET /a?b=%2F HTTP/1.1\r\nHost: 127.0.0.1:' + origin.port + '\r\nX-Mixed-CASE: 1\r\nAccept: a\r\naccept: b\r\nX-Last:  v  \r\n')).toBe(true);
    for (const gone of ['X-Hop', 'Keep-Alive', 'TE:', 'Trailer', 'Proxy-Authorization', 'Proxy-Connection', 'Upgrade', 'Connection']) expect(seen).not.toContain(gone);
    expect(seen).toContain('Via: 1.1 portico\r\n');
    expect(seen).toContain('X-Forwarded-For: 127.0.0.1\r\n');
    expect(seen).toContain('X-Forwarded-Host: front.test\r\n');
    expect(header(r, 'via')).toEqual(['1.1 portico']);
  });

  it('keeps the client Host with preserveHost and applies strip/base paths', async () => {
    const origin = await echoHeadOrigin();
    const p = await proxyTo(origin.port, { pathPrefix: '/api', stripPrefix: true, preserveHost: true, upstreams: [`http://127.0.0.1:${origin.port}/base`] });
    const r = await request(p.port, 'GET /api/v1/x?q=1 HTTP/1.1\r\nHost: front.test:8080\r\n\r\n');
    const seen = r.body.toString('latin1');
    expect(seen).toMatch(/^GET \/base\/v1\/x\?q=1 HTTP\/1\.1\r\nHost: front\.test:8080\r\n/);
  });

  it('replaces X-Forwarded-* from untrusted peers and appends for trusted proxies', async () => {
    const origin = await echoHeadOrigin();
    const untrusted = await proxyTo(origin.port, {}, { forwarding: { forwarded: true } });
    const a = (await request(untrusted.port, 'GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Proto: https\r\n\r\n')).body.toString('latin1');
    expect(a).not.toContain('6.6.6.6');
    expect(a).toContain('X-Forwarded-Proto: http\r\n');
    expect(a).toContain('Forwarded: for=127.0.0.1;host="h";proto=http\r\n');
    const trusted = await proxyTo(origin.port, {}, { forwarding: { trustedProxies: ['127.0.0.0/8'] } });
    const b = (await request(trusted.port, 'GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n\r\n')).body.toString('latin1');
    expect(b).toContain('X-Forwarded-For: 6.6.6.6\r\n');
    expect(b).toContain('X-Forwarded-For: 127.0.0.1\r\n');
    expect(b).toContain('X-Forwarded-Proto: https\r\n');
    expect(b).not.toContain('X-Forwarded-Proto: http\r\n');
  });

  it('re-frames a chunked request body (extensions dropped, trailers kept) and a Content-Length body', async () => {
    const origin = track(await startRawOrigin(() => {}));
    const p = await proxyTo(origin.port);
    const c = await RawClient.connect(p.port);
    c.send('POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n', 'POST');
    await sleep(300);
    const got = Buffer.concat(origin.received[0]).toString('latin1');
    expect(got).toContain('Transfer-Encoding: chunked\r\n');
    expect(got.slice(got.indexOf('\r\n\r\n') + 4)).toBe('5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n');
    c.destroy();
  });

  it('refuses ".." segments and fragments with 400 before anything is forwarded', async () => {
    const origin = await echoHeadOrigin();
    const p = await proxyTo(origin.port);
    for (const t of ['/a/../../etc', '/%2e%2e/x', '/a#frag']) {
      const r = await request(p.port, `GET ${t} HTTP/1.1\r\nHost: h\r\n\r\n`);
      expect(r.status, t).toBe(400);
    }
    expect(origin.received).toHaveLength(0);
  });
});

describe('response relay', () => {
  it('re-chunks a close-delimited response for HTTP/1.1 and sends it raw with close to HTTP/1.0', async () => {
    const origin = track(await startRawOrigin((s) => { s.end('HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: close\r\n\r\nhello world'); }));
    const p = await proxyTo(origin.port);
    const c = await RawClient.connect(p.port);
    c.send('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    const [r] = await c.read(1);
    expect(r.framing).toBe('chunked');
    expect(r.body.toString()).toBe('hello world');
    expect(header(r, 'connection')).toEqual([]);
    expect(c.closed).toBe(false);
    c.destroy();
    const r10 = await request(p.port, 'GET / HTTP/1.0\r\n\r\n');
    expect(r10.framing).toBe('close');
    expect(r10.body.toString()).toBe('hello world');
    expect(header(r10, 'transfer-encoding')).toEqual([]);
  });

  it('keeps Content-Length on HEAD and 304, sends no body for 204, and drops hop-by-hop response fields', async () => {
    const origin = track(await startRawOrigin((s, d) => {
      const t = d.toString('latin1');
      if (t.startsWith('HEAD')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nKeep-Alive: timeout=5\r\nConnection: X-Secret\r\nX-Secret: 1\r\nProxy-Authenticate: Basic\r\n\r\n');
      else if (t.includes('/204')) s.write('HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n');
      else s.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: "x"\r\n\r\n');
    }));
    const p = await proxyTo(origin.port);
    const c = await RawClient.connect(p.port);
    c.send('HEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET /204 HTTP/1.1\r\nHost: h\r\n\r\nGET /304 HTTP/1.1\r\nHost: h\r\n\r\n', 'HEAD', 'GET', 'GET');
    const rs = await c.read(3);
    expect(rs.map((r) => r.status)).toEqual([200, 204, 304]);
    expect(header(rs[0], 'content-length')).toEqual(['1234']);
    for (const n of ['keep-alive', 'connection', 'x-secret', 'proxy-authenticate']) expect(header(rs[0], n)).toEqual([]);
    expect(header(rs[1], 'content-length')).toEqual([]);
    expect(header(rs[2], 'content-length')).toEqual(['99']);
    expect(c.pendingBytes).toBe(0);
    c.destroy();
  });

  it('answers 502 for an invalid upstream response and aborts the client when the body is cut short', async () => {
    const origin = track(await startRawOrigin((s, d) => {
      const t = d.toString('latin1');
      if (t.includes('/bad')) s.end('HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello');
      else s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this');
    }));
    const p = await proxyTo(origin.port);
    expect((await request(p.port, 'GET /bad HTTP/1.1\r\nHost: h\r\n\r\n')).status).toBe(502);
    const c = await RawClient.connect(p.port);
    c.send('GET /short HTTP/1.1\r\nHost: h\r\n\r\n');
    await c.waitClose(3000);
    expect(c.closed).toBe(true);
    expect(c.responses[0]?.complete ?? false).toBe(false);
  });

  it('relays 100 Continue from an HTTP/1.1 upstream before the body is sent, and never 1xx to HTTP/1.0', async () => {
    const origin = track(await startHttpOrigin((req, res) => { let n = 0; req.on('data', (d: Buffer) => { n += d.length; }); req.on('end', () => res.end(`got ${n}`)); }));
    const p = await proxyTo(origin.port);
    const c = await RawClient.connect(p.port);
    c.send('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n', 'POST');
    for (let i = 0; i < 50 && c.interim.length === 0; i++) await sleep(20);
    expect(c.interim.map((r) => r.status)).toEqual([100]);
    c.socket.write('hello');
    const [r] = await c.read(1);
    expect(r.body.toString()).toBe('got 5');
    c.destroy();
    const c10 = await RawClient.connect(p.port);
    c10.send('POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello', 'POST');
    const [r10] = await c10.read(1);
    expect(r10.body.toString()).toBe('got 5');
    expect(c10.interim).toHaveLength(0);
    c10.destroy();
  });

  it('answers pipelined requests in order even when the first is slow', async () => {
    const origin = track(await startHttpOrigin((req, res) => { setTimeout(() => res.end(req.url), req.url === '/slow' ? 300 : 0); }));
    const p = await proxyTo(origin.port);
    const c = await RawClient.connect(p.port);
    c.send('GET /slow HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n', 'GET', 'GET', 'GET');
    const rs = await c.read(3);
    expect(rs.map((r) => r.body.toString())).toEqual(['/slow', '/b', '/c']);
    c.destroy();
  });
});

describe('bad requests', () => {
  it.each([
    ['GET / HTTP/1.1\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ['GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505],
    ['GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501],
    [`GET /${'a'.repeat(17000)} HTTP/1.1\r\nHost: a\r\n\r\n`, 414],
    [`GET / HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(17000)}\r\n\r\n`, 431],
    ['GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 400],
    // framing / hop-by-hop names with `_` for `-`: a CGI-like next hop would read the real field
    ['POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\nhello', 400],
    ['GET / HTTP/1.1\r\nHost: a\r\nPROXY_connection: close\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: a\r\nkeep_alive: 1\r\n\r\n', 400],
  ])('answers %# with its status, Connection: close, then closes', async (raw, status) => {
    const origin = await echoHeadOrigin();
    const p = await proxyTo(origin.port);
    const c = await RawClient.connect(p.port);
    c.send(raw + 'GET /next HTTP/1.1\r\nHost: a\r\n\r\n');
    await c.read(1);
    expect(c.responses[0].status).toBe(status);
    expect(header(c.responses[0], 'connection')).toEqual(['close']);
    expect(await c.waitClose(2000)).toBe(true);
    expect(c.responses).toHaveLength(1);
    expect(origin.received).toHaveLength(0);
  });

  it.each([
    'GET http://[::1 HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET http://%zz/ HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET http://a:99999/ HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET http://a:0/ HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET http://a b/ HTTP/1.1\r\nHost: a\r\n\r\n',
  ])('refuses an absolute-form authority that is not host[:port] with 400 (%#), nothing forwarded', async (raw) => {
    const origin = await echoHeadOrigin();
    const p = await proxyTo(origin.port);
    const c = await RawClient.connect(p.port);
    c.send(raw);
    await c.read(1);
    expect(c.responses[0].status).toBe(400);
    expect(origin.received).toHaveLength(0);
  });

  it('forwards other field names with "_" as they are', async () => {
    const origin = await echoHeadOrigin();
    const p = await proxyTo(origin.port);
    const r = await request(p.port, 'GET / HTTP/1.1\r\nHost: a\r\nX_Custom_Name: 1\r\nContent_Type: t\r\n\r\n');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toContain('X_Custom_Name: 1\r\nContent_Type: t\r\n');
  });

  it('answers 404 when no route matches and 413 above maxBodyBytes', async () => {
    const origin = await echoHeadOrigin();
    const p = track(await startProxy({ limits: { maxBodyBytes: 10 }, routes: [{ id: 'a', pathPrefix: '/a', upstreams: [`http://127.0.0.1:${origin.port}`] }] }));
    expect((await request(p.port, 'GET /b HTTP/1.1\r\nHost: h\r\n\r\n')).status).toBe(404);
    expect((await request(p.port, 'POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world', 'POST')).status).toBe(413);
    expect((await request(p.port, 'POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n', 'POST')).status).toBe(413);
  });
});

describe('live route changes', () => {
  it('lets an in-flight request finish on the table it started with', async () => {
    const slow = track(await startHttpOrigin((req, res) => setTimeout(() => res.end('old'), 300)));
    const fresh = track(await startHttpOrigin((req, res) => res.end('new')));
    const p = await proxyTo(slow.port);
    const c = await RawClient.connect(p.port);
    c.send('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    await sleep(50);
    p.proxy.applyRoutes([{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${fresh.port}`] }]);
    const [r] = await c.read(1);
    expect(r.body.toString()).toBe('old');
    c.send('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    const rs = await c.read(2);
    expect(rs[1].body.toString()).toBe('new');
    c.destroy();
  });
});

describe('upgrades', () => {
  it('tunnels a WebSocket through a route', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${(m as Buffer).toString()}`)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => { wss.close(); server.close(() => r()); }));
    const p = await proxyTo((server.address() as net.AddressInfo).port);
    const ws = new WebSocket(`ws://127.0.0.1:${p.port}/chat`);
    const reply = await new Promise<string>((resolve, reject) => {
      ws.on('open', () => ws.send('hi'));
      ws.on('message', (m) => resolve((m as Buffer).toString()));
      ws.on('error', reject);
    });
    expect(reply).toBe('echo:hi');
    ws.close();
  });

  it('relays a WebSocket byte-exact both ways at volume (the upgraded pooled socket reads into a buffer it reuses)', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server, maxPayload: 1024 * 1024 });
    wss.on('connection', (ws) => ws.on('message', (m: Buffer) => ws.send(m)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => { wss.close(); server.close(() => r()); }));
    const p = await proxyTo((server.address() as net.AddressInfo).port);
    const ws = new WebSocket(`ws://127.0.0.1:${p.port}/bulk`);
    const sent = Array.from({ length: 48 }, (_, i) => randomBytes(100_000 + i * 3_001));
    const echoed = await new Promise<Buffer[]>((resolve, reject) => {
      const got: Buffer[] = [];
      ws.on('open', () => { for (const m of sent) ws.send(m); });
      ws.on('message', (m: Buffer) => { got.push(m); if (got.length === sent.length) resolve(got); });
      ws.on('error', reject);
    });
    expect(echoed.length).toBe(sent.length);
    for (let i = 0; i < sent.length; i++) expect(echoed[i].equals(sent[i])).toBe(true);
    ws.close();
  });

  it('relays 24 MiB after a 101 byte-exact to a client that stops reading for a while', async () => {
    const blocks = Array.from({ length: 24 }, () => randomBytes(1024 * 1024));
    const origin = await startRawOrigin((s) => {
      s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      for (const b of blocks) s.write(b);
    });
    cleanups.push(() => origin.close());
    const p = await proxyTo(origin.port);
    const c = net.connect({ port: p.port, host: '127.0.0.1' });
    cleanups.push(() => { c.destroy(); });
    const want = 24 * 1024 * 1024;
    const got: Buffer[] = [];
    let received = 0;
    const all = new Promise<Buffer>((r) => c.on('data', (b: Buffer) => {
      got.push(b);
      received += b.length;
      const t = received > want ? Buffer.concat(got) : undefined; // the head is < 200 bytes
      if (t !== undefined && t.length - (t.indexOf('\r\n\r\n') + 4) === want) r(t);
    }));
    c.write('GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    c.pause();
    await sleep(500); // the proxy's writes to this client queue up meanwhile
    c.resume();
    const t = await all;
    const body = t.subarray(t.indexOf('\r\n\r\n') + 4);
    expect(t.subarray(0, 12).toString()).toBe('HTTP/1.1 101');
    expect(body.equals(Buffer.concat(blocks))).toBe(true);
  });

  it('relays 24 MiB from the client after a 101 byte-exact to an origin that stops reading for a while', async () => {
    const blocks = Array.from({ length: 24 }, () => randomBytes(1024 * 1024));
    const want = Buffer.concat(blocks);
    const received: Buffer[] = [];
    let receivedBytes = 0;
    let upgraded = false;
    let originSocket: net.Socket | undefined;
    const origin = await startRawOrigin((s, d) => {
      if (!upgraded) {
        upgraded = true;
        originSocket = s;
        s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
        s.pause(); // the proxy's writes to the origin queue up meanwhile
        setTimeout(() => s.resume(), 500);
        return;
      }
      received.push(Buffer.from(d));
      receivedBytes += d.length;
    });
    cleanups.push(() => origin.close());
    const p = await proxyTo(origin.port);
    const c = net.connect({ port: p.port, host: '127.0.0.1' });
    cleanups.push(() => { c.destroy(); });
    const switched = new Promise<void>((r) => c.once('data', () => r()));
    c.write('GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    await switched;
    for (const b of blocks) c.write(b);
    for (let i = 0; i < 1000 && receivedBytes < want.length; i++) await sleep(20);
    expect(originSocket).toBeDefined();
    expect(Buffer.concat(received).equals(want)).toBe(true);
  });

  it('does not tunnel h2c upgrades (h2c smuggling): the request goes as plain HTTP/1.1', async () => {
    const origin = await echoHeadOrigin();
    const p = await proxyTo(origin.port);
    const r = await request(p.port, 'GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n');
    const seen = r.body.toString('latin1');
    expect(seen).not.toMatch(/upgrade/i);
    expect(seen).not.toContain('HTTP2-Settings');
  });
});
