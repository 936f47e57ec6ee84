// bench:history part 2 (issue 22 §5): after POST /v1/revisions/:rev/rollback, how long until every
// worker of `portico --workers 2` (file store) and every instance of a two-instance fleet on one
// etcd serves the old revision's routes.
//
// Each trial: PUT the route's upstream to origin Y (and wait until every worker / instance serves
// Y), then roll back to the revision before (upstream X) and, from the moment the rollback is
// answered, probe on fresh connections (bench/fresh-probe.ts; `concurrency` at a time per port)
// until every worker / instance has answered X on probes sent after its last answer from Y. Which
// worker served a probe is read from /proc (bench/socket-owner.ts). A target's time is the end of
// its first probe answered by X after its last probe answered by Y (only probes sent after the
// answer count); a probe answered by Y after the answer is "stale".
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeFresh, type Probe } from './fresh-probe.js';
import { benchRoute, ROUTE_HOST, ROUTE_ID } from './history-route.js';
import { etcdHistorySize, fileHistorySize, type HistorySize } from './history-size.js';
import type { NamedOrigin } from './named-origin.js';
import { distribution, type Distribution } from './percentiles.js';
import { ownersOf } from './socket-owner.js';
import { startInstance, type Instance } from './portico-instance.js';

export interface RollbackOptions {
  dir: string;
  origins: [NamedOrigin, NamedOrigin];
  rollbacks: number;
  /** Probes in flight at once, per port. */
  concurrency: number;
  /** A target that has not converged this long after the answer counts as not converged. */
  timeoutMs: number;
}

export interface Trial {
  /** Rollback request sent -> answered. */
  rollbackMs: number;
  /** Per target: answer -> it serves the old routes (null: not within timeoutMs). */
  convergedMs: Record<string, number | null>;
  probes: number;
  stale: number;
}

export interface RollbackResult {
  setup: 'workers' | 'fleet';
  describe: string;
  targets: string[];
  trials: Trial[];
  /** Over trials: the slowest target of each trial. */
  worstMs: Distribution;
  rollbackMs: Distribution;
  notConverged: number;
  staleProbes: number;
  probes: number;
  /** A probe's own round trip (connect, GET, answer) during the trials: the floor of the times above. */
  probeMs: Distribution;
  /** Probes whose accepting process could not be found (closed by the server early). */
  unattributed: number;
  history: HistorySize;
}

/** Where probes go and who answered: a port and, with workers, the pids that may have accepted. */
interface ProbeTarget {
  port: number;
  /** Name of the target a probe reached (by the pid that holds its socket), undefined if unknown. */
  attribute(probes: Probe[]): Array<string | undefined>;
  names: string[];
}

interface Ran { trials: Trial[]; probeMs: number[]; unattributed: number }

interface Seen { target: string | undefined; sentAt: number; endAt: number; body: string }

const path = '/probe';

async function probeBatch(targets: ProbeTarget[], concurrency: number): Promise<Seen[]> {
  const out: Seen[] = [];
  await Promise.all(targets.map(async (t) => {
    const settled = await Promise.allSettled(Array.from({ length: concurrency }, () => probeFresh(t.port, path, ROUTE_HOST)));
    const probes = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const names = t.attribute(probes);
    probes.forEach((p, i) => {
      p.close();
      out.push({ target: names[i], sentAt: p.sentAt, endAt: p.endAt, body: p.status === 200 ? p.body : `status ${p.status}` });
    });
  }));
  return out;
}

/** Probes until every target answered `want` on its latest probes (at least `settle` in a row). */
async function waitServed(targets: ProbeTarget[], want: string, concurrency: number, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  const names = targets.flatMap((t) => t.names);
  const streak = new Map<string, number>();
  while (performance.now() < deadline) {
    for (const s of await probeBatch(targets, concurrency)) {
      if (s.target === undefined) continue;
      streak.set(s.target, s.body === want ? (streak.get(s.target) ?? 0) + 1 : 0);
    }
    if (names.every((n) => (streak.get(n) ?? 0) >= 2)) return;
  }
  throw new Error(`not every target served ${want} within ${ms} ms: ${JSON.stringify(Object.fromEntries(streak))}`);
}

function convergence(seen: Seen[], target: string, oldBody: string, answeredAt: number): number | null {
  const mine = seen.filter((s) => s.target === target && s.sentAt >= answeredAt);
  const lastStale = Math.max(-Infinity, ...mine.filter((s) => s.body !== oldBody).map((s) => s.sentAt));
  const ok = mine.filter((s) => s.body === oldBody && s.sentAt > lastStale).map((s) => s.endAt);
  return ok.length ? Math.min(...ok) - answeredAt : null;
}

async function runTrials(o: RollbackOptions, writer: Instance, targets: ProbeTarget[]): Promise<Ran> {
  const [x, y] = o.origins;
  const names = targets.flatMap((t) => t.names);
  const trials: Trial[] = [];
  const probeMs: number[] = [];
  let unattributed = 0;
  for (let n = 0; n < o.rollbacks; n++) {
    const put = await writer.call('PUT', `/v1/routes/${ROUTE_ID}`, benchRoute(y.url));
    if (put.status !== 200) throw new Error(`PUT answered ${put.status} ${put.text.slice(0, 200)}`);
    const before = Number(put.headers.get('x-portico-revision'));
    // the revision before the PUT: its routes point at X
    const page = JSON.parse((await writer.call('GET', `/v1/revisions/${before}`)).text) as { previous: number | null };
    if (page.previous === null) throw new Error(`revision ${before} has no previous revision`);
    await waitServed(targets, y.name, o.concurrency, 20_000);
    const sentAt = performance.now();
    const rb = await writer.call('POST', `/v1/revisions/${page.previous}/rollback`);
    const answeredAt = performance.now();
    if (rb.status !== 200) throw new Error(`rollback answered ${rb.status} ${rb.text.slice(0, 200)}`);
    const seen: Seen[] = [];
    const done = () => names.every((t) => {
      const mine = seen.filter((s) => s.target === t);
      const lastStale = mine.reduce((i, s, k) => (s.body !== x.name ? k : i), -1);
      return mine.length - lastStale - 1 >= 3;
    });
    while (!done() && performance.now() - answeredAt < o.timeoutMs) seen.push(...await probeBatch(targets, o.concurrency));
    unattributed += seen.filter((s) => s.target === undefined).length;
    trials.push({
      rollbackMs: answeredAt - sentAt,
      convergedMs: Object.fromEntries(names.map((t) => [t, convergence(seen, t, x.name, answeredAt)])),
      probes: seen.length,
      stale: seen.filter((s) => s.body !== x.name).length,
    });
    probeMs.push(...seen.map((s) => s.endAt - s.sentAt));
  }
  return { trials, probeMs, unattributed };
}

function summarize(setup: RollbackResult['setup'], describe: string, names: string[], r: Ran, history: HistorySize): RollbackResult {
  const worst = r.trials.map((t) => Math.max(...Object.values(t.convergedMs).map((v) => v ?? Infinity)));
  return {
    setup, describe, targets: names, trials: r.trials,
    worstMs: distribution(worst.filter(Number.isFinite)),
    rollbackMs: distribution(r.trials.map((t) => t.rollbackMs)),
    notConverged: r.trials.reduce((n, t) => n + Object.values(t.convergedMs).filter((v) => v === null).length, 0),
    staleProbes: r.trials.reduce((n, t) => n + t.stale, 0),
    probes: r.trials.reduce((n, t) => n + t.probes, 0),
    probeMs: distribution(r.probeMs),
    unattributed: r.unattributed,
    history,
  };
}

/** `portico --workers N --config FILE`: the rollback posted to its admin API, probes on its port. */
export async function measureWorkers(o: RollbackOptions, workers: number): Promise<RollbackResult> {
  const config = join(o.dir, 'workers.json');
  writeFileSync(config, JSON.stringify({ routes: [benchRoute(o.origins[0].url)] }));
  const inst = await startInstance({ name: 'portico-workers', source: ['--config', config], extra: ['--workers', String(workers)] });
  try {
    const status = JSON.parse((await inst.call('GET', '/v1/status')).text) as { workers: Array<{ slot: number; pid: number | null }> };
    const pids = status.workers.map((w) => w.pid).filter((p): p is number => p !== null);
    if (pids.length !== workers) throw new Error(`/v1/status lists ${pids.length} worker pids, not ${workers}`);
    const name = (pid: number) => `worker ${status.workers.find((w) => w.pid === pid)!.slot}`;
    const target: ProbeTarget = {
      port: inst.port,
      names: pids.map(name),
      attribute: (probes) => ownersOf(inst.port, probes.map((p) => p.localPort), pids).map((pid) => (pid === undefined ? undefined : name(pid))),
    };
    const r = await runTrials(o, inst, [target]);
    return summarize('workers', `portico --workers ${workers} --config (file store); rollback and probes on the same process`, target.names, r, fileHistorySize('workers', join(o.dir, 'workers.history.json')));
  } finally {
    await inst.proc.stop();
  }
}

/** Two `portico --store etcd://...` instances: the rollback posted to A, probes on A and B. */
export async function measureFleet(o: RollbackOptions, etcdEndpoint: string): Promise<RollbackResult> {
  const prefix = '/bench-history';
  const store = ['--store', `etcd://${etcdEndpoint}${prefix}`];
  const a = await startInstance({ name: 'portico-A', source: store });
  const b = await startInstance({ name: 'portico-B', source: store });
  try {
    const created = await a.call('POST', '/v1/routes', benchRoute(o.origins[0].url));
    if (created.status !== 201) throw new Error(`POST /v1/routes on A answered ${created.status} ${created.text.slice(0, 200)}`);
    const targets: ProbeTarget[] = [a, b].map((inst, i) => ({ port: inst.port, names: [i ? 'B' : 'A'], attribute: (ps) => ps.map(() => (i ? 'B' : 'A')) }));
    await waitServed(targets, o.origins[0].name, o.concurrency, 20_000);
    const r = await runTrials(o, a, targets);
    return summarize('fleet', 'two `portico --store etcd://...` instances on one etcd; rollback posted to A, probes on A and B', ['A', 'B'], r, await etcdHistorySize('fleet', etcdEndpoint, prefix));
  } finally {
    await Promise.all([a.proc.stop(), b.proc.stop()]);
  }
}

