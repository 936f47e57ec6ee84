// How the `portico` command starts the admin API without src/ importing admin/: the composition
// root (admin/cli.ts, the package bin) passes an AdminStarter to runPortico.
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { DataPlane } from '../cluster/data-plane.js';
import type { RouteSpec } from '../routing/route-spec.js';
import type { EtcdStoreConfig } from '../config/store-config.js';

/** A shared route store (etcd), opened before the proxy listens so the proxy starts with the
 *  store's routes; it then keeps the proxy's table in step with the store. */
export interface RouteSource {
  /** The routes to start with and the store revision they are at. */
  readonly initial: { revision: number; routes: RouteSpec[] };
  /** A line for the operator about how the routes were loaded (e.g. from the local cache). */
  readonly notice?: string;
  /** Applies the initial table at its revision and starts following the store (before listen);
   *  every later table goes through `plane.apply` (with workers: to each of them, in order). */
  attach(plane: DataPlane): void;
  close(): Promise<void>;
}

export type RouteSourceOpener = (store: EtcdStoreConfig, logger: Logger) => Promise<RouteSource>;

export interface AdminContext {
  /** Where the routes run: this process, or the workers of a cluster. */
  dataPlane: DataPlane;
  /** The resolved configuration the proxy started with (routes included). */
  config: Config;
  /** File that accepted changes are persisted to (may not exist yet); undefined: no persistence. */
  configPath: string | undefined;
  /** HOST:PORT to listen on. */
  listen: string;
  /** Bearer token for mutations (config or PORTICO_ADMIN_TOKEN); undefined: none configured. */
  token: string | undefined;
  logger: Logger;
  /** The shared route store the proxy follows (undefined: the config file is the store). */
  routeSource?: RouteSource;
}

export interface AdminHandle {
  /** e.g. http://127.0.0.1:9090 */
  url: string;
  close(): Promise<void>;
}

export type AdminStarter = (ctx: AdminContext) => Promise<AdminHandle>;

export interface ClusterOptions {
  config: Config;
  /** Resolved worker count (> 1). */
  workers: number;
  logger: Logger;
}

/** How the command starts the workers (the primary's supervisor lives in admin/cluster/). */
export type ClusterStarter = (opts: ClusterOptions) => Promise<DataPlane>;
