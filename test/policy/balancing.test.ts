// Load balancing, outlier ejection, slow start and panic mode (issue 20): the Balancer and
// OriginHealth on their own with chosen times, and through a real proxy with real origins.
import { describe, it, expect } from 'vitest';
import http from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Balancer, type Target } from '../../src/upstream/balancer.js';
import { OriginHealth } from '../../src/upstream/origin-health.js';
import { builtInPolicy, mergePolicy } from '../../src/upstream/policy.js';
import { RouteTable } from '../../src/routing/route-table.js';
import { httpGet, request, startHttpOrigin, startProxy, useCleanups, type Started } from '../helpers/harness.js';

const cleanups = useCleanups();
const policy = builtInPolicy();

function targets(n: number, weights: number[] = []): Target[] {
  return Array.from({ length: n }, (_, i) => ({
    origin: { host: '127.0.0.1', port: 1000 + i, authority: `127.0.0.1:${1000 + i}`, basePath: '' },
    weight: weights[i] ?? 1,
    health: new OriginHealth(`u${i}`),
    active: undefined,
    hash: 0x9e3779b1 * (i + 1) >>> 0,
  }));
}

const count = (picks: Target[], all: Target[]) => all.map((t) => picks.filter((p) => p === t).length);

describe('outlier ejection', () => {
  const outlier = { ...policy.outlier, consecutiveFailures: 2, baseEjectionMs: 1000, maxEjectionMs: 5000 };

  it('ejects after consecutiveFailures, for a base time that doubles on repeat ejections, up to the maximum, and decays', () => {
    const h = new OriginHealth('a');
    expect(h.failed(outlier, 0, 'x', true)).toBe(false);
    expect(h.failed(outlier, 0, 'x', true)).toBe(true);
    expect(h.ejectedUntil).toBe(1000);
    expect(h.passing(999)).toBe(false);
    expect(h.passing(1000)).toBe(true);
    // back, fails again at once: 2 s
    h.failed(outlier, 1000, 'x', true);
    expect(h.failed(outlier, 1000, 'x', true)).toBe(true);
    expect(h.ejectedUntil).toBe(3000);
    h.failed(outlier, 3000, 'x', true);
    h.failed(outlier, 3000, 'x', true);
    expect(h.ejectedUntil).toBe(7000); // 4 s
    h.failed(outlier, 7000, 'x', true);
    h.failed(outlier, 7000, 'x', true);
    expect(h.ejectedUntil).toBe(12000); // capped at 5 s
    // a long healthy spell forgives the repeats
    h.failed(outlier, 112000, 'x', true);
    h.failed(outlier, 112000, 'x', true);
    expect(h.ejectedUntil).toBe(113000);
  });

  it('an ejected upstream that answers (a retry tried it) is back at once', () => {
    const h = new OriginHealth('a');
    h.failed(outlier, 0, 'x', true);
    h.failed(outlier, 0, 'x', true);
    expect(h.passing(10)).toBe(false);
    h.ok(10);
    expect(h.passing(10)).toBe(true);
    expect(h.availableSince).toBe(10);
  });

  it('a success resets the count of consecutive failures; mayEject false never ejects', () => {
    const h = new OriginHealth('a');
    h.failed(outlier, 0, 'x', true);
    h.ok(0);
    expect(h.failed(outlier, 0, 'x', true)).toBe(false);
    expect(h.failed(outlier, 0, 'x', false)).toBe(false);
    expect(h.passing(0)).toBe(true);
  });
});

describe('the balancer', () => {
  it('round robin follows the weights and skips an ejected upstream; all ejected is panic mode', () => {
    const t = targets(3, [3, 1, 1]);
    const b = new Balancer(t, policy.loadBalancing);
    const picks = Array.from({ length: 50 }, () => b.pick(0, undefined, null)!);
    expect(count(picks, t)).toEqual([30, 10, 10]);
    t[0].health.ejectedUntil = 100;
    const without = Array.from({ length: 10 }, () => b.pick(0, undefined, null)!);
    expect(count(without, t)).toEqual([0, 5, 5]);
    expect(b.panic).toBe(false);
    for (const x of t) x.health.ejectedUntil = 100;
    b.pick(0, undefined, null);
    expect(b.panic).toBe(true);
    expect(b.panicStarted).toBe(true);
    b.pick(0, undefined, null);
    expect(b.panicStarted).toBe(false); // logged once per spell
    expect(b.pick(100, undefined, null)).toBeDefined();
    expect(b.panic).toBe(false);
  });

  it('a retry never goes to an upstream already tried while another is available, then to an unavailable untried one, then nowhere', () => {
    const t = targets(3);
    const b = new Balancer(t, policy.loadBalancing);
    t[2].health.ejectedUntil = 100;
    expect(b.retry(0, [t[0]], undefined, null)).toBe(t[1]);
    expect(b.retry(0, [t[0], t[1]], undefined, null)).toBe(t[2]); // ejected, but untried
    expect(b.retry(0, t, undefined, null)).toBeUndefined();
  });

  it('least-request sends new requests away from an upstream with requests piling up', () => {
    const t = targets(2);
    const b = new Balancer(t, mergePolicy(policy, { loadBalancing: { algorithm: 'least-request' } }).loadBalancing);
    t[0].health.outstanding = 20;
    const picks = Array.from({ length: 100 }, () => b.pick(0, undefined, null)!);
    expect(count(picks, t)).toEqual([0, 100]);
    t[0].health.outstanding = 0;
    const even = Array.from({ length: 200 }, () => { const x = b.pick(0, undefined, null)!; return x; });
    expect(count(even, t)[0]).toBeGreaterThan(40);
  });

  it('consistent hashing: a key always lands on the same upstream, keys spread, and only a removed upstream\'s keys move', () => {
    const lb = mergePolicy(policy, { loadBalancing: { algorithm: 'consistent-hash', hashOn: { header: 'x-user' } } }).loadBalancing;
    const t = targets(4);
    const b = new Balancer(t, lb);
    const keys = Array.from({ length: 400 }, (_, i) => `user-${i}`);
    const first = keys.map((k) => b.pick(0, k, null)!);
    expect(keys.map((k) => b.pick(0, k, null)!)).toEqual(first);
    for (const n of count(first, t)) expect(n).toBeGreaterThan(50);
    // the same upstream list in another balancer (another worker, another table): same choices
    const again = new Balancer(targets(4), lb);
    expect(keys.map((k) => again.pick(0, k, null)!.origin.port)).toEqual(first.map((x) => x.origin.port));
    // an upstream out: only its keys move
    t[1].health.ejectedUntil = 10;
    const after = keys.map((k) => b.pick(0, k, null)!);
    keys.forEach((_, i) => { if (first[i] !== t[1]) expect(after[i]).toBe(first[i]); else expect(after[i]).not.toBe(t[1]); });
  });

  it('slow start: an upstream back from an ejection ramps from 10% to its full weight over slowStartMs', () => {
    const t = targets(2);
    const b = new Balancer(t, mergePolicy(policy, { loadBalancing: { slowStartMs: 1000 } }).loadBalancing);
    t[1].health.failed({ ...policy.outlier, consecutiveFailures: 1, baseEjectionMs: 500 }, 0, 'x', true);
    const share = (now: number) => count(Array.from({ length: 1000 }, () => b.pick(now, undefined, null)!), t)[1] / 1000;
    expect(share(100)).toBe(0); // ejected
    expect(share(500)).toBeCloseTo(0.1 / 1.1, 1); // back: 10%
    expect(share(1000)).toBeCloseTo(0.5 / 1.5, 1); // halfway
    expect(share(1500)).toBeCloseTo(0.5, 1); // full weight
  });

  it('an upstream added by a route change ramps from its first use; the first table\'s do not', () => {
    const specs = [{ id: 'r', pathPrefix: '/', upstreams: ['http://a.test'], policy: { loadBalancing: { slowStartMs: 1000 } } }];
    const t1 = RouteTable.build(specs, 1);
    expect(t1.routes[0].balancer.targets[0].health.availableSince).toBe(0);
    const t2 = RouteTable.next(t1, [{ ...specs[0], upstreams: ['http://a.test', 'http://b.test'] }], 2);
    const [a, b] = t2.routes[0].balancer.targets;
    expect(a.health.availableSince).toBe(0);
    expect(b.health.availableSince).toBe(-1);
    t2.routes[0].balancer.pick(5000, undefined, null);
    expect(b.health.availableSince).toBe(5000);
  });
});

describe('policy per route over the global one', () => {
  it('merges field by field: the route\'s value wins, else the global, else the built-in default', () => {
    const table = RouteTable.build([
      { id: 'plain', pathPrefix: '/p', upstreams: ['http://a.test'] },
      { id: 'own', pathPrefix: '/o', upstreams: ['http://a.test'], policy: { retries: { maxTries: 5 }, loadBalancing: { algorithm: 'least-request' } } },
    ], 1, mergePolicy(builtInPolicy(), { retries: { onStatus: [503] }, timeouts: { connectMs: 2000 } }));
    const plain = table.get('plain')!.policy;
    const own = table.get('own')!.policy;
    expect(plain.retries).toMatchObject({ maxTries: 3, onStatus: [503] });
    expect(own.retries).toMatchObject({ maxTries: 5, onStatus: [503], budgetPercent: 20 });
    expect(own.timeouts.connectMs).toBe(2000);
    expect(own.loadBalancing.algorithm).toBe('least-request');
    expect(plain.loadBalancing.algorithm).toBe('round-robin');
  });

  it('consistent-hash without hashOn is refused naming the member', () => {
    expect(() => RouteTable.build([{ id: 'h', pathPrefix: '/', upstreams: ['http://a.test'], policy: { loadBalancing: { algorithm: 'consistent-hash' } } }], 1))
      .toThrow(/needs loadBalancing.hashOn/);
  });
});

describe('through the proxy', () => {
  async function named(name: string, delayMs = 0) {
    let hits = 0;
    const o = await startHttpOrigin((req, res) => { hits++; req.resume(); setTimeout(() => res.end(name), delayMs); });
    cleanups.push(() => o.close());
    return { url: `http://127.0.0.1:${o.port}`, hits: () => hits };
  }

  async function proxy(upstreams: string[], policy: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Started> {
    const p = await startProxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams, policy }], ...extra });
    cleanups.push(() => p.proxy.close(0));
    return p;
  }

  it('least-request: an upstream 200 ms slower gets a small share of concurrent traffic', async () => {
    const fast = await named('fast');
    const slow = await named('slow', 200);
    const p = await proxy([fast.url, slow.url], { loadBalancing: { algorithm: 'least-request' } });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    cleanups.push(() => agent.destroy());
    const deadline = Date.now() + 1500;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (Date.now() < deadline) expect((await httpGet(p.port, '/', agent)).status).toBe(200);
    }));
    const share = slow.hits() / (slow.hits() + fast.hits());
    expect(share).toBeLessThan(0.1);
  });

  it('consistent hashing on a header, a cookie and the client address: the same key, the same upstream, across a change to another route', async () => {
    const a = await named('a');
    const b = await named('b');
    const c = await named('c');
    const ups = [a.url, b.url, c.url];
    const p = await startProxy({ routes: [
      { id: 'h', pathPrefix: '/h', upstreams: ups, policy: { loadBalancing: { algorithm: 'consistent-hash', hashOn: { header: 'x-user' } } } },
      { id: 'k', pathPrefix: '/k', upstreams: ups, policy: { loadBalancing: { algorithm: 'consistent-hash', hashOn: { cookie: 'sid' } } } },
      { id: 'ip', pathPrefix: '/ip', upstreams: ups, policy: { loadBalancing: { algorithm: 'consistent-hash', hashOn: { clientAddress: true } } } },
    ] });
    cleanups.push(() => p.proxy.close(0));
    const ask = async (path: string, fields: string) => (await request(p.port, `GET ${path} HTTP/1.1\r\nHost: t\r\n${fields}\r\n`)).body.toString();
    const byUser = new Map<string, string>();
    for (let i = 0; i < 30; i++) byUser.set(`u${i}`, await ask('/h', `X-User: u${i}\r\n`));
    expect(new Set(byUser.values()).size).toBe(3);
    p.proxy.applyRoutes([...p.proxy.routes.current.routes.map((r) => r.spec), { id: 'other', pathPrefix: '/o', upstreams: [a.url] }]);
    for (const [u, where] of byUser) expect(await ask('/h', `X-User: ${u}\r\n`)).toBe(where);
    const bySid = await ask('/k', 'Cookie: theme=dark; sid=abc123\r\n');
    for (let i = 0; i < 5; i++) expect(await ask('/k', 'Cookie: sid=abc123\r\n')).toBe(bySid);
    const byIp = await ask('/ip', '');
    for (let i = 0; i < 5; i++) expect(await ask('/ip', '')).toBe(byIp);
  });

  it('panic mode: every upstream ejected, requests still go to them, and a warning says so once', async () => {
    const a = await named('a');
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({ write(chunk: Buffer, _e, done) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); done(); } });
    const p = await startProxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams: [a.url] }] }, { logger: pino({ level: 'warn' }, sink) });
    cleanups.push(() => p.proxy.close(0));
    p.proxy.routes.current.routes[0].balancer.targets[0].health.ejectedUntil = Infinity;
    for (let i = 0; i < 3; i++) expect((await request(p.port, 'GET / HTTP/1.1\r\nHost: t\r\n\r\n')).status).toBe(200);
    expect(lines.filter((l) => /panic mode/.test(String(l.msg)))).toHaveLength(1);
  });
});
