// Cost of a live route change under load.
//
// The proxy and its admin API run in this process (as under `portico`, they share one event
// loop); the origin, the load generator and the admin client run in child processes. Two phases of equal length on
// a steady route: a baseline without changes, then the same load while route changes go through
// the admin API back to back (PATCH of an upstream, POST and DELETE of extra routes; every change
// persisted to a config file, as in production). Reported: time to apply a change (admin request
// round trip: validate, persist with fsync, swap) p50/p99/max, failed changes, and the load's
// requests, failures and latency in both phases.
//
// With --workers N (> 1) this process is the cluster primary (admin API, store, supervision) and
// N worker processes serve the load: a change is answered once every worker has applied it.
//
// Usage: node dist/bench/admin-route-change.js [--seconds 5] [--connections 32] [--routes 50]
//        [--min-changes 200] [--rate CHANGES_PER_S (0: back to back)] [--no-persist] [--workers N]
//        [--json FILE]
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Pool } from 'undici';
import { percentile } from './percentiles.js';
import { resolveConfig } from '../src/config/config.js';
import { ProxyServer } from '../src/server/proxy-server.js';
import { InProcessDataPlane } from '../admin/cluster/in-process.js';
import type { DataPlane } from '../src/contract/data-plane.js';
import { startAdmin } from '../admin/api/start-admin.js';
import { ClusterDataPlane } from '../admin/cluster/primary.js';

const self = fileURLToPath(import.meta.url);

interface LoadReport { ok: number; failed: number; firstFailure: string; p50: number; p99: number; max: number; seconds: number }

// ---- child: origin ------------------------------------------------------------------------
async function childOrigin(): Promise<void> {
  const body = Buffer.from('hello, world\n');
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(`ORIGIN ${(server.address() as AddressInfo).port}\n`));
}

// ---- child: load --------------------------------------------------------------------------
async function childLoad(spec: { url: string; path: string; seconds: number; connections: number }): Promise<void> {
  const pool = new Pool(spec.url, { connections: spec.connections, pipelining: 1 });
  const lat: number[] = [];
  let ok = 0;
  let failed = 0;
  let firstFailure = '';
  const end = performance.now() + spec.seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: spec.connections }, async () => {
    while (performance.now() < end) {
      const s = performance.now();
      try {
        const r = await pool.request({ path: spec.path, method: 'GET' });
        await r.body.text();
        if (r.statusCode === 200) { ok++; lat.push(performance.now() - s); } else { failed++; firstFailure ||= `HTTP ${r.statusCode}`; }
      } catch (e) {
        failed++;
        firstFailure ||= String(e);
      }
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  await pool.close();
  lat.sort((a, b) => a - b);
  const report: LoadReport = { ok, failed, firstFailure, p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat[lat.length - 1] ?? NaN, seconds };
  process.stdout.write(`LOAD ${JSON.stringify(report)}\n`);
}

// ---- child: route changes -----------------------------------------------------------------
interface ChangesReport { changes: number; failed: number; firstFailure: string; p50: number; p99: number; max: number }

async function childChanges(spec: { adminUrl: string; token: string; upstream: string; upstream2: string; seconds: number; min: number; tag: string; rate: number }): Promise<void> {
  const call = async (method: string, path: string, body?: unknown): Promise<number> => {
    const res = await fetch(spec.adminUrl + path, {
      method,
      headers: { authorization: `Bearer ${spec.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    await res.arrayBuffer();
    return res.status;
  };
  const times: number[] = [];
  let failed = 0;
  let firstFailure = '';
  const start = performance.now();
  const end = start + spec.seconds * 1000;
  for (let i = 0; performance.now() < end || i < spec.min; i++) {
    if (spec.rate > 0) {
      const due = start + (i * 1000) / spec.rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const kind = i % 4;
    const id = `extra-${spec.tag}-${i - (kind === 1 ? 1 : 0)}`;
    const t0 = performance.now();
    let status: number;
    if (kind === 0) status = await call('POST', '/v1/routes', { id, pathPrefix: `/extra/${id}`, upstreams: [spec.upstream] });
    else if (kind === 1) status = await call('DELETE', `/v1/routes/${id}`);
    else status = await call('PATCH', '/v1/routes/flip', { upstreams: [kind === 2 ? spec.upstream2 : spec.upstream] });
    times.push(performance.now() - t0);
    if (status >= 300) { failed++; firstFailure ||= `HTTP ${status}`; }
  }
  times.sort((a, b) => a - b);
  const report: ChangesReport = { changes: times.length, failed, firstFailure, p50: percentile(times, 50), p99: percentile(times, 99), max: times[times.length - 1] };
  process.stdout.write(`CHANGES ${JSON.stringify(report)}\n`);
}

// ---- parent -------------------------------------------------------------------------------
function child(args: string[]): { proc: ChildProcess; line: (prefix: string) => Promise<string> } {
  const proc = spawn(process.execPath, [self, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buf = '';
  const waiters: Array<{ prefix: string; resolve: (s: string) => void }> = [];
  proc.stdout.on('data', (d) => {
    buf += d;
    for (;;) {
      const nl = buf.indexOf('\n');
      if (nl < 0) break;
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiters.findIndex((x) => l.startsWith(x.prefix));
      if (w >= 0) waiters.splice(w, 1)[0].resolve(l.slice(l.indexOf(' ') + 1));
    }
  });
  return { proc, line: (prefix) => new Promise((resolve) => waiters.push({ prefix, resolve })) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '5' },
      connections: { type: 'string', default: '32' },
      routes: { type: 'string', default: '50' },
      'min-changes': { type: 'string', default: '200' },
      'no-persist': { type: 'boolean', default: false },
      workers: { type: 'string', default: '1' },
      rate: { type: 'string', default: '0' },
      json: { type: 'string' },
      'child-origin': { type: 'boolean' },
      'child-load': { type: 'string' },
      'child-changes': { type: 'string' },
    },
  });
  if (values['child-origin']) return childOrigin();
  if (values['child-load']) return childLoad(JSON.parse(values['child-load']) as Parameters<typeof childLoad>[0]);
  if (values['child-changes']) return childChanges(JSON.parse(values['child-changes']) as Parameters<typeof childChanges>[0]);

  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const extraRoutes = Number(values.routes);
  const minChanges = Number(values['min-changes']);
  const rate = Number(values.rate);

  const origin = child(['--child-origin']);
  const originPort = Number(await origin.line('ORIGIN'));
  const upstream = `http://127.0.0.1:${originPort}`;
  // a second authority for the same origin, so flipping the upstream changes the pool key
  const upstream2 = `http://localhost:${originPort}`;

  const tmp = mkdtempSync(join(tmpdir(), 'portico-bench-admin-'));
  const configPath = join(tmp, 'portico.json');
  const routes = [
    { id: 'steady', pathPrefix: '/steady', upstreams: [upstream] },
    { id: 'flip', pathPrefix: '/flip', upstreams: [upstream] },
    ...Array.from({ length: extraRoutes }, (_, i) => ({ id: `r${i}`, pathPrefix: `/r/${i}`, upstreams: [upstream] })),
  ];
  writeFileSync(configPath, JSON.stringify({ routes }, null, 2), { mode: 0o600 });
  const config = resolveConfig({ listen: '127.0.0.1:0', logLevel: 'silent', routes: structuredClone(routes) });
  const logger = pino({ level: 'silent' });
  const workers = Number(values.workers);
  const proxy: DataPlane = workers > 1 ? new ClusterDataPlane({ config, workers, logger }) : new InProcessDataPlane(new ProxyServer(config, logger));
  await proxy.listen();
  const token = 'bench-token-0123456789abcdef';
  const persist = !values['no-persist'];
  const admin = await startAdmin({ dataPlane: proxy, config, configPath: persist ? configPath : undefined, listen: '127.0.0.1:0', token, logger });
  const proxyUrl = `http://127.0.0.1:${proxy.listeners()[0].address.port}`;

  const runLoad = async (): Promise<LoadReport> => {
    const l = child(['--child-load', JSON.stringify({ url: proxyUrl, path: '/steady/x', seconds, connections })]);
    const line = await l.line('LOAD');
    return JSON.parse(line) as LoadReport;
  };

  // warm-up (JIT, pools)
  const warm = child(['--child-load', JSON.stringify({ url: proxyUrl, path: '/steady/x', seconds: 1, connections })]);
  await warm.line('LOAD');

  const baseline = await runLoad();

  const startRev = proxy.routes.current.revision;
  const changes = (tag: string, secs: number, min: number, r: number) => {
    const c = child(['--child-changes', JSON.stringify({ adminUrl: admin.url, token, upstream, upstream2, seconds: secs, min, tag, rate: r })]);
    return c.line('CHANGES').then((l) => JSON.parse(l) as ChangesReport);
  };
  // the load and the changes run for the same time, each in its own process
  const [churn, underLoad] = await Promise.all([runLoad(), changes('load', seconds, minChanges, rate)]);
  const revisionsUnderLoad = proxy.routes.current.revision - startRev;
  // the same changes without load, for comparison
  const idle = await changes('idle', 0, minChanges, 0);
  const failedChanges = underLoad.failed + idle.failed;

  const result = {
    node: process.version,
    workers,
    routesInTable: routes.length,
    connections,
    seconds,
    rate: rate > 0 ? rate : 'back to back',
    changes: underLoad.changes,
    persisted: persist,
    revisionsApplied: revisionsUnderLoad,
    failedChanges,
    applyMs: { p50: underLoad.p50, p99: underLoad.p99, max: underLoad.max },
    applyMsWithoutLoad: { p50: idle.p50, p99: idle.p99, max: idle.max },
    baseline: { ...baseline, rps: baseline.ok / baseline.seconds },
    duringChanges: { ...churn, rps: churn.ok / churn.seconds },
  };

  await admin.close();
  await proxy.close(1000);
  origin.proc.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });

  const f = (n: number) => n.toFixed(2);
  console.log(`route change under load (${result.routesInTable} routes, ${connections} connections, ${seconds} s per phase, changes ${rate > 0 ? `at ${rate}/s` : 'back to back'}, ${workers > 1 ? `${workers} workers` : 'one process'}, ${process.version})`);
  console.log(`  changes applied:   ${result.changes} (${result.revisionsApplied} new revisions), failed changes: ${failedChanges}${underLoad.firstFailure || idle.firstFailure ? ` (${underLoad.firstFailure || idle.firstFailure})` : ''}`);
  console.log(`  time to apply:     p50 ${f(result.applyMs.p50)} ms, p99 ${f(result.applyMs.p99)} ms, max ${f(result.applyMs.max)} ms (admin round trip: validate, ${persist ? "fsync'd write + rename, " : 'no persistence, '}swap)`);
  console.log(`  without load:      p50 ${f(result.applyMsWithoutLoad.p50)} ms, p99 ${f(result.applyMsWithoutLoad.p99)} ms, max ${f(result.applyMsWithoutLoad.max)} ms`);
  console.log(`  load, baseline:    ${baseline.ok} ok, ${baseline.failed} failed, ${f(result.baseline.rps)} req/s, p50 ${f(baseline.p50)} ms, p99 ${f(baseline.p99)} ms`);
  console.log(`  load, with changes:${churn.ok} ok, ${churn.failed} failed, ${f(result.duringChanges.rps)} req/s, p50 ${f(churn.p50)} ms, p99 ${f(churn.p99)} ms${churn.firstFailure ? `, first failure: ${churn.firstFailure}` : ''}`);
  if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n');
  process.exitCode = churn.failed === 0 && baseline.failed === 0 && failedChanges === 0 ? 0 : 1;
}

await main();
