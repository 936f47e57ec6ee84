import { builtInPolicy } from '../../src/upstream/policy.js';
import { describe, it, expect } from 'vitest';
import { RouteTable, RouteTableHolder } from '../../src/routing/route-table.js';
import type { MatchInput } from '../../src/routing/route.js';
import { mapPath, hasDotDotSegment, prefixMatches } from '../../src/routing/path-mapping.js';
import { parseOriginUrl } from '../../src/upstream/origin-url.js';
import { ProxyError } from '../../src/errors.js';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import { startProxy } from '../helpers/harness.js';

const up = ['http://127.0.0.1:9'];
const req = (host: string, path: string, method = 'GET', headers: Record<string, string> = {}): MatchInput =>
  ({ host, path, method, header: (n) => (headers[n] !== undefined ? [headers[n]] : []) });

describe('route matching', () => {
  const table = RouteTable.build([
    { id: 'root', pathPrefix: '/', upstreams: up },
    { id: 'api', pathPrefix: '/api', upstreams: up },
    { id: 'api-v2', pathPrefix: '/api/v2', upstreams: up },
    { id: 'wild', host: '*.example.com', pathPrefix: '/api', upstreams: up },
    { id: 'exact', host: 'a.example.com', pathPrefix: '/', upstreams: up },
    { id: 'post-only', pathPrefix: '/api', methods: ['POST'], upstreams: up },
    { id: 'canary', pathPrefix: '/api', headers: { 'x-env': 'canary' }, upstreams: up },
  ] as RouteSpec[], 1);
  const id = (m: MatchInput) => table.match(m)?.id;

  it('picks the longest path prefix on a segment boundary', () => {
    expect(id(req('h', '/api/v2/x'))).toBe('api-v2');
    expect(id(req('h', '/api/v3'))).toBe('api');
    expect(id(req('h', '/api'))).toBe('api');
    expect(id(req('h', '/apix'))).toBe('root');
  });
  it('prefers exact hosts over wildcards over any host; wildcards match subdomains only', () => {
    expect(id(req('a.example.com', '/api/x'))).toBe('exact');
    expect(id(req('b.example.com', '/api/x'))).toBe('wild');
    expect(id(req('example.com', '/api/x'))).toBe('api');
    expect(id(req('x.b.example.com', '/api'))).toBe('wild');
  });
  it('puts method and header conditions before unconditional routes of the same prefix', () => {
    expect(id(req('h', '/api/x', 'POST'))).toBe('post-only');
    expect(id(req('h', '/api/x', 'GET', { 'x-env': 'canary' }))).toBe('canary');
    expect(id(req('h', '/api/x', 'GET', { 'x-env': 'prod' }))).toBe('api');
  });
  it('returns undefined when nothing matches', () => {
    const t = RouteTable.build([{ id: 'a', host: 'x.test', pathPrefix: '/a', upstreams: up }], 1);
    expect(t.match(req('y.test', '/a'))).toBeUndefined();
    expect(t.match(req('x.test', '/b'))).toBeUndefined();
  });
});

describe('route table building', () => {
  it('rejects duplicate ids with a JSON pointer to the field', () => {
    try {
      RouteTable.build([{ id: 'a', pathPrefix: '/a', upstreams: up }, { id: 'a', pathPrefix: '/b', upstreams: up }], 1);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ProxyError);
      expect((e as ProxyError).code).toBe('PRX_ERR_DUPLICATE_ROUTE');
      expect((e as ProxyError).path).toBe('/routes/1/id');
    }
  });
  it('rejects two routes that match exactly the same requests', () => {
    expect(() => RouteTable.build([{ id: 'a', pathPrefix: '/a', upstreams: up }, { id: 'b', pathPrefix: '/a', upstreams: up }], 1)).toThrow(/same requests/);
  });
  it('rejects bad upstream URLs naming the upstream', () => {
    for (const bad of ['gopher://x.test', 'ftp://x', 'http://u:p@x.test', 'http://x.test/?q', 'not a url']) {
      try {
        RouteTable.build([{ id: 'a', pathPrefix: '/', upstreams: ['http://ok.test', bad] }], 1);
        expect.unreachable(bad);
      } catch (e) {
        expect((e as ProxyError).code).toBe('PRX_ERR_BAD_UPSTREAM_URL');
        expect((e as ProxyError).path).toBe('/routes/0/upstreams/1');
      }
    }
  });
  it('accepts only upstream URLs a strict parser and a person read the same way', () => {
    const refused: Array<[string, RegExp]> = [
      ['http://127.0.0.1:9/x HTTP/1.1\r\nHost: a\r\n\r\nGET /smuggled', /U\+000D|space/],
      ['http://127.0.0.1:9/x y', /a space at position 20/],
      ['http://127.0.0.1:9/x\ty', /U\+0009/],
      ['http://127.0.0.1:9/caf\u00e9', /U\+00E9/],
      ['http:/127.0.0.1:9', /expected "http:\/\/"/],
      ['http:127.0.0.1:9', /expected "http:\/\/"/],
      ['http://0/', /reads as a number/],
      ['http://127.1:8080', /reads as a number/],
      ['http://0x7f.0.0.1/', /reads as a number/],
      ['http://0.0.0.0:80/', /unspecified/],
      ['http://[::]:80/', /unspecified/],
      ['http://127.0.0.1:0/', /port "0" is out of range/],
      ['http://127.0.0.1:65536/', /out of range/],
      ['http://127.0.0.1:/', /out of range/],
      ['http://evil.example\\@127.0.0.1/', /userinfo/],
      ['http://evil.example\\.127.0.0.1/', /backslash/],
      ['http://u@127.0.0.1/', /userinfo/],
      ['http://[::1/', /not host\[:port\]|IPv6/],
      ['http://[fe80::1%25eth0]/', /IPv6/],
      ['http://ex ample.test/', /space/],
      ['http://ex_ample..test/', /not a host name/],
      ['localhost:3000', /did you mean "http:\/\/localhost:3000"/],
      ['http://127.0.0.1:9/a%zz', /percent-encoded/],
      ['http://127.0.0.1:9/a"b', /not allowed in a request path/],
      ['http://127.0.0.1:9/a<b>', /not allowed in a request path/],
      ['http://127.0.0.1:9/base/../admin', /dot segment/],
      ['http://127.0.0.1:9/base/%2e%2E/admin', /dot segment/],
      ['http://127.0.0.1:9/base/..', /dot segment/],
      ['http://127.0.0.1:9/./x', /dot segment/],
      ['http://127.0.0.1:9/base/%2E/x', /dot segment/],
    ];
    for (const [url, why] of refused) {
      expect(() => parseOriginUrl(url), JSON.stringify(url)).toThrow(why);
    }
    expect(parseOriginUrl('HTTP://API.Example.Test.:8080/v1;x=1/a..b/~u/%2e%2ex')).toEqual(
      { host: 'api.example.test.', port: 8080, authority: 'api.example.test.:8080', basePath: '/v1;x=1/a..b/~u/%2e%2ex' });
    expect(parseOriginUrl('http://my_service:3000')).toMatchObject({ host: 'my_service', port: 3000 });
    expect(parseOriginUrl('http://127.0.0.1:65535//a/')).toMatchObject({ port: 65535, basePath: '//a' });
  });
  it('refuses a rewritePrefix that is not a clean absolute path (dot segments, bad characters)', () => {
    for (const rewritePrefix of ['/v2/..', '/v2/%2E%2e', '/./v2', '/a b', '/a%2', 'v2']) {
      try {
        RouteTable.build([{ id: 'a', pathPrefix: '/', upstreams: up, rewritePrefix }], 1);
        expect.unreachable(rewritePrefix);
      } catch (e) {
        expect((e as ProxyError).code, rewritePrefix).toBe('PRX_ERR_BAD_ROUTE');
        expect((e as ProxyError).path).toBe('/routes/0/rewritePrefix');
      }
    }
    expect(RouteTable.build([{ id: 'a', pathPrefix: '/', upstreams: up, rewritePrefix: '' }], 1).routes).toHaveLength(1);
    expect(RouteTable.build([{ id: 'a', pathPrefix: '/', upstreams: up, rewritePrefix: '/v2/..x' }], 1).routes).toHaveLength(1);
  });
  it('keeps compiled routes (and their balancer state) for unchanged specs across revisions', () => {
    const specs: RouteSpec[] = [{ id: 'a', pathPrefix: '/a', upstreams: up }, { id: 'b', pathPrefix: '/b', upstreams: up }];
    const t1 = RouteTable.build(specs, 1);
    const t2 = RouteTable.next(t1, [specs[0], { ...specs[1], stripPrefix: true }], 2);
    expect(t2.get('a')).toBe(t1.get('a'));
    expect(t2.get('b')).not.toBe(t1.get('b'));
    expect(Object.isFrozen(t2)).toBe(true);
  });
  it('swaps tables in one step and tells listeners', () => {
    const h = new RouteTableHolder();
    const seen: number[] = [];
    h.onReplace((n, p) => seen.push(p.revision, n.revision));
    const t = RouteTable.build([{ id: 'a', pathPrefix: '/', upstreams: up }], 7);
    const before = h.current;
    h.replace(t);
    expect(before.routes).toHaveLength(0); // the old snapshot is untouched
    expect(h.current).toBe(t);
    expect(seen).toEqual([0, 7]);
  });
});

describe('path mapping (ReverseProxyResource host, port, path)', () => {
  it('prefixes the base path and keeps the query byte-exact', () => {
    expect(mapPath('/x', '?a=%2F&b', { prefix: '/', basePath: '/base', strip: false, rewrite: undefined })).toBe('/base/x?a=%2F&b');
    expect(mapPath('/', '', { prefix: '/', basePath: '', strip: false, rewrite: undefined })).toBe('/');
    expect(mapPath('/', '', { prefix: '/', basePath: '/base', strip: false, rewrite: undefined })).toBe('/base/');
  });
  it('strips or rewrites the matched prefix', () => {
    expect(mapPath('/api', '', { prefix: '/api', basePath: '/base', strip: true, rewrite: undefined })).toBe('/base');
    expect(mapPath('/api/', '', { prefix: '/api', basePath: '/base', strip: true, rewrite: undefined })).toBe('/base/');
    expect(mapPath('/api/v1/x', '?q', { prefix: '/api', basePath: '/base', strip: true, rewrite: undefined })).toBe('/base/v1/x?q');
    expect(mapPath('/api/v1/x', '', { prefix: '/api', basePath: '', strip: true, rewrite: undefined })).toBe('/v1/x');
    expect(mapPath('/api', '', { prefix: '/api', basePath: '', strip: true, rewrite: undefined })).toBe('/');
    expect(mapPath('/api/x', '', { prefix: '/api', basePath: '', strip: true, rewrite: '/v2' })).toBe('/v2/x');
  });
  it('never decodes or re-encodes', () => {
    expect(mapPath('/a%20b/c%2Fd/e+f;g', '?x=1', { prefix: '/', basePath: '', strip: false, rewrite: undefined })).toBe('/a%20b/c%2Fd/e+f;g?x=1');
    expect(mapPath('/x//y', '', { prefix: '/', basePath: '/base', strip: false, rewrite: undefined })).toBe('/base/x//y');
  });
  it('detects dot-dot segments, literal or percent-encoded', () => {
    for (const p of ['/..', '/a/../b', '/%2e%2e/x', '/%2E./x', '/.%2e']) expect(hasDotDotSegment(p)).toBe(true);
    for (const p of ['/a..b', '/...', '/.x', '/a/./b', '/%2e']) expect(hasDotDotSegment(p)).toBe(false);
  });
  it('matches prefixes on segment boundaries', () => {
    expect(prefixMatches('/api/x', '/api')).toBe(true);
    expect(prefixMatches('/apix', '/api')).toBe(false);
    expect(prefixMatches('/api/x', '/api/')).toBe(true);
  });
  it('parses upstream URLs into host, port, authority and raw base path', () => {
    expect(parseOriginUrl('http://127.0.0.1:8081/base/')).toEqual({ host: '127.0.0.1', port: 8081, authority: '127.0.0.1:8081', basePath: '/base' });
    expect(parseOriginUrl('http://[::1]:81')).toEqual({ host: '::1', port: 81, authority: '[::1]:81', basePath: '' });
    expect(parseOriginUrl('http://example.test/a%2Fb')).toEqual({ host: 'example.test', port: 80, authority: 'example.test', basePath: '/a%2Fb' });
  });
});

describe('origin health state', () => {
  const routes = (...origins: string[]): RouteSpec[] => origins.map((o, i) => ({ id: `r${i}`, pathPrefix: `/${i}`, upstreams: [o] }));

  it('belongs to each proxy, carries over route changes and is pruned with the table', async () => {
    const a = await startProxy({ routes: routes('http://a.test', 'http://b.test') });
    const b = await startProxy({ routes: routes('http://a.test') });
    try {
      const healthA = a.proxy.routes.current.health;
      expect(healthA).not.toBe(b.proxy.routes.current.health);
      const ejected = a.proxy.routes.current.routes[0].balancer.targets[0].health;
      ejected.failed({ ...builtInPolicy().outlier, consecutiveFailures: 1, baseEjectionMs: 60_000 }, performance.now(), 'test', true);
      // the other proxy's view of the same origin is its own
      expect(b.proxy.routes.current.routes[0].balancer.targets[0].health).not.toBe(ejected);
      a.proxy.applyRoutes(routes('http://a.test'));
      expect(a.proxy.routes.current.health).toBe(healthA);
      expect(healthA.size).toBe(1);
      // an unrelated change keeps the ejection
      a.proxy.applyRoutes([...routes('http://a.test'), { id: 'other', pathPrefix: '/o', upstreams: ['http://c.test'] }]);
      expect(a.proxy.routes.current.routes[0].balancer.targets[0].health).toBe(ejected);
      expect(healthA.size).toBe(2);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
