// Pipelined requests that Portico answers itself (OPTIONS *, a ".." path, 404...) must be answered
// by iterating, never by recursing: thousands of them in one read must not grow the stack, whatever
// the request in front of them does (issue 9: a dead upstream in front made the process exit, a
// live one wedged the connection).
import { describe, it, expect, afterEach } from 'vitest';
import { startProxy, startHttpOrigin, RawClient, request, deadPort, type Started } from '../helpers/harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });
const track = <T extends { close(): Promise<void> | void }>(x: T): T => { cleanups.push(() => x.close()); return x; };

async function proxyTo(port: number): Promise<Started> {
  return track(await startProxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${port}`] }] }));
}


const OPTIONS = 'OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n';

/** Sends `first` and `n` local requests in one write; returns the statuses received. */
async function burst(port: number, first: string, n: number, local = OPTIONS): Promise<{ statuses: number[]; client: RawClient }> {
  const c = await RawClient.connect(port);
  const methods = [first ? 'GET' : [], ...Array.from({ length: n }, () => 'OPTIONS')].flat();
  c.send(first + local.repeat(n), ...methods);
  await c.read(methods.length, 30_000);
  return { statuses: c.responses.map((r) => r.status), client: c };
}

describe('pipelined locally answered requests', () => {
  it('answers a request to a dead upstream and the 2,000 OPTIONS * behind it, and the process lives on', async () => {
    const p = await proxyTo(await deadPort());
    const { statuses, client } = await burst(p.port, 'GET /to-a-dead-upstream HTTP/1.1\r\nHost: h\r\n\r\n', 2000);
    expect(statuses).toHaveLength(2001);
    expect(statuses[0]).toBe(502);
    expect(statuses.slice(1).every((s) => s === 200)).toBe(true);
    client.destroy();
    // the listener still serves
    expect((await request(p.port, OPTIONS, 'OPTIONS')).status).toBe(200);
  }, 60_000);

  it('answers a request to a live upstream and the 2,000 OPTIONS * behind it', async () => {
    const origin = track(await startHttpOrigin((_req, res) => res.end('ok')));
    const p = await proxyTo(origin.port);
    const { statuses, client } = await burst(p.port, 'GET /live HTTP/1.1\r\nHost: h\r\n\r\n', 2000);
    expect(statuses).toHaveLength(2001);
    expect(statuses[0]).toBe(200);
    expect(client.responses[0].body.toString()).toBe('ok');
    expect(statuses.slice(1).every((s) => s === 200)).toBe(true);
    client.destroy();
  }, 60_000);

  it('answers 10,000 pipelined local requests (OPTIONS *, ".." paths) in one write', async () => {
    const p = await proxyTo(await deadPort());
    const mixed = OPTIONS + 'GET /a/../b HTTP/1.1\r\nHost: h\r\n\r\n';
    const c = await RawClient.connect(p.port);
    c.send(mixed.repeat(5000), ...Array.from({ length: 5000 }, () => ['OPTIONS', 'GET']).flat());
    await c.read(10_000, 60_000);
    expect(c.responses).toHaveLength(10_000);
    expect(c.responses[9998].status).toBe(200);
    expect(c.responses[9999].status).toBe(400);
    c.destroy();
  }, 90_000);

  it('answers a large pipeline from a client that reads its answers only later (no deadlock)', async () => {
    const p = await proxyTo(await deadPort());
    const c = await RawClient.connect(p.port);
    c.socket.pause(); // not reading: Portico's responses back up
    c.send(OPTIONS.repeat(30_000), ...Array.from({ length: 30_000 }, () => 'OPTIONS'));
    await new Promise((r) => setTimeout(r, 300));
    c.socket.resume();
    await c.read(30_000, 60_000);
    expect(c.responses).toHaveLength(30_000);
    c.destroy();
  }, 90_000);
});
