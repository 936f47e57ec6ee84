// HTTP/2 over TLS (`npm run bench:h2`): h2load (Debian nghttp2-client) against Portico, nginx
// (`listen ... ssl http2`) and HAProxy (`alpn h2,http/1.1`), each a TLS listener with the same
// self-signed ECDSA certificate in front of the bench origin (HTTP/1.1 upstream, keep-alive).
// Workloads: small GETs (13-byte body) and 1 MiB GETs. Rounds interleave the targets (A B C, A B C).
// Per run: req/s and MiB/s, errors and non-2xx (h2load), p50/p99 (from h2load's per-request log),
// the target's CPU per request (user + system from /proc/PID/stat) and its peak RSS (VmHWM, reset
// before the run). Prints a Markdown table of medians over the rounds.
//
//   node dist/bench/h2.js [--rounds 3] [--workloads small,big] [--targets portico,nginx,haproxy,portico-ref] [--pin]
//   (portico-ref: the build of the checkout PORTICO_REF_ROOT names, for a before/after in one run)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked } from './procs.js';
import { cpuTime, memory, resetPeak } from './procstat.js';
import { effectiveFdLimit, haproxy, hasCommand, nginx, portico, porticoRef, type Running, type TargetContext, type TargetDef } from './targets.js';
import { makeBenchCertificate } from './tls.js';

interface Workload { id: string; path: string; args: string[]; describe: string }

const WORKLOADS: Workload[] = [
  { id: 'small', path: '/small', args: ['-n', '200000', '-c', '32', '-m', '16'], describe: 'small GET (13-byte body), -n 200000 -c 32 -m 16' },
  { id: 'big', path: '/big', args: ['-n', '2000', '-c', '8', '-m', '4'], describe: '1 MiB GET, -n 2000 -c 8 -m 4' },
];
const TARGETS: Record<string, TargetDef> = { portico, nginx, haproxy, 'portico-ref': porticoRef };

interface Run { target: string; workload: string; reqPerS: number; mibPerS: number; failed: number; errored: number; non2xx: number; p50Ms: number; p99Ms: number; cpuUsPerReq: number; userUsPerReq: number; systemUsPerReq: number; peakRssMiB: number; load: number }

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

/** h2load's summary and its per-request log (one line per request: start, status, duration µs). */
async function h2load(running: Running, w: Workload, logFile: string, cpus: string | undefined): Promise<Omit<Run, 'target' | 'workload' | 'cpuUsPerReq' | 'userUsPerReq' | 'systemUsPerReq' | 'peakRssMiB' | 'load'>> {
  const url = `https://127.0.0.1:${running.port}${w.path}`;
  const p = spawnTracked('h2load', 'h2load', [...w.args, '--log-file', logFile, url], { cpus });
  const code = await p.exited;
  const out = p.output();
  if (code !== 0) throw new Error(`h2load exited ${code}: ${out.slice(-500)}`);
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
  const finished = /finished in ([\d.]+)s, ([\d.]+) req\/s, ([\d.]+)([KMG]?B)\/s/.exec(out);
  const unit = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[finished?.[4] ?? 'B'] ?? 1;
  const durations = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => Number(l.split('\t')[2])).filter(Number.isFinite).sort((a, b) => a - b);
  const pct = (q: number): number => (durations.length ? durations[Math.min(durations.length - 1, Math.floor(q * durations.length))] / 1000 : NaN);
  return {
    reqPerS: Number(finished?.[2] ?? NaN),
    mibPerS: (Number(finished?.[3] ?? NaN) * unit) / 1024 ** 2,
    failed: num(/requests: .*?(\d+) failed/),
    errored: num(/requests: .*?(\d+) errored/),
    non2xx: num(/status codes: \d+ 2xx, (\d+) 3xx/) + num(/status codes: .*?(\d+) 4xx/) + num(/status codes: .*?(\d+) 5xx/),
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
  };
}

const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};

async function main(): Promise<void> {
  if (!hasCommand('h2load')) throw new Error('h2load not installed (apt-get install -y nghttp2-client)');
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const rounds = Number(arg('rounds', '3'));
  const workloads = WORKLOADS.filter((w) => arg('workloads', 'small,big').split(',').includes(w.id));
  const targets = arg('targets', 'portico,nginx,haproxy').split(',').map((t) => TARGETS[t]);
  const pin = process.argv.includes('--pin');
  const tmp = mkdtempSync(join(tmpdir(), 'portico-h2-bench-'));
  const origin = spawnTracked('origin', process.execPath, [join(root, 'dist', 'bench', 'origin.js')], { nofile: 65536, cpus: pin ? '1' : undefined });
  const runs: Run[] = [];
  const running: Running[] = [];
  try {
    const m = await origin.waitForLine(/origin listening on ([^:]+):(\d+)/, 15_000);
    const ctx: TargetContext = { root, tmp, originHost: m[1], originPort: Number(m[2]), cpus: pin ? '0' : undefined, nofile: 65536, fdLimit: effectiveFdLimit(65536), tls: makeBenchCertificate(tmp) };
    for (const t of targets) {
      const why = t.check(ctx);
      if (why) { process.stdout.write(`skip ${t.name}: ${why}\n`); continue; }
      running.push(await t.start(ctx, 'h2'));
    }
    for (const w of workloads) {
      // warm-up, not recorded
      for (const r of running) await h2load(r, { ...w, args: w.args.map((a, i) => (w.args[i - 1] === '-n' ? String(Math.ceil(Number(a) / 10)) : a)) }, join(tmp, 'warm.log'), pin ? '1' : undefined);
      for (let round = 0; round < rounds; round++) {
        for (const r of running) {
          const pid = r.proc!.pid;
          resetPeak(pid);
          const before = cpuTime(pid)!;
          const load = loadavg()[0];
          const res = await h2load(r, w, join(tmp, `${r.name}-${w.id}.log`), pin ? '1' : undefined);
          const after = cpuTime(pid)!;
          const n = Number(w.args[w.args.indexOf('-n') + 1]);
          const run: Run = {
            target: r.name, workload: w.id, ...res, load,
            cpuUsPerReq: ((after.self - before.self) / n) * 1e6,
            userUsPerReq: ((after.user - before.user) / n) * 1e6,
            systemUsPerReq: ((after.system - before.system) / n) * 1e6,
            peakRssMiB: (memory(pid)?.hwm ?? NaN) / 1024 ** 2,
          };
          runs.push(run);
          process.stdout.write(`${JSON.stringify(run)}\n`);
        }
      }
    }
  } finally {
    for (const r of running) await r.stop();
    await origin.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '—');
  process.stdout.write(`\n${runs.length} runs, ${rounds} rounds; load average now ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n\n`);
  for (const w of workloads) {
    process.stdout.write(`\n${w.describe}\n\n| target | req/s | MiB/s | CPU µs/req (user+sys) | p50 ms | p99 ms | peak RSS MiB | failed+errored | non-2xx | load avg |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n`);
    for (const t of [...new Set(runs.filter((r) => r.workload === w.id).map((r) => r.target))]) {
      const rs = runs.filter((r) => r.workload === w.id && r.target === t);
      const med = (k: keyof Run) => median(rs.map((r) => r[k] as number));
      process.stdout.write(`| ${t} | ${f(med('reqPerS'), 0)} | ${f(med('mibPerS'))} | ${f(med('cpuUsPerReq'))} (${f(med('userUsPerReq'))}+${f(med('systemUsPerReq'))}) | ${f(med('p50Ms'), 2)} | ${f(med('p99Ms'), 2)} | ${f(med('peakRssMiB'))} | ${rs.reduce((a, r) => a + r.failed + r.errored, 0)} | ${rs.reduce((a, r) => a + r.non2xx, 0)} | ${f(med('load'), 2)} |\n`);
    }
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:h2 failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
