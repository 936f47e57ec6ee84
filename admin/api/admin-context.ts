// What the admin API is given by the `portico` command (admin/cli/run.ts): where the routes run,
// the configuration, the token, and the route store it follows.
import type { Logger } from 'pino';
import type { Config } from '../../src/config/config.js';
import type { DataPlane } from '../../src/contract/data-plane.js';
import type { RouteSource } from '../stores/route-source.js';
import type { AcmeMetricsView, AcmeStatus } from '../acme/acme-manager.js';

/** Automatic HTTPS as the admin API sees it (GET /v1/tls, /metrics). */
export interface AcmeView {
  status(): AcmeStatus;
  metrics(): AcmeMetricsView;
}

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
  /** Automatic HTTPS, when a listener has `tls.acme`. */
  acme?: AcmeView;
}

export interface AdminHandle {
  /** e.g. http://127.0.0.1:9090 */
  url: string;
  close(): Promise<void>;
}

export type AdminStarter = (ctx: AdminContext) => Promise<AdminHandle>;
