// `npm run bench`: Portico against direct (no proxy) and the proxies people use, each a separate process
// on loopback, driven by wrk (or autocannon). Warm-up, then rounds interleaved across targets; medians
// with min and max; results under bench/results/<timestamp>/. See bench/README.md.
import { cpus } from 'node:os';
import { basename, join } from 'node:path';
import { existsSync, mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { spawnTracked, isInterrupted, Interrupted, type Tracked } from './procs.js';
import { runCommand, type CommandContext } from './command.js';
import { makeBenchCertificate, negotiated } from './tls.js';
import { ALL_TARGETS, hasCommand, effectiveFdLimit, type Running, type TargetContext, type TargetDef, type Role } from './targets.js';
import { WORKLOADS, DEFAULT_WORKLOADS, SMOKE_WORKLOADS, type Workload } from './workloads.js';
import { pickTool, runHandshakes, runLoad, runTunnel, toolVersion, type LoadSpec, type LoadTool, type LoadResult } from './load.js';
import { measured, BUSY_THRESHOLD_CPUS } from './measure.js';
import { memory, resetPeak } from './procstat.js';
import { environment } from './env.js';
import { summarizeProfile, profileMarkdown } from './cpu-profile.js';
import { probeAdmin, startChurn } from './route-churn.js';
import { probeForward, probeConnect } from './probe.js';
import {
  summarize,
  ratios,
  writeResults,
  markdown,
  type Results,
  type RunRecord,
  type IdleRecord,
  type ProfileRecord,
  type TargetInfo,
  type WorkloadInfo,
} from './report.js';

const USAGE = `Usage: npm run bench -- [options]

  --peers LIST       peers to run besides portico and direct, comma-separated (default: all but
                     the portico-w* variants: portico --workers 2, with either cluster scheduling):
                     ${ALL_TARGETS.filter((t) => t.name !== 'portico' && t.name !== 'direct').map((t) => t.name).join(', ')}
  --workloads LIST   ${WORKLOADS.map((w) => w.id).join(', ')} (default: all)
                     ${WORKLOADS.map((w) => `${w.id}: ${w.title}`).join('\n                     ')}
  --duration S       seconds per measured run (default 4)
  --warmup S         seconds of warm-up per target and workload (default 1)
  --rounds N         measured rounds per target, interleaved across targets (default 3)
  --idle N           idle connections for workload e (default 10000)
  --idle-settle S    workload e: also read RSS over S seconds after they opened, lowest kept (default 15)
  --churn-rate N     route changes per second for workload f (default 20)
  --pin              pin the target to CPU 0 and origin/load generator to the others (taskset)
  --load TOOL        wrk (default when installed) or autocannon
  --threads N        wrk threads (default 1)
  --out DIR          results directory (default bench/results/<timestamp>)
  --log-level LEVEL  portico's --log-level (default silent; info measures the access log's cost)
  --profile          run Portico under node --cpu-prof, restarted per workload: portico-<workload>.cpuprofile
                     and a self-time summary (by category and top functions) next to the results; the
                     profiler costs Portico some CPU, so compare its figures only with other --profile runs
  --smoke            seconds, not minutes: workloads a,c,d, 1 s, 1 round, no warm-up, few connections
  -h, --help         this help

Peers not installed are skipped with a note. To install the native ones (Debian/Ubuntu):
  apt-get install -y wrk nginx-light haproxy python3-twisted tinyproxy
`;

interface Options {
  peers: string[] | undefined;
  workloads: string[];
  duration: number;
  warmup: number;
  rounds: number;
  idle: number;
  /** Seconds over which workload e looks for the lowest RSS after the connections opened. */
  idleSettle: number;
  churnRate: number;
  pin: boolean;
  load: string | undefined;
  threads: number;
  out: string | undefined;
  smoke: boolean;
  profile: boolean;
  timeout: number;
  logLevel: string;
}

function list(s: string | undefined): string[] | undefined {
  return s === undefined ? undefined : s.split(',').map((x) => x.trim()).filter(Boolean);
}

function int(name: string, s: string | undefined, dflt: number, min: number): number {
  if (s === undefined) return dflt;
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min} (wrk takes whole seconds)`);
  return n;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      peers: { type: 'string' },
      workloads: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      idle: { type: 'string' },
      'idle-settle': { type: 'string' },
      'churn-rate': { type: 'string' },
      pin: { type: 'boolean' },
      load: { type: 'string' },
      threads: { type: 'string' },
      out: { type: 'string' },
      smoke: { type: 'boolean' },
      profile: { type: 'boolean' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const smoke = values.smoke ?? false;
  const workloads = list(values.workloads) ?? (smoke ? SMOKE_WORKLOADS : DEFAULT_WORKLOADS);
  for (const w of workloads) if (!WORKLOADS.some((x) => x.id === w)) throw new Error(`unknown workload ${JSON.stringify(w)}`);
  const peers = list(values.peers);
  for (const p of peers ?? []) if (!ALL_TARGETS.some((t) => t.name === p) && p !== 'none') throw new Error(`unknown peer ${JSON.stringify(p)}`);
  if (values.load !== undefined && values.load !== 'wrk' && values.load !== 'autocannon') throw new Error('--load must be wrk or autocannon');
  return {
    peers,
    workloads,
    duration: int('duration', values.duration, smoke ? 1 : 4, 1),
    warmup: int('warmup', values.warmup, smoke ? 0 : 1, 0),
    rounds: int('rounds', values.rounds, smoke ? 1 : 3, 1),
    idle: int('idle', values.idle, smoke ? 200 : 10_000, 1),
    idleSettle: int('idle-settle', values['idle-settle'], smoke ? 0 : 15, 0),
    churnRate: int('churn-rate', values['churn-rate'], 20, 1),
    pin: values.pin ?? false,
    load: values.load,
    threads: int('threads', values.threads, 1, 1),
    out: values.out,
    smoke,
    profile: values.profile ?? false,
    timeout: 10,
    logLevel: values['log-level'] ?? 'silent',
  };
}

interface CpuPlan {
  target: string | undefined;
  origin: string | undefined;
  load: string | undefined;
}

function cpuPlan(pin: boolean, notes: string[]): CpuPlan {
  const none = { target: undefined, origin: undefined, load: undefined };
  if (!pin) return none;
  const n = cpus().length;
  if (!hasCommand('taskset')) {
    notes.push('--pin ignored: taskset is not installed (util-linux)');
    return none;
  }
  if (n < 2) {
    notes.push('--pin ignored: only one CPU');
    return none;
  }
  if (n === 2) return { target: '0', origin: '1', load: '1' };
  if (n === 3) return { target: '0', origin: '1', load: '2' };
  return { target: '0', origin: '1', load: `2-${n - 1}` };
}

function fmt(x: number, d = 0): string {
  return x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

class Bench {
  readonly runs: RunRecord[] = [];
  readonly idle: IdleRecord[] = [];
  readonly notes: string[] = [];
  readonly workloadInfo: WorkloadInfo[] = [];
  targetInfo: TargetInfo[] = [];
  origin!: Tracked;
  ctx!: TargetContext;
  tool!: LoadTool;
  plan!: CpuPlan;
  readonly profiles: ProfileRecord[] = [];

  constructor(
    readonly opts: Options,
    readonly root: string,
    readonly tmp: string,
    /** The results directory (--profile writes its .cpuprofile files there). */
    readonly out: string,
  ) {}

  originAuthority(): string {
    return `${this.ctx.originHost}:${this.ctx.originPort}`;
  }

  note(s: string): void {
    this.notes.push(s);
    process.stdout.write(`note: ${s}\n`);
  }

  async startOrigin(): Promise<void> {
    this.origin = spawnTracked('origin', process.execPath, [join(this.root, 'dist', 'bench', 'origin.js')], {
      cpus: this.plan.origin,
      nofile: 65536,
    });
    const m = await this.origin.waitForLine(/origin listening on ([^:]+):(\d+)/, 15_000);
    this.ctx = { root: this.root, tmp: this.tmp, originHost: m[1], originPort: Number(m[2]), cpus: this.plan.target, nofile: 65536, fdLimit: effectiveFdLimit(65536), porticoLogLevel: this.opts.logLevel };
  }

  /** Starts every usable target for a role; failures become notes. */
  async startTargets(defs: TargetDef[], role: Role, wl: string): Promise<Running[]> {
    const out: Running[] = [];
    for (const d of defs) {
      if (!d.roles.includes(role)) continue;
      try {
        out.push(await d.start(this.ctx, role));
      } catch (e) {
        this.note(`${d.name} (${role}) did not start, skipped for ${wl}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    return out;
  }

  loadSpec(w: Workload, r: Running, connections: number, seconds: number): LoadSpec {
    const forward = w.role === 'forward' && r.name !== 'direct';
    return {
      host: r.host,
      port: r.port,
      path: forward ? `http://${this.originAuthority()}${w.path}` : w.path,
      ...(forward ? { hostHeader: this.originAuthority() } : {}),
      method: w.method,
      bodyBytes: w.bodyBytes,
      connections,
      durationSec: seconds,
      timeoutSec: this.opts.timeout,
      threads: this.opts.threads,
      ...(w.role === 'tls' ? { https: true } : {}),
      ...(w.closeEach ? { closeEach: true } : {}),
    };
  }

  async generate(w: Workload, r: Running, connections: number, seconds: number): Promise<LoadResult> {
    if (w.kind === 'tunnel') {
      return runTunnel(
        {
          host: r.host,
          port: r.port,
          originHost: this.ctx.originHost,
          originPort: this.ctx.originPort,
          path: w.path,
          connections,
          durationSec: seconds,
          timeoutSec: this.opts.timeout,
          connect: r.name !== 'direct',
        },
        { root: this.root, cpus: this.plan.load },
      );
    }
    if (w.handshake) {
      return runHandshakes({
        host: r.host, port: r.port, path: w.path, servername: 'localhost', connections, durationSec: seconds,
        timeoutSec: this.opts.timeout, resume: w.handshake === 'resumed',
      }, { root: this.root, cpus: this.plan.load });
    }
    return runLoad(this.tool, this.loadSpec(w, r, connections, seconds), { tmp: this.tmp, root: this.root, cpus: this.plan.load });
  }

  /** One measured run; the record is kept unless it is a warm-up. */
  async runOne(w: Workload, r: Running, label: string, round: number, extra?: { during?: () => { stop(): Promise<RunRecord['churn']> } }): Promise<RunRecord> {
    const conns = this.opts.smoke ? w.smokeConnections : w.connections;
    if (isInterrupted()) throw new Interrupted();
    const rec: RunRecord = { workload: w.id, target: label, round, busy: false };
    try {
      const during = extra?.during?.();
      const { value, m } = await measured(r.proc?.pid, this.origin.pid, () => this.generate(w, r, conns, this.opts.duration));
      if (during) {
        const c = await during.stop();
        if (c) rec.churn = c;
      }
      rec.load = value;
      rec.m = m;
      if (m.targetCpuSec !== undefined && value.requests > 0) {
        rec.cpuUsPerReq = (m.targetCpuSec * 1e6) / value.requests;
        rec.userUsPerReq = (m.targetUserSec! * 1e6) / value.requests;
        rec.systemUsPerReq = (m.targetSystemSec! * 1e6) / value.requests;
      }
      if (m.originCpuSec !== undefined && value.requests > 0) rec.originCpuUsPerReq = (m.originCpuSec * 1e6) / value.requests;
      rec.busy = (m.otherCpus ?? 0) > BUSY_THRESHOLD_CPUS;
    } catch (e) {
      if (isInterrupted()) throw new Interrupted();
      rec.error = (e as Error).message;
    }
    this.runs.push(rec);
    this.progress(rec);
    return rec;
  }

  progress(rec: RunRecord): void {
    const head = `[${rec.workload} ${rec.round}/${this.opts.rounds}] ${rec.target.padEnd(26)}`;
    if (!rec.load) {
      process.stdout.write(`${head} FAILED: ${(rec.error ?? '').split('\n')[0]}\n`);
      return;
    }
    const l = rec.load;
    const parts = [
      `${fmt(l.rps).padStart(9)} req/s`,
      `p50 ${fmt(l.p50Ms, 2)} ms`,
      `p99 ${fmt(l.p99Ms, 2)} ms`,
      `${fmt(l.bytesPerSec / 2 ** 20, 1)} MiB/s`,
    ];
    if (rec.cpuUsPerReq !== undefined) parts.push(`CPU ${fmt(rec.cpuUsPerReq, 1)} µs/req (user ${fmt(rec.userUsPerReq ?? NaN, 1)} + sys ${fmt(rec.systemUsPerReq ?? NaN, 1)})`);
    if (rec.m?.peakRssBytes !== undefined) parts.push(`RSS ${fmt(rec.m.peakRssBytes / 2 ** 20)} MiB`);
    if (l.errors || l.non2xx) parts.push(`errors ${l.errors} non-2xx ${l.non2xx}`);
    if (l.handshakes) parts.push(`resumed ${fmt((100 * (l.resumed ?? 0)) / l.handshakes)}% of ${l.handshakes} handshakes`);
    if (rec.churn) parts.push(`route changes ${rec.churn.changes} (${rec.churn.failed} failed)`);
    if (rec.busy) parts.push(`BUSY: other processes used ${fmt(rec.m?.otherCpus ?? 0, 2)} CPU`);
    process.stdout.write(`${head} ${parts.join('  ')}\n`);
  }

  async warmUp(w: Workload, running: Running[]): Promise<void> {
    if (this.opts.warmup <= 0) return;
    const conns = this.opts.smoke ? w.smokeConnections : w.connections;
    for (const r of running) {
      try {
        await this.generate(w, r, conns, this.opts.warmup);
      } catch {
        /* the measured runs report failures */
      }
    }
  }

  async loadWorkload(w: Workload, running: Running[]): Promise<void> {
    process.stdout.write(`\n(${w.id}) ${w.title}: ${running.map((r) => r.name).join(', ')}\n`);
    await this.warmUp(w, running);
    for (let round = 1; round <= this.opts.rounds; round++) {
      for (const r of running) await this.runOne(w, r, r.name, round);
    }
  }

  async idleWorkload(w: Workload, running: Running[]): Promise<void> {
    const n = this.opts.idle;
    process.stdout.write(`\n(${w.id}) ${w.title}: ${fmt(n)} connections per target, one round\n`);
    for (const r of running) {
      const pid = r.proc?.pid ?? this.origin.pid;
      const label = r.proc ? r.name : 'direct (origin process)';
      const before = memory(pid);
      resetPeak(pid);
      const spec = { host: r.host, port: r.port, path: w.path, count: n, batch: 250, timeoutSec: this.opts.timeout };
      const child = spawnTracked('idle-clients', process.execPath, [join(this.root, 'dist', 'bench', 'idle-clients.js'), JSON.stringify(spec)], {
        nofile: Math.max(65536, n + 1024),
        stdinPipe: true,
        cpus: this.plan.load,
      });
      try {
        const m = await child.waitForLine(/^OPENED (\{.*\})$/, 60_000 + n * 20);
        const opened = JSON.parse(m[1]) as { opened: number; failed: number; failures: Record<string, number>; seconds: number; attempted: number };
        await new Promise((res) => setTimeout(res, 1000));
        const after = memory(pid);
        // idle for a while: the lowest RSS over the settle period, once the target has collected
        // the garbage of accepting them (V8 does so a few seconds after allocation stops)
        let settled = after?.rss ?? NaN;
        for (let i = 0; i < this.opts.idleSettle; i++) {
          await new Promise((res) => setTimeout(res, 1000));
          const m = memory(pid);
          if (m && m.rss < settled) settled = m.rss;
        }
        child.child.stdin?.write('count 1\n');
        const c = await child.waitForLine(/^OPEN#1 (\d+)/, 10_000);
        const open = Number(c[1]);
        const rec: IdleRecord = {
          target: label,
          requested: n,
          opened: opened.opened,
          failed: opened.failed,
          failures: opened.failures,
          openAtMeasure: open,
          rssBeforeBytes: before?.rss ?? NaN,
          rssAfterBytes: after?.rss ?? NaN,
          peakRssBytes: after?.hwm ?? NaN,
          bytesPerConn: open > 0 && before && after ? (after.rss - before.rss) / open : NaN,
          bytesPerConnSettled: open > 0 && before && this.opts.idleSettle > 0 ? (settled - before.rss) / open : NaN,
          openSeconds: opened.seconds,
        };
        const why: string[] = [];
        if (opened.attempted < n) why.push(`client fd limit allowed ${opened.attempted}`);
        if (opened.failed) why.push(`${opened.failed} failed: ${JSON.stringify(opened.failures)}`);
        if (open < opened.opened) why.push(`${opened.opened - open} closed by the target before RSS was read`);
        if (rec.bytesPerConn < 0) why.push('RSS went down (a garbage collection during the measurement): not measurable');
        if (why.length) rec.note = why.join('; ');
        this.idle.push(rec);
        process.stdout.write(
          `[e] ${label.padEnd(26)} ${fmt(open)} open  RSS ${fmt(rec.rssBeforeBytes / 2 ** 20, 1)} -> ${fmt(rec.rssAfterBytes / 2 ** 20, 1)} MiB  ` +
            `${fmt(rec.bytesPerConn / 1024, 2)} KiB/conn, settled ${fmt(rec.bytesPerConnSettled / 1024, 2)}  (opened in ${fmt(opened.seconds, 1)} s)${rec.note ? `  ${rec.note}` : ''}\n`,
        );
      } catch (e) {
        this.note(`(e) ${label}: ${(e as Error).message.split('\n')[0]}`);
      } finally {
        child.child.stdin?.end();
        const t = setTimeout(() => void child.stop(1000), 5000);
        await child.exited;
        clearTimeout(t);
        await new Promise((res) => setTimeout(res, 500));
      }
    }
  }

  async churnWorkload(w: Workload, defs: TargetDef[]): Promise<void> {
    const info = this.workloadInfo.find((x) => x.id === w.id)!;
    const portico = defs.find((d) => d.name === 'portico');
    if (!portico) {
      info.skipped = 'Portico is not available';
      return;
    }
    const token = randomBytes(16).toString('hex');
    let r: Running;
    try {
      r = await portico.start(this.ctx, 'reverse', { adminToken: token });
    } catch (e) {
      info.skipped = `Portico with --admin did not start: ${(e as Error).message.split('\n')[0]}`;
      this.note(`(f) skipped: ${info.skipped}`);
      return;
    }
    try {
      const upstream = `http://${this.originAuthority()}`;
      const why = await probeAdmin(r.adminUrl!, token, upstream);
      if (why) {
        info.skipped = `admin API: ${why}`;
        this.note(`(f) skipped: ${info.skipped}`);
        return;
      }
      process.stdout.write(`\n(${w.id}) ${w.title}: ${this.opts.churnRate} changes/s\n`);
      await this.warmUp(w, [r]);
      for (let round = 1; round <= this.opts.rounds; round++) {
        await this.runOne(w, r, 'portico (admin on, steady)', round);
        await this.runOne(w, r, 'portico (route changes)', round, {
          during: () => startChurn(r.adminUrl!, token, upstream, this.opts.churnRate, String(round)),
        });
      }
    } finally {
      await r.stop();
    }
  }

  /** Portico wrote its profile on exit (SIGTERM is a graceful shutdown); summarize it. */
  readProfile(workload: string, file: string): void {
    if (!existsSync(file)) {
      this.note(`--profile: ${file} was not written (Portico did not exit cleanly?)`);
      return;
    }
    const summary = summarizeProfile(file);
    this.profiles.push({ workload, file: basename(file), summary });
    process.stdout.write(`\n${profileMarkdown(`Portico CPU profile, workload (${workload})`, summary)}\n`);
  }

  async run(selected: TargetDef[]): Promise<void> {
    const wls = WORKLOADS.filter((w) => this.opts.workloads.includes(w.id));
    for (const w of wls) this.workloadInfo.push({ id: w.id, title: w.title });
    const byRole = (role: Role): Workload[] => wls.filter((w) => w.role === role && w.kind !== 'churn');

    const reverse = byRole('reverse');
    // Idle connections first, on fresh processes: later, garbage left by the load runs makes the
    // RSS difference noisy (a collection during the measurement can even make it negative).
    const ordered = [...reverse.filter((w) => w.kind === 'idle'), ...reverse.filter((w) => w.kind !== 'idle')];
    // --profile: fresh targets per workload, so that each profile holds one workload only.
    const batches = this.opts.profile ? ordered.map((w) => [w]) : ordered.length ? [ordered] : [];
    for (const batch of batches) {
      const profile = this.opts.profile ? join(this.out, `portico-${batch[0].id}.cpuprofile`) : undefined;
      this.ctx.cpuProfile = profile;
      const running = await this.startTargets(selected, 'reverse', batch.map((w) => w.id).join(','));
      try {
        for (const w of batch) {
          if (w.kind === 'idle') await this.idleWorkload(w, running);
          else await this.loadWorkload(w, running);
        }
      } finally {
        await Promise.all(running.map((r) => r.stop()));
        this.ctx.cpuProfile = undefined;
      }
      if (profile) this.readProfile(batch[0].id, profile);
    }
    for (const w of wls.filter((x) => x.kind === 'churn')) await this.churnWorkload(w, selected);
    if (byRole('tls').length) {
      if (this.tool !== 'wrk') for (const w of byRole('tls')) this.workloadInfo.find((x) => x.id === w.id)!.skipped = 'needs wrk (https)';
      else if (!hasCommand('openssl')) for (const w of byRole('tls')) this.workloadInfo.find((x) => x.id === w.id)!.skipped = 'needs openssl (certificate)';
      else this.ctx.tls = makeBenchCertificate(this.tmp);
    }
    for (const role of ['forward', 'tunnel', 'tls'] as const) {
      for (const w of byRole(role)) {
        const info = this.workloadInfo.find((x) => x.id === w.id)!;
        if (info.skipped) continue;
        // --profile: these targets are started per workload already
        const profile = this.opts.profile ? join(this.out, `portico-${w.id}.cpuprofile`) : undefined;
        this.ctx.cpuProfile = profile;
        const started = await this.startTargets(selected, role, w.id);
        try {
          const usable: Running[] = [];
          for (const r of started) {
            if (r.name === 'direct' || role === 'tls') {
              if (role === 'tls') this.note(`(${w.id}) ${r.name} negotiates ${await negotiated(r.host, r.port)}`);
              usable.push(r);
              continue;
            }
            const why =
              role === 'forward'
                ? await probeForward(r.host, r.port, this.originAuthority())
                : await probeConnect(r.host, r.port, this.originAuthority());
            if (why) this.note(`(${w.id}) ${r.name} skipped: ${why}`);
            else usable.push(r);
          }
          if (usable.filter((r) => r.name !== 'direct').length === 0) {
            info.skipped = 'no target supports it (see notes)';
            continue;
          }
          await this.loadWorkload(w, usable);
        } finally {
          await Promise.all(started.map((r) => r.stop()));
          this.ctx.cpuProfile = undefined;
        }
        if (profile) this.readProfile(w.id, profile);
      }
    }
  }
}

async function main({ opts, argv, root, tmp }: CommandContext<Options>): Promise<number> {
  const t0 = performance.now();
  const env = await environment(root);
  const stamp = env.date.replace(/[:.]/g, '-');
  const dir = opts.out ?? join(root, 'bench', 'results', stamp);
  if (opts.profile) mkdirSync(dir, { recursive: true });
  const bench = new Bench(opts, root, tmp, dir);
  if (env.busyBefore !== undefined && env.busyBefore > 0.1) {
    bench.note(`machine busy before the run: ${fmt(env.busyBefore * 100)}% of all CPUs in use (load average ${env.loadAverage?.join(' ')})`);
  }
  const picked = pickTool(opts.load);
  bench.tool = picked.tool;
  if (picked.warning) {
    bench.note(picked.warning);
  }
  bench.plan = cpuPlan(opts.pin, bench.notes);
  if (opts.pin && bench.plan.target !== undefined) {
    bench.note(`pinned: target on CPU ${bench.plan.target}, origin on CPU ${bench.plan.origin}, load generator on CPU ${bench.plan.load}`);
  }
  await bench.startOrigin();

  const wanted = ALL_TARGETS.filter((t) => t.name === 'portico' || t.name === 'direct' || (opts.peers === undefined && !t.optIn) || opts.peers?.includes(t.name));
  const selected: TargetDef[] = [];
  for (const t of wanted) {
    const skipped = t.check(bench.ctx);
    bench.targetInfo.push({ name: t.name, describe: t.describe, version: t.version(bench.ctx), ...(skipped ? { skipped } : {}) });
    if (skipped) bench.note(`${t.name} skipped: ${skipped}`);
    else selected.push(t);
  }
  process.stdout.write(
    `bench: ${env.cpuModel} × ${env.cpuCount}, Node ${env.node}, commit ${env.commit}; load generator ${toolVersion(bench.tool, root)}; ` +
      `targets ${selected.map((t) => t.name).join(', ')}; workloads ${opts.workloads.join(',')}; ` +
      `${opts.rounds} round(s) × ${opts.duration} s, warm-up ${opts.warmup} s\n`,
  );

  await bench.run(selected);

  const busy = bench.runs.filter((r) => r.busy).length;
  if (busy) {
    bench.note(
      `${busy} of ${bench.runs.length} runs had other processes using more than ${BUSY_THRESHOLD_CPUS} CPU on average (⚠ in the tables: ` +
        'count of such rounds); their numbers are less reliable',
    );
  }
  const failed = bench.runs.filter((r) => r.error);
  for (const f of failed) bench.note(`run failed: (${f.workload}) ${f.target} round ${f.round}: ${(f.error ?? '').split('\n')[0]}`);

  const summary = summarize(bench.runs);
  const command = process.env['npm_lifecycle_event'] === 'bench' ? `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}` : `node dist/bench/run.js ${argv.join(' ')}`.trim();
  const results: Results = {
    command,
    env,
    options: { ...opts },
    loadTool: toolVersion(bench.tool, root),
    targets: bench.targetInfo,
    workloads: bench.workloadInfo,
    notes: bench.notes,
    runs: bench.runs,
    idle: bench.idle,
    profiles: bench.profiles,
    summary,
    ratios: ratios(summary),
    totalSeconds: (performance.now() - t0) / 1000,
  };
  const files = writeResults(dir, results);
  process.stdout.write(`\n${markdown(results)}\n\nwrote ${files.json}\n      ${files.md}\n      ${files.svg}\n`);
  return 0;
}

process.exitCode = await runCommand('bench', USAGE, parseOptions, main);
