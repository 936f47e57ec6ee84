// A client that closes its sending side (FIN) while it waits for a response aborts the request by
// default (clientHalfClose "abort", like nginx's proxy_ignore_client_abort off): the upstream
// request is cancelled and its pool slot freed. clientHalfClose "finish" keeps the half-close
// behaviour: the response is still sent.
import { describe, it, expect, afterEach } from 'vitest';
import { startProxy, startRawOrigin, RawClient, sleep } from '../helpers/harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });
const track = <T extends { close(): Promise<void> | void }>(x: T): T => { cleanups.push(() => x.close()); return x; };

/** An origin that answers /fast at once and holds every other request until `release()`. */
async function holdingOrigin() {
  const held: Array<() => void> = [];
  const closed: number[] = [];
  const origin = track(await startRawOrigin((s, d, conn) => {
    if (d.includes('/fast')) { s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfast'); return; }
    held.push(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow'));
    s.once('close', () => closed.push(conn));
  }));
  return { origin, held, closed };
}

async function proxyFor(port: number, more: Record<string, unknown> = {}) {
  return track(await startProxy({ upstream: { maxSockets: 1 }, routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${port}`] }], ...more }));
}

async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(10);
  return cond();
}

describe('client FIN while waiting for the response', () => {
  it('aborts the request by default: the upstream request is cancelled and its pool slot freed', async () => {
    const { origin, held, closed } = await holdingOrigin();
    const p = await proxyFor(origin.port);
    const c = await RawClient.connect(p.port);
    cleanups.push(() => c.destroy());
    c.send('GET /slow HTTP/1.1\r\nHost: h\r\n\r\n');
    expect(await until(() => held.length === 1)).toBe(true);
    c.socket.end(); // FIN: the request was complete, the client stops sending
    expect(await c.waitClose(5000)).toBe(true);
    expect(c.responses).toHaveLength(0);
    expect(await until(() => closed.length === 1)).toBe(true);
    // the only pool slot is free again: the next request is served at once
    const c2 = await RawClient.connect(p.port);
    cleanups.push(() => c2.destroy());
    c2.send('GET /fast HTTP/1.1\r\nHost: h\r\n\r\n');
    const [r] = await c2.read(1, 5000);
    expect(r?.body.toString()).toBe('fast');
  });

  it('clientHalfClose "finish" still answers a client that half-closed, then closes', async () => {
    const { origin, held } = await holdingOrigin();
    const p = await proxyFor(origin.port, { clientHalfClose: 'finish' });
    const c = await RawClient.connect(p.port);
    cleanups.push(() => c.destroy());
    c.send('GET /slow HTTP/1.1\r\nHost: h\r\n\r\n');
    expect(await until(() => held.length === 1)).toBe(true);
    c.socket.end();
    await sleep(100);
    held[0]();
    const [r] = await c.read(1, 5000);
    expect(r?.body.toString()).toBe('slow');
    expect(await c.waitClose(5000)).toBe(true);
  });
});
