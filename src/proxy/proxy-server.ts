// PLACEHOLDER: being written. Public surface is fixed (see the admin contract).
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { RouteSpec } from '../routing/route-spec.js';
import { RouteTable, RouteTableHolder } from '../routing/route-table.js';
import type { ProxyObserver } from './observer.js';

export interface PoolStats { authority: string; active: number; idle: number; waiting: number; created: number; reused: number }
export interface ProxyStats { clientConnections: number; pools: PoolStats[] }

export class ProxyServer {
  readonly config: Config;
  readonly logger: Logger;
  readonly routes: RouteTableHolder;
  constructor(config: Config, logger: Logger) {
    this.config = config;
    this.logger = logger;
    this.routes = new RouteTableHolder(RouteTable.build(config.routes, 1));
  }
  addObserver(_o: ProxyObserver): () => void { return () => {}; }
  validateRoutes(specs: RouteSpec[]): RouteTable { return RouteTable.build(specs, this.revision + 1, this.routes.current); }
  applyRoutes(specs: RouteSpec[]): RouteTable { const t = this.validateRoutes(specs); this.routes.replace(t); return t; }
  get revision(): number { return this.routes.current.revision; }
  stats(): ProxyStats { return { clientConnections: 0, pools: [] }; }
  async listen(): Promise<void> {}
  addresses(): AddressInfo[] { return []; }
  get ready(): boolean { return false; }
  async close(): Promise<void> {}
}
