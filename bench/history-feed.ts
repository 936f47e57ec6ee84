// bench:history part 1 (issue 22 §5): N route writes through the admin API produce N events of
// GET /v1/changes, in order and without a gap, across an admin restart in the middle of the writes.
//
// One `portico --config FILE` (file store, single process) on fixed ports; a follower of the feed
// (bench/feed-follower.ts) that reconnects with Last-Event-ID after 250 ms when its stream ends.
// Write i is PUT /v1/routes/ID moving the route's upstream (alternately origin X and Y) with
// `X-Portico-Change-Message: bench write i`. At write `restartAt` the process is killed (SIGKILL, or
// SIGTERM with --restart term) while that write is in flight, and started again on the same ports;
// the write is sent again until answered (a PUT is idempotent: if the killed process had applied it,
// the second one changes nothing and makes no revision), so every write maps to exactly one revision.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FeedFollower, type FollowedEvent } from './feed-follower.js';
import { benchRoute, ROUTE_ID } from './history-route.js';
import { fileHistorySize, type HistorySize } from './history-size.js';
import type { NamedOrigin } from './named-origin.js';
import { distribution, type Distribution } from './percentiles.js';
import { ADMIN_TOKEN, startInstance, type Instance } from './portico-instance.js';

export interface FeedOptions {
  dir: string;
  origins: [NamedOrigin, NamedOrigin];
  writes: number;
  /** The write during which the process is killed (0: no restart). */
  restartAt: number;
  restartSignal: 'SIGKILL' | 'SIGTERM';
  /** How long after the in-flight write is sent the signal goes. */
  killAfterMs: number;
}

export interface FeedResult {
  writes: number;
  /** Revision events the follower received after its first `reset`. */
  events: number;
  /** Events whose `previous` is not the id of the event before (a revision left out). */
  gaps: number;
  duplicates: number;
  /** Events older than one already received. */
  orderViolations: number;
  /** Writes whose revision never came as an event. */
  missing: number;
  /** `reset` events after the first (a resume that could not continue where it left off). */
  extraResets: number;
  /** Revision events that no write of the bench made (by their message), and what they were. */
  unexpected: number;
  unexpectedEvents: Array<{ revision: number; previous: number | null; source: string; message?: string }>;
  connections: number;
  failedOpens: number;
  restart?: {
    signal: string;
    atWrite: number;
    /** Signal sent -> the new process's admin API listening. */
    downMs: number;
    /** Whether the killed process had applied the write in flight (its revision names the old pid). */
    inFlightWriteApplied: boolean | undefined;
    /** The killed process had applied the write in flight to the config file but not to the
     *  history: the new process recorded it as a `file` revision (no message, no token). */
    inFlightWriteRecordedAs?: 'file';
    /** The write in flight at the kill: sent (before the kill) -> its event received. */
    inFlightWriteToEventMs?: number;
    /** The Last-Event-ID the follower resumed with. */
    resumedFrom?: string;
  };
  /** Write answered -> its event received, over the events received on a stream that was open when
   *  the write was answered (ms; negative: the event came before the answer); the write in flight
   *  at the kill apart (restart). */
  latencyMs: Distribution;
  /** The same events from when their write was sent (the feed may send an event before the write's
   *  answer leaves: both follow the apply). */
  sentToEventMs: Distribution;
  /** Events of writes answered while the follower was disconnected, delivered when it resumed:
   *  write answered -> received. */
  resumedLatencyMs: Distribution;
  /** Admin PUT round trip (sent -> answered), the restart's write excluded. */
  writeMs: Distribution;
  history: HistorySize;
}

interface Write {
  i: number;
  sentAt: number;
  answeredAt: number;
  revision: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** PUT until answered 200 (network errors and 5xx while the process restarts: again 50 ms later). */
async function write(inst: () => Instance, i: number, upstream: string, deadlineMs: number): Promise<Write> {
  const sentAt = performance.now();
  for (;;) {
    try {
      const r = await inst().call('PUT', `/v1/routes/${ROUTE_ID}`, benchRoute(upstream), { 'x-portico-change-message': `bench write ${i}` });
      if (r.status === 200) return { i, sentAt, answeredAt: performance.now(), revision: Number(r.headers.get('x-portico-revision')) };
      if (r.status < 500) throw new Error(`write ${i}: PUT answered ${r.status} ${r.text.slice(0, 200)}`);
    } catch (e) {
      if ((e as Error).message.startsWith(`write ${i}:`)) throw e;
    }
    if (performance.now() - sentAt > deadlineMs) throw new Error(`write ${i}: not answered within ${deadlineMs} ms`);
    await sleep(50);
  }
}

interface ChangeData { revision: number; previous: number | null; message?: string; source: { kind: string; instance?: string } }

export async function measureFeed(o: FeedOptions): Promise<FeedResult> {
  const config = join(o.dir, 'feed.json');
  writeFileSync(config, JSON.stringify({ routes: [benchRoute(o.origins[0].url)] }));
  let inst = await startInstance({ name: 'portico-feed', source: ['--config', config] });
  const follower = new FeedFollower(`${inst.admin}/v1/changes`, { authorization: `Bearer ${ADMIN_TOKEN}` }, 250);
  follower.start();
  if (!(await follower.until((n) => n >= 1, 10_000))) throw new Error('the change feed sent no first event');
  const writes: Write[] = [];
  let restart: FeedResult['restart'];
  let killedPid: number | undefined;
  try {
    for (let i = 1; i <= o.writes; i++) {
      const upstream = o.origins[i % 2].url;
      if (i !== o.restartAt) {
        writes.push(await write(() => inst, i, upstream, 30_000));
        continue;
      }
      killedPid = inst.proc.pid;
      const inFlight = write(() => inst, i, upstream, 120_000);
      await sleep(o.killAfterMs); // the request on its way (or being applied) when the signal lands
      const killedAt = performance.now();
      process.kill(killedPid, o.restartSignal);
      await inst.proc.exited;
      inst = await startInstance(inst.spec);
      const downMs = performance.now() - killedAt;
      writes.push(await inFlight);
      restart = { signal: o.restartSignal, atWrite: i, downMs, inFlightWriteApplied: undefined };
    }
    const last = writes[writes.length - 1]?.revision ?? 0;
    const lastId = () => Number(follower.events().at(-1)?.id ?? 0);
    await follower.until(() => lastId() >= last, 30_000);
  } finally {
    await follower.stop();
    await inst.proc.stop();
  }

  const events = follower.events();
  const connections = follower.connections;
  const revisions = events.filter((e) => e.event === 'revision');
  const resets = events.filter((e) => e.event === 'reset');
  let gaps = 0;
  let duplicates = 0;
  let orderViolations = 0;
  let lastId = Number(resets[0]?.id ?? 0);
  let maxSeen = lastId;
  const seen = new Map<number, FollowedEvent>();
  for (const e of revisions) {
    const id = Number(e.id);
    const d = JSON.parse(e.data) as ChangeData;
    if (seen.has(id)) duplicates++;
    else if (id < maxSeen) orderViolations++;
    else if (d.previous !== lastId) gaps++;
    if (!seen.has(id)) seen.set(id, e);
    lastId = id;
    maxSeen = Math.max(maxSeen, id);
  }
  const byMessage = new Map<string, FollowedEvent>();
  for (const e of seen.values()) {
    const d = JSON.parse(e.data) as ChangeData;
    if (d.message !== undefined && !byMessage.has(d.message)) byMessage.set(d.message, e);
  }
  // A kill after the killed process wrote the config file but before it wrote the history file: the
  // new process finds the file ahead of its history and records the change as an edit of the file
  // (source "file", no message, no token; docs/route-history.md), with the next number: the
  // in-flight write's revision, under another source.
  let adopted: FollowedEvent | undefined;
  if (restart && !byMessage.has(`bench write ${restart.atWrite}`)) {
    adopted = [...seen.values()].find((e) => e.connection > 0 && (JSON.parse(e.data) as ChangeData).source.kind === 'file');
    if (adopted) {
      byMessage.set(`bench write ${restart.atWrite}`, adopted);
      restart.inFlightWriteRecordedAs = 'file';
    }
  }
  const live: number[] = [];
  const liveFromSent: number[] = [];
  const resumed: number[] = [];
  let missing = 0;
  for (const w of writes) {
    const e = byMessage.get(`bench write ${w.i}`);
    if (!e) {
      missing++;
      continue;
    }
    if (w.i === o.restartAt) {
      if (restart) restart.inFlightWriteToEventMs = e.receivedAt - w.sentAt;
      continue; // its round trip spans the restart: reported with it
    }
    if (connections[e.connection].openedAt > w.answeredAt) resumed.push(e.receivedAt - w.answeredAt);
    else {
      live.push(e.receivedAt - w.answeredAt);
      liveFromSent.push(e.receivedAt - w.sentAt);
    }
  }
  if (restart) {
    const e = byMessage.get(`bench write ${restart.atWrite}`);
    const instance = e ? (JSON.parse(e.data) as ChangeData).source.instance : undefined;
    restart.inFlightWriteApplied = adopted ? true : instance === undefined ? undefined : instance.endsWith(`:${killedPid}`);
    const resumedConn = connections.find((c) => c.lastEventId !== undefined);
    if (resumedConn?.lastEventId !== undefined) restart.resumedFrom = resumedConn.lastEventId;
  }
  const written = new Set(writes.map((w) => w.i));
  const unexpected = [...seen.values()].filter((e) => e !== adopted).map((e) => JSON.parse(e.data) as ChangeData).filter((d) => {
    const m = /^bench write (\d+)$/.exec(d.message ?? '');
    return !m || !written.has(Number(m[1]));
  }).map((d) => ({ revision: d.revision, previous: d.previous, source: d.source.kind, ...(d.message !== undefined ? { message: d.message } : {}) }));
  return {
    writes: writes.length,
    events: revisions.length,
    gaps, duplicates, orderViolations, missing,
    extraResets: Math.max(0, resets.length - 1),
    unexpected: unexpected.length,
    unexpectedEvents: unexpected,
    connections: connections.length,
    failedOpens: follower.failedOpens,
    ...(restart ? { restart } : {}),
    latencyMs: distribution(live),
    sentToEventMs: distribution(liveFromSent),
    resumedLatencyMs: distribution(resumed),
    writeMs: distribution(writes.filter((w) => w.i !== o.restartAt).map((w) => w.answeredAt - w.sentAt)),
    history: fileHistorySize('feed', join(o.dir, 'feed.history.json')),
  };
}
