// The route history in memory: the last `keep` applied revisions, each stored as what it changed
// (a RouteDiff) plus who changed it, when and why. The full route set of the newest revision (the
// head: what runs) is held as well, so any kept revision's routes are rebuilt by undoing the newer
// ones (route-diff.ts). The stores persist it (admin/stores/history-file.ts next to the config
// file, admin/stores/history-etcd.ts under the etcd prefix) and feed it; the admin API reads it
// (admin/api/revisions-api.ts) and streams it (admin/api/changes-api.ts).
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import { canonicalJson } from '../protocol/etag.js';
import { diffRoutes, sameSpec, undoDiff, type RouteDiff } from './route-diff.js';

type Routes = ReadonlyArray<Readonly<RouteSpec>>;

/** Where a revision came from. `instance` names the Portico process that made it (host:pid). */
export type ChangeSource =
  /** An admin API write; `token`: the admin token's name, `anonymous` where auth is off. */
  | { kind: 'admin'; token: string; instance?: string }
  /** POST /v1/revisions/:rev/rollback: the routes of revision `to`. */
  | { kind: 'rollback'; token: string; to: number; instance?: string }
  /** A guarded change undone automatically: revision `guarded`, for `reason`. */
  | { kind: 'guard'; guarded: number; reason: string; instance?: string }
  /** The config file's routes, as read at start (first record, or the file was edited while Portico did not run). */
  | { kind: 'file'; instance?: string }
  /** Written to etcd by something other than a Portico instance (etcdctl, an older Portico). */
  | { kind: 'etcd'; instance?: string }
  /** `portico store import FILE`. */
  | { kind: 'import'; file?: string; instance?: string };

/** What a guarded write asked for (?guard=..., guardMaxErrorRate, guardMinRequests). */
export interface GuardRequest {
  windowMs: number;
  maxErrorRate: number;
  minRequests: number;
}

/** One applied revision. */
export interface RevisionRecord extends RouteDiff {
  revision: number;
  /** The revision it followed (null: the first one the history knows). */
  previous: number | null;
  /** When it was applied (ISO 8601). */
  time: string;
  source: ChangeSource;
  message?: string;
  /** Routes in the revision. */
  routes: number;
  /** Digest of the revision's whole route set (routesHash): a follower that rebuilt the set from
   *  the diffs can check it; a store can tell whether the routes it finds are this revision's. */
  hash: string;
  /** The first revision of the history: its diff is not stored (it is its whole route set). */
  initial?: true;
  guard?: GuardRequest;
}

/** What a change says about itself (made by the admin API from the request). */
export interface ChangeMeta {
  source: ChangeSource;
  message?: string;
  guard?: GuardRequest;
  /** Set once a guard watches the applied change: what X-Portico-Guard answers. */
  guardStarted?: string;
}

export type LogEvent =
  | { type: 'revision'; record: RevisionRecord }
  /** The history was replaced and does not continue from what listeners saw (e.g. etcd changed
   *  while nothing followed it): listeners start again from the head. */
  | { type: 'reset' };

/** Thrown by routesAt for a revision older than the history keeps. */
export class RevisionGone extends Error {}

/** This process, as named in the sources of the revisions it makes. */
export const INSTANCE = `${hostname()}:${process.pid}`;

export function withInstance(source: ChangeSource): ChangeSource {
  return source.instance !== undefined ? source : { ...source, instance: INSTANCE };
}

/** The record of a change from `before` (revision `previous`) to `after` (revision `revision`). */
export function recordOf(before: Routes, after: Routes, revision: number, previous: number | null, meta: ChangeMeta, time = new Date()): RevisionRecord {
  return {
    revision, previous, time: time.toISOString(), source: meta.source,
    ...(meta.message !== undefined ? { message: meta.message } : {}),
    routes: after.length,
    hash: routesHash(after),
    ...diffRoutes(before, after),
    ...(meta.guard ? { guard: meta.guard } : {}),
  };
}

/** The first record of a history: `routes` as found. */
export function initialRecord(routes: Routes, revision: number, source: ChangeSource, time = new Date()): RevisionRecord {
  return { revision, previous: null, time: time.toISOString(), source, routes: routes.length, hash: routesHash(routes), initial: true, added: [], removed: [], changed: [] };
}

/** SHA-256 of the route list's canonical JSON (sorted members), base64url, 22 characters. */
export function routesHash(routes: Routes): string {
  return createHash('sha256').update(canonicalJson(routes)).digest('base64url').slice(0, 22);
}

export function sameRoutes(a: Routes, b: Routes): boolean {
  return a.length === b.length && a.every((r, i) => r.id === b[i].id && sameSpec(r, b[i]));
}

export class RevisionLog {
  readonly keep: number;
  /** Oldest first. */
  #records: RevisionRecord[] = [];
  #head: { revision: number; specs: Routes } | undefined;
  readonly #listeners = new Set<(e: LogEvent) => void>();

  constructor(keep: number) {
    this.keep = keep;
  }

  /** The newest revision and its routes (undefined: nothing recorded yet). */
  get head(): { revision: number; specs: Routes } | undefined {
    return this.#head;
  }

  /** Oldest first (do not modify). */
  get records(): readonly RevisionRecord[] {
    return this.#records;
  }

  get oldest(): number | undefined {
    return this.#records[0]?.revision;
  }

  /** Replaces the whole history (loaded from a store). `reset`: tell listeners it does not
   *  continue what they saw. */
  load(records: RevisionRecord[], head: { revision: number; specs: Routes } | undefined, reset = false): void {
    this.#records = records.slice(-this.keep);
    this.#head = head;
    if (reset) this.#emit({ type: 'reset' });
  }

  /** Adds the newest revision; `specs` is its route set. Older records beyond `keep` are dropped. */
  append(record: RevisionRecord, specs: Routes): void {
    if (this.#head && record.revision <= this.#head.revision) throw new Error(`route history: revision ${record.revision} is not after ${this.#head.revision}`);
    this.#records.push(record);
    if (this.#records.length > this.keep) this.#records.splice(0, this.#records.length - this.keep);
    this.#head = { revision: record.revision, specs };
    this.#emit({ type: 'revision', record });
  }

  /**
   * Brings the history in step with routes found running at `revision` (start-up, or a change
   * nobody recorded): nothing when they equal the head's, else a record from the head to them
   * (the first record when there is no history). Returns the revision the routes are at: the
   * head's when they are equal.
   */
  reconcile(specs: Routes, revision: number, source: ChangeSource): { revision: number; record?: RevisionRecord } {
    const head = this.#head;
    if (head && sameRoutes(head.specs, specs)) return { revision: head.revision };
    const record = head && revision > head.revision
      ? recordOf(head.specs, specs, revision, head.revision, { source })
      : initialRecord(specs, revision, source);
    if (!record.initial) this.append(record, specs);
    else {
      // nothing to continue from (no history, or one that is ahead of these routes)
      this.load([record], { revision, specs }, head !== undefined);
    }
    return { revision, record };
  }

  /** Puts `record` in place of the kept record of the same revision that says the same change
   *  (another instance's account of it won: the fleet keeps one). */
  settle(record: RevisionRecord): void {
    const i = this.#indexOf(record.revision);
    const local = i < 0 ? undefined : this.#records[i];
    if (local && local !== record && local.previous === record.previous && local.hash === record.hash) this.#records[i] = record;
  }

  find(revision: number): RevisionRecord | undefined {
    const i = this.#indexOf(revision);
    return i < 0 ? undefined : this.#records[i];
  }

  #indexOf(revision: number): number {
    // binary search: revisions increase (etcd's are not consecutive)
    let lo = 0;
    let hi = this.#records.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.#records[mid].revision;
      if (r === revision) return mid;
      if (r < revision) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** The route set of a kept revision; undefined when no such revision exists; RevisionGone when
   *  it is older than the history keeps. */
  routesAt(revision: number): Routes | undefined {
    const head = this.#head;
    if (!head) return undefined;
    if (revision === head.revision) return head.specs;
    const i = this.#indexOf(revision);
    if (i < 0) {
      if (this.oldest !== undefined && revision < this.oldest && revision > 0) throw new RevisionGone(`revision ${revision} is no longer kept (the history keeps the last ${this.keep}; the oldest is ${this.oldest})`);
      return undefined;
    }
    let specs: Routes = head.specs;
    for (let j = this.#records.length - 1; j > i; j--) specs = undoDiff(specs, this.#records[j]);
    return specs;
  }

  /** Kept records older than `before` (default: all), newest first, at most `limit`. */
  page(before: number | undefined, limit: number): RevisionRecord[] {
    const out: RevisionRecord[] = [];
    for (let j = this.#records.length - 1; j >= 0 && out.length < limit; j--) {
      if (before === undefined || this.#records[j].revision < before) out.push(this.#records[j]);
    }
    return out;
  }

  /** Records after `revision`, oldest first: what a follower that saw `revision` missed;
   *  undefined when they cannot be told (`revision` is not the head nor followed by a kept record). */
  after(revision: number): RevisionRecord[] | undefined {
    if (this.#head?.revision === revision) return [];
    const i = this.#records.findIndex((r) => r.previous === revision);
    return i < 0 ? undefined : this.#records.slice(i);
  }

  on(listener: (e: LogEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(e: LogEvent): void {
    for (const l of this.#listeners) l(e);
  }
}

/** The diff stored in a record (for the initial record: its whole set, as added). */
export function diffOf(record: RevisionRecord, routes: Routes | undefined): RouteDiff {
  if (!record.initial) return record;
  return { added: (routes ?? []).map((route, index) => ({ index, route })), removed: [], changed: [] };
}
