// bench:history part 3 (issue 22 §5): a guarded change (PUT ...?guard=Ws) that points the route at
// a dead upstream (a loopback port nothing listens on) while a steady load runs through it: how
// long until Portico's guard rolls it back (the `guard` revision on GET /v1/changes), against the
// window + 1 s the issue sets, and how many requests failed meanwhile.
//
// Setups: `single` (one `portico --config FILE`), `workers` (`--workers 2`: every worker's counts
// go to the primary, which judges), `fleet` (two `--store etcd://` instances: the guarded write is
// made on A, which judges; the load runs through B only, so A decides on the counts B publishes
// through etcd). The load is bench/deploy-load.ts's SteadyLoad (undici pool, 8 connections, paced);
// a feed follower (bench/feed-follower.ts) on the instance written to sees both revisions. Phases:
// 2 s of load before the change, then from the guarded write until 1 s after the guard's revision
// arrived. A build whose admin API answers 501 to ?guard (before the guard landed) is reported as
// such, not measured.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SteadyLoad } from './deploy-load.js';
import { FeedFollower } from './feed-follower.js';
import { benchRoute, ROUTE_HOST, ROUTE_ID } from './history-route.js';
import type { NamedOrigin } from './named-origin.js';
import { freePort } from './ports.js';
import { ADMIN_TOKEN, startInstance, type Instance } from './portico-instance.js';

export type GuardSetup = 'single' | 'workers' | 'fleet';

export interface GuardOptions {
  dir: string;
  origins: [NamedOrigin, NamedOrigin];
  windowS: number;
  /** Requests per second of the load. */
  rate: number;
  setup: GuardSetup;
  /** Which run of this setup (fresh processes each; the fleet's prefix differs). */
  run: number;
  /** host:port of etcd, for the fleet. */
  etcd?: string;
}

export interface GuardResult {
  setup: GuardSetup;
  run: number;
  describe: string;
  available: boolean;
  /** Why not measured (e.g. "guard not available (501)"). */
  unavailable?: string;
  windowS: number;
  rate: number;
  /** Guarded write sent -> answered. */
  writeMs?: number;
  /** Guarded write answered -> the guard's revision received on the change feed (null: none came). */
  rolledBackMs?: number | null;
  /** The guarded revision's event -> the guard's revision's event (both on the feed): how long the
   *  bad change ran, as the feed saw it. */
  badRevisionMs?: number | null;
  /** rolledBackMs within the window + 1 s. */
  withinLimit?: boolean;
  /** Guarded write answered -> the last failed request was sent (negative: before the answer). */
  lastFailureMs?: number | null;
  /** Requests sent from the guarded write until 1 s after the rollback, and how many failed. */
  requests?: number;
  failed?: number;
  failures?: Record<string, number>;
  /** Failed requests before the change (should be 0). */
  failedBefore?: number;
  /** The guard's revision's source as the feed told it (reason...). */
  source?: Record<string, unknown>;
  /** The guard's last `guard` event (state, counts). */
  guard?: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const DESCRIBE: Record<GuardSetup, string> = {
  single: 'portico --config (file store), one process',
  workers: 'portico --workers 2 --config (file store): the primary judges on both workers\' counts',
  fleet: 'two portico --store etcd:// instances: guarded write on A, load through B only (A judges on the counts B publishes in etcd)',
};

async function start(o: GuardOptions): Promise<{ writer: Instance; loaded: Instance; all: Instance[] }> {
  if (o.setup === 'fleet') {
    if (o.etcd === undefined) throw new Error('the fleet needs etcd');
    const store = ['--store', `etcd://${o.etcd}/bench-guard-${o.run}`];
    const a = await startInstance({ name: 'portico-guard-A', source: store });
    const b = await startInstance({ name: 'portico-guard-B', source: store });
    const created = await a.call('POST', '/v1/routes', benchRoute(o.origins[0].url));
    if (created.status !== 201) throw new Error(`POST /v1/routes on A answered ${created.status} ${created.text.slice(0, 200)}`);
    return { writer: a, loaded: b, all: [a, b] };
  }
  const config = join(o.dir, `guard-${o.setup}-${o.run}.json`);
  writeFileSync(config, JSON.stringify({ routes: [benchRoute(o.origins[0].url)] }));
  const inst = await startInstance({ name: `portico-guard-${o.setup}`, source: ['--config', config], extra: o.setup === 'workers' ? ['--workers', '2'] : [] });
  return { writer: inst, loaded: inst, all: [inst] };
}

interface FeedData { revision?: number; source?: Record<string, unknown> & { kind: string }; state?: string }

export async function measureGuard(o: GuardOptions): Promise<GuardResult> {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const base: GuardResult = { setup: o.setup, run: o.run, describe: DESCRIBE[o.setup], available: false, windowS: o.windowS, rate: o.rate };
  const { writer, loaded, all } = await start(o);
  const follower = new FeedFollower(`${writer.admin}/v1/changes`, { authorization: `Bearer ${ADMIN_TOKEN}` }, 250);
  const load = new SteadyLoad({ host: '127.0.0.1', port: loaded.port, connections: 8, rate: o.rate, postEvery: 0, idPrefix: 'guard', timeoutMs: 10_000, authority: ROUTE_HOST });
  try {
    follower.start();
    if (!(await follower.until((n) => n >= 1, 10_000))) throw new Error('the change feed sent no first event');
    load.start('before');
    await sleep(2000);
    const phase = load.phase('guarded');
    const phaseAt = performance.now();
    const put = await writer.call('PUT', `/v1/routes/${ROUTE_ID}?guard=${o.windowS}s`, benchRoute(dead), { 'x-portico-change-message': 'bench: guarded change to a dead upstream' });
    const answeredAt = performance.now();
    if (put.status === 501) return { ...base, unavailable: 'guard not available (501)' };
    if (put.status !== 200) return { ...base, unavailable: `the guarded PUT answered ${put.status} ${put.text.slice(0, 200)}` };
    const guarded = Number(put.headers.get('x-portico-revision'));
    const data = (d: string) => JSON.parse(d) as FeedData;
    const revisionEvent = (test: (d: FeedData) => boolean) => follower.events().find((e) => e.event === 'revision' && test(data(e.data)));
    const rollback = () => revisionEvent((d) => d.source?.kind === 'guard');
    await follower.until(() => rollback() !== undefined, o.windowS * 1000 + 10_000);
    const event = rollback();
    await sleep(1000);
    await load.stop();
    const guardedEvent = revisionEvent((d) => d.revision === guarded);
    const lastGuardEvent = follower.events().filter((e) => e.event === 'guard').at(-1);
    const rolledBackMs = event ? event.receivedAt - answeredAt : null;
    return {
      ...base,
      available: true,
      writeMs: answeredAt - phaseAt,
      rolledBackMs,
      badRevisionMs: event && guardedEvent ? event.receivedAt - guardedEvent.receivedAt : null,
      withinLimit: rolledBackMs !== null && rolledBackMs <= o.windowS * 1000 + 1000,
      lastFailureMs: phase.failedAt.length ? Math.max(...phase.failedAt) + phaseAt - answeredAt : null,
      requests: phase.requests,
      failed: phase.failedGets + phase.failedPosts,
      failures: phase.failures,
      failedBefore: load.phases[0].failedGets,
      ...(event ? { source: data(event.data).source } : {}),
      ...(lastGuardEvent ? { guard: JSON.parse(lastGuardEvent.data) as Record<string, unknown> } : {}),
    };
  } finally {
    await load.stop();
    await follower.stop();
    await Promise.all(all.map((i) => i.proc.stop()));
  }
}
