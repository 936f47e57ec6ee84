// `npm run bench:memory`: Portico's memory at start (issue 23). The `portico` command (as its shebang
// runs it, --log-level silent, one route to the bench origin) in three configurations: one process
// with the admin API off, one with it on, and `--workers N` with the admin API on, where the
// primary and each worker are measured separately. Each run:
//   1. start: RSS 5 s after the "listening" line, and the lowest RSS over the next --settle seconds
//      ("settled": V8's memory reducer gives back heap some seconds after the start's garbage);
//   2. load: --load-seconds of small GETs (wrk, or autocannon) through the proxy: peak RSS
//      (VmHWM, reset before), then the lowest RSS over --settle seconds after it;
//   3. admin API used (admin on only): one GET each of /metrics, /v1/routes and /docs/json (what
//      is loaded or compiled on first use, issue 23), then the lowest RSS over --settle seconds.
// With PORTICO_REF_ROOT set to another built checkout (e.g. `git worktree add ../ref main`, npm ci)
// the same runs are made with it too ("before"), interleaved: round 1 before, after; round 2 ...
// Tables give medians over rounds (min-max); results go to bench/results/memory-<timestamp>/.
//
// Usage: node dist/bench/memory.js [--rounds 2] [--settle 30] [--load-seconds 5] [--workers 2]
//        [--configs off,on,workers] [--load wrk|autocannon] [--out DIR]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCommand, type CommandContext } from './command.js';
import { porticoEntry, shebangNodeFlags } from './targets.js';
import { freePort } from './ports.js';
import { pickTool, runLoad, type LoadTool } from './load.js';
import { spawnTracked, waitForPort, type Tracked } from './procs.js';
import { memory, processTree, resetPeak } from './procstat.js';
import { environment, type Environment } from './env.js';
import { stat, type Stat } from './report.js';

const USAGE = `Usage: npm run bench:memory -- [options]
  --rounds N          rounds, each running every configuration of every checkout once (default 2)
  --settle S          seconds over which the lowest RSS is taken after each phase (default 30)
  --load-seconds S    seconds of small GETs (50 connections) in the load phase (default 5)
  --workers N         worker processes of the workers configuration (default 2)
  --configs LIST      off,on,workers (default all)
  --load TOOL         wrk (default when installed) or autocannon
  --out DIR           results directory (default bench/results/memory-<timestamp>)
PORTICO_REF_ROOT=DIR also runs the built checkout DIR ("before") in the same rounds.
`;

const TOKEN = 'bench-memory-token-0123456789abcdef';
const START_TIMEOUT_MS = 60_000;
const SAMPLE_MS = 250;
/** "At start" is read this long after the listening line. */
const AT_START_MS = 5_000;

type ConfigId = 'off' | 'on' | 'workers';

interface Options {
  rounds: number;
  settleSec: number;
  loadSec: number;
  workers: number;
  configs: ConfigId[];
  load?: string;
  out?: string;
}

/** RSS figures of one process in one run, bytes. */
interface ProcessFigures {
  atStart: number;
  settled: number;
  loadPeak: number;
  afterLoad: number;
  afterAdminUse?: number;
}

interface RunRecord {
  round: number;
  checkout: 'before' | 'after';
  config: ConfigId;
  /** 'process' (one process), 'primary', 'worker 0', 'worker 1', ... */
  processes: Record<string, ProcessFigures>;
  load: { requests: number; errors: number; non2xx: number };
  notes: string[];
}

function positive(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
  return n;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string' },
      settle: { type: 'string' },
      'load-seconds': { type: 'string' },
      workers: { type: 'string' },
      configs: { type: 'string' },
      load: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const configs = (values.configs ?? 'off,on,workers').split(',').map((c) => c.trim());
  for (const c of configs) if (c !== 'off' && c !== 'on' && c !== 'workers') throw new Error(`unknown configuration ${c} (off, on, workers)`);
  if (values.load !== undefined && values.load !== 'wrk' && values.load !== 'autocannon') throw new Error('--load must be wrk or autocannon');
  const workers = positive('workers', values.workers, 2);
  if (workers < 2) throw new Error('--workers must be at least 2');
  return {
    rounds: positive('rounds', values.rounds, 2),
    settleSec: positive('settle', values.settle, 30),
    loadSec: positive('load-seconds', values['load-seconds'], 5),
    workers,
    configs: configs as ConfigId[],
    load: values.load,
    out: values.out,
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The processes of a running portico by role: the process itself, or the primary and its workers
 *  (ordered by pid: the order they were forked in). */
function roles(pid: number, workers: boolean): Map<string, number> {
  if (!workers) return new Map([['process', pid]]);
  const tree = processTree(pid);
  const kids = tree.slice(1).sort((a, b) => a - b);
  return new Map([['primary', pid], ...kids.map((k, i) => [`worker ${i}`, k] as [string, number])]);
}

/** Samples every process's RSS every SAMPLE_MS for `ms`: the lowest reading of each. */
async function lowestOver(procs: Map<string, number>, ms: number, until?: { at: number; into: Map<string, number> }): Promise<Map<string, number>> {
  const low = new Map<string, number>();
  const start = performance.now();
  for (;;) {
    for (const [role, pid] of procs) {
      const m = memory(pid);
      if (!m) continue;
      low.set(role, Math.min(low.get(role) ?? Infinity, m.rss));
      // the reading at `until.at` ms is kept as well ("at start")
      if (until && !until.into.has(role) && performance.now() - start >= until.at) until.into.set(role, m.rss);
    }
    if (performance.now() - start >= ms) return low;
    await sleep(SAMPLE_MS);
  }
}

class MemoryBench {
  readonly #opts: Options;
  readonly #ctx: CommandContext<Options>;
  readonly #tool: LoadTool;
  #origin!: { host: string; port: number };
  readonly runs: RunRecord[] = [];

  constructor(ctx: CommandContext<Options>, tool: LoadTool) {
    this.#ctx = ctx;
    this.#opts = ctx.opts;
    this.#tool = tool;
  }

  async startOrigin(): Promise<void> {
    const origin = spawnTracked('origin', process.execPath, [join(this.#ctx.root, 'dist', 'bench', 'origin.js')]);
    const m = await origin.waitForLine(/origin listening on ([^:]+):(\d+)/, 15_000);
    this.#origin = { host: m[1], port: Number(m[2]) };
  }

  async run(round: number, checkout: 'before' | 'after', root: string, config: ConfigId): Promise<RunRecord> {
    const entry = porticoEntry(root);
    const port = await freePort();
    const args = [...shebangNodeFlags(entry), entry, '--listen', `127.0.0.1:${port}`, '--log-level', 'silent', '--route', `/=http://${this.#origin.host}:${this.#origin.port}`];
    let adminUrl: string | undefined;
    if (config === 'off') args.push('--admin', 'off');
    else {
      const aport = await freePort();
      args.push('--admin', `127.0.0.1:${aport}`);
      adminUrl = `http://127.0.0.1:${aport}`;
    }
    if (config === 'workers') args.push('--workers', String(this.#opts.workers));
    const rec: RunRecord = { round, checkout, config, processes: {}, load: { requests: 0, errors: 0, non2xx: 0 }, notes: [] };
    const proc: Tracked = spawnTracked(`portico ${checkout} ${config}`, process.execPath, args, { env: { ...process.env, PORTICO_ADMIN_TOKEN: TOKEN }, nofile: 65536 });
    try {
      await proc.waitForLine(/listening on/, START_TIMEOUT_MS);
      await waitForPort('127.0.0.1', port, START_TIMEOUT_MS, proc);
      const procs = roles(proc.pid, config === 'workers');
      if (config === 'workers' && procs.size !== this.#opts.workers + 1) rec.notes.push(`${procs.size - 1} worker processes found, ${this.#opts.workers} expected`);
      const settleMs = Math.max(this.#opts.settleSec * 1000, AT_START_MS);

      // 1. start
      const atStart = new Map<string, number>();
      const settled = await lowestOver(procs, settleMs, { at: AT_START_MS, into: atStart });

      // 2. load
      for (const pid of procs.values()) resetPeak(pid);
      const load = await runLoad(this.#tool, {
        host: '127.0.0.1', port, path: '/small', method: 'GET', bodyBytes: 0, connections: 50, durationSec: this.#opts.loadSec, timeoutSec: 5, threads: 1,
      }, { tmp: this.#ctx.tmp, root: this.#ctx.root });
      rec.load = { requests: load.requests, errors: load.errors, non2xx: load.non2xx };
      const peaks = new Map([...procs].map(([role, pid]) => [role, memory(pid)?.hwm ?? NaN]));
      const afterLoad = await lowestOver(procs, settleMs);

      // 3. the admin API used once
      let afterAdmin: Map<string, number> | undefined;
      if (adminUrl !== undefined) {
        for (const path of ['/metrics', '/v1/routes', '/docs/json']) {
          const res = await fetch(adminUrl + path, { headers: { authorization: `Bearer ${TOKEN}` } });
          await res.arrayBuffer();
          if (res.status !== 200) rec.notes.push(`GET ${path}: ${res.status}`);
        }
        afterAdmin = await lowestOver(procs, settleMs);
      }
      for (const role of procs.keys()) {
        rec.processes[role] = {
          atStart: atStart.get(role) ?? NaN,
          settled: settled.get(role) ?? NaN,
          loadPeak: peaks.get(role) ?? NaN,
          afterLoad: afterLoad.get(role) ?? NaN,
          ...(afterAdmin ? { afterAdminUse: afterAdmin.get(role) ?? NaN } : {}),
        };
      }
    } finally {
      await proc.stop(5000);
    }
    return rec;
  }
}

const CONFIG_TITLE: Record<ConfigId, string> = {
  off: 'one process, admin API off',
  on: 'one process, admin API on',
  workers: '--workers N, admin API on',
};

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const cell = (s: Stat | undefined) => (s === undefined || !Number.isFinite(s.median) ? '–' : s.max - s.min < 0.05 * 2 ** 20 ? mib(s.median) : `${mib(s.median)} (${mib(s.min)}–${mib(s.max)})`);

interface Row { checkout: string; config: ConfigId; role: string; figures: Record<keyof ProcessFigures, Stat | undefined> }

function summarize(runs: RunRecord[]): Row[] {
  const rows: Row[] = [];
  const keys = new Set(runs.map((r) => `${r.config}\u0000${r.checkout}`));
  for (const config of ['off', 'on', 'workers'] as ConfigId[]) {
    for (const checkout of ['before', 'after']) {
      if (!keys.has(`${config}\u0000${checkout}`)) continue;
      const mine = runs.filter((r) => r.config === config && r.checkout === checkout);
      const roleNames = [...new Set(mine.flatMap((r) => Object.keys(r.processes)))];
      for (const role of roleNames) {
        const pick = (k: keyof ProcessFigures) => {
          const xs = mine.map((r) => r.processes[role]?.[k]).filter((x): x is number => x !== undefined && Number.isFinite(x));
          return xs.length ? stat(xs) : undefined;
        };
        rows.push({ checkout, config, role, figures: { atStart: pick('atStart'), settled: pick('settled'), loadPeak: pick('loadPeak'), afterLoad: pick('afterLoad'), afterAdminUse: pick('afterAdminUse') } });
      }
    }
  }
  return rows;
}

/** The issue's goals: admin on at most 10 MiB over off; each worker at most one single process. */
function goals(rows: Row[]): string[] {
  const out: string[] = [];
  for (const checkout of ['before', 'after']) {
    const get = (config: ConfigId, role: string) => rows.find((r) => r.checkout === checkout && r.config === config && r.role === role);
    const off = get('off', 'process');
    const on = get('on', 'process');
    if (!off) continue;
    for (const k of ['atStart', 'settled', 'afterLoad'] as const) {
      const o = off.figures[k]?.median;
      if (o === undefined) continue;
      const parts: string[] = [];
      const a = on?.figures[k]?.median;
      if (a !== undefined) parts.push(`admin on − off ${mib(a - o)} MiB (goal ≤ 10)`);
      const workers = rows.filter((r) => r.checkout === checkout && r.config === 'workers' && r.role.startsWith('worker'));
      const worst = Math.max(...workers.map((w) => w.figures[k]?.median ?? -Infinity));
      if (workers.length && Number.isFinite(worst)) parts.push(`largest worker ÷ one process (admin off) ${(worst / o).toFixed(2)} (goal ≤ 1)`);
      if (parts.length) out.push(`- ${checkout}, ${k === 'atStart' ? '5 s after start' : k === 'settled' ? 'settled after start' : 'settled after the load'}: ${parts.join('; ')}`);
    }
  }
  return out;
}

function markdown(opts: Options, env: Environment, refRoot: string | undefined, tool: string, runs: RunRecord[]): string {
  const rows = summarize(runs);
  const lines = [
    `Memory at start (\`npm run bench:memory\`), ${env.date}: ${opts.rounds} round(s), settle ${opts.settleSec} s, load ${opts.loadSec} s of small GETs over 50 connections (${tool}).`,
    `Node ${env.node}, ${env.cpuCount} × ${env.cpuModel}, load average ${env.loadAverage?.map((x) => x.toFixed(1)).join(' ') ?? '?'}; after: commit ${env.commit}${env.dirty ? ' (uncommitted changes)' : ''}${refRoot ? `; before: ${refRoot}` : ''}.`,
    '',
    '| configuration | checkout | process | RSS 5 s after start MiB | settled after start | peak under load | settled after load | after one GET of /metrics, /v1/routes, /docs/json |',
    '|---|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const f = r.figures;
    lines.push(`| ${CONFIG_TITLE[r.config].replace('N', String(opts.workers))} | ${r.checkout} | ${r.role} | ${cell(f.atStart)} | ${cell(f.settled)} | ${cell(f.loadPeak)} | ${cell(f.afterLoad)} | ${cell(f.afterAdminUse)} |`);
  }
  const g = goals(rows);
  if (g.length) lines.push('', 'Goals (medians):', ...g);
  const notes = runs.flatMap((r) => r.notes.map((n) => `- round ${r.round}, ${r.checkout} ${r.config}: ${n}`));
  const failed = runs.filter((r) => r.load.errors > 0 || r.load.non2xx > 0 || r.load.requests === 0);
  for (const r of failed) notes.push(`- round ${r.round}, ${r.checkout} ${r.config}: load ${r.load.requests} requests, ${r.load.errors} errors, ${r.load.non2xx} non-2xx`);
  if (notes.length) lines.push('', 'Notes:', ...notes);
  return lines.join('\n') + '\n';
}

async function main(ctx: CommandContext<Options>): Promise<number> {
  const { opts, root } = ctx;
  const { tool, warning } = pickTool(opts.load);
  if (warning) process.stderr.write(`bench:memory: ${warning}\n`);
  const refRoot = process.env['PORTICO_REF_ROOT'];
  const env = await environment(root);
  const bench = new MemoryBench(ctx, tool);
  await bench.startOrigin();
  const checkouts: Array<['before' | 'after', string]> = refRoot ? [['before', refRoot], ['after', root]] : [['after', root]];
  for (let round = 1; round <= opts.rounds; round++) {
    for (const config of opts.configs) {
      for (const [checkout, dir] of checkouts) {
        process.stderr.write(`round ${round}: ${checkout} ${config} ...\n`);
        const rec = await bench.run(round, checkout, dir, config);
        bench.runs.push(rec);
        for (const [role, f] of Object.entries(rec.processes)) {
          process.stderr.write(`  ${role.padEnd(9)} start ${mib(f.atStart)}  settled ${mib(f.settled)}  load peak ${mib(f.loadPeak)}  after load ${mib(f.afterLoad)}${f.afterAdminUse !== undefined ? `  after admin use ${mib(f.afterAdminUse)}` : ''} MiB\n`);
        }
      }
    }
  }
  const out = opts.out ?? join(root, 'bench', 'results', `memory-${env.date.replace(/[:.]/g, '-')}`);
  mkdirSync(out, { recursive: true });
  const md = markdown(opts, env, refRoot, tool, bench.runs);
  writeFileSync(join(out, 'results.json'), JSON.stringify({ env, opts, refRoot, tool, runs: bench.runs }, null, 1));
  writeFileSync(join(out, 'results.md'), md);
  process.stdout.write(`\n${md}\nwritten to ${out}\n`);
  return 0;
}

process.exitCode = await runCommand('bench-memory', USAGE, parseOptions, main);
