// `npm run bench:history` (issue 22 §5): the route history measured against real Portico processes
// (the built bin) and real upstreams on loopback.
//   1. feed: N writes through the admin API -> N events of GET /v1/changes, in order, no gap, across
//      a kill and restart of the process in the middle of the writes (Last-Event-ID): events,
//      gaps, duplicates, order violations, and write answered -> event received (bench/history-feed.ts).
//   2. rollback: after POST /v1/revisions/:rev/rollback, answer -> every worker of --workers 2 and
//      every instance of a two-instance etcd fleet serves the old routes (bench/history-rollback.ts).
//   3. guard: a guarded change (?guard=) pointing the route at a dead upstream under load is rolled
//      back within the window + 1 s; failed requests counted (bench/history-guard.ts).
// Plus the history's size per revision, file store and etcd (bench/history-size.ts).
// Results: bench/results/history-<timestamp>/ (results.json, results.md; the tables also printed).
// See bench/README.md ("Route history").
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { environment, type Environment } from './env.js';
import { startEtcd, type EtcdProcess } from './etcd-process.js';
import { measureFeed, type FeedResult } from './history-feed.js';
import { measureGuard, type GuardResult, type GuardSetup } from './history-guard.js';
import { benchRoute } from './history-route.js';
import { historyMarkdown } from './history-report.js';
import { measureFleet, measureWorkers, type RollbackResult } from './history-rollback.js';
import { startNamedOrigin } from './named-origin.js';
import { ROOT } from './portico-instance.js';
import { loadAverage } from './procstat.js';
import { installSignalHandlers, stopAll } from './procs.js';

const USAGE = `usage: npm run bench:history -- [options]
  --parts LIST        feed,rollback,guard (default all)
  --writes N          route writes in the feed part (default 1000)
  --restart-at N      the write during which the process is killed and restarted (default writes/2; 0: none)
  --restart kill|term how it is stopped (default kill: SIGKILL)
  --kill-after MS     the signal goes this long after the write in flight was sent (default 1)
  --rollbacks N       rollbacks per setup (default 20)
  --setups LIST       workers,fleet (default both; fleet needs etcd)
  --workers N         workers of the workers setup (default 2)
  --per-target N      probe connections per worker / instance (default 2)
  --guard-setups LIST single,workers,fleet (default all; fleet needs etcd)
  --guards N          guarded changes per guard setup, each on fresh processes (default 3)
  --guard-window S    the guard window, seconds (default 5)
  --guard-rate N      requests/s of the load during the guarded change (default 200)
  --smoke             60 writes, 3 rollbacks, one guard per setup: checks that it runs, no numbers worth quoting
  --out DIR           results directory (default bench/results/history-<timestamp>)
`;

export interface HistoryResults {
  env: Environment;
  command: string;
  loadAverage: { start: number[] | undefined; end: number[] | undefined };
  /** JSON bytes of the route the bench changes. */
  routeBytes: number;
  feed?: FeedResult;
  rollback: RollbackResult[];
  guard: GuardResult[];
  notes: string[];
}

function options() {
  const { values } = parseArgs({
    options: {
      parts: { type: 'string', default: 'feed,rollback,guard' },
      writes: { type: 'string' }, 'restart-at': { type: 'string' }, restart: { type: 'string', default: 'kill' }, 'kill-after': { type: 'string', default: '1' },
      rollbacks: { type: 'string' }, setups: { type: 'string', default: 'workers,fleet' }, workers: { type: 'string', default: '2' },
      'per-target': { type: 'string', default: '2' }, 'guard-window': { type: 'string' }, 'guard-setups': { type: 'string', default: 'single,workers,fleet' }, guards: { type: 'string' }, 'guard-rate': { type: 'string', default: '200' },
      smoke: { type: 'boolean', default: false }, out: { type: 'string' }, help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const smoke = values.smoke;
  const int = (v: string | undefined, d: number, name: string, min = 0): number => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isInteger(n) || n < min) {
      process.stderr.write(`--${name}: expected an integer >= ${min}\n${USAGE}`);
      process.exit(2);
    }
    return n;
  };
  const writes = int(values.writes, smoke ? 60 : 1000, 'writes', 1);
  if (values.restart !== 'kill' && values.restart !== 'term') {
    process.stderr.write(`--restart: kill or term\n${USAGE}`);
    process.exit(2);
  }
  return {
    parts: new Set(values.parts.split(',')),
    writes,
    restartAt: Math.min(writes, int(values['restart-at'], Math.ceil(writes / 2), 'restart-at')),
    restartSignal: values.restart === 'kill' ? 'SIGKILL' as const : 'SIGTERM' as const,
    killAfterMs: int(values['kill-after'], 1, 'kill-after'),
    rollbacks: int(values.rollbacks, smoke ? 3 : 20, 'rollbacks', 1),
    setups: new Set(values.setups.split(',')),
    workers: int(values.workers, 2, 'workers', 2),
    perTarget: int(values['per-target'], 2, 'per-target', 1),
    guardSetups: values['guard-setups'].split(',').filter((x): x is GuardSetup => x === 'single' || x === 'workers' || x === 'fleet'),
    guards: int(values.guards, smoke ? 1 : 3, 'guards', 1),
    guardWindowS: int(values['guard-window'], 5, 'guard-window', 1),
    guardRate: int(values['guard-rate'], 200, 'guard-rate', 1),
    out: values.out ?? join(ROOT, 'bench', 'results', `history-${new Date().toISOString().replace(/[:.]/g, '-')}`),
  };
}

async function main(): Promise<void> {
  const o = options();
  installSignalHandlers();
  const env = await environment(ROOT);
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-history-'));
  const origins: [Awaited<ReturnType<typeof startNamedOrigin>>, Awaited<ReturnType<typeof startNamedOrigin>>] = [await startNamedOrigin('X'), await startNamedOrigin('Y')];
  const results: HistoryResults = {
    env, command: ['npm run bench:history', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    loadAverage: { start: loadAverage(), end: undefined }, routeBytes: Buffer.byteLength(JSON.stringify(benchRoute(origins[0].url))), rollback: [], guard: [], notes: [],
  };
  const log = (s: string) => process.stderr.write(`bench:history: ${s}\n`);
  try {
    if (o.parts.has('feed')) {
      log(`feed: ${o.writes} writes, restart (${o.restartSignal}) at write ${o.restartAt}`);
      const d = join(dir, 'feed');
      mkdirSync(d);
      results.feed = await measureFeed({ dir: d, origins, writes: o.writes, restartAt: o.restartAt, restartSignal: o.restartSignal, killAfterMs: o.killAfterMs });
    }
    const trials = { origins, rollbacks: o.rollbacks, perTarget: o.perTarget, timeoutMs: 10_000 };
    if (o.parts.has('rollback') && o.setups.has('workers')) {
      log(`rollback: --workers ${o.workers}, ${o.rollbacks} rollbacks`);
      const d = join(dir, 'workers');
      mkdirSync(d);
      results.rollback.push(await measureWorkers({ ...trials, dir: d }, o.workers));
    }
    let etcd: EtcdProcess | undefined;
    let etcdTried = false;
    const etcdFor = async (what: string): Promise<EtcdProcess | undefined> => {
      if (!etcdTried) {
        etcdTried = true;
        const d = join(dir, 'etcd');
        mkdirSync(d);
        try {
          etcd = await startEtcd(d);
        } catch (e) {
          results.notes.push(`etcd did not start (${(e as Error).message.split('\n')[0]}); Debian: apt-get install etcd-server`);
        }
      }
      if (!etcd) results.notes.push(`${what} skipped: no etcd`);
      return etcd;
    };
    if (o.parts.has('rollback') && o.setups.has('fleet')) {
      log(`rollback: etcd fleet of two, ${o.rollbacks} rollbacks`);
      const e = await etcdFor('rollback on the fleet');
      const d = join(dir, 'fleet');
      mkdirSync(d);
      if (e) results.rollback.push(await measureFleet({ ...trials, dir: d }, e.endpoint));
    }
    if (o.parts.has('guard')) {
      const d = join(dir, 'guard');
      mkdirSync(d);
      runs: for (let run = 1; run <= o.guards; run++) {
        for (const setup of o.guardSetups) {
          log(`guard (${setup}, ${run} of ${o.guards}): window ${o.guardWindowS} s, ${o.guardRate} requests/s`);
          const e = setup === 'fleet' ? await etcdFor('guard on the fleet') : undefined;
          if (setup === 'fleet' && !e) continue;
          const g = await measureGuard({ dir: d, origins, windowS: o.guardWindowS, rate: o.guardRate, setup, run, ...(e ? { etcd: e.endpoint } : {}) });
          results.guard.push(g);
          if (!g.available) break runs; // the same answer for every setup
        }
      }
    }
  } finally {
    for (const origin of origins) await origin.close();
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  results.loadAverage.end = loadAverage();
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  const md = historyMarkdown(results);
  writeFileSync(join(o.out, 'results.md'), md);
  process.stdout.write(md + `\nresults: ${o.out}\n`);
}

await main();
