// node:cluster scheduling for `portico --workers 2`: the primary accepting and handing each
// connection to the workers in turn (NODE_CLUSTER_SCHED_POLICY=rr) against the kernel handing
// accepts on the shared socket to whichever worker takes them (none). Per policy and load shape
// (keep-alive connections; a new connection per request): req/s, p99, CPU per request of the
// whole process tree, and how the requests split between the two workers (from /metrics).
// Rounds interleave the policies. wrk is required.
//
// Usage: node dist/bench/worker-balance.js [--seconds 5] [--rounds 3] [--connections 50] [--json FILE]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { runLoad, type LoadResult } from './load.js';
import { installSignalHandlers, spawnTracked, stopAll, waitForPort } from './procs.js';
import { treeCpuTime } from './procstat.js';
import { hasCommand } from './targets.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const TOKEN = 'bench-token-0123456789abcdef';

async function perWorker(admin: string): Promise<number[]> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  const out: number[] = [];
  for (const m of text.matchAll(/^portico_worker_requests_total\{worker="(\d+)"\} (\d+)/gm)) out[Number(m[1])] = Number(m[2]);
  return out.map((v) => v ?? 0);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '50' }, json: { type: 'string' } } });
  if (hasCommand('wrk') === undefined) throw new Error('wrk is required (apt-get install -y wrk)');
  const seconds = Number(values.seconds);
  const tmp = mkdtempSync(join(tmpdir(), 'portico-balance-'));
  installSignalHandlers(() => rmSync(tmp, { recursive: true, force: true }));
  const origin = spawnTracked('origin', process.execPath, [join(ROOT, 'dist/bench/origin.js')]);
  const om = await origin.waitForLine(/origin listening on ([^:]+):(\d+)/, 15_000);
  const originUrl = `http://${om[1]}:${om[2]}`;

  type Row = { policy: string; shape: string; rps: number; p99Ms: number; cpuUsPerReq: number; share0: number; errors: number };
  const rows: Row[] = [];
  const shapes = [
    { shape: 'keep-alive', closeEach: false, connections: Number(values.connections) },
    { shape: 'new connection per request', closeEach: true, connections: 16 },
  ];
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const policy of ['rr', 'none']) {
      const bin = join(ROOT, 'dist/admin/cli/portico.js');
      const p = spawnTracked(`portico (${policy})`, process.execPath, ['--max-semi-space-size=2', bin, '--workers', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-level', 'silent', '--route', `/=${originUrl}`], {
        env: { ...process.env, NODE_CLUSTER_SCHED_POLICY: policy, PORTICO_ADMIN_TOKEN: TOKEN },
      });
      const port = Number((await p.waitForLine(/listening on http:\/\/127\.0\.0\.1:(\d+)/, 60_000))[1]);
      const admin = (await p.waitForLine(/admin API on (\S+)/, 60_000))[1];
      await waitForPort('127.0.0.1', port, 15_000, p);
      for (const s of shapes) {
        const spec = { host: '127.0.0.1', port, path: '/small', method: 'GET' as const, bodyBytes: 0, connections: s.connections, durationSec: 1, timeoutSec: 10, threads: 1, closeEach: s.closeEach };
        await runLoad('wrk', spec, { tmp, root: ROOT }); // warm-up
        const before = await perWorker(admin);
        const cpu0 = treeCpuTime(p.pid)!;
        const r: LoadResult = await runLoad('wrk', { ...spec, durationSec: seconds }, { tmp, root: ROOT });
        const cpu = treeCpuTime(p.pid)! - cpu0;
        const after = await perWorker(admin);
        const d = after.map((v, i) => v - (before[i] ?? 0));
        const row = { policy, shape: s.shape, rps: r.rps, p99Ms: r.p99Ms, cpuUsPerReq: (cpu * 1e6) / r.requests, share0: d[0] / (d[0] + d[1]), errors: r.errors };
        rows.push(row);
        console.log(`[${round}] ${policy.padEnd(4)} ${s.shape.padEnd(27)} ${Math.round(row.rps).toLocaleString('en-US').padStart(7)} req/s  p99 ${row.p99Ms.toFixed(2)} ms  CPU ${row.cpuUsPerReq.toFixed(1)} µs/req  worker 0/1: ${d[0]}/${d[1]} (${(row.share0 * 100).toFixed(0)}%)  errors ${r.errors}`);
      }
      await p.stop();
    }
  }
  console.log('\nmedians over rounds (worker 0 share: the split of requests between the two workers; 50% is even)');
  for (const s of shapes) for (const policy of ['rr', 'none']) {
    const rs = rows.filter((r) => r.policy === policy && r.shape === s.shape);
    const share = rs.map((r) => r.share0);
    console.log(`  ${policy.padEnd(4)} ${s.shape.padEnd(27)} ${Math.round(median(rs.map((r) => r.rps))).toLocaleString('en-US').padStart(7)} req/s  p99 ${median(rs.map((r) => r.p99Ms)).toFixed(2)} ms  CPU ${median(rs.map((r) => r.cpuUsPerReq)).toFixed(1)} µs/req  worker 0 share ${(Math.min(...share) * 100).toFixed(0)}-${(Math.max(...share) * 100).toFixed(0)}%`);
  }
  if (values.json) writeFileSync(values.json, JSON.stringify(rows, null, 2) + '\n');
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}

await main();
