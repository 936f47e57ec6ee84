// What a large route table costs to build, to change and to look up in: heap per route,
// RouteTable.build time (from scratch, and for one changed route on the previous table), the admin
// API's time to apply one route change (PATCH /v1/routes/ID: plan, validate = build, persist with
// fsync, swap) at 1,000, 10,000 and 100,000 routes, and ns per RouteTable.match for the bench's
// worst-case request (only the last-resort route matches) in each table shape and size.
//
// Runs in one process (node --expose-gc, for heap figures after a full collection); the admin
// client is this process too (sequential requests, so it only adds its own round-trip work).
//
// Usage: node --expose-gc dist/bench/route-table-scale.js [--sizes 1000,10000,100000]
//        [--kind mixed|path|host] [--changes 20] [--json FILE]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { resolveConfig } from '../src/config/config.js';
import { ProxyServer } from '../src/server/proxy-server.js';
import { InProcessDataPlane } from '../admin/cluster/in-process.js';
import { RouteTable } from '../src/routing/route-table.js';
import type { RouteSpec } from '../src/routing/route-spec.js';
import { startAdmin } from '../admin/api/start-admin.js';
import { routeTable, TABLE_KINDS, type TableKind } from './route-tables.js';

const gc = (globalThis as { gc?: () => void }).gc;

function heapAfterGc(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function timeMs(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

interface ScaleResult {
  routes: number;
  kind: TableKind;
  heapBytesPerRoute: number;
  buildMs: number;
  rebuildOneChangeMs: number;
  applyMs: { p50: number; max: number };
  applyNoPersistMs: { p50: number; max: number };
}

const UPSTREAM = 'http://127.0.0.1:9';
const OTHER_UPSTREAM = 'http://127.0.0.1:10';

/** Times `changes` PATCHes of one route's upstream through a real admin API, in ms. */
async function adminApply(specs: RouteSpec[], changes: number, persist: boolean): Promise<number[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'portico-bench-scale-'));
  const configPath = join(tmp, 'portico.json');
  writeFileSync(configPath, JSON.stringify({ routes: specs }), { mode: 0o600 });
  const config = resolveConfig({ listen: '127.0.0.1:0', logLevel: 'silent', routes: structuredClone(specs) });
  const logger = pino({ level: 'silent' });
  const proxy = new ProxyServer(config, logger);
  const token = 'bench-token-0123456789abcdef';
  const admin = await startAdmin({ dataPlane: new InProcessDataPlane(proxy), config, configPath: persist ? configPath : undefined, listen: '127.0.0.1:0', token, logger });
  const id = specs[Math.floor(specs.length / 2)].id;
  const times: number[] = [];
  try {
    for (let i = 0; i <= changes; i++) {
      const t0 = performance.now();
      const res = await fetch(`${admin.url}/v1/routes/${id}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/merge-patch+json' },
        body: JSON.stringify({ upstreams: [i % 2 ? UPSTREAM : OTHER_UPSTREAM] }),
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`PATCH answered ${res.status}: ${text.slice(0, 200)}`);
      if (i > 0) times.push(performance.now() - t0); // the first one warms up
    }
  } finally {
    await admin.close();
    await proxy.close(1000);
    rmSync(tmp, { recursive: true, force: true });
  }
  return times;
}

async function measure(kind: TableKind, n: number, changes: number): Promise<ScaleResult> {
  const specs = routeTable(kind, n, UPSTREAM);
  const h0 = heapAfterGc();
  let table = RouteTable.build(specs, 1);
  const heapBytesPerRoute = (heapAfterGc() - h0) / n;
  const builds: number[] = [];
  for (let i = 0; i < 5; i++) builds.push(timeMs(() => void RouteTable.build(specs, 1)));
  // one change on the running table, the way the admin API asks: the running specs passed on,
  // one of them replaced
  const rebuilds: number[] = [];
  for (let i = 0; i < 10; i++) {
    const running = table.routes.map((r) => r.spec as RouteSpec);
    const at = Math.floor(n / 2);
    running[at] = { ...running[at], upstreams: [i % 2 ? UPSTREAM : OTHER_UPSTREAM] };
    let next = table;
    rebuilds.push(timeMs(() => { next = RouteTable.next(table, running, table.revision + 1); }));
    table = next;
  }
  const applied = await adminApply(specs, changes, true);
  const appliedNoPersist = await adminApply(specs, changes, false);
  return {
    routes: n,
    kind,
    heapBytesPerRoute,
    buildMs: median(builds),
    rebuildOneChangeMs: median(rebuilds),
    applyMs: { p50: median(applied), max: Math.max(...applied) },
    applyNoPersistMs: { p50: median(appliedNoPersist), max: Math.max(...appliedNoPersist) },
  };
}

/** ns per RouteTable.match of GET /small from Host 127.0.0.1 (only the last-resort route matches). */
function lookupNs(kind: TableKind, n: number): number {
  const table = RouteTable.build(routeTable(kind, n, UPSTREAM), 1);
  const req = { host: '127.0.0.1', path: '/small', method: 'GET', header: (): string[] => [] };
  const rounds: number[] = [];
  for (let r = 0; r < 7; r++) {
    const count = 200_000;
    const t0 = performance.now();
    for (let i = 0; i < count; i++) if (table.match(req)?.id !== 'last-resort') throw new Error('wrong route');
    rounds.push(((performance.now() - t0) * 1e6) / count);
  }
  return median(rounds);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '1000,10000,100000' },
      kind: { type: 'string', default: 'mixed' },
      changes: { type: 'string', default: '20' },
      json: { type: 'string' },
    },
  });
  if (!gc) throw new Error('run with node --expose-gc (heap figures need a full collection)');
  const kind = values.kind as TableKind;
  if (!TABLE_KINDS.includes(kind)) throw new Error(`--kind: one of ${TABLE_KINDS.join(', ')}`);
  const sizes = values.sizes.split(',').map(Number);
  const results: ScaleResult[] = [];
  console.log(`route table scale (${kind} tables, ${process.version}); admin apply = PATCH /v1/routes/ID round trip, median of ${values.changes}`);
  console.log('| routes | heap per route | build (ms) | rebuild, one route changed (ms) | admin apply p50 / max (ms) | same without persisting (ms) |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  for (const n of sizes) {
    const r = await measure(kind, n, Number(values.changes));
    results.push(r);
    const f = (x: number) => x.toFixed(1);
    console.log(`| ${n.toLocaleString('en-US')} | ${(r.heapBytesPerRoute / 1024).toFixed(2)} KiB | ${f(r.buildMs)} | ${f(r.rebuildOneChangeMs)} | ${f(r.applyMs.p50)} / ${f(r.applyMs.max)} | ${f(r.applyNoPersistMs.p50)} / ${f(r.applyNoPersistMs.max)} |`);
  }
  const lookups: Array<{ kind: TableKind; routes: number; ns: number }> = [];
  console.log('');
  console.log('RouteTable.match, ns per lookup (median of 7 × 200,000; only the last-resort route matches)');
  console.log(`| table | 1 route | ${sizes.map((n) => n.toLocaleString('en-US')).join(' | ')} |`);
  console.log(`|---|${'---:|'.repeat(sizes.length + 1)}`);
  for (const k of TABLE_KINDS) {
    const row = [1, ...sizes].map((n) => {
      const ns = lookupNs(k, n);
      lookups.push({ kind: k, routes: n, ns });
      return ns.toFixed(0);
    });
    console.log(`| ${k} | ${row.join(' | ')} |`);
  }
  if (values.json) writeFileSync(values.json, JSON.stringify({ node: process.version, results, lookups }, null, 2) + '\n');
}

await main();
