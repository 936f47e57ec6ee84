// Route-table size sweep: does a request cost more CPU when the table is larger?
//
// Portico runs as a real process (the `portico` command, as in bench/run.ts) with a config of
// 1, 1,000, 10,000 or 100,000 routes of three shapes (bench/route-tables.ts: path prefixes, exact
// hosts, a mix with wildcards and conditions), and wrk sends small GETs over 50 keep-alive
// connections that match only the last-resort `/` route (the worst case for a list walk).
// Reported per table: req/s and Portico's CPU per request (user + system from /proc/PID/stat),
// medians over rounds, and CPU per request relative to the one-route table of the same round.
// All Portico processes are started first and stay up; every round runs every table once, in the
// same order (interleaved), so a slow spell on a shared machine hits all tables alike.
//
// Usage: node dist/bench/route-sweep.js [--sizes 1000,10000,100000] [--kinds path,host,mixed]
//        [--rounds 3] [--duration 4] [--warmup 1] [--connections 50] [--pin]
//        [--compare DIR] (also run the portico built in another checkout, e.g. the previous
//        release, on the tables it accepts) [--json FILE]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { installSignalHandlers, spawnTracked, stopAll, waitForPort, type Tracked } from './procs.js';
import { freePort } from './ports.js';
import { porticoEntry, shebangNodeFlags, hasCommand } from './targets.js';
import { pickTool, runLoad, type LoadResult } from './load.js';
import { measured, BUSY_THRESHOLD_CPUS, type Measurement } from './measure.js';
import { environment } from './env.js';
import { routeTable, TABLE_KINDS, type TableKind } from './route-tables.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Table { kind: TableKind | 'one'; size: number }
interface Target { label: string; build: string; table: Table; proc: Tracked; port: number }
interface Run { target: string; build: string; kind: string; size: number; round: number; load: LoadResult; m: Measurement; cpuUsPerReq: number }

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function startPortico(buildRoot: string, label: string, table: Table, originUrl: string, tmp: string, cpu: string | undefined): Promise<Target | string> {
  const specs = routeTable(table.kind === 'one' ? 'path' : table.kind, table.size, originUrl);
  const file = join(tmp, `${label.replace(/\W+/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ routes: specs }));
  const port = await freePort();
  const entry = porticoEntry(buildRoot);
  const proc = spawnTracked(label, process.execPath, [...shebangNodeFlags(entry), entry, '--config', file, '--listen', `127.0.0.1:${port}`, '--admin', 'off', '--log-level', 'silent'], { cpus: cpu, nofile: 65536 });
  try {
    await proc.waitForLine(/listening on/, 180_000);
    await waitForPort('127.0.0.1', port, 30_000, proc);
    return { label, build: buildRoot, table, proc, port };
  } catch (e) {
    await proc.stop();
    return `${label}: ${(e as Error).message.split('\n').slice(0, 3).join(' ')}`;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '1000,10000,100000' },
      kinds: { type: 'string', default: TABLE_KINDS.join(',') },
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '4' },
      warmup: { type: 'string', default: '1' },
      connections: { type: 'string', default: '50' },
      pin: { type: 'boolean', default: false },
      compare: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const sizes = values.sizes.split(',').map(Number);
  const kinds = values.kinds.split(',') as TableKind[];
  for (const k of kinds) if (!TABLE_KINDS.includes(k)) throw new Error(`--kinds: ${k} is not one of ${TABLE_KINDS.join(', ')}`);
  const rounds = Number(values.rounds);
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  const pin = values.pin && hasCommand('taskset') !== undefined && cpus().length > 1;
  const { tool, warning } = pickTool();
  const tmp = mkdtempSync(join(tmpdir(), 'portico-route-sweep-'));
  installSignalHandlers(() => rmSync(tmp, { recursive: true, force: true }));
  const notes: string[] = warning ? [warning] : [];
  try {
    const env = await environment(root);
    const origin = spawnTracked('origin', process.execPath, [join(root, 'dist', 'bench', 'origin.js')], { cpus: pin ? '1' : undefined, nofile: 65536 });
    const om = await origin.waitForLine(/origin listening on ([^:]+):(\d+)/, 15_000);
    const originUrl = `http://${om[1]}:${om[2]}`;
    const tables: Table[] = [{ kind: 'one', size: 1 }, ...kinds.flatMap((kind) => sizes.map((size) => ({ kind, size })))];
    const builds: Array<{ name: string; root: string }> = [{ name: 'portico', root }];
    if (values.compare) builds.push({ name: 'compare', root: resolve(values.compare) });
    const targets: Target[] = [];
    for (const b of builds) {
      for (const t of tables) {
        const label = `${b.name} ${t.kind === 'one' ? '1 route' : `${t.kind} ${t.size}`}`;
        const started = await startPortico(b.root, label, t, originUrl, tmp, pin ? '0' : undefined);
        if (typeof started === 'string') notes.push(`skipped ${started}`);
        else targets.push(started);
      }
    }
    const runs: Run[] = [];
    for (let round = 1; round <= rounds; round++) {
      for (const t of targets) {
        const spec = { host: '127.0.0.1', port: t.port, path: '/small', method: 'GET' as const, bodyBytes: 0, connections, timeoutSec: 10, threads: 1 };
        const opts = { tmp, root, cpus: pin ? '1' : undefined };
        if (Number(values.warmup) > 0) await runLoad(tool, { ...spec, durationSec: Number(values.warmup) }, opts);
        const { value: load, m } = await measured(t.proc.pid, origin.pid, () => runLoad(tool, { ...spec, durationSec: duration }, opts));
        if (load.non2xx > 0 || load.errors > 0) notes.push(`${t.label} round ${round}: ${load.non2xx} non-2xx, ${load.errors} socket errors`);
        const cpuUsPerReq = ((m.targetCpuSec ?? NaN) / load.requests) * 1e6;
        runs.push({ target: t.label, build: t.build, kind: t.table.kind, size: t.table.size, round, load, m, cpuUsPerReq });
        process.stderr.write(`round ${round} ${t.label}: ${Math.round(load.rps)} req/s, ${cpuUsPerReq.toFixed(1)} µs CPU/req${(m.otherCpus ?? 0) > BUSY_THRESHOLD_CPUS ? ` (busy: ${m.otherCpus!.toFixed(2)} other CPUs)` : ''}\n`);
      }
    }
    // report
    const lines: string[] = [];
    lines.push(`Route-table size sweep: ${env.date}, ${env.node}, ${env.cpuCount} × ${env.cpuModel}, commit ${env.commit}${env.dirty ? ' (dirty)' : ''}, load average before ${env.loadAverage?.join(' ') ?? '?'}, ${Math.round((env.busyBefore ?? 0) * 100)}% CPU busy before start`);
    lines.push(`${tool}, ${connections} connections, GET /small matching only the last-resort route, ${rounds} round(s) of ${duration} s per table, interleaved${pin ? ', Portico pinned to CPU 0' : ''}`);
    lines.push('');
    lines.push('| build | table | routes | req/s median (min–max) | CPU µs/req median (min–max) | CPU/req vs 1 route (median of per-round ratios) | busy rounds |');
    lines.push('|---|---|---:|---:|---:|---:|---:|');
    for (const t of targets) {
      const mine = runs.filter((r) => r.target === t.label);
      const one = runs.filter((r) => r.build === t.build && r.kind === 'one');
      const ratios = mine.map((r) => r.cpuUsPerReq / (one.find((o) => o.round === r.round)?.cpuUsPerReq ?? NaN));
      const rps = mine.map((r) => r.load.rps);
      const cpu = mine.map((r) => r.cpuUsPerReq);
      const busy = mine.filter((r) => (r.m.otherCpus ?? 0) > BUSY_THRESHOLD_CPUS).length;
      const f0 = (x: number) => Math.round(x).toLocaleString('en-US');
      const f1 = (x: number) => x.toFixed(1);
      lines.push(`| ${t.label.split(' ')[0]} | ${t.table.kind === 'one' ? '1 route' : t.table.kind} | ${t.table.size.toLocaleString('en-US')} | ${f0(median(rps))} (${f0(Math.min(...rps))}–${f0(Math.max(...rps))}) | ${f1(median(cpu))} (${f1(Math.min(...cpu))}–${f1(Math.max(...cpu))}) | ${median(ratios).toFixed(2)}× | ${busy}/${mine.length} |`);
    }
    if (notes.length) lines.push('', ...notes.map((n) => `- ${n}`));
    console.log(lines.join('\n'));
    if (values.json) writeFileSync(values.json, JSON.stringify({ env, runs: runs.map(({ load, m, ...r }) => ({ ...r, rps: load.rps, requests: load.requests, p99Ms: load.p99Ms, otherCpus: m.otherCpus, targetCpuSec: m.targetCpuSec })), notes }, null, 2) + '\n');
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
