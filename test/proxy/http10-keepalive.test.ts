// HTTP/1.0 keep-alive (RFC 9112 §9.3, Twisted's HTTPChannel.checkPersistence): a 1.0 request with
// `Connection: keep-alive` keeps its connection when the response can be delimited without
// chunked (Content-Length, or no content), and the response says `Connection: keep-alive`.
import { describe, it, expect, afterEach } from 'vitest';
import { startProxy, startHttpOrigin, RawClient, header, type Started } from '../helpers/harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });
const track = <T extends { close(): Promise<void> | void }>(x: T): T => { cleanups.push(() => x.close()); return x; };

async function setup(): Promise<Started> {
  const origin = track(await startHttpOrigin((req, res) => {
    if (req.url!.endsWith('/chunked')) { res.write('a'); res.end('b'); return; }
    if (req.url!.endsWith('/empty')) { res.writeHead(204); res.end(); return; }
    res.setHeader('Content-Length', 2);
    res.end('ok');
  }));
  return track(await startProxy({ routes: [{ id: 'r', pathPrefix: '/o', upstreams: [`http://127.0.0.1:${origin.port}`] }] }));
}

const req10 = (path: string, extra = 'Connection: keep-alive\r\n', method = 'GET') => `${method} ${path} HTTP/1.0\r\n${extra}\r\n`;

describe('HTTP/1.0 keep-alive', () => {
  it('keeps the connection for several requests whose responses have a length or no content', async () => {
    const p = await setup();
    const c = await RawClient.connect(p.port);
    cleanups.push(() => c.destroy());
    const steps: Array<[string, string, number]> = [
      [req10('/o/a'), 'GET', 200],
      [req10('/o/empty'), 'GET', 204],
      [req10('/o/b', 'Connection: keep-alive\r\n', 'HEAD'), 'HEAD', 200],
      [req10('/nothing-here'), 'GET', 404],
      [req10('/o/c'), 'GET', 200],
    ];
    for (const [i, [raw, method, status]] of steps.entries()) {
      c.send(raw, method);
      await c.read(i + 1, 5000);
      const r = c.responses[i];
      expect(r?.status).toBe(status);
      expect(header(r, 'connection')).toEqual(['keep-alive']);
      expect(c.closed).toBe(false);
    }
    expect(c.responses[0].body.toString()).toBe('ok');
    expect(c.responses[4].body.toString()).toBe('ok');
  });

  it('closes when the response cannot be delimited for HTTP/1.0 (chunked upstream), or keep-alive was not asked', async () => {
    const p = await setup();
    const c = await RawClient.connect(p.port);
    cleanups.push(() => c.destroy());
    c.send(req10('/o/chunked') + req10('/o/a'));
    expect(await c.waitClose(5000)).toBe(true);
    expect(c.responses).toHaveLength(1);
    expect(c.responses[0].body.toString()).toBe('ab');
    expect(header(c.responses[0], 'connection')).toEqual(['close']);

    const c2 = await RawClient.connect(p.port);
    cleanups.push(() => c2.destroy());
    c2.send(req10('/o/a', '') + req10('/o/a'));
    expect(await c2.waitClose(5000)).toBe(true);
    expect(c2.responses).toHaveLength(1);
    expect(header(c2.responses[0], 'connection')).toEqual(['close']);
  });
});
