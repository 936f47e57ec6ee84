// How the `portico` command starts the admin API without src/ importing admin/: the composition
// root (admin/cli.ts, the package bin) passes an AdminStarter to runPortico.
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { DataPlane } from '../cluster/data-plane.js';

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
