// bench:history part 2 (issue 22 §5): after POST /v1/revisions/:rev/rollback, how long until every
// worker of `portico --workers 2` (file store) and every instance of a two-instance fleet on one
// etcd serves the old revision's routes.
//
// Each trial opens keep-alive probe connections (bench/probe-connection.ts) to each port until every
// worker / instance holds at least `perTarget` of them (which worker accepted a connection is read
// from /proc: bench/socket-owner.ts), PUTs the route's upstream to origin Y and probes until every
// connection answers Y, then rolls back to the revision before (upstream X) and, from the moment
// the rollback is answered, sends a GET on every probe connection at once, round after round, until
// each worker / instance has answered X three times in a row. A target's time is the end of its
// first probe answered by X after its last probe answered by Y (only probes sent after the answer
// count); a probe answered by Y after the answer is "stale".
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProbeConnection, type ProbeAnswer } from './probe-connection.js';
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
  /** Probe connections per worker / instance. */
  perTarget: number;
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
  /** A probe's own round trip (GET and answer on an open connection) during the trials: the floor
   *  of the times above. */
  probeMs: Distribution;
  history: HistorySize;
}

/** Where probes go: a port, and who may have accepted a connection to it. */
interface ProbeTarget {
  port: number;
  names: string[];
  /** Name of the target holding each connection (undefined: unknown). */
  attribute(conns: ProbeConnection[]): Array<string | undefined>;
}

interface Pinned { conn: ProbeConnection; target: string }

interface Ran { trials: Trial[]; probeMs: number[] }

interface Seen { target: string; sentAt: number; endAt: number; body: string }

const path = '/probe';

/** Opens connections (batches of 8 per port, at most 200 in all) until every target holds
 *  `perTarget`; the others are closed. */
async function pin(targets: ProbeTarget[], perTarget: number): Promise<Pinned[]> {
  const kept: Pinned[] = [];
  const count = (name: string) => kept.filter((k) => k.target === name).length;
  for (let opened = 0; opened < 200;) {
    const short = targets.filter((t) => t.names.some((n) => count(n) < perTarget));
    if (short.length === 0) return kept;
    for (const t of short) {
      const conns = await Promise.all(Array.from({ length: 8 }, () => ProbeConnection.open(t.port, ROUTE_HOST)));
      opened += conns.length;
      // a connection is accepted by a worker once it answers: probe each once, then look
      await Promise.all(conns.map((c) => c.get(path)));
      t.attribute(conns).forEach((name, i) => {
        if (name !== undefined && count(name) < perTarget && conns[i].usable) kept.push({ conn: conns[i], target: name });
        else conns[i].close();
      });
    }
  }
  for (const k of kept) k.conn.close();
  throw new Error('200 connections did not reach every worker / instance');
}

/** One GET on every pinned connection at once. */
async function round(pinned: Pinned[]): Promise<Seen[]> {
  const answers = await Promise.allSettled(pinned.map((p) => p.conn.get(path)));
  return answers.map((a, i) => {
    const r: ProbeAnswer | undefined = a.status === 'fulfilled' ? a.value : undefined;
    const now = performance.now();
    return { target: pinned[i].target, sentAt: r?.sentAt ?? now, endAt: r?.endAt ?? now, body: r === undefined ? 'error' : r.status === 200 ? r.body : `status ${r.status}` };
  });
}

function convergence(seen: Seen[], target: string, oldBody: string, answeredAt: number): number | null {
  const mine = seen.filter((s) => s.target === target && s.sentAt >= answeredAt);
  const lastStale = Math.max(-Infinity, ...mine.filter((s) => s.body !== oldBody).map((s) => s.sentAt));
  const ok = mine.filter((s) => s.body === oldBody && s.sentAt > lastStale).map((s) => s.endAt);
  return ok.length ? Math.min(...ok) - answeredAt : null;
}

/** True once every target's last `n` answers are `body`. */
function settled(seen: Seen[], names: string[], body: string, n: number): boolean {
  return names.every((t) => {
    const mine = seen.filter((s) => s.target === t);
    return mine.length >= n && mine.slice(-n).every((s) => s.body === body);
  });
}

async function runTrials(o: RollbackOptions, writer: Instance, targets: ProbeTarget[]): Promise<Ran> {
  const [x, y] = o.origins;
  const names = targets.flatMap((t) => t.names);
  const trials: Trial[] = [];
  const probeMs: number[] = [];
  for (let n = 0; n < o.rollbacks; n++) {
    const pinned = await pin(targets, o.perTarget);
    try {
      const put = await writer.call('PUT', `/v1/routes/${ROUTE_ID}`, benchRoute(y.url));
      if (put.status !== 200) throw new Error(`PUT answered ${put.status} ${put.text.slice(0, 200)}`);
      const before = Number(put.headers.get('x-portico-revision'));
      // the revision before the PUT: its routes point at X
      const page = JSON.parse((await writer.call('GET', `/v1/revisions/${before}`)).text) as { previous: number | null };
      if (page.previous === null) throw new Error(`revision ${before} has no previous revision`);
      const ready: Seen[] = [];
      const readyBy = performance.now() + 20_000;
      while (!settled(ready, names, y.name, 2 * o.perTarget)) {
        if (performance.now() > readyBy) throw new Error(`not every worker / instance served ${y.name} within 20 s`);
        ready.push(...await round(pinned));
      }
      const sentAt = performance.now();
      const rb = await writer.call('POST', `/v1/revisions/${page.previous}/rollback`);
      const answeredAt = performance.now();
      if (rb.status !== 200) throw new Error(`rollback answered ${rb.status} ${rb.text.slice(0, 200)}`);
      const seen: Seen[] = [];
      while (!settled(seen, names, x.name, 3 * o.perTarget) && performance.now() - answeredAt < o.timeoutMs) seen.push(...await round(pinned));
      trials.push({
        rollbackMs: answeredAt - sentAt,
        convergedMs: Object.fromEntries(names.map((t) => [t, convergence(seen, t, x.name, answeredAt)])),
        probes: seen.length,
        stale: seen.filter((s) => s.body !== x.name).length,
      });
      probeMs.push(...seen.map((s) => s.endAt - s.sentAt));
    } finally {
      for (const p of pinned) p.conn.close();
    }
  }
  return { trials, probeMs };
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
      attribute: (conns) => ownersOf(inst.port, conns.map((c) => c.localPort), pids).map((pid) => (pid === undefined ? undefined : name(pid))),
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
    const r = await runTrials(o, a, targets);
    return summarize('fleet', 'two `portico --store etcd://...` instances on one etcd; rollback posted to A, probes on A and B', ['A', 'B'], r, await etcdHistorySize('fleet', etcdEndpoint, prefix));
  } finally {
    await Promise.all([a.proc.stop(), b.proc.stop()]);
  }
}

