// Timeouts of the client channel (idle, head, body, abort) and of the exchange (upstream head,
// body silence), on real loopback sockets and a FakeClock: time moves only when a test advances it,
// so every deadline is exact and no test sleeps for a timeout. A test first waits (in real time,
// for the sockets) until the timer it is about to expire is armed: clock.nextIn is then exactly
// the configured value.
import { describe, it, expect } from 'vitest';
import net from 'node:net';
import { startHttpOrigin, startRawOrigin, RawClient, request, sleep, header, deadPort, proxyTo, useCleanups } from '../helpers/harness.js';
import { FakeClock } from '../../src/clock.js';

const cleanups = useCleanups();

async function okOrigin() {
  const o = await startHttpOrigin((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      res.setHeader('X-Got', String(body.length));
      res.end(`ok ${req.url} ${body.toString('latin1')}`);
    });
  });
  cleanups.push(() => o.close());
  return o;
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

/** Waits (real time) until the earliest armed deadline is `ms` away. */
async function armed(clock: FakeClock, ms: number): Promise<void> {
  expect(await waitFor(() => clock.nextIn === ms, 5000), `a ${ms} ms timer is armed (next: ${clock.nextIn})`).toBe(true);
}

/** A half-open capable client that never ends its side and never writes. */
async function silentClient(port: number): Promise<{ ended: () => boolean }> {
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  cleanups.push(() => { s.destroy(); });
  s.on('error', () => {});
  let ended = false;
  s.on('end', () => { ended = true; });
  s.on('data', () => {});
  await new Promise<void>((r) => s.once('connect', () => r()));
  return { ended: () => ended };
}

describe('client timeouts', () => {
  it('closes an idle keep-alive connection silently at idleMs (no 408, zero bytes)', async () => {
    const clock = new FakeClock();
    const o = await okOrigin();
    const p = await proxyTo(cleanups, o.port, { timeouts: { idleMs: 300 } }, { clock });
    const c = await connect(p.port);
    c.send('GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
    const [r] = await c.read(1);
    expect(r.status).toBe(200);
    expect(r.complete).toBe(true);
    await armed(clock, 300);
    clock.advance(299);
    await sleep(50);
    expect(c.closed).toBe(false);
    clock.advance(1);
    expect(await c.waitClose(5000)).toBe(true);
    expect(c.responses).toHaveLength(1);
    expect(c.pendingBytes).toBe(0);
  });

  it('closes a connection that never sends anything with zero bytes', async () => {
    const clock = new FakeClock();
    const o = await okOrigin();
    const p = await proxyTo(cleanups, o.port, { timeouts: { idleMs: 300, headMs: 5000 } }, { clock });
    const c = await connect(p.port);
    let bytes = 0;
    c.socket.on('data', (d: Buffer) => { bytes += d.length; });
    await armed(clock, 300);
    clock.advance(300);
    expect(await c.waitClose(5000)).toBe(true);
    expect(bytes).toBe(0);
    expect(c.responses).toHaveLength(0);
  });

  it('answers 408 and closes when a partial head is followed by silence (headMs)', async () => {
    const clock = new FakeClock();
    const o = await okOrigin();
    const p = await proxyTo(cleanups, o.port, { timeouts: { idleMs: 10_000, headMs: 400 } }, { clock });
    const c = await connect(p.port);
    c.send('GET /a HTTP/1.1\r\nHost: x\r\n');
    await armed(clock, 400);
    clock.advance(400);
    const [r] = await c.read(1, 5000);
    expect(r?.status).toBe(408);
    expect(header(r, 'connection')).toEqual(['close']);
    expect(await c.waitClose(5000)).toBe(true);
  });

  it('starts the head deadline at the first byte of each request on a keep-alive connection', async () => {
    const clock = new FakeClock();
    const o = await okOrigin();
    const p = await proxyTo(cleanups, o.port, { timeouts: { idleMs: 5000, headMs: 600 } }, { clock });
    const c = await connect(p.port);
    c.send('GET /1 HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await c.read(1))[0]?.status).toBe(200);
    clock.advance(700); // idle longer than headMs: that is not the head's time
    c.send('GET /2 HTTP/1.1\r\n');
    await armed(clock, 600);
    clock.advance(599);
    c.socket.write('Host: x\r\n\r\n');
    const rs = await c.read(2, 5000);
    expect(rs[1]?.status).toBe(200);
    expect(rs[1].body.toString()).toBe('ok /2 ');
  });

  it('answers 408 to a head trickled byte by byte past headMs (slowloris)', async () => {
    const clock = new FakeClock();
    const o = await okOrigin();
    const p = await proxyTo(cleanups, o.port, { timeouts: { idleMs: 10_000, headMs: 500 } }, { clock });
    const c = await connect(p.port);
    const head = 'GET /slowloris HTTP/1.1\r\nHost: x\r\nX-Padding: ' + 'a'.repeat(100) + '\r\n\r\n';
    c.send(head[0]);
    await armed(clock, 500);
    let i = 1;
    // one byte per 30 ms of clock time: each byte does not refresh the deadline
    while (i < head.length && !c.closed && c.responses.length === 0) {
      c.socket.write(head[i++]);
      await sleep(5);
      clock.advance(30);
    }
    const [r] = await c.read(1, 5000);
    expect(r?.status).toBe(408);
    expect(i).toBeLessThan(head.length);
    expect(await c.waitClose(5000)).toBe(true);
  });

  it('answers 408 and closes when the request body goes silent (bodyIdleMs)', async () => {
    const clock = new FakeClock();
    // the origin reads but never answers, so only the body timer can end this
    const origin = await startRawOrigin(() => {});
    cleanups.push(() => origin.close());
    const p = await proxyTo(cleanups, origin.port, { timeouts: { bodyIdleMs: 400, upstreamHeadMs: 30_000 } }, { clock });
    const c = await connect(p.port);
    c.send('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc', 'POST');
    await armed(clock, 400);
    clock.advance(400);
    const [r] = await c.read(1, 5000);
    expect(r?.status).toBe(408);
    expect(header(r, 'connection')).toEqual(['close']);
    expect(await c.waitClose(5000)).toBe(true);
    // the upstream request was cancelled
    expect(await waitFor(() => origin.connections.every((s) => s.destroyed || s.readableEnded), 3000)).toBe(true);
  });

  it('times out a silent chunked body on a kept-alive connection whose chunked decoder was made for an earlier request', async () => {
    // the decoder is made on a connection's first chunked body (issue 14, memory): a later
    // chunked body on the same connection reuses it, and its silence still ends in 408
    const clock = new FakeClock();
    const o = await okOrigin();
    const p = await proxyTo(cleanups, o.port, { timeouts: { bodyIdleMs: 400, upstreamHeadMs: 30_000 } }, { clock });
    const c = await connect(p.port);
    c.send('GET /first HTTP/1.1\r\nHost: x\r\n\r\n', 'GET');
    c.send('POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n', 'POST');
    const [first, second] = await c.read(2, 5000);
    expect(first?.status).toBe(200);
    expect(second?.status).toBe(200);
    expect(second?.body.toString('latin1')).toBe('ok /chunked hello world');
    c.send('POST /silent HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab', 'POST');
    await armed(clock, 400);
    clock.advance(400);
    const third = (await c.read(3, 5000))[2];
    expect(third?.status).toBe(408);
    expect(await c.waitClose(5000)).toBe(true);
  });

  it('refreshes the body timer on every body read', async () => {
    const clock = new FakeClock();
    const o = await okOrigin();
    const p = await proxyTo(cleanups, o.port, { timeouts: { bodyIdleMs: 500 } }, { clock });
    const c = await connect(p.port);
    const parts = ['aa', 'bb', 'cc', 'dd', 'ee', 'ff', 'gg', 'hh'];
    c.send('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n', 'POST');
    for (const part of parts.slice(0, -1)) {
      await armed(clock, 500);
      clock.advance(400); // 3.2 s of clock time in all, well past bodyIdleMs
      c.socket.write(part);
      await waitFor(() => clock.nextIn === 500, 5000);
    }
    c.socket.write(parts[parts.length - 1]);
    const [r] = await c.read(1, 5000);
    expect(r?.status).toBe(200);
    expect(r.body.toString()).toBe('ok /up aabbccddeeffgghh');
  });

  it('destroys a client that does not close its side after a graceful close (abortMs)', async () => {
    const clock = new FakeClock();
    const o = await okOrigin();
    const p = await proxyTo(cleanups, o.port, { timeouts: { idleMs: 200, abortMs: 400 } }, { clock });
    const s = await silentClient(p.port);
    expect(await waitFor(() => p.proxy.stats().clientConnections === 1, 2000)).toBe(true);
    await armed(clock, 200);
    clock.advance(200); // idle timer: FIN from the proxy
    expect(await waitFor(s.ended, 3000)).toBe(true);
    await sleep(50);
    expect(p.proxy.stats().clientConnections).toBe(1);
    clock.advance(400); // abort timer: the proxy forgets the connection although the client never closed it
    expect(await waitFor(() => p.proxy.stats().clientConnections === 0, 3000)).toBe(true);
  });

  it('without the abort timer firing, a half-open client is kept (control for abortMs)', async () => {
    const clock = new FakeClock();
    const o = await okOrigin();
    const p = await proxyTo(cleanups, o.port, { timeouts: { idleMs: 200, abortMs: 20_000 } }, { clock });
    const s = await silentClient(p.port);
    await armed(clock, 200);
    clock.advance(200);
    expect(await waitFor(s.ended, 3000)).toBe(true);
    clock.advance(19_999);
    await sleep(100);
    expect(p.proxy.stats().clientConnections).toBe(1);
  });
});

describe('upstream timeouts and failures', () => {
  it('answers 504 when the upstream never answers (upstreamHeadMs) and keeps the client connection usable', async () => {
    const clock = new FakeClock();
    const origin = await startRawOrigin((s, d) => {
      if (d.toString('latin1').startsWith('GET /ok ')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      // anything else: never answered
    });
    cleanups.push(() => origin.close());
    const p = await proxyTo(cleanups, origin.port, { timeouts: { upstreamHeadMs: 400 } }, { clock });
    const c = await connect(p.port);
    c.send('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    await armed(clock, 400);
    clock.advance(399);
    await sleep(50);
    expect(c.responses).toHaveLength(0);
    clock.advance(1);
    const [r] = await c.read(1, 5000);
    expect(r?.status).toBe(504);
    expect(header(r, 'connection')).toEqual([]);
    expect(c.closed).toBe(false);
    c.send('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n');
    const rs = await c.read(2, 5000);
    expect(rs[1]?.status).toBe(200);
    expect(rs[1].body.toString()).toBe('ok');
    // the timed-out upstream socket was not reused for the second request
    expect(origin.connections.length).toBe(2);
    expect(origin.connections[0].destroyed || origin.connections[0].readableEnded).toBe(true);
  });

  it('answers 502 quickly when nothing listens on the upstream port', async () => {
    const port = await deadPort();
    const p = await proxyTo(cleanups, port, { timeouts: { upstreamConnectMs: 10_000 } });
    const t0 = Date.now();
    const r = await request(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(r.status).toBe(502);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('aborts the client connection when the upstream stops in the middle of a Content-Length body', async () => {
    const origin = await startRawOrigin((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(100));
      setTimeout(() => s.destroy(), 50);
    });
    cleanups.push(() => origin.close());
    const p = await proxyTo(cleanups, origin.port);
    const c = await connect(p.port);
    c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await c.waitClose(5000)).toBe(true);
    const r = c.responses[0];
    expect(r?.status).toBe(200);
    expect(r.complete).toBe(false);
    expect(r.body.length).toBe(100);
  });

  it('aborts the client connection when the upstream stops in the middle of a chunked body', async () => {
    const origin = await startRawOrigin((s) => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      setTimeout(() => s.end(), 50); // a clean FIN, but the last chunk never came
    });
    cleanups.push(() => origin.close());
    const p = await proxyTo(cleanups, origin.port);
    const c = await connect(p.port);
    c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await c.waitClose(5000)).toBe(true);
    const r = c.responses[0];
    expect(r?.status).toBe(200);
    expect(r.complete).toBe(false);
  });

  it('aborts the client connection when the upstream goes silent during the body (upstreamIdleMs)', async () => {
    const clock = new FakeClock();
    const origin = await startRawOrigin((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(10));
    });
    cleanups.push(() => origin.close());
    const p = await proxyTo(cleanups, origin.port, { timeouts: { upstreamIdleMs: 400, idleMs: 60_000 } }, { clock });
    const c = await connect(p.port);
    c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await waitFor(() => c.pendingBytes > 0, 5000)).toBe(true); // the head and 10 bytes
    await armed(clock, 400);
    clock.advance(400);
    expect(await c.waitClose(5000)).toBe(true);
    expect(c.responses[0]?.complete).toBe(false);
    expect(c.responses.some((r) => r.complete && r.status === 200)).toBe(false);
  });
});

describe('body timer and upstream backpressure', () => {
  // Regression: the body timer used to keep running while the proxy had stopped reading the
  // client because the upstream was not reading, giving a 408 that was the upstream's fault.
  it('does not time out a client body that is paused by upstream backpressure', async () => {
    const size = 16 * 1024 * 1024;
    let got = 0;
    const origin = await startRawOrigin(() => {});
    cleanups.push(() => origin.close());
    // the origin does not read for 1.5 s (3x bodyIdleMs), then reads everything and answers
    const p = await proxyTo(cleanups, origin.port, { timeouts: { bodyIdleMs: 500, upstreamHeadMs: 20_000 } });
    const c = await connect(p.port);
    const pausedConn = new Promise<net.Socket>((resolve) => {
      const t = setInterval(() => {
        const s = origin.connections[0];
        if (s) { clearInterval(t); resolve(s); }
      }, 1);
    });
    c.send(`POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`, 'POST');
    const s = await pausedConn;
    s.pause();
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    for (let i = 0; i < 16; i++) c.socket.write(chunk);
    await sleep(1500);
    s.on('data', () => {
      got = origin.received[0].reduce((n, b) => n + b.length, 0);
      // head + body received: answer
      if (got >= size + 60) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    s.resume();
    const [r] = await c.read(1, 10_000);
    expect(r?.status).toBe(200);
  });
});
