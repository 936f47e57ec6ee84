// How the `portico` command starts the admin API without src/ importing admin/: the composition
// root (admin/cli.ts, the package bin) passes an AdminStarter to runPortico.
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { ProxyServer } from '../proxy/proxy-server.js';

export interface AdminContext {
  proxy: ProxyServer;
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
