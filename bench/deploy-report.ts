// Results of `npm run bench:deploy` (bench/deploy.ts): the records of each scenario and the Markdown
// tables written to bench/results/deploy-<timestamp>/results.md (and printed at the end).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Environment } from './env.js';
import type { Scenario } from './deploy-targets.js';
import type { PhaseCounts } from './deploy-load.js';

/** What the client saw during one phase of a load (a deploy, the outage...). */
export interface PhaseRecord extends PhaseCounts {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  seconds: number;
  /** When the failures happened: runs of failed requests (sent less than 250 ms apart), ms after the
   *  phase began. */
  failureSpans: { fromMs: number; toMs: number; count: number }[];
  /** What the bench did during the phase (an upstream stopped, back...), ms after the phase began. */
  events?: { ms: number; what: string }[];
}

/** The 1-minute load average over a case: when it began, its highest, when it ended. */
export interface LoadAvg {
  start: number;
  max: number;
  end: number;
}

/** Portico's warn lines during a case: ejections, panic mode. */
export interface PorticoLog {
  ejections: number;
  panics: number;
}

export interface DeployRecord {
  target: string;
  upstreams: number;
  stop: 'kill' | 'term';
  /** One per deploy (every upstream restarted once). */
  deploys: PhaseRecord[];
  /** Steady load before the first deploy and after the last one: failures here are not the deploy's. */
  baseline?: PhaseRecord;
  after?: PhaseRecord;
  /** POST ids the origins recorded, and those recorded more than once. */
  postsReceived: number;
  duplicatePosts: number;
  /** `GET /health` requests the upstreams received over the case (a proxy's active health checks). */
  healthChecks: number;
  /** Seconds each SIGTERM took to stop an upstream (draining). */
  stopSeconds: number[];
  loadAvg: LoadAvg;
  porticoLog?: PorticoLog;
  error?: string;
}

/** Part of an outage: client requests sent and upstream attempts received between fromSec and toSec
 *  after it began. */
export interface OutageWindow {
  fromSec: number;
  toSec: number;
  clientRequests: number;
  upstreamAttempts: number;
  attemptsPerRequest: number;
  phase: PhaseRecord;
}

export interface OutageRecord {
  target: string;
  upstreams: number;
  /** Over the whole outage. */
  clientRequests: number;
  upstreamAttempts: number;
  attemptsPerRequest: number;
  /** The first 10 s (the retry budget's window still holds healthy requests) and the rest. */
  windows: OutageWindow[];
  loadAvg: LoadAvg;
  note?: string;
  error?: string;
}

export interface SlowRecord {
  target: string;
  algorithm: string;
  upstreams: number;
  delayMs: number;
  /** Requests each upstream received during the measured phase; the slow one is the last. */
  perUpstream: number[];
  slowShare: number;
  rps: number;
  phase?: PhaseRecord;
  loadAvg: LoadAvg;
  note?: string;
  error?: string;
}

export interface TargetRecord {
  name: string;
  version: string;
  /** How it is configured, per scenario it ran. */
  config: Partial<Record<Scenario, string>>;
  skipped?: string;
}

export interface DeployResults {
  bench: 'deploy';
  command: string;
  env: Environment;
  versions: Record<string, string>;
  options: Record<string, unknown>;
  /** Whether the built Portico accepts a route `policy` (issue 20). */
  porticoPolicy: boolean;
  targets: TargetRecord[];
  deploy: DeployRecord[];
  outage: OutageRecord[];
  slow: SlowRecord[];
  notes: string[];
  /** 1-minute load average over the whole run, sampled every second. */
  loadAverage: { min: number; mean: number; max: number };
  totalSeconds: number;
}

function fmt(x: number, d = 0): string {
  return Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '–';
}

function pct(x: number): string {
  return Number.isFinite(x) ? `${fmt(x * 100, 1)}%` : '–';
}

function loadAvgCell(l: LoadAvg): string {
  return `${fmt(l.start, 1)}–${fmt(l.max, 1)}`;
}

function reasons(f: Record<string, number>): string {
  const e = Object.entries(f).sort((a, b) => b[1] - a[1]);
  return e.length ? e.map(([k, v]) => `${k} ×${v}`).join(', ') : '';
}

function sumFailures(phases: PhaseRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of phases) for (const [k, v] of Object.entries(p.failures)) out[k] = (out[k] ?? 0) + v;
  return out;
}

const STOP_LABEL = { kill: 'SIGKILL', term: 'SIGTERM (graceful)' } as const;

/** Failed requests of each deploy, "a / b / c". */
function perDeploy(r: DeployRecord, pick: (p: PhaseRecord) => number): string {
  return r.deploys.length ? r.deploys.map(pick).join(' / ') : '–';
}

export function deploySummaryTable(results: DeployResults): string[] {
  const cases: { upstreams: number; stop: 'kill' | 'term' }[] = [];
  for (const r of results.deploy) if (!cases.some((c) => c.upstreams === r.upstreams && c.stop === r.stop)) cases.push({ upstreams: r.upstreams, stop: r.stop });
  const targets = [...new Set(results.deploy.map((r) => r.target))];
  const out = [
    `| target | ${cases.map((c) => `${c.upstreams} upstreams, ${STOP_LABEL[c.stop]}`).join(' | ')} | POSTs reaching an origin twice |`,
    `|---|${cases.map(() => '---:').join('|')}|---:|`,
  ];
  for (const t of targets) {
    const cells = cases.map((c) => {
      const r = results.deploy.find((x) => x.target === t && x.upstreams === c.upstreams && x.stop === c.stop);
      if (!r) return '';
      if (r.error) return 'failed (see notes)';
      return `${perDeploy(r, (p) => p.failedGets)} (POST ${perDeploy(r, (p) => p.failedPosts)})`;
    });
    const dup = results.deploy.filter((x) => x.target === t && !x.error).reduce((a, x) => a + x.duplicatePosts, 0);
    out.push(`| ${t} | ${cells.join(' | ')} | ${dup} |`);
  }
  return out;
}

export function deployDetailTable(results: DeployResults): string[] {
  const out = [
    '| target | upstreams | stop | failed GET per deploy | failed POST per deploy | what failed | POSTs received / twice | requests | p99 / max ms | before / after deploys (failed) | Portico log | health checks received | load avg |',
    '|---|---:|---|---:|---:|---|---:|---:|---:|---:|---|---:|---:|',
  ];
  for (const r of results.deploy) {
    if (r.error) {
      out.push(`| ${r.target} | ${r.upstreams} | ${STOP_LABEL[r.stop]} | failed: ${r.error.split('\n')[0]} | | | | | | | | | ${loadAvgCell(r.loadAvg)} |`);
      continue;
    }
    const requests = r.deploys.reduce((a, p) => a + p.requests, 0);
    const p99 = Math.max(...r.deploys.map((p) => p.p99Ms));
    const max = Math.max(...r.deploys.map((p) => p.maxMs));
    const edges = [r.baseline, r.after].map((p) => (p ? fmt(p.failedGets + p.failedPosts) : '–')).join(' / ');
    const log = r.porticoLog ? `ejections ${r.porticoLog.ejections}, panic ${r.porticoLog.panics}` : '';
    out.push(
      `| ${r.target} | ${r.upstreams} | ${STOP_LABEL[r.stop]} | ${perDeploy(r, (p) => p.failedGets)} | ${perDeploy(r, (p) => p.failedPosts)} | ${reasons(sumFailures(r.deploys))} | ` +
        `${fmt(r.postsReceived)} / ${r.duplicatePosts} | ${fmt(requests)} | ${fmt(p99, 1)} / ${fmt(max)} | ${edges} | ${log} | ${fmt(r.healthChecks)} | ${loadAvgCell(r.loadAvg)} |`,
    );
  }
  return out;
}

export function outageTable(results: DeployResults): string[] {
  const out = [
    '| target | client requests | upstream attempts | attempts ÷ request | of which: first 10 s / after | client saw | p99 ms | load avg |',
    '|---|---:|---:|---:|---:|---|---:|---:|',
  ];
  for (const r of results.outage) {
    if (r.error) {
      out.push(`| ${r.target} | failed: ${r.error.split('\n')[0]} | | | | | | ${loadAvgCell(r.loadAvg)} |`);
      continue;
    }
    const failures = sumFailures(r.windows.map((w) => w.phase));
    const ok = r.clientRequests - Object.values(failures).reduce((a, b) => a + b, 0);
    const saw = reasons({ ...failures, ...(ok > 0 ? { '2xx': ok } : {}) });
    const p99 = Math.max(...r.windows.map((w) => w.phase.p99Ms));
    out.push(
      `| ${r.target}${r.note ? ` (${r.note})` : ''} | ${fmt(r.clientRequests)} | ${fmt(r.upstreamAttempts)} | ${fmt(r.attemptsPerRequest, 3)} | ` +
        `${r.windows.map((w) => fmt(w.attemptsPerRequest, 3)).join(' / ')} | ${saw} | ${fmt(p99, 1)} | ${loadAvgCell(r.loadAvg)} |`,
    );
  }
  return out;
}

export function slowTable(results: DeployResults): string[] {
  const out = [
    '| target | algorithm | requests per upstream (slow last) | slow upstream\'s share | req/s | p50 / p99 ms | failed | load avg |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results.slow) {
    if (r.error) {
      out.push(`| ${r.target} | ${r.algorithm} | failed: ${r.error.split('\n')[0]} | | | | | ${loadAvgCell(r.loadAvg)} |`);
      continue;
    }
    const failed = r.phase ? r.phase.failedGets + r.phase.failedPosts : NaN;
    out.push(
      `| ${r.target}${r.note ? ` (${r.note})` : ''} | ${r.algorithm} | ${r.perUpstream.map((n) => fmt(n)).join(' / ')} | ${pct(r.slowShare)} | ${fmt(r.rps)} | ` +
        `${fmt(r.phase?.p50Ms ?? NaN, 1)} / ${fmt(r.phase?.p99Ms ?? NaN, 1)} | ${fmt(failed)} | ${loadAvgCell(r.loadAvg)} |`,
    );
  }
  return out;
}

export function markdown(results: DeployResults): string {
  const e = results.env;
  const o = results.options as { rate: number; connections: number; postEvery: number; downSec: number; settleSec: number; deploys: number; seconds: number; outageSeconds: number; delayMs: number };
  const lines: string[] = [
    '# Backend churn (`npm run bench:deploy`)',
    '',
    `Command: \`${results.command}\``,
    '',
    `${e.date}, commit ${e.commit}${e.dirty ? ' (uncommitted changes)' : ''}; ${e.cpuModel} × ${e.cpuCount}, ${e.memoryGiB} GiB, Linux ${e.kernel}. ` +
      `Versions: ${Object.entries(results.versions).map(([k, v]) => `${k} ${v}`).join('; ')}.`,
    '',
    `Load average (1 min) during the run: ${fmt(results.loadAverage.min, 1)}–${fmt(results.loadAverage.max, 1)} (mean ${fmt(results.loadAverage.mean, 1)}) on ${e.cpuCount} CPUs` +
      `${e.busyBefore !== undefined ? `; ${fmt(e.busyBefore * 100)}% of the CPUs busy in the second before it started` : ''}. ` +
      `The "load avg" columns give each case's 1-minute load average when it began and its highest during the case.`,
    '',
    `Load: ${o.connections} keep-alive connections (undici Pool, one request at a time each), ${fmt(o.rate)} requests/s in all; ` +
      `a failed request is a response that is not 2xx or a request that ended in an error, counted by the client.` +
      (results.porticoPolicy ? '' : ' This Portico does not accept a route `policy` yet (issue 20): its outage and slow rows ran without one, and portico-hc1s was skipped.'),
    '',
  ];
  if (results.deploy.length) {
    lines.push(
      '## Rolling deploys: failed requests per deploy',
      '',
      `A deploy restarts every upstream in turn: stopped (SIGKILL, or SIGTERM: stop accepting, close idle keep-alive connections, ` +
        `answer the requests in progress with Connection: close, exit), down ${o.downSec} s, started again on the same port, then ${o.settleSec} s ` +
        `before the next upstream. ${o.deploys} deploy(s) per case, each figure one deploy ("a / b"); GET failures first, POST failures in parentheses. ` +
        `1 request in ${o.postEvery} (at random) is a POST without Idempotency-Key carrying a unique id that the origins record: an id recorded twice is a POST that reached an origin twice.`,
      '',
      ...deploySummaryTable(results),
      '',
      'Per case: what the failures were, latency over the deploys, failures in the steady load before the first deploy and after the last one (not counted above), ' +
        'Portico\'s own log (ejections after consecutive failures, panic mode), and the `GET /health` requests the upstreams received (active health checks; HAProxy\'s are TCP connects, not counted).',
      '',
      ...deployDetailTable(results),
      '',
    );
  }
  if (results.outage.length) {
    lines.push(
      '## Every upstream answering 503: upstream attempts per client request',
      '',
      `Two upstreams; steady GETs, then every upstream switched to answering 503 for ${o.outageSeconds} s. Attempts are the requests the upstreams received during the outage; ` +
        'goal for Portico (retries.onStatus [503] with its retry budget): at most 1.2 per client request. Portico\'s budget counts the last 10 s: during the first 10 s of the outage ' +
        'it still holds the healthy requests before it, so the figure after them is the budget\'s steady state.',
      '',
      ...outageTable(results),
      '',
    );
  }
  if (results.slow.length) {
    lines.push(
      `## One upstream ${o.delayMs} ms slower: its share of the requests`,
      '',
      `Three upstreams, the last answering after ${o.delayMs} ms, ${o.seconds} s of GETs after a 1 s warm-up. Goal for least-request: the slow upstream under 10%.`,
      '',
      ...slowTable(results),
      '',
    );
  }
  lines.push('## Targets', '');
  for (const t of results.targets) {
    lines.push(`- **${t.name}** (${t.version})${t.skipped ? `: skipped, ${t.skipped}` : ''}`);
    for (const [s, c] of Object.entries(t.config)) lines.push(`  - ${s}: ${c}`);
  }
  if (results.notes.length) lines.push('', '## Notes', '', ...results.notes.map((n) => `- ${n}`));
  lines.push('', `Total time ${fmt(results.totalSeconds)} s.`, '');
  return lines.join('\n');
}

export function writeDeployResults(dir: string, results: DeployResults): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'results.json');
  const md = join(dir, 'results.md');
  writeFileSync(json, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(md, markdown(results));
  return { json, md };
}
