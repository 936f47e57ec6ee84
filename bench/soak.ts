// `npm run soak`: Portico (the real `portico` bin, as its shebang runs it) under everything at once for
// N minutes, on loopback: a steady keep-alive load, resetting, slow, malformed and pipelining clients,
// 10,000 idle connections coming and going, aborted uploads, a resetting and a stalling upstream, and a
// route change every second through the admin API. Samples RSS, heap, descriptors and sockets, prints a table every
// 10 s, writes JSON under bench/results/, and exits 1 when soak-verdict.ts finds a failure.
// See bench/README.md ("Soak").
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { get as httpGet } from 'node:http';
import { spawnTracked, stopAll, waitForPort, type Tracked } from './procs.js';
import { runCommand, type CommandContext } from './command.js';
import { porticoEntry, shebangNodeFlags, effectiveFdLimit } from './targets.js';
import { freePort } from './ports.js';
import { pickTool, runLoad, toolVersion, type LoadResult } from './load.js';
import { startChurn, probeAdmin } from './route-churn.js';
import { descriptors, memory, resetPeak, type FdSample } from './procstat.js';
import { environment } from './env.js';
import { judgeRss, verdict, isSettled, FD_TOLERANCE, type IdleRecord, type RssPoint, type SoakRecord } from './soak-verdict.js';
import type { ClientSpec, FaultStats } from './soak-clients.js';

/** OPTIONS * requests behind the leading request of a pipelined burst: more than one read's ~1,000, which
 *  overflowed the stack while locally answered requests recursed (issue 9). */
const DEFAULT_BURST = 2000;
const SAMPLE_EVERY_SEC = 10;
const SETTLE_SEC = 60;
/** Portico's timeouts during the soak: short, so that every timeout path fires many times. */
const TIMEOUTS = { headMs: 5000, bodyIdleMs: 5000, upstreamHeadMs: 5000, upstreamIdleMs: 5000 };
/** Every idle connection is replaced once in this many seconds (10,000: 250 closed and opened per second). */
const IDLE_TURNOVER_SEC = 40;

const USAGE = `Usage: npm run soak -- [options]

  --minutes N        length of the load phase (default 30)
  --seconds N        length of the load phase in seconds (instead of --minutes)
  --rate N           steady keep-alive load, requests per second (default 300)
  --connections N    steady load connections (default 16)
  --idle N           idle connections, replaced over 40 s, again and again (default 10000; capped
                     by the open-file limit)
  --burst N          OPTIONS * requests pipelined behind one request (default ${DEFAULT_BURST})
  --load TOOL        wrk (default when installed) or autocannon
  --out DIR          results directory (default bench/results/soak-<timestamp>)
  -h, --help         this help

Exits 0 when every check passed, 1 on a failure (listed at the end), 2 on bad usage.
`;

interface Options {
  loadSec: number;
  rate: number;
  connections: number;
  idle: number;
  burst: number;
  load: string | undefined;
  out: string | undefined;
}

function positive(name: string, s: string | undefined, dflt: number): number {
  if (s === undefined) return dflt;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number >= 1, got ${JSON.stringify(s)}`);
  return n;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: 'string' },
      seconds: { type: 'string' },
      rate: { type: 'string' },
      connections: { type: 'string' },
      idle: { type: 'string' },
      burst: { type: 'string' },
      load: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  if (values.minutes !== undefined && values.seconds !== undefined) throw new Error('give --minutes or --seconds, not both');
  if (values.load !== undefined && values.load !== 'wrk' && values.load !== 'autocannon') throw new Error('--load must be wrk or autocannon');
  const loadSec = values.seconds !== undefined ? positive('seconds', values.seconds, 0) : positive('minutes', values.minutes, 30) * 60;
  if (loadSec < 30) throw new Error('the load phase must last at least 30 s (idle connections all open, samples)');
  return {
    loadSec,
    rate: positive('rate', values.rate, 300),
    connections: positive('connections', values.connections, 16),
    idle: positive('idle', values.idle, 10_000),
    burst: positive('burst', values.burst, DEFAULT_BURST),
    load: values.load,
    out: values.out,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mib = (b: number | undefined): string => (b === undefined || !Number.isFinite(b) ? '-' : (b / 2 ** 20).toFixed(1));

/** Sends a command line to a child and resolves with the JSON of its next line starting with `prefix`. */
function ask<T>(proc: Tracked, command: string, prefix: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const out = proc.child.stdout!;
    let partial = '';
    const done = (): void => {
      clearTimeout(timer);
      out.off('data', onData);
    };
    const onData = (b: Buffer): void => {
      const lines = (partial + b.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      const line = lines.find((l) => l.startsWith(`${prefix} `));
      if (line === undefined) return;
      done();
      resolve(JSON.parse(line.slice(prefix.length + 1)) as T);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${proc.name}: no ${prefix} line within ${timeoutMs} ms`));
    }, timeoutMs);
    out.on('data', onData);
    proc.child.stdin?.write(`${command}\n`);
  });
}

/** GET on the admin API without keep-alive (so that the scrape itself leaves no socket behind). */
function adminGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer in 10 s`)));
    req.on('error', reject);
  });
}

/** Prometheus text: the sum of a metric's samples (all label sets). */
function metric(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}

interface Sample {
  sec: number;
  phase: 'load' | 'settle';
  /** Peak RSS during the interval (VmHWM reset every second). */
  rssPeakBytes: number | undefined;
  rssBytes: number | undefined;
  heapUsedBytes: number | undefined;
  heapTotalBytes: number | undefined;
  fd: FdSample | undefined;
  clientConnections: number | undefined;
  /** Requests Portico answered since the previous sample, per second. */
  rps: number | undefined;
  faultEpisodes: number | undefined;
  failures: number | undefined;
}

const HEADER = `${'t s'.padStart(6)} ${'phase'.padEnd(6)} ${'RSS pk'.padStart(7)} ${'heap'.padStart(6)} ${'fds'.padStart(6)} ${'socks'.padStart(6)} ${'estab'.padStart(6)} ${'c-wait'.padStart(6)} ${'clients'.padStart(7)} ${'req/s'.padStart(6)} ${'faults'.padStart(7)} ${'failed'.padStart(6)}`;

function row(s: Sample): string {
  const n = (v: number | undefined, w: number): string => (v === undefined ? '-' : String(Math.round(v))).padStart(w);
  return (
    `${n(s.sec, 6)} ${s.phase.padEnd(6)} ${mib(s.rssPeakBytes).padStart(7)} ${mib(s.heapUsedBytes).padStart(6)} ${n(s.fd?.fds, 6)} ${n(s.fd?.sockets, 6)} ` +
    `${n(s.fd?.tcp['ESTABLISHED'] ?? 0, 6)} ${n(s.fd?.tcp['CLOSE_WAIT'] ?? 0, 6)} ${n(s.clientConnections, 7)} ${n(s.rps, 6)} ${n(s.faultEpisodes, 7)} ${n(s.failures, 6)}`
  );
}

class Soak {
  readonly notes: string[] = [];
  readonly samples: Sample[] = [];
  readonly rssPoints: RssPoint[] = [];
  readonly rec: SoakRecord = {};
  idleOpenAtSec: number | undefined;
  portico!: Tracked;
  clients: Tracked | undefined;
  upstreams!: Tracked;
  adminUrl = '';
  proxyPort = 0;
  loadStart = 0;
  #stopping = false;
  #lastRequests: { sec: number; total: number } | undefined;

  constructor(
    readonly opts: Options,
    readonly root: string,
    readonly tmp: string,
  ) {}

  note(s: string): void {
    this.notes.push(s);
    process.stdout.write(`note: ${s}\n`);
  }

  sec(): number {
    return (performance.now() - this.loadStart) / 1000;
  }

  async start(): Promise<{ originPort: number; token: string }> {
    const origin = spawnTracked('origin', process.execPath, [join(this.root, 'dist', 'bench', 'origin.js')], { nofile: 65536 });
    const om = await origin.waitForLine(/origin listening on [^:]+:(\d+)/, 15_000);
    this.upstreams = spawnTracked('soak-upstreams', process.execPath, [join(this.root, 'dist', 'bench', 'soak-upstreams.js')], { stdinPipe: true });
    const rm = await this.upstreams.waitForLine(/^reset listening on [^:]+:(\d+)/, 15_000);
    const sm = await this.upstreams.waitForLine(/^stall listening on [^:]+:(\d+)/, 15_000);
    const dead = await freePort(); // nothing listens there: connections are refused
    this.proxyPort = await freePort();
    const adminPort = await freePort();
    this.adminUrl = `http://127.0.0.1:${adminPort}`;
    const token = randomBytes(24).toString('hex');
    const config = join(this.tmp, 'portico.soak.json');
    writeFileSync(
      config,
      JSON.stringify({
        listen: `127.0.0.1:${this.proxyPort}`,
        admin: { listen: `127.0.0.1:${adminPort}` },
        logLevel: 'silent',
        timeouts: TIMEOUTS,
        routes: [
          { id: 'healthy', pathPrefix: '/', upstreams: [`http://127.0.0.1:${om[1]}`] },
          { id: 'dead', pathPrefix: '/dead', upstreams: [`http://127.0.0.1:${dead}`] },
          { id: 'reset', pathPrefix: '/reset', upstreams: [`http://127.0.0.1:${rm[1]}`] },
          { id: 'stall', pathPrefix: '/stall', upstreams: [`http://127.0.0.1:${sm[1]}`] },
        ],
      }),
    );
    const entry = porticoEntry(this.root);
    const args = [...shebangNodeFlags(entry), entry, '--config', config];
    this.portico = spawnTracked('portico', process.execPath, args, { nofile: 65536, env: { ...process.env, PORTICO_ADMIN_TOKEN: token } });
    await waitForPort('127.0.0.1', this.proxyPort, 15_000, this.portico);
    const why = await this.waitForAdmin(token, `http://127.0.0.1:${om[1]}`);
    if (why) throw new Error(`Portico's admin API: ${why}\n${this.portico.output().slice(-2000)}`);
    const limit = effectiveFdLimit(65536);
    if (limit < this.opts.idle + 2048) this.note(`open-file limit ${limit}: ${this.opts.idle} idle connections may not fit`);
    return { originPort: Number(om[1]), token };
  }

  async waitForAdmin(token: string, upstream: string): Promise<string | undefined> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (this.portico.hasExited()) return `portico exited (${await this.portico.exited})`;
      const why = await probeAdmin(this.adminUrl, token, upstream);
      if (!why || Date.now() > deadline) return why;
      await sleep(200);
    }
  }

  /** Quiet descriptors before the load: after one request per route, once pooled sockets timed out. */
  async baseline(): Promise<FdSample> {
    for (const path of ['/small', '/dead/x', '/reset/x']) {
      await new Promise<void>((res) => {
        const req = httpGet({ host: '127.0.0.1', port: this.proxyPort, path, agent: false, timeout: 10_000 }, (r) => {
          r.resume();
          r.on('end', res);
          r.on('error', () => res());
        });
        req.on('error', () => res());
        req.on('timeout', () => req.destroy());
      });
    }
    await adminGet(`${this.adminUrl}/metrics`);
    await sleep(6000); // pooled upstream sockets close after 4 s idle; undici's admin keep-alive after 4 s
    const fd = descriptors(this.portico.pid);
    if (!fd) throw new Error('cannot read /proc/PID/fd of portico');
    return fd;
  }

  watchCrash(): void {
    void this.portico.exited.then((code) => {
      if (this.#stopping) return;
      const tail = this.portico.output().trimEnd().split('\n').slice(-15).join('\n');
      this.rec.crash = `portico exited (${code}) ${this.sec().toFixed(0)} s into the load; its last output:\n${tail}`;
      process.stdout.write(`\nCRASH: ${this.rec.crash}\n`);
    });
  }

  crashed(): boolean {
    return this.rec.crash !== undefined;
  }

  /** `idle` connections (one GET each, then idle) that keep coming and going until the load ends. */
  async idleConnections(until: () => boolean): Promise<void> {
    const churnPerSec = Math.max(1, Math.round(this.opts.idle / IDLE_TURNOVER_SEC));
    const spec = { host: '127.0.0.1', port: this.proxyPort, path: '/small', count: this.opts.idle, batch: 250, timeoutSec: 30, churnPerSec };
    const child = spawnTracked('idle-clients', process.execPath, [join(this.root, 'dist', 'bench', 'idle-clients.js'), JSON.stringify(spec)], {
      nofile: this.opts.idle + 1024,
      stdinPipe: true,
    });
    const rec: IdleRecord = { requested: this.opts.idle, attempted: 0, openAtSec: NaN, replaced: 0, closedByServer: 0, failed: 0, failures: {} };
    this.rec.idle = rec;
    try {
      const m = await child.waitForLine(/^OPENED (\{.*\})$/, 60_000 + this.opts.idle * 20);
      const o = JSON.parse(m[1]) as { attempted: number; failed: number; failures: Record<string, number> };
      Object.assign(rec, { attempted: o.attempted, failed: o.failed, failures: o.failures });
      if (!this.crashed()) this.idleOpenAtSec = rec.openAtSec = this.sec();
      if (o.attempted < this.opts.idle) this.note(`${o.attempted} idle connections, not ${this.opts.idle}: the client's open-file limit`);
      while (!until()) await sleep(250);
      if (!this.crashed()) {
        const st = await ask<{ replaced: number; closedByServer: number; failed: number; failures: Record<string, number> }>(child, 'stats', 'IDLE', 30_000);
        Object.assign(rec, { replaced: st.replaced, closedByServer: st.closedByServer, failed: st.failed, failures: st.failures });
      }
    } catch (e) {
      if (!this.crashed()) {
        rec.failed++;
        rec.failures[(e as Error).message.split('\n')[0]] = 1;
      }
    } finally {
      child.child.stdin?.end();
      const t = setTimeout(() => void child.stop(1000), 10_000);
      await child.exited;
      clearTimeout(t);
    }
  }

  /** Every second: the peak RSS of the second that passed. */
  async rssLoop(until: () => boolean): Promise<void> {
    resetPeak(this.portico.pid);
    while (!until()) {
      await sleep(1000);
      const m = memory(this.portico.pid);
      if (!m) return;
      this.rssPoints.push({ sec: this.sec(), peakBytes: m.hwm });
      resetPeak(this.portico.pid);
    }
  }

  async sample(phase: Sample['phase']): Promise<Sample> {
    const sec = this.sec();
    const since = this.samples.length ? this.samples[this.samples.length - 1].sec : -Infinity;
    const peaks = this.rssPoints.filter((p) => p.sec > since && p.sec <= sec + 0.5).map((p) => p.peakBytes);
    const fd = descriptors(this.portico.pid);
    const mem = memory(this.portico.pid);
    const s: Sample = {
      sec,
      phase,
      rssPeakBytes: peaks.length ? Math.max(...peaks) : mem?.hwm,
      rssBytes: mem?.rss,
      heapUsedBytes: undefined,
      heapTotalBytes: undefined,
      fd,
      clientConnections: undefined,
      rps: undefined,
      faultEpisodes: undefined,
      failures: undefined,
    };
    try {
      const text = await adminGet(`${this.adminUrl}/metrics`);
      s.heapUsedBytes = metric(text, 'nodejs_heap_size_used_bytes');
      s.heapTotalBytes = metric(text, 'nodejs_heap_size_total_bytes');
      s.clientConnections = metric(text, 'portico_client_connections');
      const total = metric(text, 'portico_http_requests_total');
      if (total !== undefined && this.#lastRequests) s.rps = (total - this.#lastRequests.total) / (sec - this.#lastRequests.sec);
      if (total !== undefined) this.#lastRequests = { sec, total };
    } catch (e) {
      if (!this.crashed()) this.note(`/metrics at ${sec.toFixed(0)} s: ${(e as Error).message}`);
    }
    if (phase === 'load' && this.clients && !this.clients.hasExited()) {
      try {
        const c = await ask<Record<string, FaultStats>>(this.clients, 'stats', 'CLIENTS', 10_000);
        s.faultEpisodes = Object.values(c).reduce((a, f) => a + f.episodes, 0);
        s.failures = Object.values(c).reduce((a, f) => a + f.failures, 0);
      } catch {
        /* reported at the end */
      }
    }
    this.samples.push(s);
    process.stdout.write(`${row(s)}\n`);
    return s;
  }

  async run(originPort: number, token: string): Promise<void> {
    const baseline = await this.baseline();
    process.stdout.write(`baseline: ${baseline.fds} descriptors, ${baseline.sockets} sockets ${JSON.stringify(baseline.tcp)}\n\n${HEADER}\n`);
    this.watchCrash();
    const tool = pickTool(this.opts.load);
    if (tool.tool === 'autocannon') {
      this.note(`steady load by autocannon${tool.warning ? ` (${tool.warning})` : ''}: it does not count a connection the server closes between requests as an error, wrk does`);
    }
    this.loadStart = performance.now();
    const loadEnd = this.loadStart + this.opts.loadSec * 1000;
    const loadOver = (): boolean => performance.now() >= loadEnd || this.crashed();

    const clientSpec: ClientSpec = {
      host: '127.0.0.1',
      port: this.proxyPort,
      routes: { healthy: '', dead: '/dead', reset: '/reset', stall: '/stall' },
      burst: this.opts.burst,
      timeoutsMs: { head: TIMEOUTS.headMs, bodyIdle: TIMEOUTS.bodyIdleMs, upstreamHead: TIMEOUTS.upstreamHeadMs },
    };
    const clients = spawnTracked('soak-clients', process.execPath, [join(this.root, 'dist', 'bench', 'soak-clients.js'), JSON.stringify(clientSpec)], {
      stdinPipe: true,
      nofile: 65536,
    });
    this.clients = clients;
    const steady = runLoad(
      tool.tool,
      {
        host: '127.0.0.1',
        port: this.proxyPort,
        path: '/small',
        method: 'GET',
        bodyBytes: 0,
        connections: this.opts.connections,
        durationSec: this.opts.loadSec,
        timeoutSec: 30,
        threads: 1,
        rate: this.opts.rate,
      },
      { tmp: this.tmp, root: this.root },
    ).then(
      (r: LoadResult) => (this.rec.steady = r),
      (e: Error) => void (this.rec.steadyError = e.message.split('\n').slice(0, 3).join(' ')),
    );
    // A change counts as failed when refused or not answered within 30 s; slow is not failed (the
    // admin API shares Portico's event loop with everything else here).
    const churn = startChurn(this.adminUrl, token, `http://127.0.0.1:${originPort}`, 1, 'soak', 30_000);
    const idle = this.idleConnections(loadOver);
    const rss = this.rssLoop(loadOver);

    while (!loadOver()) {
      const next = this.loadStart + (this.samples.length + 1) * SAMPLE_EVERY_SEC * 1000;
      while (performance.now() < Math.min(next, loadEnd) && !this.crashed()) await sleep(200);
      if (this.crashed()) break;
      if (performance.now() >= next - 100) await this.sample('load');
    }

    // Stop everything that makes load, collect what each saw.
    this.rec.churn = await churn.stop();
    if (!clients.hasExited()) {
      try {
        this.rec.clients = await ask<Record<string, FaultStats>>(clients, 'stop', 'CLIENTS', 30_000);
      } catch (e) {
        this.note(`fault clients: ${(e as Error).message}`);
      }
    } else this.note(`fault clients exited early: ${clients.output().slice(-1000)}`);
    await clients.stop(2000);
    if (this.crashed()) await stopAll(); // the steady load and the idle connections end sooner without a proxy
    await Promise.all([steady, idle, rss]);
    if (this.crashed()) return;
    this.rec.rss = judgeRss(this.rssPoints, this.opts.loadSec, this.idleOpenAtSec);

    // Settle: every second until descriptors and sockets are back to the baseline, at most SETTLE_SEC.
    const settleStart = performance.now();
    let final: FdSample | undefined;
    let settled = false;
    let nextRow = this.sec() + SAMPLE_EVERY_SEC;
    while (!this.crashed()) {
      final = descriptors(this.portico.pid);
      const seconds = (performance.now() - settleStart) / 1000;
      if (final && isSettled(baseline, final)) settled = true;
      if (settled || seconds >= SETTLE_SEC || !final) break;
      if (this.sec() >= nextRow) {
        await this.sample('settle');
        nextRow += SAMPLE_EVERY_SEC;
      }
      await sleep(1000);
    }
    this.rec.settle = { baseline, final, settled, seconds: (performance.now() - settleStart) / 1000 };
    await this.sample('settle');
    this.#stopping = true;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await stopAll();
  }
}

function fmtOutcomes(o: Record<string, number>): string {
  return Object.entries(o)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

function summary(soak: Soak, failures: string[]): string {
  const r = soak.rec;
  const lines: string[] = ['', 'summary'];
  if (r.steady) {
    const s = r.steady;
    lines.push(`  steady load      ${s.requests} requests (${s.rps.toFixed(0)}/s), p99 ${s.p99Ms.toFixed(1)} ms, errors ${s.errors}, non-2xx ${s.non2xx}`);
  }
  for (const [name, f] of Object.entries(r.clients ?? {})) {
    lines.push(`  ${name.padEnd(16)} ${f.episodes} episodes${f.checked ? `, ${f.checked} responses checked` : ''}, ${f.failures} failed: ${fmtOutcomes(f.outcomes)}`);
  }
  if (r.idle) {
    const i = r.idle;
    lines.push(`  idle conns       ${i.attempted} open after ${i.openAtSec.toFixed(0)} s, ${i.replaced} replaced since, ${i.closedByServer} closed by Portico, ${i.failed} GETs failed${i.failed ? ` ${JSON.stringify(i.failures)}` : ''}`);
  }
  if (r.churn) lines.push(`  route changes    ${r.churn.changes}, failed ${r.churn.failed}, p50 ${r.churn.p50Ms.toFixed(0)} ms`);
  if (r.settle) {
    const st = r.settle;
    lines.push(
      `  descriptors      baseline ${st.baseline.fds} fds / ${st.baseline.sockets} sockets; after the load ${st.final?.fds ?? '-'} / ${st.final?.sockets ?? '-'} ` +
        `${st.settled ? `(back within ${st.seconds.toFixed(0)} s, tolerance +${FD_TOLERANCE})` : `(NOT back after ${st.seconds.toFixed(0)} s)`}`,
    );
  }
  if (r.rss) {
    const x = r.rss;
    lines.push(
      `  RSS              warm-up ${x.warmupEndSec.toFixed(0)} s; median per-second peak in the ${x.windowSec.toFixed(0)} s after it ${mib(x.afterWarmupBytes)} MiB, ` +
        `in the last ${x.windowSec.toFixed(0)} s ${mib(x.finalBytes)} MiB (${Number.isFinite(x.growth) ? `${x.growth >= 0 ? '+' : ''}${(x.growth * 100).toFixed(1)}%` : '-'})` +
        `${x.judged ? '' : `: not judged, ${x.note}`}`,
    );
  }
  lines.push('', failures.length ? `SOAK FAILED (${failures.length}):\n${failures.map((f) => `  - ${f}`).join('\n')}` : 'SOAK PASSED');
  return lines.join('\n');
}

async function main({ opts, argv, root, tmp }: CommandContext<Options>): Promise<number> {
  const soak = new Soak(opts, root, tmp);
  const t0 = performance.now();
  try {
    const env = await environment(root);
    if (env.busyBefore !== undefined && env.busyBefore > 0.5) soak.note(`machine busy before the run: ${(env.busyBefore * 100).toFixed(0)}% of all CPUs in use`);
    process.stdout.write(
      `soak: ${opts.loadSec} s of load on ${env.cpuModel} × ${env.cpuCount}, Node ${env.node}, commit ${env.commit}; steady ${opts.rate} req/s on ` +
        `${opts.connections} connections (${toolVersion(pickTool(opts.load).tool, root)}), ${opts.idle} idle connections coming and going, bursts of ${opts.burst}\n`,
    );
    const { originPort, token } = await soak.start();
    await soak.run(originPort, token);
    await soak.stop();
    const failures = verdict(soak.rec);
    const command = process.env['npm_lifecycle_event'] === 'soak' ? `npm run soak${argv.length ? ` -- ${argv.join(' ')}` : ''}` : `node dist/bench/soak.js ${argv.join(' ')}`.trim();
    const results = {
      command,
      env,
      options: opts,
      portico: { timeouts: TIMEOUTS },
      passed: failures.length === 0,
      failures,
      notes: soak.notes,
      record: soak.rec,
      samples: soak.samples,
      rssPerSecond: soak.rssPoints,
      totalSeconds: (performance.now() - t0) / 1000,
    };
    const dir = opts.out ?? join(root, 'bench', 'results', `soak-${env.date.replace(/[:.]/g, '-')}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'soak.json');
    writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
    process.stdout.write(`${summary(soak, failures)}\n\nwrote ${file}\n`);
    return failures.length ? 1 : 0;
  } finally {
    await soak.stop(); // before runCommand stops the rest: Portico's exit is then not a crash
  }
}

process.exitCode = await runCommand('soak', USAGE, parseOptions, main);
