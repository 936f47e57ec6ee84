// `npm run bench:deploy`: backend churn as clients see it, through Portico, nginx and HAProxy configured
// equivalently (bench/deploy-targets.ts), everything on loopback, every process stopped by its pid:
//   deploy  two and three upstreams under a steady keep-alive load, each restarted in turn (SIGKILL, or
//           SIGTERM and a graceful stop), down 2 s each: failed requests per deploy, and POSTs without
//           Idempotency-Key that reached an origin twice;
//   outage  every upstream answering 503: upstream attempts per client request;
//   slow    one upstream of three 200 ms slower: its share of the requests.
// The upstreams are bench/deploy-origin.ts processes, the client bench/deploy-load.ts. Results go to
// bench/results/deploy-<timestamp>/ (results.json, results.md). See bench/README.md ("Backend churn").
import { readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { spawnTracked, isInterrupted, Interrupted, type Tracked } from './procs.js';
import { runCommand, type CommandContext } from './command.js';
import { freePort } from './ports.js';
import { environment } from './env.js';
import { loadAverage } from './procstat.js';
import { effectiveFdLimit, porticoEntry, type Running, type TargetContext } from './targets.js';
import { SteadyLoad, percentile, type PhaseStats } from './deploy-load.js';
import {
  DEPLOY_TARGETS,
  porticoAcceptsPolicy,
  productVersion,
  unavailable,
  type DeployTarget,
  type PorticoBuild,
  type Scenario,
} from './deploy-targets.js';
import {
  writeDeployResults,
  markdown,
  type DeployRecord,
  type DeployResults,
  type LoadAvg,
  type OutageRecord,
  type PhaseRecord,
  type PorticoLog,
  type SlowRecord,
  type TargetRecord,
} from './deploy-report.js';

const SCENARIOS: Scenario[] = ['deploy', 'outage', 'slow'];
const STOPS = ['kill', 'term'] as const;
type Stop = (typeof STOPS)[number];

const USAGE = `Usage: npm run bench:deploy -- [options]

  --targets LIST     ${DEPLOY_TARGETS.map((t) => t.name).join(', ')}
                     (default: all but ${DEPLOY_TARGETS.filter((t) => !t.byDefault).map((t) => t.name).join(', ')})
  --scenarios LIST   ${SCENARIOS.join(', ')} (default: all)
  --upstreams LIST   upstream counts of the deploy scenario (default 2,3; smoke 2)
  --stops LIST       kill (SIGKILL), term (SIGTERM, graceful stop) (default: both)
  --deploys N        deploys per case (default 2; smoke 1)
  --down S           seconds each upstream stays down (default 2)
  --settle S         seconds between an upstream being back and the next one stopping (default 3; smoke 1)
  --rate N           requests per second in all (default 2000; smoke 300)
  --connections N    client keep-alive connections (default 16)
  --post-every N     one request in N (at random) is a POST without Idempotency-Key (default 10; 0: none)
  --outage-seconds S how long every upstream answers 503 (default 20: the retry budget's 10 s window
                     and as long again; smoke 2)
  --seconds S        measured seconds of the slow scenario (default 10; smoke 2)
  --delay-ms MS      the slow upstream's delay (default 200)
  --portico-root DIR run the portico bin of another built checkout (e.g. a git worktree of another
                     commit: before/after); default this one
  --out DIR          results directory (default bench/results/deploy-<timestamp>)
  --smoke            one deploy per stop kind, two upstreams, short phases: checks the bench runs
  -h, --help         this help

Peers not installed are skipped with a note (apt-get install -y nginx-light haproxy).
`;

interface Options {
  targets: string[];
  scenarios: Scenario[];
  upstreams: number[];
  stops: Stop[];
  deploys: number;
  downSec: number;
  settleSec: number;
  rate: number;
  connections: number;
  postEvery: number;
  seconds: number;
  outageSeconds: number;
  delayMs: number;
  out: string | undefined;
  porticoRoot: string | undefined;
  smoke: boolean;
}

function list(s: string | undefined): string[] | undefined {
  return s === undefined ? undefined : s.split(',').map((x) => x.trim()).filter(Boolean);
}

function num(name: string, s: string | undefined, dflt: number, min: number, integer = true): number {
  if (s === undefined) return dflt;
  const n = Number(s);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
  return n;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      targets: { type: 'string' },
      scenarios: { type: 'string' },
      upstreams: { type: 'string' },
      stops: { type: 'string' },
      deploys: { type: 'string' },
      down: { type: 'string' },
      settle: { type: 'string' },
      rate: { type: 'string' },
      connections: { type: 'string' },
      'post-every': { type: 'string' },
      seconds: { type: 'string' },
      'outage-seconds': { type: 'string' },
      'delay-ms': { type: 'string' },
      out: { type: 'string' },
      'portico-root': { type: 'string' },
      smoke: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const smoke = values.smoke ?? false;
  const targets = list(values.targets) ?? DEPLOY_TARGETS.filter((t) => t.byDefault).map((t) => t.name);
  for (const t of targets) if (!DEPLOY_TARGETS.some((d) => d.name === t)) throw new Error(`unknown target ${JSON.stringify(t)}`);
  const scenarios = list(values.scenarios) ?? SCENARIOS;
  for (const s of scenarios) if (!SCENARIOS.includes(s as Scenario)) throw new Error(`unknown scenario ${JSON.stringify(s)}`);
  const stops = list(values.stops) ?? [...STOPS];
  for (const s of stops) if (!STOPS.includes(s as Stop)) throw new Error(`unknown stop ${JSON.stringify(s)} (kill or term)`);
  const upstreams = (list(values.upstreams) ?? (smoke ? ['2'] : ['2', '3'])).map((u) => num('upstreams', u, 2, 2));
  return {
    targets,
    scenarios: scenarios as Scenario[],
    upstreams,
    stops: stops as Stop[],
    deploys: num('deploys', values.deploys, smoke ? 1 : 2, 1),
    downSec: num('down', values.down, 2, 0, false),
    settleSec: num('settle', values.settle, smoke ? 1 : 3, 0, false),
    rate: num('rate', values.rate, smoke ? 300 : 2000, 1),
    connections: num('connections', values.connections, 16, 1),
    postEvery: num('post-every', values['post-every'], 10, 0),
    seconds: num('seconds', values.seconds, smoke ? 2 : 10, 1, false),
    outageSeconds: num('outage-seconds', values['outage-seconds'], smoke ? 2 : 20, 1, false),
    delayMs: num('delay-ms', values['delay-ms'], 200, 0),
    out: values.out,
    porticoRoot: values['portico-root'] !== undefined ? resolve(values['portico-root']) : undefined,
    smoke,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Samples the 1-minute load average every second: over the whole run and per case. */
class LoadSampler {
  readonly all: number[] = [];
  #timer: NodeJS.Timeout;
  #case: number[] = [];
  constructor() {
    this.#timer = setInterval(() => this.#sample(), 1000);
    this.#timer.unref();
    this.#sample();
  }
  #sample(): void {
    const l = loadAverage()?.[0];
    if (l === undefined) return;
    this.all.push(l);
    this.#case.push(l);
  }
  beginCase(): void {
    this.#case = [];
    this.#sample();
  }
  endCase(): LoadAvg {
    this.#sample();
    return { start: this.#case[0] ?? NaN, max: Math.max(...this.#case), end: this.#case[this.#case.length - 1] ?? NaN };
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

/** One upstream: a bench/deploy-origin.ts process on a fixed port, restartable. */
class Origin {
  proc!: Tracked;
  #asked = 0;
  constructor(
    readonly root: string,
    readonly port: number,
    readonly index: number,
    readonly extra: string[],
  ) {}

  async start(): Promise<void> {
    if (isInterrupted()) throw new Interrupted();
    this.proc = spawnTracked(`upstream ${this.index + 1} (:${this.port})`, process.execPath, [join(this.root, 'dist', 'bench', 'deploy-origin.js'), '--port', String(this.port), ...this.extra], {
      stdinPipe: true,
    });
    await this.proc.waitForLine(/deploy-origin listening on/, 15_000);
  }

  /** SIGKILL: gone at once, connections reset by the kernel. */
  async kill(): Promise<void> {
    try {
      process.kill(this.proc.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    await this.proc.exited;
  }

  /** SIGTERM and wait for the graceful stop (SIGKILL after 15 s); resolves with the seconds it took. */
  async terminate(): Promise<number> {
    const t = performance.now();
    await this.proc.stop(15_000);
    return (performance.now() - t) / 1000;
  }

  send(line: string): void {
    this.proc.child.stdin?.write(`${line}\n`);
  }

  /** Answers every request with `status` from now on (once the upstream says it does). */
  async answer(status: number): Promise<void> {
    this.send(`status ${status}`);
    await this.proc.waitForLine(new RegExp(`^STATUS ${status}$`), 10_000);
  }

  async stats(): Promise<{ get: number; post: number; health: number }> {
    const tag = `q${++this.#asked}`;
    this.send(`stats ${tag}`);
    const m = await this.proc.waitForLine(new RegExp(`^STATS ${tag} (\\{.*\\})$`), 10_000);
    return JSON.parse(m[1]) as { get: number; post: number; health: number };
  }

  async close(): Promise<void> {
    if (this.proc.hasExited()) return;
    this.proc.child.stdin?.end();
    await this.proc.stop(5000);
  }
}

/** A deploy's phase begins this long before its first upstream stops (longer than the p99 latency
 *  on a busy 2-CPU machine). */
const LEAD_IN_MS = 500;

/** The window of Portico's retry budget (src/upstream/retry-budget.ts). */
const BUDGET_WINDOW_S = 10;

/** Failed requests sent less than this apart belong to one span. */
const SPAN_GAP_MS = 250;

function spans(at: number[]): PhaseRecord['failureSpans'] {
  const out: PhaseRecord['failureSpans'] = [];
  for (const ms of [...at].sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    if (last && ms - last.toMs < SPAN_GAP_MS) {
      last.toMs = Math.round(ms);
      last.count++;
    } else out.push({ fromMs: Math.round(ms), toMs: Math.round(ms), count: 1 });
  }
  return out;
}

function phaseRecord(p: PhaseStats, seconds: number): PhaseRecord {
  return {
    name: p.name,
    requests: p.requests,
    gets: p.gets,
    posts: p.posts,
    failedGets: p.failedGets,
    failedPosts: p.failedPosts,
    failures: p.failures,
    p50Ms: percentile(p.latencies, 50),
    p99Ms: percentile(p.latencies, 99),
    maxMs: percentile(p.latencies, 100),
    seconds,
    failureSpans: spans(p.failedAt),
  };
}

function porticoLog(r: Running, from: number): PorticoLog | undefined {
  if (!r.proc || !r.name.startsWith('portico')) return undefined;
  const text = r.proc.output().slice(from);
  return { ejections: (text.match(/upstream ejected/g) ?? []).length, panics: (text.match(/panic mode/g) ?? []).length };
}

function fmt(x: number, d = 0): string {
  return Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '–';
}

/** One case's processes: the upstreams, the target, and a way to start a load through it. */
interface Rig {
  origins: Origin[];
  target: Running;
  load: (postEvery: number) => SteadyLoad;
}

class DeployBench {
  readonly deploy: DeployRecord[] = [];
  readonly outage: OutageRecord[] = [];
  readonly slow: SlowRecord[] = [];
  readonly notes: string[] = [];
  readonly sampler = new LoadSampler();
  readonly runId = randomBytes(4).toString('hex');
  /** Load before anything is measured (connections opened, pools filled). */
  readonly warmupMs: number;
  /** Steady load before the first deploy (its failures are reported apart: not the deploy's). */
  readonly steadyMs: number;

  constructor(
    readonly opts: Options,
    readonly ctx: TargetContext,
    readonly portico: PorticoBuild,
    /** The results directory: each target's output (its error log) goes to logs/<case>.log. */
    readonly out: string,
  ) {
    this.warmupMs = opts.smoke ? 500 : 1000;
    this.steadyMs = opts.smoke ? 1000 : 2000;
  }

  /** Keeps what a target printed during a case (nginx's error log, HAProxy's alerts, Portico's warnings). */
  keepLog(target: Running | undefined, name: string): void {
    const text = target?.proc?.output() ?? '';
    if (!text) return;
    mkdirSync(join(this.out, 'logs'), { recursive: true });
    writeFileSync(join(this.out, 'logs', `${name}.log`), text);
  }

  note(s: string): void {
    this.notes.push(s);
    process.stdout.write(`note: ${s}\n`);
  }

  async origins(n: number, extra: (i: number) => string[]): Promise<Origin[]> {
    const out: Origin[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const o = new Origin(this.ctx.root, await freePort(), i, extra(i));
        await o.start();
        out.push(o);
      }
      return out;
    } catch (e) {
      await Promise.all(out.map((o) => o.close()));
      throw e;
    }
  }

  /** Starts `n` upstreams and the target, runs `body`, then stops the load, the target and the
   *  upstreams whatever happened, keeping the target's output. Resolves with the error, if any. */
  async rig(t: DeployTarget, scenario: Scenario, n: number, extra: (i: number) => string[], name: string, body: (rig: Rig) => Promise<void>): Promise<string | undefined> {
    let origins: Origin[] = [];
    let target: Running | undefined;
    const loads: SteadyLoad[] = [];
    try {
      origins = await this.origins(n, extra);
      const running = await t.start(this.ctx, origins.map((o) => o.port), scenario, this.portico);
      target = running;
      const load = (postEvery: number): SteadyLoad => {
        const l = new SteadyLoad({ host: running.host, port: running.port, connections: this.opts.connections, rate: this.opts.rate, postEvery, idPrefix: `${this.runId}-${name}`, timeoutMs: 10_000 });
        loads.push(l);
        return l;
      };
      await body({ origins, target: running, load });
      return undefined;
    } catch (e) {
      if (isInterrupted()) throw new Interrupted();
      this.note(`${name}: ${(e as Error).message.split('\n')[0]}`);
      return (e as Error).message;
    } finally {
      await Promise.all(loads.map((l) => l.stop().catch(() => undefined)));
      await target?.stop();
      this.keepLog(target, name);
      await Promise.all(origins.map((o) => o.close()));
    }
  }

  /** GETs after a warm-up (and `prepare`, between the two) for consecutive windows of `windows`
   *  seconds: per window, what the client saw and how many requests each upstream received. */
  async countRequests(rig: Rig, windows: number[], prepare: () => Promise<void> = async () => undefined): Promise<{ phase: PhaseRecord; perUpstream: number[] }[]> {
    const load = rig.load(0);
    load.start('warm-up');
    await sleep(this.warmupMs);
    await prepare();
    const out: { phase: PhaseRecord; perUpstream: number[] }[] = [];
    let before = await Promise.all(rig.origins.map((o) => o.stats()));
    for (const [i, sec] of windows.entries()) {
      const phase = load.phase(`window ${i + 1}`);
      const t0 = performance.now();
      await sleep(sec * 1000);
      load.phase('end');
      const after = await Promise.all(rig.origins.map((o) => o.stats()));
      out.push({ phase: phaseRecord(phase, (performance.now() - t0) / 1000), perUpstream: after.map((s, j) => s.get - before[j].get) });
      before = after;
    }
    await load.stop();
    return out;
  }

  /** Every upstream restarted in turn, `deploys` times, under a steady load with POSTs. */
  async deployCase(t: DeployTarget, upstreams: number, stop: Stop): Promise<void> {
    const name = `deploy-${t.name}-${upstreams}-${stop}`;
    const idsFile = join(this.ctx.tmp, `ids-${name}.txt`);
    const rec: DeployRecord = { target: t.name, upstreams, stop, deploys: [], postsReceived: 0, duplicatePosts: 0, healthChecks: 0, stopSeconds: [], loadAvg: { start: NaN, max: NaN, end: NaN } };
    this.sampler.beginCase();
    rec.error = await this.rig(t, 'deploy', upstreams, () => ['--ids', idsFile], name, async (rig) => {
      const { origins, target } = rig;
      const logFrom = target.proc?.output().length ?? 0;
      const load = rig.load(this.opts.postEvery);
      load.start('warm-up');
      await sleep(this.warmupMs);
      const phases: { stats: PhaseStats; t0: number; events: { ms: number; what: string }[] }[] = [];
      const phase = (name: string): void => {
        phases.push({ stats: load.phase(name), t0: performance.now(), events: [] });
      };
      const event = (what: string): void => {
        const p = phases[phases.length - 1];
        p.events.push({ ms: Math.round(performance.now() - p.t0), what });
      };
      phase('before');
      await sleep(this.steadyMs);
      for (let d = 1; d <= this.opts.deploys; d++) {
        // Requests are counted in the phase they were sent in: the deploy's phase begins a little
        // before the first upstream stops, so that the requests in flight at that moment are its.
        phase(`deploy ${d}`);
        await sleep(LEAD_IN_MS);
        for (const o of origins) {
          rec.healthChecks += (await o.stats()).health;
          event(`upstream ${o.index + 1} ${stop === 'kill' ? 'SIGKILL' : 'SIGTERM'}`);
          if (stop === 'kill') await o.kill();
          else rec.stopSeconds.push(await o.terminate());
          event(`upstream ${o.index + 1} exited`);
          await sleep(this.opts.downSec * 1000);
          event(`upstream ${o.index + 1} starting`);
          await o.start();
          event(`upstream ${o.index + 1} listening`);
          await sleep(this.opts.settleSec * 1000);
        }
      }
      phase('after');
      await sleep(this.warmupMs);
      const end = performance.now();
      await load.stop();
      for (const o of origins) rec.healthChecks += (await o.stats()).health;
      const records = phases.map((p, i) => ({ ...phaseRecord(p.stats, ((phases[i + 1]?.t0 ?? end) - p.t0) / 1000), events: p.events }));
      rec.baseline = records[0];
      rec.after = records[records.length - 1];
      rec.deploys = records.slice(1, -1);
      const log = porticoLog(target, logFrom);
      if (log) rec.porticoLog = log;
    });
    if (existsSync(idsFile)) {
      const seen = new Map<string, number>();
      for (const id of readFileSync(idsFile, 'utf8').split('\n')) if (id) seen.set(id, (seen.get(id) ?? 0) + 1);
      rec.postsReceived = seen.size;
      for (const n of seen.values()) if (n > 1) rec.duplicatePosts++;
    }
    rec.loadAvg = this.sampler.endCase();
    this.deploy.push(rec);
    if (!rec.error) {
      process.stdout.write(
        `[deploy] ${t.name.padEnd(16)} ${upstreams} upstreams ${stop.padEnd(4)}  failed GET per deploy ${rec.deploys.map((p) => p.failedGets).join(' / ')}, ` +
          `POST ${rec.deploys.map((p) => p.failedPosts).join(' / ')}; POSTs twice ${rec.duplicatePosts}; before/after ${(rec.baseline?.failedGets ?? 0) + (rec.baseline?.failedPosts ?? 0)}/` +
          `${(rec.after?.failedGets ?? 0) + (rec.after?.failedPosts ?? 0)}${rec.porticoLog ? `; ejections ${rec.porticoLog.ejections}, panic ${rec.porticoLog.panics}` : ''}; load avg ${fmt(rec.loadAvg.max, 1)}\n`,
      );
    }
  }

  /** Healthy GETs, then every upstream answers 503: how many upstream attempts per client request. */
  async outageCase(t: DeployTarget): Promise<void> {
    const upstreams = 2;
    const rec: OutageRecord = { target: t.name, upstreams, clientRequests: 0, upstreamAttempts: 0, attemptsPerRequest: NaN, windows: [], loadAvg: { start: NaN, max: NaN, end: NaN } };
    if (t.product === 'portico' && !this.portico.policy) rec.note = 'without retries.onStatus: not supported by this build';
    this.sampler.beginCase();
    // The retry budget counts the last 10 s: the first 10 s of the outage still hold healthy
    // requests in it, the rest only the outage (the budget's steady state). Both are reported.
    const total = this.opts.outageSeconds;
    const windows = total > BUDGET_WINDOW_S ? [BUDGET_WINDOW_S, total - BUDGET_WINDOW_S] : [total];
    rec.error = await this.rig(t, 'outage', upstreams, () => [], `outage-${t.name}`, async (rig) => {
      const counted = await this.countRequests(rig, windows, async () => {
        await Promise.all(rig.origins.map((o) => o.answer(503)));
      });
      let from = 0;
      for (const { phase, perUpstream } of counted) {
        const attempts = perUpstream.reduce((a, b) => a + b, 0);
        rec.windows.push({ fromSec: from, toSec: from + phase.seconds, clientRequests: phase.requests, upstreamAttempts: attempts, attemptsPerRequest: attempts / phase.requests, phase });
        from += phase.seconds;
      }
      rec.clientRequests = rec.windows.reduce((a, w) => a + w.clientRequests, 0);
      rec.upstreamAttempts = rec.windows.reduce((a, w) => a + w.upstreamAttempts, 0);
      rec.attemptsPerRequest = rec.upstreamAttempts / rec.clientRequests;
    });
    rec.loadAvg = this.sampler.endCase();
    this.outage.push(rec);
    if (!rec.error) {
      process.stdout.write(`[outage] ${t.name.padEnd(16)} ${fmt(rec.clientRequests)} requests, ${fmt(rec.upstreamAttempts)} upstream attempts: ${fmt(rec.attemptsPerRequest, 2)} per request; load avg ${fmt(rec.loadAvg.max, 1)}\n`);
    }
  }

  /** Three upstreams, the last one slower: its share of the requests. */
  async slowCase(t: DeployTarget): Promise<void> {
    const upstreams = 3;
    const policy = t.policy?.('slow');
    const configured = this.portico.policy ? policy?.loadBalancing?.algorithm : undefined;
    const algorithm = t.product === 'nginx' ? 'least_conn' : t.product === 'haproxy' ? 'leastconn' : configured ?? 'round-robin';
    const rec: SlowRecord = { target: t.name, algorithm, upstreams, delayMs: this.opts.delayMs, perUpstream: [], slowShare: NaN, rps: NaN, loadAvg: { start: NaN, max: NaN, end: NaN } };
    if (t.product === 'portico' && policy !== undefined && !this.portico.policy) rec.note = 'least-request not supported by this build: round robin';
    this.sampler.beginCase();
    const slow = (i: number): string[] => (i === upstreams - 1 ? ['--delay-ms', String(this.opts.delayMs)] : []);
    rec.error = await this.rig(t, 'slow', upstreams, slow, `slow-${t.name}`, async (rig) => {
      const [{ phase, perUpstream }] = await this.countRequests(rig, [this.opts.seconds]);
      rec.phase = phase;
      rec.perUpstream = perUpstream;
      rec.slowShare = perUpstream[upstreams - 1] / perUpstream.reduce((a, b) => a + b, 0);
      rec.rps = phase.requests / phase.seconds;
    });
    rec.loadAvg = this.sampler.endCase();
    this.slow.push(rec);
    if (!rec.error) {
      process.stdout.write(`[slow]   ${t.name.padEnd(16)} ${algorithm}: per upstream ${rec.perUpstream.join(' / ')}, slow share ${fmt(rec.slowShare * 100, 1)}%, ${fmt(rec.rps)} req/s; load avg ${fmt(rec.loadAvg.max, 1)}\n`);
    }
  }
}

async function main({ opts, argv, root, tmp }: CommandContext<Options>): Promise<number> {
  const t0 = performance.now();
  const env = await environment(root);
  const dir = opts.out ?? join(root, 'bench', 'results', `deploy-${env.date.replace(/[:.]/g, '-')}`);
  for (const f of ['deploy-origin.js', 'deploy.js']) {
    if (!existsSync(join(root, 'dist', 'bench', f))) throw new Error(`dist/bench/${f} is missing (npm run build)`);
  }
  const ctx: TargetContext = { root, tmp, originHost: '127.0.0.1', originPort: 0, cpus: undefined, nofile: 65536, fdLimit: effectiveFdLimit(65536) };
  const porticoRoot = opts.porticoRoot ?? root;
  if (!existsSync(porticoEntry(porticoRoot))) throw new Error(`${porticoEntry(porticoRoot)} is missing (npm run build${opts.porticoRoot ? ' there' : ''})`);
  const policy = porticoAcceptsPolicy(porticoRoot, tmp);
  const portico: PorticoBuild = { root: porticoRoot, policy };
  const bench = new DeployBench(opts, ctx, portico, dir);
  if (!policy) bench.note('this Portico does not accept a route `policy` (issue 20 not built in): Portico runs without one; portico-hc1s is skipped');
  if (env.busyBefore !== undefined && env.busyBefore > 0.1) {
    bench.note(`machine busy before the run: ${fmt(env.busyBefore * 100)}% of all CPUs in use (load average ${env.loadAverage?.join(' ')})`);
  }

  const targets: TargetRecord[] = [];
  const selected: DeployTarget[] = [];
  for (const t of DEPLOY_TARGETS.filter((d) => opts.targets.includes(d.name))) {
    const scenarios = t.scenarios.filter((s) => opts.scenarios.includes(s));
    if (scenarios.length === 0) continue;
    let skipped = unavailable(t, ctx);
    if (!skipped && t.product === 'portico' && !policy && t.policy && scenarios.every((s) => t.policy!(s) !== undefined) && t.name !== 'portico') {
      skipped = 'needs a route policy, which this Portico does not accept';
    }
    targets.push({ name: t.name, version: `${productVersion(t, ctx, portico)}${t.product === 'portico' && opts.porticoRoot ? ` at ${porticoRoot}` : ''}`, config: Object.fromEntries(scenarios.map((s) => [s, t.describe(s)])), ...(skipped ? { skipped } : {}) });
    if (skipped) bench.note(`${t.name} skipped: ${skipped}`);
    else selected.push(t);
  }
  const undiciVersion = (JSON.parse(readFileSync(join(root, 'node_modules', 'undici', 'package.json'), 'utf8')) as { version: string }).version;
  const versions: Record<string, string> = { Node: process.version, undici: undiciVersion };
  for (const t of targets) if (!t.skipped && !(t.name.split('-')[0] in versions)) versions[t.name.split('-')[0]] = t.version;
  process.stdout.write(
    `bench:deploy: ${env.cpuModel} × ${env.cpuCount}, Node ${env.node}, commit ${env.commit}, load average ${env.loadAverage?.join(' ')}; ` +
      `targets ${selected.map((t) => t.name).join(', ')}; scenarios ${opts.scenarios.join(', ')}; ${fmt(opts.rate)} req/s over ${opts.connections} connections\n`,
  );

  const on = (s: Scenario): DeployTarget[] => (opts.scenarios.includes(s) ? selected.filter((t) => t.scenarios.includes(s)) : []);
  // Cases outside, targets inside: every target meets much the same machine load in each case.
  for (const upstreams of opts.upstreams) for (const stop of opts.stops) for (const t of on('deploy')) await bench.deployCase(t, upstreams, stop);
  for (const t of on('outage')) await bench.outageCase(t);
  for (const t of on('slow')) await bench.slowCase(t);
  bench.sampler.stop();

  const all = bench.sampler.all;
  const command = process.env['npm_lifecycle_event'] === 'bench:deploy' ? `npm run bench:deploy${argv.length ? ` -- ${argv.join(' ')}` : ''}` : `node dist/bench/deploy.js ${argv.join(' ')}`.trim();
  const results: DeployResults = {
    bench: 'deploy',
    command,
    env,
    versions,
    options: { ...opts },
    porticoPolicy: policy,
    targets,
    deploy: bench.deploy,
    outage: bench.outage,
    slow: bench.slow,
    notes: bench.notes,
    loadAverage: { min: Math.min(...all), mean: all.reduce((a, b) => a + b, 0) / all.length, max: Math.max(...all) },
    totalSeconds: (performance.now() - t0) / 1000,
  };
  const files = writeDeployResults(dir, results);
  process.stdout.write(`\n${markdown(results)}\nwrote ${files.json}\n      ${files.md}\n`);
  return 0;
}

process.exitCode = await runCommand('deploy', USAGE, parseOptions, main);
