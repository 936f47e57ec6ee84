// Upstream keep-alive pools and balancing, observed from real origins on loopback: connection
// reuse, maxSockets, the one retry on a stale reused socket, sockets that must never be reused,
// weighted round robin and passive ejection.
import { describe, it, expect } from 'vitest';
import net from 'node:net';
import { startProxy, startHttpOrigin, startRawOrigin, RawClient, request, sleep, deadPort, type Started, useCleanups, routeTo } from '../helpers/harness.js';

const cleanups = useCleanups();

async function proxyWith(routes: unknown[], extra: Record<string, unknown> = {}): Promise<Started> {
  const p = await startProxy({ routes, ...extra });
  cleanups.push(() => p.proxy.close(0));
  return p;
}


/** Counts request heads in a connection's bytes (bodies in these tests never contain "HTTP/1.1\r\n"). */
const requestsIn = (chunks: Buffer[]) => (Buffer.concat(chunks).toString('latin1').match(/ HTTP\/1\.1\r\n/g) ?? []).length;

const get = (port: number, path = '/') => request(port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);

describe('upstream connection reuse', () => {
  it('reuses one upstream connection for sequential requests', async () => {
    let connections = 0;
    const o = await startHttpOrigin((req, res) => res.end(`ok ${req.url}`));
    o.server.on('connection', () => connections++);
    cleanups.push(() => o.close());
    const p = await proxyWith(routeTo(o.port));
    for (let i = 0; i < 5; i++) {
      const r = await get(p.port, `/n${i}`);
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe(`ok /n${i}`);
    }
    expect(connections).toBe(1);
    const pool = p.proxy.stats().pools[0];
    expect(pool.created).toBe(1);
    expect(pool.reused).toBe(4);
  });

  it('limits concurrent upstream connections to maxSockets; extra requests queue and complete', async () => {
    let open = 0;
    let maxOpen = 0;
    let connections = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    const o = await startHttpOrigin((req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => { inFlight--; res.end(`ok ${req.url}`); }, 150);
    });
    o.server.on('connection', (s) => {
      connections++;
      open++;
      maxOpen = Math.max(maxOpen, open);
      s.on('close', () => open--);
    });
    cleanups.push(() => o.close());
    const p = await proxyWith(routeTo(o.port), { upstream: { maxSockets: 2 } });
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => get(p.port, `/c${i}`)));
    expect(rs.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(rs.map((r) => r.body.toString())).toEqual(Array.from({ length: 8 }, (_, i) => `ok /c${i}`));
    expect(maxInFlight).toBeLessThanOrEqual(2);
    expect(maxOpen).toBeLessThanOrEqual(2);
    expect(connections).toBeLessThanOrEqual(2);
  });

  it('answers 503 when no pooled connection frees up within upstreamConnectMs', async () => {
    const o = await startHttpOrigin((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('slow'), 1500);
      else res.end('fast');
    });
    cleanups.push(() => o.close());
    const p = await proxyWith(routeTo(o.port), { upstream: { maxSockets: 1 }, timeouts: { upstreamConnectMs: 300 } });
    const slow = get(p.port, '/slow');
    await sleep(100);
    const r = await get(p.port, '/fast');
    expect(r.status).toBe(503);
    expect((await slow).status).toBe(200);
    expect((await get(p.port, '/fast')).status).toBe(200);
  });

  // "Goes away" is a reset here: a FIN cancels too under the default clientHalfClose "abort", but
  // with "finish" it is a half-close and the request is still answered.
  it('cancels the upstream request when the client resets, and does not pool that socket', async () => {
    let upstreamClosed = false;
    let connections = 0;
    const o = await startHttpOrigin((req, res) => {
      if (req.url === '/slow') return; // never answered
      res.end('ok');
    });
    o.server.on('connection', (s) => { connections++; s.on('close', () => { upstreamClosed = true; }); });
    cleanups.push(() => o.close());
    const p = await proxyWith(routeTo(o.port));
    const c = await RawClient.connect(p.port);
    c.send('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(200);
    c.socket.resetAndDestroy();
    const deadline = Date.now() + 3000;
    while (!upstreamClosed && Date.now() < deadline) await sleep(20);
    expect(upstreamClosed).toBe(true);
    expect((await get(p.port)).status).toBe(200);
    expect(connections).toBe(2);
    expect(p.proxy.stats().pools[0].active).toBe(0);
  });

  it('closes pooled sockets idle longer than idleSocketMs', async () => {
    let closedByProxy = false;
    const o = await startHttpOrigin((_q, res) => res.end('ok'));
    o.server.on('connection', (s) => s.on('end', () => { closedByProxy = true; }));
    cleanups.push(() => o.close());
    const p = await proxyWith(routeTo(o.port), { upstream: { idleSocketMs: 200 } });
    expect((await get(p.port)).status).toBe(200);
    expect(p.proxy.stats().pools[0].idle).toBe(1);
    const deadline = Date.now() + 3000;
    while (!closedByProxy && Date.now() < deadline) await sleep(20);
    expect(closedByProxy).toBe(true);
    expect(p.proxy.stats().pools[0].idle).toBe(0);
    expect((await get(p.port)).status).toBe(200);
  });

  it('retires a socket after maxRequestsPerSocket requests', async () => {
    let connections = 0;
    const o = await startHttpOrigin((_q, res) => res.end('ok'));
    o.server.on('connection', () => connections++);
    cleanups.push(() => o.close());
    const p = await proxyWith(routeTo(o.port), { upstream: { maxRequestsPerSocket: 2 } });
    for (let i = 0; i < 5; i++) expect((await get(p.port)).status).toBe(200);
    expect(connections).toBe(3);
  });

  it('replaces a pooled socket that the origin closed right after its response', async () => {
    const origin = await startRawOrigin((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      setTimeout(() => s.end(), 10); // no Connection: close, but gone anyway
    });
    cleanups.push(() => origin.close());
    const p = await proxyWith(routeTo(origin.port));
    expect((await get(p.port)).status).toBe(200);
    await sleep(150);
    const r = await get(p.port);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('ok');
    expect(origin.connections.length).toBe(2);
  });

  it('retries an idempotent GET once on a new socket when a reused socket dies before any response byte', async () => {
    // each connection answers its first request and closes without answering its second: what a
    // client sees when the origin's keep-alive timer fires as the request is sent
    const origin = await startRawOrigin((s, _d, conn) => {
      const n = requestsIn(origin.received[conn]);
      if (n === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst');
      else s.destroy();
    });
    cleanups.push(() => origin.close());
    const p = await proxyWith(routeTo(origin.port));
    expect((await get(p.port)).body.toString()).toBe('first');
    const r = await get(p.port, '/again');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('first');
    expect(origin.connections.length).toBe(2);
    expect(requestsIn(origin.received[0])).toBe(2);
    expect(requestsIn(origin.received[1])).toBe(1);
    expect(Buffer.concat(origin.received[1]).toString('latin1')).toMatch(/^GET \/again HTTP\/1\.1\r\n/);
  });

  it('does not retry a GET when the reused socket died after part of the response head', async () => {
    const origin = await startRawOrigin((s, _d, conn) => {
      const n = requestsIn(origin.received[conn]);
      if (n === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst');
      else { s.write('HTTP/1.1 200 O'); setTimeout(() => s.destroy(), 20); }
    });
    cleanups.push(() => origin.close());
    const p = await proxyWith(routeTo(origin.port));
    expect((await get(p.port)).status).toBe(200);
    const r = await get(p.port);
    expect(r.status).toBe(502);
    expect(origin.connections.length).toBe(1);
  });

  it('does not retry a POST with a body on a reused socket that dies: 502', async () => {
    const origin = await startRawOrigin((s, _d, conn) => {
      const n = requestsIn(origin.received[conn]);
      if (n === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst');
      else s.destroy();
    });
    cleanups.push(() => origin.close());
    const p = await proxyWith(routeTo(origin.port));
    expect((await get(p.port)).status).toBe(200);
    const r = await request(p.port, 'POST /pay HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello', 'POST');
    expect(r.status).toBe(502);
    await sleep(100);
    // the POST was sent exactly once
    expect(origin.connections.length).toBe(1);
  });

  it('does not pool a socket whose response said Connection: close (even if the origin keeps it open)', async () => {
    const origin = await startRawOrigin((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
      // the origin does not close: the proxy must not reuse it anyway
    });
    cleanups.push(() => origin.close());
    const p = await proxyWith(routeTo(origin.port));
    for (let i = 0; i < 3; i++) expect((await get(p.port)).status).toBe(200);
    expect(origin.connections.length).toBe(3);
    for (const c of origin.received) expect(requestsIn(c)).toBe(1);
  });

  it('does not pool a socket after an HTTP/1.0 response without keep-alive', async () => {
    const origin = await startRawOrigin((s) => {
      s.write('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    cleanups.push(() => origin.close());
    const p = await proxyWith(routeTo(origin.port));
    for (let i = 0; i < 2; i++) expect((await get(p.port)).status).toBe(200);
    expect(origin.connections.length).toBe(2);
  });

  // Regression: bytes that follow a complete response in the same read (here a whole second
  // response) mean the upstream is out of sync; the socket used to go back to the pool anyway.
  it('never reuses a socket that sent extra bytes after a response (same packet)', async () => {
    let total = 0;
    const origin = await startRawOrigin((s) => {
      if (++total === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON');
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nclean');
    });
    cleanups.push(() => origin.close());
    const p = await proxyWith(routeTo(origin.port));
    expect((await get(p.port)).body.toString()).toBe('ok');
    const r = await get(p.port);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('clean');
    expect(origin.connections.length).toBe(2);
    expect(requestsIn(origin.received[0])).toBe(1);
  });

  it('never reuses a socket that sent extra bytes after a bodiless response (same packet)', async () => {
    // as above, on the path where the head alone completes the response
    let total = 0;
    const origin = await startRawOrigin((s) => {
      if (++total === 1) s.write('HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON');
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nclean');
    });
    cleanups.push(() => origin.close());
    const p = await proxyWith(routeTo(origin.port));
    expect((await get(p.port)).status).toBe(204);
    const r = await get(p.port);
    expect(r.body.toString()).toBe('clean');
    expect(origin.connections.length).toBe(2);
  });

  it('never reuses a socket that sent extra bytes after a response (later packet, while idle)', async () => {
    let total = 0;
    const origin = await startRawOrigin((s) => {
      if (++total === 1) {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        setTimeout(() => { if (!s.destroyed) s.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON'); }, 30);
      } else s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nclean');
    });
    cleanups.push(() => origin.close());
    const p = await proxyWith(routeTo(origin.port));
    expect((await get(p.port)).body.toString()).toBe('ok');
    await sleep(200);
    const r = await get(p.port);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('clean');
    expect(origin.connections.length).toBe(2);
  });
});

describe('balancing and ejection', () => {
  it('splits 40 requests ~3:1 between two upstreams weighted 3 and 1', async () => {
    const hits = [0, 0];
    const a = await startHttpOrigin((_q, res) => { hits[0]++; res.end('a'); });
    const b = await startHttpOrigin((_q, res) => { hits[1]++; res.end('b'); });
    cleanups.push(() => a.close(), () => b.close());
    const p = await proxyWith([{ id: 'w', pathPrefix: '/', upstreams: [{ url: `http://127.0.0.1:${a.port}`, weight: 3 }, { url: `http://127.0.0.1:${b.port}`, weight: 1 }] }]);
    for (let i = 0; i < 40; i++) expect((await get(p.port)).status).toBe(200);
    expect(hits[0] + hits[1]).toBe(40);
    expect(hits[0]).toBeGreaterThanOrEqual(27);
    expect(hits[0]).toBeLessThanOrEqual(33);
  });

  it('ejects a dead upstream after maxFails connect failures, each retried on the live one: clients see no failure', async () => {
    let live = 0;
    const a = await startHttpOrigin((_q, res) => { live++; res.end('live'); });
    cleanups.push(() => a.close());
    const dead = await deadPort();
    const p = await proxyWith(routeTo(a.port, dead), { upstream: { maxFails: 2, ejectMs: 30_000 } });
    let refused = 0;
    const retried: string[] = [];
    p.proxy.addObserver({ upstreamError: (kind) => { if (kind === 'connect') refused++; }, retried: (route, reason) => retried.push(`${route} ${reason}`) });
    const statuses: number[] = [];
    for (let i = 0; i < 16; i++) statuses.push((await get(p.port)).status);
    expect(statuses).toEqual(Array(16).fill(200));
    expect(live).toBe(16);
    // two connect failures (maxFails), each retried; then the dead upstream is ejected
    expect(refused).toBe(2);
    expect(retried).toEqual(['r connect', 'r connect']);
  });

  it('brings an ejected upstream back after ejectMs', async () => {
    const hits = { a: 0, b: 0 };
    const a = await startHttpOrigin((_q, res) => { hits.a++; res.end('a'); });
    cleanups.push(() => a.close());
    const deadB = await deadPort();
    const p = await proxyWith(routeTo(a.port, deadB), { upstream: { maxFails: 1, ejectMs: 400 } });
    let refused = 0;
    p.proxy.addObserver({ upstreamError: (kind) => { if (kind === 'connect') refused++; } });
    const first: number[] = [];
    for (let i = 0; i < 6; i++) first.push((await get(p.port)).status);
    // the one connect failure was retried on a; b is ejected
    expect(first).toEqual(Array(6).fill(200));
    expect(refused).toBe(1);
    // the dead upstream comes to life on the same port
    const b = net.createServer((s) => {
      s.on('data', () => { hits.b++; s.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb'); });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => b.listen(deadB, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => { b.close(() => r()); setTimeout(r, 200); }));
    await sleep(600);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await get(p.port)).status);
    expect(statuses).toEqual(Array(6).fill(200));
    expect(hits.b).toBeGreaterThanOrEqual(2);
  });

  it('answers 502 (and keeps serving) when every upstream is dead', async () => {
    const p = await proxyWith(routeTo(await deadPort(), await deadPort()), { upstream: { maxFails: 1, ejectMs: 60_000 } });
    for (let i = 0; i < 5; i++) expect((await get(p.port)).status).toBe(502);
  });
});
