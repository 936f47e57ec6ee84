// The etcd store's history: one key per kept revision under PREFIX/history/revisions/, so every
// instance of the fleet reads the same history and etcd's compaction (which drops past values of
// keys, not keys) loses none of it.
//
// - A write through Portico puts its record in the same transaction as the routes
//   (`w-<previous revision>`); the record's revision is that key's create_revision, which is the
//   routes' revision. Each instance adds it to its history when its watch applies that revision.
// - A route change that arrives without a record (etcdctl, `portico store import` of an older
//   Portico) is recorded by the instances that see it, source `etcd`: each adds it at once and one
//   of them writes it (`r-<revision>`, created only if absent).
// - At start the newest record must describe the routes found (its `hash`); when etcd was changed
//   while no instance ran, the difference becomes a record of its own (the routes at the newest
//   record's revision are read from etcd's past revisions); when etcd no longer has them, the
//   history starts again there.
// - The writer of a record also deletes the records past `history.keep`.
import type { Etcd3, IOperation } from 'etcd3';
import type { Logger } from 'pino';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import type { StoredKey } from './etcd-routes.js';
import { RevisionLog, initialRecord, recordOf, routesHash, sameRoutes, withInstance, type RevisionRecord } from '../history/revision-log.js';
import { undoDiff } from '../history/route-diff.js';

type Routes = ReadonlyArray<Readonly<RouteSpec>>;


/** Deletes of old records per transaction (the rest go with the next ones): etcd refuses
 *  transactions of more than 128 operations by default (--max-txn-ops). */
const MAX_TRIMS_PER_WRITE = 16;

const pad = (n: number) => String(n).padStart(20, '0');

export class HistoryKeys {
  readonly records: string;

  constructor(prefix: string) {
    this.records = `${prefix}/history/revisions/`;
  }

  /** A record written with the routes (its revision is not known before the commit). */
  written(previous: number): string {
    return `${this.records}w-${pad(previous)}`;
  }

  /** A record of a revision that exists already. */
  known(revision: number): string {
    return `${this.records}r-${pad(revision)}`;
  }
}

/** A record as stored: without `revision` when the key's create_revision is it. */
export function encodeRecord(record: RevisionRecord, withRevision: boolean): string {
  return JSON.stringify(withRevision ? record : { ...record, revision: undefined });
}

function decodeRecord(kv: StoredKey): RevisionRecord | undefined {
  try {
    const r = JSON.parse(kv.text) as RevisionRecord;
    if (!r || typeof r !== 'object' || typeof r.hash !== 'string' || !Array.isArray(r.added) || !Array.isArray(r.removed) || !Array.isArray(r.changed) || !r.source) return undefined;
    return { ...r, revision: Number.isSafeInteger(r.revision) ? r.revision : kv.create };
  } catch {
    return undefined;
  }
}

/** What the store is to run for routes found at an etcd revision, and the record to add once they run. */
export interface NextRevision {
  revision: number;
  record?: RevisionRecord;
  /** The record is this instance's own finding (no record in etcd): write it. */
  adopt?: boolean;
}

export class EtcdHistory {
  readonly log: RevisionLog;
  readonly #keys: HistoryKeys;
  readonly #logger: Logger;
  /** Record keys in etcd -> their revision (for trimming). */
  readonly #stored = new Map<string, number>();
  /** The newest revision planned (applied, or being applied): what the next one follows. */
  #pending: { revision: number; specs: Routes } | undefined;

  constructor(prefix: string, keep: number, logger: Logger) {
    this.log = new RevisionLog(keep);
    this.#keys = new HistoryKeys(prefix);
    this.#logger = logger;
  }

  get keys(): HistoryKeys {
    return this.#keys;
  }

  /**
   * Reads the records among `others` (the non-route keys of a full read of the prefix) and makes
   * the history describe `live`, the routes found at etcd revision `at`. `specsAt(r)`: the routes
   * at an earlier revision (etcd's past, or what this instance runs), undefined when gone.
   * Listeners see the records they have not seen, or a reset when the history does not continue
   * what they saw. Returns the revision `live` is at (the newest record's when it describes them).
   */
  async load(others: ReadonlyMap<string, StoredKey>, live: Routes, at: number, specsAt: (revision: number) => Promise<Routes | undefined>): Promise<NextRevision> {
    this.#stored.clear();
    const byRevision = new Map<number, RevisionRecord>();
    for (const [key, kv] of others) {
      if (!key.startsWith(this.#keys.records)) continue;
      const r = decodeRecord(kv);
      if (!r) {
        this.#logger.warn({ key }, 'route history: an unreadable record in etcd is ignored');
        continue;
      }
      this.#stored.set(key, r.revision);
      if (!byRevision.has(r.revision)) byRevision.set(r.revision, r);
    }
    const records = [...byRevision.values()].sort((a, b) => a.revision - b.revision);
    // the newest unbroken chain (each record follows the one before it)
    let start = records.length - 1;
    while (start > 0 && !records[start].initial && records[start].previous === records[start - 1].revision) start--;
    const chain = records.slice(Math.max(0, start));
    const newest = chain.at(-1);
    let head: { revision: number; specs: Routes } | undefined;
    if (newest && newest.revision <= at) {
      if (newest.hash === routesHash(live)) head = { revision: newest.revision, specs: live };
      else {
        const then = await specsAt(newest.revision).catch(() => undefined);
        if (then && newest.hash === routesHash(then)) head = { revision: newest.revision, specs: then };
      }
    }
    // what followers saw last: the records after it are replayed to them, in order
    const seen = this.log.head?.revision;
    if (!head) {
      if (newest) this.#logger.warn({ newest: newest.revision, at }, 'route history: the routes in etcd changed while no instance followed them and etcd no longer has the revision the history ends at: the history starts again');
      this.log.load([], undefined, seen !== undefined);
    } else {
      const i = seen === undefined || seen === head.revision ? -1 : chain.findIndex((r) => r.previous === seen);
      if (i < 0) {
        this.log.load(chain, head, seen !== undefined && seen !== head.revision);
      } else {
        const all = new RevisionLog(chain.length + 1);
        all.load(chain, head);
        const routesOf = (r: RevisionRecord) => all.routesAt(r.revision) ?? head.specs;
        this.log.load(chain.slice(0, i), { revision: seen!, specs: undoDiff(routesOf(chain[i]), chain[i]) });
        for (const r of chain.slice(i)) this.log.append(r, routesOf(r));
      }
    }
    this.#pending = this.log.head;
    return this.next(live, at);
  }

  /**
   * The watch saw the routes change to `specs` at etcd revision `at`; `written` is the record put
   * in the same transaction, if any. Says at which revision they run and what to record.
   */
  next(specs: Routes, at: number, written?: RevisionRecord): NextRevision {
    const p = this.#pending;
    if (written && written.revision === at && (p === undefined || written.previous === p.revision)) {
      this.#pending = { revision: at, specs };
      return { revision: at, record: written };
    }
    if (p && sameRoutes(p.specs, specs)) return { revision: p.revision };
    const record = p && at > p.revision
      ? recordOf(p.specs, specs, at, p.revision, written ?? { source: withInstance({ kind: 'etcd' }) })
      : initialRecord(specs, at, withInstance({ kind: 'etcd' }));
    this.#pending = { revision: at, specs };
    // a record written with a change this instance cannot place keeps its metadata but not its diff
    return { revision: at, record, adopt: written === undefined };
  }

  /** Adds a planned revision once it runs (in the order planned). */
  commit(next: NextRevision, specs: Routes, client: Etcd3): void {
    const record = next.record;
    if (!record) return;
    if (record.initial || (this.log.head !== undefined && record.previous !== this.log.head.revision)) {
      this.log.load([record], { revision: record.revision, specs }, this.log.head !== undefined);
    } else if (this.log.head === undefined || record.revision > this.log.head.revision) {
      this.log.append(record, specs);
    }
    if (next.adopt) void this.#adopt(record, client);
  }

  /** Writes a record for a revision nobody recorded; created only if absent (another instance
   *  may write the same one first). */
  async #adopt(record: RevisionRecord, client: Etcd3): Promise<void> {
    const key = this.#keys.known(record.revision);
    try {
      await client.if(key, 'Version', '==', 0).then(client.put(key).value(encodeRecord(record, true)), ...this.#trims(client, record.revision)).commit();
    } catch (e) {
      this.#logger.warn({ revision: record.revision, err: (e as Error).message }, 'route history: cannot write the record of a change made outside Portico (this instance keeps it in memory)');
    }
  }

  /** Watch events on history keys (one etcd revision's); returns a record written at `revision`. */
  ingest(others: ReadonlyMap<string, StoredKey>, changedKeys: Iterable<string>, revision: number): RevisionRecord | undefined {
    let written: RevisionRecord | undefined;
    for (const key of changedKeys) {
      if (!key.startsWith(this.#keys.records)) continue;
      const kv = others.get(key);
      if (!kv) {
        this.#stored.delete(key);
        continue;
      }
      const r = decodeRecord(kv);
      if (!r) continue;
      this.#stored.set(key, r.revision);
      if (r.revision === revision) written = r;
      // a record of an earlier revision: the one an instance wrote for a change made outside
      // Portico, which every instance that saw the change recorded on its own
      else this.log.settle(r);
    }
    return written;
  }

  /** The operations that record a change in the transaction that writes it. */
  writeOps(client: Etcd3, record: RevisionRecord): IOperation[] {
    return [client.put(this.#keys.written(record.previous ?? 0)).value(encodeRecord(record, false)), ...this.#trims(client, Number.MAX_SAFE_INTEGER)];
  }

  /** Deletes of the records that fall out of `keep` once one more (at `revision`) is added. */
  #trims(client: Etcd3, revision: number): IOperation[] {
    const revs = [...new Set([...this.#stored.values(), ...this.log.records.map((r) => r.revision), revision])].sort((a, b) => a - b);
    const threshold = revs[Math.max(0, revs.length - this.log.keep)];
    const old = [...this.#stored].filter(([, r]) => r < threshold).sort((a, b) => a[1] - b[1]).slice(0, MAX_TRIMS_PER_WRITE);
    return old.map(([key]) => client.delete().key(key));
  }
}
