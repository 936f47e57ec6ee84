// Graceful shutdown of the in-process ProxyServer: close(deadline) stops accepting, closes idle
// keep-alive connections at once, lets in-flight requests finish with their response, and
// destroys whatever is left at the deadline.
import { describe, it, expect } from 'vitest';
import net from 'node:net';
import { startProxy, startHttpOrigin, RawClient, sleep, header, type Started, useCleanups } from '../helpers/harness.js';

const cleanups = useCleanups();

async function setup(slowMs: number): Promise<{ p: Started; seen: string[] }> {
  const seen: string[] = [];
  const o = await startHttpOrigin((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/slow') setTimeout(() => res.end('slow done'), slowMs);
    else if (req.url === '/forever') { /* never answered */ }
    else res.end(`ok ${req.url}`);
  });
  cleanups.push(() => o.close());
  const p = await startProxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${o.port}`] }] });
  cleanups.push(() => p.proxy.close(0));
  return { p, seen };
}

async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  cleanups.push(() => c.destroy());
  return c;
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(10);
  return cond();
}

/** 'connected', or the connect error's code. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve('connected'); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe('ProxyServer.close(deadline)', () => {
  it('finishes an in-flight request, closes idle keep-alive connections at once, and refuses new connections', async () => {
    const { p, seen } = await setup(1500);
    // an idle keep-alive connection
    const idle = await connect(p.port);
    idle.send('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await idle.read(1))[0]?.status).toBe(200);
    // a request in flight
    const busy = await connect(p.port);
    busy.send('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await waitFor(() => seen.includes('/slow'), 5000)).toBe(true);

    const t0 = Date.now();
    let closedAt = 0;
    const closing = p.proxy.close(10_000).then(() => { closedAt = Date.now(); });

    expect(await idle.waitClose(1000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(idle.responses).toHaveLength(1);
    expect(idle.pendingBytes).toBe(0);
    expect(busy.responses).toHaveLength(0); // still in flight when the idle one was closed

    expect(await tryConnect(p.port)).toBe('ECONNREFUSED');

    const [r] = await busy.read(1, 5000);
    expect(r?.status).toBe(200);
    expect(r.complete).toBe(true);
    expect(r.body.toString()).toBe('slow done');
    expect(header(r, 'connection')).toEqual(['close']);
    expect(await busy.waitClose(2000)).toBe(true);

    await closing;
    expect(closedAt - t0).toBeLessThan(5000); // returned when the work was done, not at the deadline
    expect(p.proxy.stats().clientConnections).toBe(0);
  });

  // Regression: a request whose head was partly received at shutdown is answered with
  // Connection: close and its connection closes right after (client-channel.ts #shuttingDown).
  it('lets a request whose head was partly received finish, then closes', async () => {
    const { p } = await setup(10);
    const c = await connect(p.port);
    c.send('GET /late HTTP/1.1\r\nHo');
    await waitFor(() => p.proxy.stats().clientConnections === 1, 2000);
    await sleep(50);
    const closing = p.proxy.close(2000);
    await sleep(100);
    c.socket.write('st: x\r\n\r\n');
    const [r] = await c.read(1, 5000);
    expect(r?.status).toBe(200);
    expect(r.body.toString()).toBe('ok /late');
    expect(header(r, 'connection')).toEqual(['close']);
    expect(await c.waitClose(2000)).toBe(true);
    await closing;
  }, 10_000);

  it('answers a connection accepted just before the shutdown that has not sent its request yet', async () => {
    // a draining worker of a rolling restart may have accepted connections whose first request is
    // still on its way: closing them would fail requests no client retries
    const { p } = await setup(10);
    const c = await connect(p.port);
    await waitFor(() => p.proxy.stats().clientConnections === 1, 2000);
    const closing = p.proxy.close(5000);
    await sleep(100);
    c.send('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
    const [r] = await c.read(1, 5000);
    expect(r?.status).toBe(200);
    expect(r.body.toString()).toBe('ok /first');
    expect(header(r, 'connection')).toEqual(['close']);
    expect(await c.waitClose(2000)).toBe(true);
    await closing;
  }, 15_000);

  it('destroys what is left at the deadline', async () => {
    const { p, seen } = await setup(10);
    const stuck = await connect(p.port);
    stuck.send('GET /forever HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await waitFor(() => seen.includes('/forever'), 5000)).toBe(true);
    const t0 = Date.now();
    await p.proxy.close(500);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(400);
    expect(took).toBeLessThan(3000);
    expect(await stuck.waitClose(2000)).toBe(true);
    expect(stuck.responses.filter((r) => r.complete)).toHaveLength(0);
    expect(await waitFor(() => p.proxy.stats().clientConnections === 0, 1000)).toBe(true);
  });

  it('is idempotent: a second close() returns the same shutdown', async () => {
    const { p } = await setup(10);
    const a = p.proxy.close(300);
    const b = p.proxy.close(10_000);
    expect(a).toBe(b);
    await a;
    expect(p.proxy.ready).toBe(false);
  });

  it('closes idle pooled upstream connections', async () => {
    let upstreamClosed = false;
    const o = await startHttpOrigin((_q, res) => res.end('ok'));
    o.server.on('connection', (s) => s.on('close', () => { upstreamClosed = true; }));
    cleanups.push(() => o.close());
    const p = await startProxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${o.port}`] }], upstream: { idleSocketMs: 60_000 } });
    cleanups.push(() => p.proxy.close(0));
    const c = await connect(p.port);
    c.send('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect((await c.read(1))[0]?.status).toBe(200);
    expect(p.proxy.stats().pools[0].idle).toBe(1);
    await p.proxy.close(1000);
    expect(await waitFor(() => upstreamClosed, 2000)).toBe(true);
  });
});
