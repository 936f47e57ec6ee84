// Retries to another upstream (issue 20, src/dispatch/dispatcher.ts Dispatcher#retry and the
// tries of src/relay/exchange.ts), with real origins on loopback that refuse, reset, hang or
// answer 503, and a real proxy in front of them.
import { describe, it, expect } from 'vitest';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { deadPort, header, request, startHttpOrigin, startProxy, useCleanups, type Started } from '../helpers/harness.js';

const cleanups = useCleanups();

/** An origin that reads each request head and closes the connection without a response (a
 *  backend killed mid-request); counts the requests it saw, by method. */
async function resettingOrigin() {
  const seen: string[] = [];
  const server = net.createServer((s) => {
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      seen.push(buf.slice(0, buf.indexOf(' ')));
      s.destroy();
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, seen };
}

/** An origin that never answers (reads and holds). */
async function hangingOrigin() {
  const sockets: net.Socket[] = [];
  let seen = 0;
  const server = net.createServer((s) => { sockets.push(s); s.on('data', () => { seen++; }); s.on('error', () => {}); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, seen: () => seen };
}

/** A node:http origin answering `name`, `status`; it hashes the body it received. */
async function origin(name: string, status = 200) {
  const seen: Array<{ method: string; bytes: number; sha: string }> = [];
  const o = await startHttpOrigin((req, res) => {
    const h = createHash('sha256');
    let bytes = 0;
    req.on('data', (d: Buffer) => { h.update(d); bytes += d.length; });
    req.on('end', () => {
      const sha = h.digest('hex');
      seen.push({ method: req.method!, bytes, sha });
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(`${name} ${bytes} ${sha}`);
    });
  });
  cleanups.push(() => o.close());
  return { url: `http://127.0.0.1:${o.port}`, seen };
}

async function proxy(upstreams: string[], policy: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<Started> {
  const p = await startProxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams, policy }], ...extra });
  cleanups.push(() => p.proxy.close(0));
  return p;
}

const get = (port: number, path = '/x') => request(port, `GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`);
const withBody = (method: string, body: Buffer, fields = '') => Buffer.concat([Buffer.from(`${method} /x HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n${fields}\r\n`, 'latin1'), body]);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('retries to another upstream', () => {
  it('a GET whose connection closes before any response byte is retried on the other upstream; a POST is not, and reached an origin once', async () => {
    const bad = await resettingOrigin();
    const good = await origin('good');
    // round robin starts at the first upstream: every first try goes to `bad`... until it is
    // ejected (3 consecutive failures by default); keep it in by a high threshold
    const p = await proxy([bad.url, good.url], { outlier: { consecutiveFailures: 1000 } });
    const retried: string[] = [];
    p.proxy.addObserver({ retried: (route, reason) => retried.push(`${route} ${reason}`) });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(p.port)).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    expect(retried.length).toBe(bad.seen.length);
    expect(retried.every((r) => r === 'r reset')).toBe(true);

    // a POST: the first try that goes to `bad` fails (502), never sent twice
    const posts: number[] = [];
    for (let i = 0; i < 4; i++) posts.push((await request(p.port, withBody('POST', Buffer.from('once')), 'POST')).status);
    const badPosts = bad.seen.filter((m) => m === 'POST').length;
    const goodPosts = good.seen.filter((s) => s.method === 'POST').length;
    expect(badPosts).toBeGreaterThan(0);
    expect(posts.filter((s) => s === 502)).toHaveLength(badPosts);
    expect(badPosts + goodPosts).toBe(4);
  });

  it('with retries.idempotencyKey, a POST carrying Idempotency-Key is retried; without the opt-in it is not', async () => {
    const bad = await resettingOrigin();
    const good = await origin('good');
    const body = Buffer.from('pay 10');
    /** Four POSTs; how many failed, and how many reached `bad` (round robin sends some there). */
    const posts = async (port: number, fields: string) => {
      const before = bad.seen.length;
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await request(port, withBody('POST', body, fields), 'POST')).status);
      return { failed: statuses.filter((st) => st === 502).length, atBad: bad.seen.length - before };
    };
    const off = await proxy([bad.url, good.url], { outlier: { consecutiveFailures: 1000 } });
    const keyedOff = await posts(off.port, 'Idempotency-Key: k1\r\n');
    expect(keyedOff.atBad).toBeGreaterThan(0);
    expect(keyedOff.failed).toBe(keyedOff.atBad);
    const on = await proxy([bad.url, good.url], { outlier: { consecutiveFailures: 1000 }, retries: { idempotencyKey: true } });
    const keyedOn = await posts(on.port, 'Idempotency-Key: k2\r\n');
    expect(keyedOn.atBad).toBeGreaterThan(0);
    expect(keyedOn.failed).toBe(0);
    for (const s of good.seen.filter((x) => x.method === 'POST')) expect(s.sha).toBe(sha(body));
    // without the key, still not retried
    const plain = await posts(on.port, '');
    expect(plain.atBad).toBeGreaterThan(0);
    expect(plain.failed).toBe(plain.atBad);
  });

  it('retries.onStatus: an idempotent request answered 503 goes to the next upstream; a POST gets the 503; by default a 503 is relayed', async () => {
    const busy = await origin('busy', 503);
    const good = await origin('good');
    const relayed = await proxy([busy.url, good.url], { outlier: { consecutiveFailures: 1000 } });
    expect((await get(relayed.port)).status).toBe(503);
    const p = await proxy([busy.url, good.url], { retries: { onStatus: [503] }, outlier: { consecutiveFailures: 1000 } });
    for (let i = 0; i < 4; i++) {
      const r = await get(p.port);
      expect(r.status).toBe(200);
      expect(r.body.toString()).toMatch(/^good /);
    }
    const posts: number[] = [];
    for (let i = 0; i < 4; i++) posts.push((await request(p.port, withBody('POST', Buffer.from('x')), 'POST')).status);
    expect(posts.filter((s) => s === 503).length).toBeGreaterThan(0);
    expect(posts.every((s) => s === 503 || s === 200)).toBe(true);
  });

  it('a request body up to retries.maxBodyBytes is replayed byte-exact on the next try; a larger one is not retried once sent', async () => {
    const bad = await resettingOrigin();
    const good = await origin('good');
    const p = await proxy([bad.url, good.url], { outlier: { consecutiveFailures: 1000 }, retries: { maxBodyBytes: 65536 } });
    const small = Buffer.alloc(60_000, 7);
    small.write('start-of-body');
    // the first PUT's first try goes to `bad` (round robin): retried with its body
    const r = await request(p.port, withBody('PUT', small), 'PUT');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(`good ${small.length} ${sha(small)}`);
    // chunked, too
    const chunked = Buffer.from(`PUT /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`, 'latin1');
    const c = await request(p.port, chunked, 'PUT');
    expect(c.status).toBe(200);
    expect(c.body.toString()).toBe(`good 11 ${sha(Buffer.from('hello world'))}`);
    // a body over the limit went to `bad` first (every other request does): not replayable
    const big = Buffer.alloc(200_000, 9);
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) statuses.push((await request(p.port, withBody('PUT', big), 'PUT', 10_000)).status);
    expect(statuses.sort()).toEqual([200, 502]);
    const bigAtGood = good.seen.filter((s) => s.bytes === big.length);
    expect(bigAtGood).toHaveLength(1);
    expect(bigAtGood[0].sha).toBe(sha(big));
  });

  it('never once a response byte reached the client: a 100 Continue was relayed, then the upstream closed', async () => {
    let tries = 0;
    const server = net.createServer((s) => {
      s.on('data', (d: Buffer) => {
        if (!d.toString('latin1').includes('\r\n\r\n')) return;
        tries++;
        s.write('HTTP/1.1 100 Continue\r\n\r\n', () => s.destroy());
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const good = await origin('good');
    const p = await proxy([url, good.url], { outlier: { consecutiveFailures: 1000 } });
    const r = await request(p.port, 'PUT /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n', 'PUT');
    expect(r.client.interim.map((i) => i.status)).toEqual([100]);
    expect(r.status).toBe(502);
    expect(tries).toBe(1);
    expect(good.seen).toHaveLength(0);
  });

  it('retries.maxTries bounds the tries; 1 turns retries off', async () => {
    const a = await resettingOrigin();
    const b = await resettingOrigin();
    const c = await resettingOrigin();
    const three = await proxy([a.url, b.url, c.url], { outlier: { consecutiveFailures: 1000 } });
    expect((await get(three.port)).status).toBe(502);
    expect([a.seen.length, b.seen.length, c.seen.length]).toEqual([1, 1, 1]);
    const two = await proxy([a.url, b.url, c.url], { outlier: { consecutiveFailures: 1000 }, retries: { maxTries: 2 } });
    expect((await get(two.port)).status).toBe(502);
    expect(a.seen.length + b.seen.length + c.seen.length).toBe(5);
    const one = await proxy([a.url, b.url, c.url], { outlier: { consecutiveFailures: 1000 }, retries: { maxTries: 1 } });
    expect((await get(one.port)).status).toBe(502);
    expect(a.seen.length + b.seen.length + c.seen.length).toBe(6);
  });

  it('the retry budget: past it a failure is answered, and the refusal is counted', async () => {
    const bad = await resettingOrigin();
    const good = await origin('good');
    const p = await proxy([bad.url, good.url], { outlier: { consecutiveFailures: 1000 }, retries: { budgetPercent: 0, budgetMinPerSecond: 0 } });
    let refused = 0;
    p.proxy.addObserver({ retryBudgetExhausted: () => { refused++; } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(p.port)).status);
    expect(statuses.filter((s) => s === 502)).toHaveLength(bad.seen.length);
    expect(refused).toBe(bad.seen.length);
    expect(refused).toBeGreaterThan(0);
  });

  it('a connect failure is retried whatever the method (nothing was sent)', async () => {
    const dead = await deadPort();
    const good = await origin('good');
    const p = await proxy([`http://127.0.0.1:${dead}`, good.url], { outlier: { consecutiveFailures: 1000 } });
    for (let i = 0; i < 4; i++) {
      const r = await request(p.port, withBody('POST', Buffer.from(`post ${i}`)), 'POST');
      expect(r.status).toBe(200);
    }
    expect(good.seen.filter((s) => s.method === 'POST')).toHaveLength(4);
  });

  it('a per-try timeout moves an idempotent request on from an upstream that does not answer', async () => {
    const slow = await hangingOrigin();
    const good = await origin('good');
    const p = await proxy([slow.url, good.url], { outlier: { consecutiveFailures: 1000 }, retries: { perTryTimeoutMs: 150 } });
    for (let i = 0; i < 2; i++) expect((await get(p.port)).status).toBe(200);
    expect(slow.seen()).toBeGreaterThan(0);
  });

  it('the whole-request deadline answers 504 when no try finishes in time', async () => {
    const a = await hangingOrigin();
    const b = await hangingOrigin();
    const p = await proxy([a.url, b.url], { timeouts: { requestMs: 300 } });
    const r = await get(p.port);
    expect(r.status).toBe(504);
    expect(r.body.toString()).toMatch(/whole-request deadline \(300 ms\).*PRX_ERR_UPSTREAM_TIMEOUT/);
  });

  it('the access log line names every failed try', async () => {
    const bad = await resettingOrigin();
    const good = await origin('good');
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({ write(chunk: Buffer, _e, done) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); done(); } });
    const p = await startProxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams: [bad.url, good.url], policy: { outlier: { consecutiveFailures: 1000 } } }] }, { logger: pino({ level: 'info' }, sink) });
    cleanups.push(() => p.proxy.close(0));
    expect((await get(p.port)).status).toBe(200);
    const line = lines.find((l) => l.msg === 'request')!;
    expect(line.retried).toEqual([`${bad.url.slice(7)} reset`]);
    expect(line.upstream).toBe(good.url.slice(7));
  });
});

describe('upstream limits', () => {
  it('maxConcurrentPerUpstream with a bounded queue: one waits and is served, the next gets 503 with Retry-After; nothing is sent twice', async () => {
    let seen = 0;
    const release: Array<() => void> = [];
    const slow = await startHttpOrigin((req, res) => { seen++; req.resume(); release.push(() => res.end('ok')); });
    cleanups.push(() => slow.close());
    const p = await proxy([`http://127.0.0.1:${slow.port}`], { limits: { maxConcurrentPerUpstream: 1, maxQueue: 1, queueTimeoutMs: 10_000 } });
    let overloaded = 0;
    p.proxy.addObserver({ overloaded: () => { overloaded++; } });
    const first = get(p.port, '/1');
    while (seen < 1) await new Promise((r) => setTimeout(r, 10));
    const second = get(p.port, '/2');
    await new Promise((r) => setTimeout(r, 100));
    const third = await get(p.port, '/3');
    expect(third.status).toBe(503);
    expect(header(third, 'retry-after')).toEqual(['1']);
    expect(third.body.toString()).toMatch(/PRX_ERR_OVERLOADED/);
    expect(seen).toBe(1); // the second waits in the queue
    release.shift()!();
    expect((await first).status).toBe(200);
    while (seen < 2) await new Promise((r) => setTimeout(r, 10));
    release.shift()!();
    expect((await second).status).toBe(200);
    expect(seen).toBe(2);
    expect(overloaded).toBe(1);
  });

  it('a queued request that waits past queueTimeoutMs gets 503; its client never reaches the origin', async () => {
    let seen = 0;
    const hold: Array<() => void> = [];
    const slow = await startHttpOrigin((req, res) => { seen++; req.resume(); hold.push(() => res.end('ok')); });
    cleanups.push(() => slow.close());
    const p = await proxy([`http://127.0.0.1:${slow.port}`], { limits: { maxConcurrentPerUpstream: 1, queueTimeoutMs: 200 } });
    const first = get(p.port, '/1');
    while (seen < 1) await new Promise((r) => setTimeout(r, 10));
    const second = await get(p.port, '/2');
    expect(second.status).toBe(503);
    expect(second.body.toString()).toMatch(/no upstream was free within 200 ms/);
    hold.shift()!();
    expect((await first).status).toBe(200);
    expect(seen).toBe(1);
  });
});
