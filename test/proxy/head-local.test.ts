// Responses Portico makes itself follow HEAD rules (RFC 9110 §9.3.2): the header fields a GET
// would get, Content-Length included, and no content, so the next response on the connection is
// read from its start (issue 9: the body was sent and the next response misread).
import { describe, it, expect, afterEach } from 'vitest';
import { startProxy, RawClient, header, deadPort } from '../helpers/harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });


async function proxy(extra: Record<string, unknown> = {}) {
  const dead = await deadPort();
  const p = await startProxy({
    limits: { maxBodyBytes: 10 },
    routes: [{ id: 'a', pathPrefix: '/a', upstreams: [`http://127.0.0.1:${dead}`] }],
    ...extra,
  });
  cleanups.push(() => p.close());
  return { port: p.port, dead };
}

const NEXT = 'OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n';

/** Sends a HEAD request then OPTIONS * on one connection; the HEAD answer must have no body. */
async function headThenNext(port: number, head: string): Promise<{ status: number; contentLength: string[]; next: number | undefined; pending: number }> {
  const c = await RawClient.connect(port);
  cleanups.push(() => c.destroy());
  c.send(head + NEXT, 'HEAD', 'OPTIONS');
  await c.read(2, 10_000);
  if (c.responses.length < 2) await c.waitClose(2000);
  return { status: c.responses[0]?.status, contentLength: header(c.responses[0], 'content-length'), next: c.responses[1]?.status, pending: c.pendingBytes };
}

describe('HEAD answered by Portico itself', () => {
  it.each([
    ['HEAD * HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['HEAD https://h/x HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['HEAD http://user@h/a HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['HEAD /a/../b HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['HEAD /nothing-here HTTP/1.1\r\nHost: h\r\n\r\n', 404],
    ['HEAD /a/upstream-down HTTP/1.1\r\nHost: h\r\n\r\n', 502],
  ])('reverse proxy: %j gets %i with Content-Length, no body, and the connection goes on', async (raw, status) => {
    const { port } = await proxy();
    const r = await headThenNext(port, raw);
    expect(r.status).toBe(status);
    expect(Number(r.contentLength[0])).toBeGreaterThan(0);
    expect(r.next).toBe(200);
    expect(r.pending).toBe(0);
  });

  it('413 to a HEAD with an oversized body: no body, then close', async () => {
    const { port } = await proxy();
    const c = await RawClient.connect(port);
    cleanups.push(() => c.destroy());
    c.send('HEAD /a HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world', 'HEAD');
    await c.waitClose(5000);
    expect(c.responses.map((r) => r.status)).toEqual([413]);
    expect(Number(header(c.responses[0], 'content-length')[0])).toBeGreaterThan(0);
    expect(c.pendingBytes).toBe(0);
  });

  it.each([
    ['absolute-form to a port outside httpPorts', (dead: number) => `HEAD http://127.0.0.1:${dead}/ HTTP/1.1\r\nHost: x\r\n\r\n`, 403, {}],
    ['https:// absolute-form', () => 'HEAD https://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n', 400, {}],
    ['a destination that refuses', (dead: number) => `HEAD http://127.0.0.1:${dead}/ HTTP/1.1\r\nHost: x\r\n\r\n`, 502, { allowDestinations: ['127.0.0.0/8'], httpPorts: 'dead' }],
    ['missing proxy credentials', () => 'HEAD http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n', 407, { auth: { realm: 'r', users: { u: 'p' } } }],
  ] as const)('forward proxy: %s', async (_what, raw, status, fp) => {
    const dead = await deadPort();
    const forwardProxy: Record<string, unknown> = { enabled: true, allowClients: ['127.0.0.0/8'], ...fp };
    if (forwardProxy.httpPorts === 'dead') forwardProxy.httpPorts = [dead];
    const p = await startProxy({ forwardProxy, routes: [] });
    cleanups.push(() => p.close());
    const r = await headThenNext(p.port, raw(dead));
    expect(r.status).toBe(status);
    expect(Number(r.contentLength[0])).toBeGreaterThan(0);
    expect(r.next).toBe(200);
    expect(r.pending).toBe(0);
  });
});
