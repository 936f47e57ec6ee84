// The route store seen by the admin API: the running routes (snapshot), one serialised way to
// change them (change), and the store's state (status). Two implementations: the config file
// (file-store.ts, AdminStore: the default) and etcd shared by a fleet (etcd-store.ts, EtcdRouteStore).
// Either way a change is planned against the running routes, validated by the proxy (422 on a
// semantic error), persisted, and swapped in through DataPlane.apply (this process's proxy, or
// every worker of a cluster, in order).
import type { RouteTable } from '../../src/routing/route-table.js';
import type { DataPlane } from '../../src/contract/data-plane.js';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import { ProxyError } from '../../src/errors.js';
import { AdminProblem } from '../protocol/problem.js';
import type { Etcd3 } from 'etcd3';
import type { ChangeMeta, RevisionLog, RevisionRecord } from '../history/revision-log.js';
export type { ChangeMeta } from '../history/revision-log.js';

export interface Snapshot {
  revision: number;
  /** The running routes, in order (frozen objects owned by the route table). */
  specs: ReadonlyArray<Readonly<RouteSpec>>;
}

export interface ChangePlan {
  /** The whole new route list; undefined when the request changes nothing (no new revision). */
  specs: RouteSpec[] | undefined;
  /** Maps a ProxyError JSON pointer into the full list (`/routes/3/upstreams/0`) to one about the
   *  request body; default: unchanged. */
  mapPointer?: (path: string, specs: RouteSpec[]) => { pointer: string; route?: string };
}

export interface ChangeOutcome {
  revision: number;
  specs: ReadonlyArray<Readonly<RouteSpec>>;
  changed: boolean;
  dryRun: boolean;
  /** The history record of the applied change (not for a dry run or a change that changed nothing). */
  record?: RevisionRecord;
}

export type ChangeResult = 'applied' | 'dry_run' | 'noop' | 'rejected';

/** GET /v1/status `store` member (extensible: implementations may add members). */
export interface StoreStatus {
  type: 'file' | 'etcd';
  /** False while the store cannot be reached (the proxy keeps serving its last table). */
  connected: boolean;
  /** When `connected` last changed (ISO 8601; the start time when it never did). */
  since: string;
  /** Revision of the running table (etcd: the etcd revision it was read at). */
  revision: number;
  [more: string]: unknown;
}

export interface RouteStore {
  snapshot(): Snapshot;
  /** Runs `plan` against the current routes and validates, persists and applies its result, one
   *  change at a time. `plan` may throw an AdminProblem (404, 409, 412...) to refuse. `meta`: who
   *  made the change and why, recorded in the history (default: an anonymous admin change). */
  change(plan: (current: Snapshot) => ChangePlan, dryRun: boolean, meta?: ChangeMeta): Promise<ChangeOutcome>;
  status(): StoreStatus;
  /** Called with the result of every change (metrics). */
  observeResults(fn: (r: ChangeResult) => void): void;
  /** The applied revisions (admin/history/revision-log.ts), kept by the store. */
  readonly history: RevisionLog;
  /** Brings the history in step with the running routes before the admin API serves (the file
   *  store records a config file edited while Portico did not run). */
  open(): Promise<void>;
  /** A store shared by a fleet (etcd): its client and key prefix (with its trailing slash), where
   *  the instances also meet about guarded changes (admin/guard/etcd-guard-board.ts). */
  shared?(): { client: Etcd3; prefix: string };
}

/** The meta of a change made without one. */
export const ANONYMOUS_CHANGE: ChangeMeta = { source: { kind: 'admin', token: 'anonymous' } };

export function snapshotOf(plane: Pick<DataPlane, 'routes'>): Snapshot {
  const t = plane.routes.current;
  return { revision: t.revision, specs: t.routes.map((r) => r.spec) };
}

export type Prepared =
  | { kind: 'done'; outcome: ChangeOutcome; result: ChangeResult }
  | { kind: 'write'; specs: RouteSpec[]; table: RouteTable };

/**
 * Plans a change against `current` and validates it: a finished outcome (nothing to change, or a
 * dry run) or the validated table to persist. A semantic error becomes a 422 about the request.
 */
export function prepareChange(plane: Pick<DataPlane, 'validateRoutes'>, planFn: (current: Snapshot) => ChangePlan, current: Snapshot, dryRun: boolean): Prepared {
  const plan = planFn(current);
  if (plan.specs === undefined) {
    return { kind: 'done', result: dryRun ? 'dry_run' : 'noop', outcome: { revision: current.revision, specs: current.specs, changed: false, dryRun } };
  }
  const specs = plan.specs;
  let table: RouteTable;
  try {
    table = plane.validateRoutes(specs);
  } catch (e) {
    if (!(e instanceof ProxyError)) throw e;
    const mapped = e.path !== undefined && plan.mapPointer ? plan.mapPointer(e.path, specs) : { pointer: e.path };
    throw new AdminProblem(422, 'semantic', e.message, {
      code: e.code, in: 'body',
      ...(mapped.pointer !== undefined ? { pointer: mapped.pointer } : {}),
      ...('route' in mapped && mapped.route !== undefined ? { route: mapped.route } : {}),
    });
  }
  if (dryRun) return { kind: 'done', result: 'dry_run', outcome: { revision: table.revision, specs, changed: true, dryRun } };
  return { kind: 'write', specs, table };
}

/** Runs tasks one after another (a failed task does not stop the next). */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task);
    this.#tail = run.catch(() => {});
    return run;
  }
}
