// `portico --workers 2`: a primary (admin API, store, supervision) and two worker processes that
// share the proxy listener. Real processes, real origins, real clients, all on loopback.
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import http from 'node:http';
import { httpGet, startHttpOrigin, sleep } from '../helpers/harness.js';
import { ensureBuilt } from '../helpers/built.js';
import { alive, BIN, getFresh, killAll, metricSum, spreadOverWorkers, startLoad, startPortico, until, type Portico } from './helpers.js';

beforeAll(() => ensureBuilt(BIN, ['src', 'admin']), 180_000);

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  killAll();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An origin that answers `name path` after ?delay=ms. */
async function origin(name: string) {
  const o = await startHttpOrigin((req, res) => {
    const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
    req.resume();
    req.on('end', () => setTimeout(() => res.end(`${name} ${req.url}`), delay));
  });
  cleanups.push(() => o.close());
  return { url: `http://127.0.0.1:${o.port}`, port: o.port };
}

async function cluster(routeTo: string, extra: string[] = []): Promise<Portico> {
  return startPortico(['--workers', '2', '--route', `/=${routeTo}`, ...extra]);
}

describe('portico --workers 2', () => {
  it('serves from both workers; /v1/status lists them; /metrics sums them', async () => {
    const a = await origin('a');
    const p = await cluster(a.url);
    const s = await p.status();
    expect(s).toMatchObject({ revision: 1, mode: 'cluster' });
    expect(s.workers).toHaveLength(2);
    for (const w of s.workers) {
      expect(w).toMatchObject({ revision: 1, restarts: 0, connections: 0, state: 'ready' });
      expect(w.pid).not.toBe(p.child.pid);
      expect(alive(w.pid!)).toBe(true);
    }
    // eight slow requests, each on a connection of its own: both workers get some
    const slow = await spreadOverWorkers(p, () => getFresh(p.port, '/slow?delay=1500'));
    for (const r of slow) expect(r).toEqual({ status: 200, body: 'a /slow?delay=1500' });
    for (let i = 0; i < 12; i++) expect((await getFresh(p.port, `/n${i}`)).status).toBe(200);

    const text = await (await fetch(`${p.admin}/metrics`)).text();
    const total = metricSum(text, 'portico_http_requests_total');
    // spreadOverWorkers sends more than eight when the kernel gave the first eight to one worker
    expect(total).toBe(slow.length + 12);
    const perWorker = [metricSum(text, 'portico_worker_requests_total', 'worker="0"'), metricSum(text, 'portico_worker_requests_total', 'worker="1"')];
    expect(perWorker[0] + perWorker[1]).toBe(total);
    expect(Math.min(...perWorker)).toBeGreaterThan(0);
    expect(metricSum(text, 'portico_http_request_duration_seconds_count')).toBe(total);
    expect(metricSum(text, 'portico_config_revision')).toBe(1);
    // each process's own CPU series, labelled
    for (const w of ['primary', '0', '1']) expect(metricSum(text, 'process_cpu_user_seconds_total', `worker="${w}"`)).toBeGreaterThan(0);
  }, 90_000);

  it('a route change under load is applied by every worker before the admin API answers; no request fails', async () => {
    const a = await origin('a');
    const b = await origin('b');
    const p = await cluster(a.url, ['--log-level', 'warn']);
    const load = startLoad(p.port, '/steady', 8);
    try {
      for (let i = 0; i < 12; i++) {
        const res = await p.call('POST', '/v1/routes', { id: `r${i}`, pathPrefix: `/r${i}`, upstreams: [b.url] });
        expect(res.status, res.body).toBe(201);
        const revision = Number(res.headers.get('x-portico-revision'));
        const s = await p.status();
        expect(s.revision).toBe(revision);
        for (const w of s.workers) expect(w.revision).toBe(revision);
        // new connections go to both workers in turn: each already routes the new prefix
        for (let k = 0; k < 4; k++) expect(await getFresh(p.port, `/r${i}/x`)).toEqual({ status: 200, body: `b /r${i}/x` });
      }
      const patched = await p.call('PATCH', '/v1/routes/cli-1', { upstreams: [b.url] }, 'application/merge-patch+json');
      expect(patched.status, patched.body).toBe(200);
      for (let k = 0; k < 4; k++) expect((await getFresh(p.port, '/after')).body).toBe('b /after');
    } finally {
      await load.stop();
    }
    expect(load.failures).toEqual([]);
    expect(load.ok).toBeGreaterThan(0);
  }, 120_000);

  it('a change to another route leaves a route compiled as it was: its round-robin rotation goes on in every worker', async () => {
    const a = await origin('a');
    const b = await origin('b');
    const p = await cluster(a.url, ['--log-level', 'warn']);
    const two = await p.call('POST', '/v1/routes', { id: 'two', pathPrefix: '/two', upstreams: [a.url, b.url] });
    expect(two.status, two.body).toBe(201);
    // one keep-alive connection stays on one worker: its picks alternate a, b, a, ...
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const picks: string[] = [];
      const next = async () => picks.push((await httpGet(p.port, '/two/x', agent)).body.split(' ')[0]);
      await next();
      for (let i = 0; i < 3; i++) {
        // an unrelated change: before the fix every worker recompiled every route and the
        // rotation began again at a
        const res = await p.call('POST', '/v1/routes', { id: `other${i}`, pathPrefix: `/other${i}`, upstreams: [b.url] });
        expect(res.status, res.body).toBe(201);
        await next();
      }
      expect(picks).toEqual(['a', 'b', 'a', 'b']);
    } finally {
      agent.destroy();
    }
  }, 60_000);

  it('kill -9 of a worker under load: only its in-flight requests fail; it is replaced with the current table', async () => {
    const a = await origin('a');
    const p = await cluster(a.url, ['--log-level', 'warn']);
    expect((await p.call('POST', '/v1/routes', { id: 'extra', pathPrefix: '/extra', upstreams: [a.url] })).status).toBe(201);
    const load = startLoad(p.port, '/load', 8);
    let replacedAt = 0;
    let victimConnections: number;
    try {
      // all eight load connections open (the pool opens them lazily: one opened after this
      // snapshot could be the victim's too), some on each worker
      const before = await until(() => p.status(), (s) => s.workers.every((w) => (w.connections ?? 0) > 0) && s.workers.reduce((n, w) => n + (w.connections ?? 0), 0) === 8);
      const [victim, survivor] = before.workers;
      victimConnections = victim.connections!;
      const killedAt = Date.now();
      process.kill(victim.pid!, 'SIGKILL');
      const after = await until(() => p.status(), (s) => s.workers.some((w) => w.slot === victim.slot && w.pid !== victim.pid && w.state === 'ready'));
      replacedAt = Date.now();
      const fresh = after.workers.find((w) => w.slot === victim.slot)!;
      expect(fresh).toMatchObject({ restarts: 1, revision: 2, state: 'ready' });
      expect(after.workers.find((w) => w.slot === survivor.slot)!.pid).toBe(survivor.pid);
      console.log(`kill -9: replaced after ${replacedAt - killedAt} ms (status polled every 50 ms)`);
      // the replacement serves the current table
      for (let k = 0; k < 4; k++) expect((await getFresh(p.port, '/extra/y')).body).toBe('a /extra/y');
      await sleep(500);
    } finally {
      await load.stop();
    }
    // at most one in-flight request per connection the victim held; nothing after the replacement
    expect(load.failed, JSON.stringify(load.failures)).toBeLessThanOrEqual(victimConnections);
    expect(load.failures.filter((f) => f.at > replacedAt)).toEqual([]);
    expect(load.ok).toBeGreaterThan(0);
    expect(p.stdout()).toMatch(/worker died; replacing it/);
  }, 120_000);

  it('SIGTERM drains every worker: in-flight requests finish, then all processes exit 0', async () => {
    const a = await origin('a');
    const p = await cluster(a.url);
    const slow = Array.from({ length: 4 }, () => getFresh(p.port, '/slow?delay=1500'));
    // the kernel spreads accepts (SCHED_NONE): all four may land on one worker, so only the total is
    // known; every worker must exit either way
    const s = await until(() => p.status(), (st) => st.workers.reduce((n, w) => n + (w.connections ?? 0), 0) === 4);
    expect(s.workers).toHaveLength(2);
    p.child.kill('SIGTERM');
    for (const r of await Promise.all(slow)) expect(r).toEqual({ status: 200, body: 'a /slow?delay=1500' });
    expect(await p.exit).toBe(0);
    for (const w of s.workers) expect(alive(w.pid!)).toBe(false);
  }, 90_000);

  it('rolling restart (admin call, then SIGHUP) replaces every worker; new connections are never refused', async () => {
    const a = await origin('a');
    const p = await cluster(a.url, ['--log-level', 'warn']);
    const before = await p.status();
    let running = true;
    let fresh = 0;
    const freshFailures: string[] = [];
    // a new connection every few ms throughout: each one is an accept during the restart
    const opener = (async () => {
      while (running) {
        try {
          const r = await getFresh(p.port, '/fresh');
          if (r.status === 200) fresh++;
          else freshFailures.push(String(r.status));
        } catch (e) { freshFailures.push((e as Error).message); }
      }
    })();
    try {
      const res = await p.call('POST', '/v1/workers/restart');
      expect(res.status, res.body).toBe(202);
      expect(res.headers.get('location')).toBe('/v1/status');
      expect(JSON.parse(res.body)).toMatchObject({ rollingRestart: { state: 'running' } });
      const after = await until(() => p.status(), (st) => st.rollingRestart?.state !== 'running', 60_000);
      expect(after.rollingRestart?.state).toBe('done');
      const ready = after.workers.filter((w) => w.state === 'ready');
      expect(ready).toHaveLength(2);
      for (const w of ready) {
        expect(before.workers.map((x) => x.pid)).not.toContain(w.pid);
        expect(w).toMatchObject({ restarts: 0, revision: 1 });
      }
      p.child.kill('SIGHUP');
      const third = await until(() => p.status(), (s) => s.workers.filter((w) => w.state === 'ready' && !ready.some((x) => x.pid === w.pid)).length === 2);
      expect(third.workers.filter((w) => w.state === 'ready')).toHaveLength(2);
      for (const w of [...before.workers, ...ready]) await until(async () => alive(w.pid!), (v) => !v, 20_000);
    } finally {
      running = false;
      await opener;
    }
    expect(freshFailures).toEqual([]);
    expect(fresh).toBeGreaterThan(0);
  }, 120_000);

  it('a worker that keeps dying is backed off and reported, not restarted in a busy loop', async () => {
    const a = await origin('a');
    const p = await cluster(a.url, ['--log-level', 'warn']);
    let s = await p.status();
    const kills: number[] = [];
    for (let i = 0; i < 4; i++) {
      const w = s.workers.find((x) => x.slot === 0 && x.pid !== null)!;
      process.kill(w.pid!, 'SIGKILL');
      kills.push(w.pid!);
      s = await until(() => p.status(), (st) => st.workers.some((x) => x.slot === 0 && x.pid !== null && !kills.includes(x.pid) && x.state === 'ready'), 30_000);
    }
    const slot0 = s.workers.find((x) => x.slot === 0)!;
    expect(slot0.restarts).toBe(4); // one start per death: no extra forks
    expect(p.stdout()).toMatch(/crash loop/);
    const log = p.stdout().split('\n').filter((l) => l.includes('crash loop')).map((l) => JSON.parse(l) as { nextStartInMs: number; crashes: number });
    expect(log.map((l) => l.nextStartInMs)).toEqual([250, 500, 1000]);
    const text = await (await fetch(`${p.admin}/metrics`)).text();
    expect(metricSum(text, 'portico_worker_restarts', 'worker="0"')).toBe(4);
    // the other worker was never touched
    expect(s.workers.find((x) => x.slot === 1)!.restarts).toBe(0);
  }, 120_000);

  it('--workers auto and the config key; bad values are refused with a clear message', async () => {
    const a = await origin('a');
    const p = await startPortico(['--workers', 'auto', '--route', `/=${a.url}`]);
    const s = await p.status();
    const { availableParallelism } = await import('node:os');
    expect(s.workers).toHaveLength(availableParallelism());
    expect(s.mode).toBe(availableParallelism() > 1 ? 'cluster' : 'single');
    expect((await getFresh(p.port, '/z')).body).toBe('a /z');
    // a listener that cannot be opened in the workers stops the start with the reason
    const busy = await startPortico(['--workers', '2', '--listen', `127.0.0.1:${p.port}`]).then(() => 'started', (e: Error) => e.message);
    expect(busy).toMatch(/127\.0\.0\.1:\d+ is already in use/);
    for (const bad of ['0', 'two', '1.5', '257']) {
      const r = await startPortico(['--workers', bad]).then(() => 'started', (e: Error) => e.message);
      expect(r).toMatch(/--workers .*expected a number of processes from 1 to 256, or "auto"/);
    }
  }, 120_000);
});

describe('portico (one process, the default)', () => {
  it('/v1/status has one entry, this process; there are no workers to restart', async () => {
    const a = await origin('a');
    const p = await startPortico(['--route', `/=${a.url}`]);
    const s = await p.status();
    expect(s).toMatchObject({ revision: 1, mode: 'single', workers: [{ pid: p.child.pid, revision: 1, connections: 0, restarts: 0 }] });
    expect((await p.call('POST', '/v1/status')).status).toBe(405);
    const r = await p.call('POST', '/v1/workers/restart');
    expect(r.status).toBe(409);
    expect(r.body).toMatch(/one process/);
    expect((await fetch(`${p.admin}/v1/workers/restart`, { method: 'POST' })).status).toBe(401);
  }, 60_000);
});
