// `--store URL` and the checks of the `store` setting that need the whole configuration.
import { ProxyError } from '../errors.js';
import { parseHostPort } from './config.js';
import type { EtcdStoreConfig, StoreConfig } from './store-schema.js';

export type { EtcdStoreConfig, StoreConfig } from './store-schema.js';

/**
 * `etcd://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT...]/PREFIX` -> the `store` setting (TLS, cache
 * file and timeout come from the config file's `store`, when it is an etcd store too).
 */
export function parseStoreUrl(url: string, base: StoreConfig | undefined): StoreConfig {
  if (url === 'file') return { type: 'file' };
  const m = /^etcd:\/\/(?:([^:@/]+)(?::([^@/]*))?@)?([^/@]+)(\/.*)$/.exec(url);
  if (!m) throw new ProxyError('PRX_ERR_BAD_CONFIG', `--store ${JSON.stringify(url)}: expected etcd://HOST:PORT[,HOST:PORT...]/PREFIX or file`);
  const [, user, password, hosts, rawPrefix] = m;
  const endpoints = hosts.split(',');
  for (const e of endpoints) parseHostPort(e, '--store endpoint');
  const prefix = rawPrefix.replace(/\/+$/, '');
  if (prefix === '') throw new ProxyError('PRX_ERR_BAD_CONFIG', `--store ${JSON.stringify(url)}: the key prefix must not be empty (e.g. etcd://127.0.0.1:2379/portico)`);
  const inherited = base?.type === 'etcd' ? base : undefined;
  return {
    type: 'etcd',
    endpoints,
    prefix,
    ...(inherited?.tls ? { tls: inherited.tls } : {}),
    ...(user !== undefined ? { auth: { username: decodeURIComponent(user), ...(password ? { password: decodeURIComponent(password) } : {}) } } : inherited?.auth ? { auth: inherited.auth } : {}),
    ...(inherited?.cacheFile ? { cacheFile: inherited.cacheFile } : {}),
    timeoutMs: inherited?.timeoutMs ?? 2000,
  };
}

/** Checks that need the whole configuration: with etcd, routes come only from etcd. */
export function checkStoreConfig(store: StoreConfig, routeCount: number): void {
  if (store.type !== 'etcd') return;
  for (const e of store.endpoints) parseHostPort(e, '/store/endpoints');
  if (routeCount > 0) {
    throw new ProxyError('PRX_ERR_BAD_CONFIG', `/routes: with an etcd store the routes live in etcd, not in the config file or --route (load them once with: portico store import --store etcd://${store.endpoints.join(',')}${store.prefix} FILE)`, '/routes');
  }
}

/** The URL form of an etcd store (for messages; never includes the password). */
export function storeUrl(store: EtcdStoreConfig): string {
  return `etcd://${store.endpoints.join(',')}${store.prefix}`;
}
