// The single serialised writer of the route configuration. Every accepted change:
//   1. is planned against the routes the proxy runs right now (inside the lock, so If-Match checks
//      and the swap are atomic with respect to other admin requests),
//   2. is validated by the data plane (DataPlane.validateRoutes: 422 on a semantic error),
//   3. is persisted (temp file in the same directory, fsync, rename, fsync the directory; 0600),
//   4. is swapped in (DataPlane.apply: one atomic table swap, in every worker when there are
//      workers, acknowledged before the answer; the revision goes up).
// A failure at any step leaves both the running table and the file as they were.
import type { RouteTable } from '../src/routing/route-table.js';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { DataPlane } from '../src/cluster/data-plane.js';
import type { RouteSpec, UpstreamSpec } from '../src/routing/route-spec.js';
import { ProxyError } from '../src/errors.js';
import { canonicalJson } from './etag.js';
import { AdminProblem } from './problem.js';

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
}

export type ChangeResult = 'applied' | 'dry_run' | 'noop' | 'rejected';

const ROUTE_KEYS: ReadonlyArray<keyof RouteSpec> = ['id', 'host', 'pathPrefix', 'methods', 'headers', 'upstreams', 'stripPrefix', 'rewritePrefix', 'preserveHost'];

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
  return spec as RouteSpec;
}

export class AdminStore {
  readonly #plane: DataPlane;
  readonly #path: string | undefined;
  readonly #logger: Logger;
  /** The config file's own JSON (not the resolved config): persistence only replaces `routes`,
   *  so the file keeps what its author wrote, and command-line overrides are not written into it. */
  #fileDoc: Record<string, unknown>;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #onResult: ((r: ChangeResult) => void) | undefined;

  constructor(plane: DataPlane, configPath: string | undefined, logger: Logger, onResult?: (r: ChangeResult) => void) {
    this.#plane = plane;
    this.#logger = logger;
    this.#onResult = onResult;
    if (configPath === undefined) {
      this.#path = undefined;
      this.#fileDoc = {};
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
  }

  /** The file accepted changes are written to (undefined: not persisted). */
  get path(): string | undefined {
    return this.#path;
  }

  snapshot(): Snapshot {
    const t = this.#plane.routes.current;
    return { revision: t.revision, specs: t.routes.map((r) => r.spec) };
  }

  /**
   * Runs `plan` against the current routes and validates, persists and applies its result, one
   * change at a time. `plan` may throw an AdminProblem (404, 409, 412...) to refuse.
   */
  change(plan: (current: Snapshot) => ChangePlan, dryRun: boolean): Promise<ChangeOutcome> {
    const run = this.#queue.then(() => this.#change(plan, dryRun));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #change(planFn: (current: Snapshot) => ChangePlan, dryRun: boolean): Promise<ChangeOutcome> {
    try {
      const current = this.snapshot();
      const plan = planFn(current);
      if (plan.specs === undefined) {
        this.#onResult?.(dryRun ? 'dry_run' : 'noop');
        return { revision: current.revision, specs: current.specs, changed: false, dryRun };
      }
      const specs = plan.specs;
      let built: RouteTable;
      try {
        built = this.#plane.validateRoutes(specs);
      } catch (e) {
        if (!(e instanceof ProxyError)) throw e;
        const mapped = e.path !== undefined && plan.mapPointer ? plan.mapPointer(e.path, specs) : { pointer: e.path };
        throw new AdminProblem(422, 'semantic', e.message, {
          code: e.code, in: 'body',
          ...(mapped.pointer !== undefined ? { pointer: mapped.pointer } : {}),
          ...('route' in mapped && mapped.route !== undefined ? { route: mapped.route } : {}),
        });
      }
      if (dryRun) {
        this.#onResult?.('dry_run');
        return { revision: built.revision, specs, changed: true, dryRun };
      }
      await this.#persist(specs);
      // the table validated above is the one swapped in (built once); nothing else can have
      // changed the routes meanwhile: this queue is the only writer
      const table = await this.#plane.apply(built);
      this.#onResult?.('applied');
      this.#logger.info({ revision: table.revision, routes: table.routes.length }, 'admin: route change applied');
      return { revision: table.revision, specs: table.routes.map((r) => r.spec), changed: true, dryRun };
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
    const dir = dirname(path);
    const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(text, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => {});
      throw new ProxyError('PRX_ERR_CONFIG_FILE', `cannot save the configuration to ${path} (nothing was changed): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    // make the rename itself durable
    try {
      const d = await open(dir, 'r');
      try { await d.sync(); } finally { await d.close(); }
    } catch { /* not supported on every platform */ }
    this.#fileDoc = doc;
  }
}
