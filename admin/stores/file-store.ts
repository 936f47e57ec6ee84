// The single serialised writer of the route configuration. Every accepted change:
//   1. is planned against the routes the proxy runs right now (inside the lock, so If-Match checks
//      and the swap are atomic with respect to other admin requests),
//   2. is validated by the data plane (DataPlane.validateRoutes: 422 on a semantic error),
//   3. is persisted (temp file in the same directory, fsync, rename, fsync the directory; 0600),
//   4. is swapped in (DataPlane.apply: one atomic table swap, in every worker when there are
//      workers, acknowledged before the answer; the revision goes up),
//   5. is recorded in the route history (admin/history/), saved next to the config file.
// A failure at any of steps 1-4 leaves both the running table and the file as they were. Revision
// numbers continue across restarts from the history file.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { DataPlane } from '../../src/contract/data-plane.js';
import { routeSpecSchema, type RouteSpec, type UpstreamSpec } from '../../src/routing/route-spec.js';
import { ProxyError } from '../../src/errors.js';
import { canonicalJson } from '../protocol/etag.js';
import { writeFileAtomic } from './atomic-file.js';
import { ANONYMOUS_CHANGE, SerialQueue, prepareChange, snapshotOf, type ChangeMeta, type ChangeOutcome, type ChangePlan, type ChangeResult, type RouteStore, type Snapshot, type StoreStatus } from './route-store.js';
import { FileHistory, historyPathFor } from './history-file.js';
import { RevisionLog, initialRecord, recordOf, withInstance } from '../history/revision-log.js';

export type { ChangeOutcome, ChangePlan, ChangeResult, Snapshot } from './route-store.js';

/** Route members in schema order, from the schema itself so a new member cannot be dropped here. */
const ROUTE_KEYS = Object.keys(routeSpecSchema.properties) as ReadonlyArray<keyof RouteSpec>;

/** A route with its members in schema order (stable file diffs, stable table reuse checks). */
export function normalizeRoute(spec: RouteSpec): RouteSpec {
  const out: Record<string, unknown> = {};
  for (const k of ROUTE_KEYS) if (spec[k] !== undefined) out[k] = spec[k];
  out.upstreams = spec.upstreams.map((u: string | UpstreamSpec) => (typeof u === 'string' ? u : { url: u.url, ...(u.weight !== undefined ? { weight: u.weight } : {}) }));
  return structuredClone(out) as unknown as RouteSpec;
}

export function sameRoute(a: Readonly<RouteSpec>, b: Readonly<RouteSpec>): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** A running spec, passed on as it is: the route table reuses the compiled route (and so its
 *  balancer state) only when the JSON text is identical, and it never mutates the specs it is
 *  given (they are frozen), so no copy is needed. */
export function keep(spec: Readonly<RouteSpec>): RouteSpec {
  return spec;
}

/** The file store (the default): the config file's `routes`. */
export class AdminStore implements RouteStore {
  readonly #plane: DataPlane;
  readonly #path: string | undefined;
  readonly #logger: Logger;
  /** The config file's own JSON (not the resolved config): persistence only replaces `routes`,
   *  so the file keeps what its author wrote, and command-line overrides are not written into it. */
  #fileDoc: Record<string, unknown>;
  readonly #queue = new SerialQueue();
  #onResult: ((r: ChangeResult) => void) | undefined;
  readonly #since = new Date().toISOString();
  readonly history: RevisionLog;
  /** Where the history is saved (undefined without a config file: kept in memory). */
  readonly #historyFile: FileHistory | undefined;

  constructor(plane: DataPlane, configPath: string | undefined, logger: Logger, onResult?: (r: ChangeResult) => void, historyKeep = 100) {
    this.#plane = plane;
    this.#logger = logger;
    this.#onResult = onResult;
    if (configPath === undefined) {
      this.#path = undefined;
      this.#fileDoc = {};
      this.history = new RevisionLog(historyKeep);
      return;
    }
    // a symlinked config file stays a symlink: write the file it points to
    this.#path = existsSync(configPath) ? realpathSync(configPath) : resolve(configPath);
    if (existsSync(this.#path)) {
      let doc: unknown;
      try {
        doc = JSON.parse(readFileSync(this.#path, 'utf8'));
      } catch (e) {
        throw new ProxyError('PRX_ERR_CONFIG_FILE', `cannot read ${configPath}: ${(e as Error).message}`);
      }
      if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new ProxyError('PRX_ERR_CONFIG_FILE', `${configPath} does not hold a JSON object`);
      this.#fileDoc = doc as Record<string, unknown>;
    } else {
      this.#fileDoc = {};
    }
    this.#historyFile = FileHistory.open(historyPathFor(this.#path), historyKeep, logger);
    this.history = this.#historyFile.log;
  }

  /** Continues the history: the running routes are the head's (same revision number as before
   *  the restart) or a new revision of source `file` (edited while Portico did not run). */
  async open(): Promise<void> {
    await this.#queue.run(async () => {
      const cur = this.snapshot();
      const head = this.history.head;
      const next = head ? Math.max(head.revision + 1, cur.revision) : cur.revision;
      const source = withInstance({ kind: 'file' });
      let { revision, record } = this.history.reconcile(cur.specs, next, source);
      if (revision < cur.revision) {
        // the history is behind what runs (its newer part was lost): it starts again here
        record = initialRecord(cur.specs, cur.revision, source);
        this.history.load([record], { revision: cur.revision, specs: cur.specs }, true);
        revision = cur.revision;
      }
      if (revision > cur.revision) await this.#plane.apply(this.#plane.validateRoutes(cur.specs.map(keep), revision));
      if (record) {
        this.#logger.info({ revision, routes: cur.specs.length, historyFile: this.#historyFile?.path }, record.initial ? 'route history: started' : 'route history: the config file\'s routes differ from the last recorded revision; recorded as a new revision');
        await this.#historyFile?.save();
      }
    });
  }

  /** The file accepted changes are written to (undefined: not persisted). */
  get path(): string | undefined {
    return this.#path;
  }

  snapshot(): Snapshot {
    return snapshotOf(this.#plane);
  }

  status(): StoreStatus {
    return {
      type: 'file', connected: true, since: this.#since, revision: this.#plane.routes.current.revision,
      ...(this.#path !== undefined ? { path: this.#path } : {}),
      history: {
        keep: this.history.keep, oldest: this.history.oldest ?? null, revisions: this.history.records.length,
        ...(this.#historyFile ? { file: this.#historyFile.path } : {}),
        ...(this.#historyFile?.lastError !== undefined ? { lastError: this.#historyFile.lastError } : {}),
      },
    };
  }

  observeResults(fn: (r: ChangeResult) => void): void {
    this.#onResult = fn;
  }

  change(plan: (current: Snapshot) => ChangePlan, dryRun: boolean, meta: ChangeMeta = ANONYMOUS_CHANGE): Promise<ChangeOutcome> {
    return this.#queue.run(() => this.#change(plan, dryRun, meta));
  }

  async #change(planFn: (current: Snapshot) => ChangePlan, dryRun: boolean, meta: ChangeMeta): Promise<ChangeOutcome> {
    try {
      const current = this.snapshot();
      const prepared = prepareChange(this.#plane, planFn, current, dryRun);
      if (prepared.kind === 'done') {
        this.#onResult?.(prepared.result);
        return prepared.outcome;
      }
      const { specs, table: built } = prepared;
      await this.#persist(specs);
      // the table validated above is the one swapped in (built once); nothing else can have
      // changed the routes meanwhile: this queue is the only writer
      const table = await this.#plane.apply(built);
      const applied = table.routes.map((r) => r.spec);
      const record = recordOf(current.specs, applied, table.revision, current.revision, { ...meta, source: withInstance(meta.source) });
      this.history.append(record, applied);
      await this.#historyFile?.save();
      this.#onResult?.('applied');
      this.#logger.info({ revision: table.revision, routes: table.routes.length }, 'admin: route change applied');
      return { revision: table.revision, specs: applied, changed: true, dryRun, record };
    } catch (e) {
      this.#onResult?.('rejected');
      throw e;
    }
  }

  /** Atomic replacement of the config file: readers see the old file or the new one, never a mix. */
  async #persist(specs: RouteSpec[]): Promise<void> {
    if (this.#path === undefined) return;
    const path = this.#path;
    const doc: Record<string, unknown> = { ...this.#fileDoc, routes: specs };
    const text = JSON.stringify(doc, null, 2) + '\n';
    try {
      await writeFileAtomic(path, text);
    } catch (e) {
      throw new ProxyError('PRX_ERR_CONFIG_FILE', `cannot save the configuration to ${path} (nothing was changed): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    this.#fileDoc = doc;
  }
}
