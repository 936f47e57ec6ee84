// bench:history part 3 (issue 22 §5): a guarded change (PUT ...?guard=Ws) that points the route at
// a dead upstream (a loopback port nothing listens on) while a steady load runs through it: how
// long until Portico's guard rolls it back (the `guard` revision on GET /v1/changes), against the
// window + 1 s the issue sets, and how many requests failed meanwhile.
//
// One `portico --config FILE` (file store); the load is bench/deploy-load.ts's SteadyLoad (undici
// pool, paced); a feed follower (bench/feed-follower.ts) sees the guard's revision. Phases: 2 s of
// load before the change, from the guarded write until the guard's revision arrived plus 1 s, then
// the load stops. A build whose admin API answers 501 to ?guard (before the guard landed) is
// reported as such, not measured.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SteadyLoad } from './deploy-load.js';
import { FeedFollower } from './feed-follower.js';
import { benchRoute, ROUTE_HOST, ROUTE_ID } from './history-route.js';
import type { NamedOrigin } from './named-origin.js';
import { freePort } from './ports.js';
import { ADMIN_TOKEN, startInstance } from './portico-instance.js';

export interface GuardOptions {
  dir: string;
  origins: [NamedOrigin, NamedOrigin];
  windowS: number;
  /** Requests per second of the load. */
  rate: number;
}

export interface GuardResult {
  available: boolean;
  /** Why not measured (e.g. "guard not available (501)"). */
  unavailable?: string;
  windowS: number;
  rate: number;
  /** Guarded write sent -> answered. */
  writeMs?: number;
  /** Guarded write answered -> the guard's revision received on the change feed (null: none came). */
  rolledBackMs?: number | null;
  /** Within the window + 1 s. */
  withinLimit?: boolean;
  /** Guarded write answered -> the last failed request was sent. */
  lastFailureMs?: number | null;
  /** Requests sent from the guarded write until the load stopped, and how many of them failed. */
  requests?: number;
  failed?: number;
  failures?: Record<string, number>;
  /** Failed requests before the change (should be 0). */
  failedBefore?: number;
  /** The guard revision's source as the feed told it (reason...). */
  source?: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function measureGuard(o: GuardOptions): Promise<GuardResult> {
  const config = join(o.dir, 'guard.json');
  writeFileSync(config, JSON.stringify({ routes: [benchRoute(o.origins[0].url)] }));
  const dead = `http://127.0.0.1:${await freePort()}`;
  const inst = await startInstance({ name: 'portico-guard', source: ['--config', config] });
  const follower = new FeedFollower(`${inst.admin}/v1/changes`, { authorization: `Bearer ${ADMIN_TOKEN}` }, 250);
  const load = new SteadyLoad({ host: '127.0.0.1', port: inst.port, connections: 8, rate: o.rate, postEvery: 0, idPrefix: 'guard', timeoutMs: 10_000, authority: ROUTE_HOST });
  const base: GuardResult = { available: false, windowS: o.windowS, rate: o.rate };
  try {
    follower.start();
    if (!(await follower.until((n) => n >= 1, 10_000))) throw new Error('the change feed sent no first event');
    load.start('before');
    await sleep(2000);
    const phase = load.phase('guarded');
    const phaseAt = performance.now();
    const sentAt = performance.now();
    const put = await inst.call('PUT', `/v1/routes/${ROUTE_ID}?guard=${o.windowS}s`, benchRoute(dead), { 'x-portico-change-message': 'bench: guarded change to a dead upstream' });
    const answeredAt = performance.now();
    if (put.status === 501) return { ...base, unavailable: 'guard not available (501)' };
    if (put.status !== 200) return { ...base, unavailable: `the guarded PUT answered ${put.status} ${put.text.slice(0, 200)}` };
    const isGuard = (data: string) => (JSON.parse(data) as { source: { kind: string } }).source.kind === 'guard';
    const found = () => follower.events().find((e) => e.event === 'revision' && isGuard(e.data));
    await follower.until(() => found() !== undefined, o.windowS * 1000 + 10_000);
    const event = found();
    await sleep(1000);
    await load.stop();
    const rolledBackMs = event ? event.receivedAt - answeredAt : null;
    const lastFailure = phase.failedAt.length ? Math.max(...phase.failedAt) + phaseAt - answeredAt : null;
    return {
      available: true, windowS: o.windowS, rate: o.rate,
      writeMs: answeredAt - sentAt,
      rolledBackMs,
      withinLimit: rolledBackMs !== null && rolledBackMs <= o.windowS * 1000 + 1000,
      lastFailureMs: lastFailure,
      requests: phase.requests,
      failed: phase.failedGets + phase.failedPosts,
      failures: phase.failures,
      failedBefore: load.phases[0].failedGets,
      ...(event ? { source: (JSON.parse(event.data) as { source: Record<string, unknown> }).source } : {}),
    };
  } finally {
    await load.stop();
    await follower.stop();
    await inst.proc.stop();
  }
}
