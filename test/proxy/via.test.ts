// Via (RFC 9110 §7.6.3) on by default, both ways; a setting, global and per route, with the
// pseudonym (received-by) configurable. Off is for origins like nginx whose default
// `gzip_proxied off` stops compressing any request that carries Via.
import { describe, it, expect, afterEach } from 'vitest';
import { startProxy, startRawOrigin, request, header } from '../helpers/harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

/** An origin that answers with the request head it received; returns Via seen by origin and client. */
async function viaOf(config: Record<string, unknown>, routeExtra: Record<string, unknown>, path = '/a'): Promise<{ upstream: string[]; client: string[] }> {
  const origin = await startRawOrigin((s, d) => {
    const t = d.toString('latin1');
    const end = t.indexOf('\r\n\r\n');
    if (end >= 0) s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${end + 4}\r\n\r\n${t.slice(0, end + 4)}`);
  });
  cleanups.push(() => origin.close());
  const p = await startProxy({
    ...config,
    routes: [
      { id: 'a', pathPrefix: '/a', upstreams: [`http://127.0.0.1:${origin.port}`], ...routeExtra },
      { id: 'b', pathPrefix: '/b', upstreams: [`http://127.0.0.1:${origin.port}`] },
    ],
  });
  cleanups.push(() => p.close());
  const r = await request(p.port, `GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`);
  const upstream = r.body.toString('latin1').split('\r\n').filter((l) => /^via:/i.test(l)).map((l) => l.slice(4).trim());
  return { upstream, client: header(r, 'via') };
}

describe('Via', () => {
  it('is added both ways by default, with proxyName as the pseudonym', async () => {
    expect(await viaOf({}, {})).toEqual({ upstream: ['1.1 portico'], client: ['1.1 portico'] });
    expect(await viaOf({ proxyName: 'edge-1' }, {})).toEqual({ upstream: ['1.1 edge-1'], client: ['1.1 edge-1'] });
  });

  it('"via": false turns it off globally; a route may turn it back on', async () => {
    expect(await viaOf({ via: false }, {})).toEqual({ upstream: [], client: [] });
    expect(await viaOf({ via: false }, { via: true })).toEqual({ upstream: ['1.1 portico'], client: ['1.1 portico'] });
  });

  it('a route may turn it off or name its own pseudonym; other routes keep the global setting', async () => {
    expect(await viaOf({}, { via: false })).toEqual({ upstream: [], client: [] });
    expect(await viaOf({}, { via: false }, '/b')).toEqual({ upstream: ['1.1 portico'], client: ['1.1 portico'] });
    expect(await viaOf({ proxyName: 'global' }, { proxyName: 'route-a' })).toEqual({ upstream: ['1.1 route-a'], client: ['1.1 route-a'] });
  });
});
