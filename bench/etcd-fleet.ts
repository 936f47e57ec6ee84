// A two-instance fleet on one etcd: how fast a change made on instance A is followed by traffic on
// instance B, and what streaming changes cost B's proxy throughput.
//
// etcd (Debian's etcd-server), two `portico --store etcd://...` processes (the built bin), two
// origins (in this process) and the load generator (wrk or autocannon, a child) all on loopback.
//   1. propagation: N times, PUT the route's upstream on A (alternating origin X / Y), then GET
//      through B back to back until B answers from the new origin. Reported: admin PUT round trip
//      on A, and write-sent -> B follows (p50 / p90 / max).
//   2. throughput: load on B (route r) for S seconds with no change (baseline), then S seconds
//      while A changes another route at --rate changes/s (each one a new table on B: the cost of
//      following the store, not of moving the loaded traffic to another origin). Reported: req/s,
//      p99, errors, ratio to the baseline.
//
// Usage: node dist/bench/etcd-fleet.js [--changes 50] [--seconds 5] [--connections 16] [--rate 20] [--rounds 3]
//        [--load wrk|autocannon] [--json FILE]
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startEtcd } from './etcd-process.js';
import { installSignalHandlers, stopAll } from './procs.js';
import { pickTool, runLoad, type LoadResult } from './load.js';
import { startNamedOrigin } from './named-origin.js';
import { distribution } from './percentiles.js';
import { ADMIN_TOKEN as TOKEN, ROOT, startInstance } from './portico-instance.js';

const instance = (name: string, storeUrl: string) => startInstance({ name, source: ['--store', storeUrl] }, 30_000);

async function putRoute(admin: string, upstream: string, id = 'r', pathPrefix = '/'): Promise<number> {
  const res = await fetch(`${admin}/v1/routes/${id}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, pathPrefix, upstreams: [upstream] }),
  });
  await res.arrayBuffer();
  return res.status;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function answer(port: number): Promise<string> {
  return new Promise((res, rej) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent }, (r) => {
      let b = '';
      r.setEncoding('utf8').on('data', (d: string) => { b += d; }).on('end', () => res(b));
    }).on('error', rej);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      changes: { type: 'string', default: '50' }, seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '16' },
      rate: { type: 'string', default: '20' }, rounds: { type: 'string', default: '3' }, load: { type: 'string' }, json: { type: 'string' },
    },
  });
  const changes = Number(values.changes);
  const seconds = Number(values.seconds);
  const rate = Number(values.rate);
  const rounds = Math.max(1, Number(values.rounds));
  installSignalHandlers();
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-etcd-'));
  const origins = [await startNamedOrigin('X'), await startNamedOrigin('Y')];
  try {
    const etcd = await startEtcd(dir);
    const storeUrl = `etcd://${etcd.endpoint}/bench`;
    const a = await instance('portico-A', storeUrl);
    const b = await instance('portico-B', storeUrl);
    for (const r of [{ id: 'r', pathPrefix: '/' }, { id: 'other', pathPrefix: '/other' }]) {
      const created = await fetch(`${a.admin}/v1/routes`, {
        method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...r, upstreams: [origins[0].url] }),
      });
      if (created.status !== 201) throw new Error(`cannot create route ${r.id}: ${created.status} ${await created.text()}`);
    }
    while (await answer(b.port).catch(() => '') !== 'X') await new Promise((r) => setTimeout(r, 10));

    // 1. propagation
    const follow: number[] = [];
    const writes: number[] = [];
    for (let i = 1; i <= changes; i++) {
      const want = i % 2 ? 'Y' : 'X';
      const t0 = performance.now();
      const status = await putRoute(a.admin, origins[i % 2].url);
      writes.push(performance.now() - t0);
      if (status !== 200) throw new Error(`PUT on A answered ${status}`);
      while (await answer(b.port) !== want) { /* back to back */ }
      follow.push(performance.now() - t0);
    }

    // 2. throughput on B, without and with changes streaming in through A
    const { tool, warning } = pickTool(values.load);
    if (warning) process.stderr.write(`note: ${warning}\n`);
    const spec = { host: '127.0.0.1', port: b.port, path: '/', method: 'GET' as const, bodyBytes: 0, connections: Number(values.connections), durationSec: seconds, timeoutSec: 5, threads: 1 };
    // interleaved rounds (baseline, with changes, baseline, ...): medians resist a noisy machine
    const baselines: LoadResult[] = [];
    const churned: LoadResult[] = [];
    let applied = 0;
    let failedChanges = 0;
    for (let round = 0; round < rounds; round++) {
      baselines.push(await runLoad(tool, spec, { tmp: dir, root: ROOT }));
      let stop = false;
      const churn = (async () => {
        for (let i = 0; !stop; i++) {
          const due = performance.now() + 1000 / rate;
          try {
            if (await putRoute(a.admin, origins[(i + 1) % 2].url, 'other', '/other') === 200) applied++; else failedChanges++;
          } catch { failedChanges++; }
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
      })();
      churned.push(await runLoad(tool, spec, { tmp: dir, root: ROOT }));
      stop = true;
      await churn;
    }
    const median = (rs: LoadResult[]) => [...rs].sort((x, y) => x.rps - y.rps)[Math.floor(rs.length / 2)];
    const baseline = median(baselines);
    const during = median(churned);
    const sum = (rs: LoadResult[], k: 'errors' | 'non2xx') => rs.reduce((n, r) => n + r[k], 0);

    const report = {
      tool, changes, rate, seconds, connections: spec.connections,
      adminWriteOnA_ms: distribution(writes),
      writeOnA_to_trafficOnB_ms: distribution(follow),
      throughputB: {
        rounds,
        baseline: { rps: baseline.rps, p99Ms: baseline.p99Ms, errors: sum(baselines, 'errors'), non2xx: sum(baselines, 'non2xx'), allRps: baselines.map((r) => r.rps) },
        whileChanging: { rps: during.rps, p99Ms: during.p99Ms, errors: sum(churned, 'errors'), non2xx: sum(churned, 'non2xx'), allRps: churned.map((r) => r.rps), changesApplied: applied, changesFailed: failedChanges },
        ratio: during.rps / baseline.rps,
      },
    };
    const f = (x: number) => x.toFixed(1);
    process.stdout.write([
      `admin PUT on A (etcd CAS + applied on A), ms: p50 ${f(report.adminWriteOnA_ms.p50)}  p90 ${f(report.adminWriteOnA_ms.p90)}  max ${f(report.adminWriteOnA_ms.max)}  (n=${changes})`,
      `write sent to A -> B serves the new upstream, ms: p50 ${f(report.writeOnA_to_trafficOnB_ms.p50)}  p90 ${f(report.writeOnA_to_trafficOnB_ms.p90)}  max ${f(report.writeOnA_to_trafficOnB_ms.max)}`,
      `B throughput (${tool}, ${spec.connections} conns, ${seconds} s): baseline ${baseline.rps.toFixed(0)} req/s p99 ${f(baseline.p99Ms)} ms; with ${rate} changes/s via A: ${during.rps.toFixed(0)} req/s p99 ${f(during.p99Ms)} ms (ratio ${report.throughputB.ratio.toFixed(2)}; medians of ${rounds} interleaved rounds: ${report.throughputB.baseline.allRps.map((x) => x.toFixed(0)).join(', ')} vs ${report.throughputB.whileChanging.allRps.map((x) => x.toFixed(0)).join(', ')}; ${applied} changes applied, ${failedChanges} failed; errors ${report.throughputB.baseline.errors}/${report.throughputB.whileChanging.errors}, non-2xx ${report.throughputB.baseline.non2xx}/${report.throughputB.whileChanging.non2xx})`,
      '',
    ].join('\n'));
    if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
  } finally {
    for (const o of origins) await o.close();
    agent.destroy();
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
