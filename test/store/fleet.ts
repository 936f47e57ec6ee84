// Shared set-up of the etcd store tests: an instance = proxy + admin API following an etcd store,
// started the way `portico --store etcd://...` starts one (store read before listen), in-process.
import http from 'node:http';
import net from 'node:net';
import { ProxyServer } from '../../src/server/proxy-server.js';
import { InProcessDataPlane } from '../../admin/cluster/in-process.js';
import { startAdmin } from '../../admin/api/start-admin.js';
import { EtcdRouteStore } from '../../admin/stores/etcd-store.js';
import type { EtcdStoreConfig } from '../../src/config/store-config.js';
import type { AdminHandle } from '../../admin/api/admin-context.js';
import { TOKEN, makeConfig, silent } from '../admin/helpers.js';
import { httpGet, sleep } from '../helpers/harness.js';

export interface Instance {
  proxy: ProxyServer;
  store: EtcdRouteStore;
  admin: AdminHandle;
  /** Proxy port. */
  port: number;
  close(): Promise<void>;
}

export function etcdStore(endpoint: string, prefix: string, extra: Partial<EtcdStoreConfig> = {}): EtcdStoreConfig {
  return { type: 'etcd', endpoints: [endpoint], prefix, timeoutMs: 1000, ...extra };
}

export async function startInstance(store: EtcdStoreConfig, historyKeep?: number): Promise<Instance> {
  const config = makeConfig({ store, ...(historyKeep !== undefined ? { history: { keep: historyKeep } } : {}) });
  const source = await EtcdRouteStore.open(store, silent, config.history.keep);
  const proxy = new ProxyServer({ ...config, routes: source.initial.routes }, silent);
  const dataPlane = new InProcessDataPlane(proxy);
  source.attach(dataPlane);
  await proxy.listen();
  const admin = await startAdmin({ dataPlane, config, configPath: undefined, listen: '127.0.0.1:0', token: TOKEN, logger: silent, routeSource: source });
  return {
    proxy, store: source, admin, port: proxy.addresses()[0].port,
    close: async () => {
      await admin.close();
      await proxy.close(0);
      await source.close();
    },
  };
}

/** The members of admin API answers that these tests read (each endpoint has some of them). */
export interface AdminBody {
  revision?: number;
  pathPrefix?: string;
  store?: { connected?: boolean };
  config?: Record<string, unknown>;
}

/** An admin API call: status, headers and parsed JSON body. */
export async function api(inst: Instance, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${inst.admin.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body !== undefined ? { 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as AdminBody) : undefined };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** GET through the proxy: status and body. */
export function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return httpGet(port, path, agent);
}

/** Polls `cond` every 20 ms until it holds or `ms` pass; returns how long it took (or undefined). */
export async function until(cond: () => Promise<boolean> | boolean, ms = 15_000): Promise<number | undefined> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await cond()) return Date.now() - start;
    await sleep(20);
  }
  return undefined;
}

/** A loopback TCP relay in front of etcd: cut() drops every connection and refuses new ones (a
 *  network partition of the instances behind it), heal() lets them through again. */
export async function startRelay(target: number): Promise<{ port: number; cut(): void; heal(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let open = true;
  const server = net.createServer((client) => {
    if (!open) { client.destroy(); return; }
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() { open = false; for (const s of sockets) s.destroy(); },
    heal() { open = true; },
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}
