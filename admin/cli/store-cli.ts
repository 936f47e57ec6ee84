// `portico store export|import`: one-shot copy of the route list between a file and etcd (to
// seed a fleet from a config file, or to keep a backup). Import replaces the whole list under the
// prefix in one compare-and-swap transaction, so the running fleet sees one change, recorded in the
// route history with source `import` (admin/stores/history-etcd.ts).
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { globalPolicy, loadConfigFile } from '../../src/config/config.js';
import { parseStoreUrl, storeUrl, type EtcdStoreConfig } from '../../src/config/store-config.js';
import { RouteTable } from '../../src/routing/route-table.js';
import { resolve } from 'node:path';
import type { Etcd3, IOperation } from 'etcd3';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import { silentLogger } from '../../src/log.js';
import { RouteKeys, connectEtcd, loadRoutes, specsOf, writeRoutes, type StoredRoutes } from '../stores/etcd-routes.js';
import { EtcdHistory, encodeRecord } from '../stores/history-etcd.js';
import { recordOf, withInstance } from '../history/revision-log.js';
import { writeFileAtomic } from '../stores/atomic-file.js';
import { normalizeRoute } from '../stores/file-store.js';

export const STORE_USAGE = `Usage: portico store export|import [options] [FILE]

Copy the route list between a file and an etcd store (one-shot; no proxy is started).

Commands:
  export [FILE]   write etcd's routes to FILE (its "routes" member is replaced, the rest of a
                  config file is kept; a new file gets {"routes": [...]}), or to stdout
  import FILE     replace etcd's routes with FILE's "routes" (a config file or {"routes": [...]});
                  validated first; one transaction

Options:
  --store etcd://[USER@]HOST:PORT[,HOST:PORT...]/PREFIX
                  the etcd store (or the "store" of --config)
  --config FILE   take the store settings (TLS, auth) from this config file
  --password-file FILE
                  the etcd user's password, read from FILE (kept out of argv and shell history;
                  or PORTICO_ETCD_PASSWORD)
  --cacert FILE   TLS to etcd: PEM CA bundle to verify its certificate with
  --cert FILE     TLS to etcd: PEM client certificate (with --key and --cacert)
  --key FILE      the private key of --cert
  -h, --help      print this help

This command talks to etcd, not to the admin API (the admin API's --token-file is for portico routes).

Exit codes: 0 ok; 1 etcd cannot be reached or refused; 2 bad usage or invalid routes.
`;

const EXIT_OK = 0;
const EXIT_RUNTIME = 1;
const EXIT_USAGE = 2;
const CAS_ATTEMPTS = 5;

class UsageError extends Error {}

interface StoreFlags {
  store?: string;
  config?: string;
  'password-file'?: string;
  cacert?: string;
  cert?: string;
  key?: string;
}

function readable(flag: string, file: string): string {
  try {
    accessSync(file, constants.R_OK);
  } catch (e) {
    throw new UsageError(`--${flag} ${file}: cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return file;
}

/** The store from --store/--config, with the TLS files and the password of the flags. */
export function storeFrom(values: StoreFlags): EtcdStoreConfig {
  const base = values.config ? loadConfigFile(values.config, false).store : undefined;
  let store = values.store ? parseStoreUrl(values.store, base) : base;
  if (store?.type !== 'etcd') throw new UsageError('no etcd store: pass --store etcd://HOST:PORT/PREFIX (or --config with an etcd "store")');
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError('--cert and --key go together');
  if (values.cert !== undefined && values.cacert === undefined && !store.tls) throw new UsageError('--cert/--key need --cacert (TLS to etcd)');
  if (values.cacert !== undefined || values.cert !== undefined) {
    const ca = values.cacert !== undefined ? readable('cacert', values.cacert) : store.tls!.ca;
    const pair = values.cert !== undefined ? { cert: readable('cert', values.cert), key: readable('key', values.key!) } : store.tls?.cert ? { cert: store.tls.cert, key: store.tls.key } : {};
    store = { ...store, tls: { ca, ...pair } };
  }
  const passwordFile = values['password-file'];
  if (passwordFile !== undefined) {
    if (!store.auth) throw new UsageError('--password-file needs an etcd user: --store etcd://USER@HOST:PORT/PREFIX (or store.auth.username in --config)');
    let password: string;
    try {
      // a file written by `echo` or an editor ends with a newline that is not part of it
      password = readFileSync(passwordFile, 'utf8').trim();
    } catch (e) {
      throw new UsageError(`--password-file ${passwordFile}: cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (password === '') throw new UsageError(`--password-file ${passwordFile} is empty`);
    store = { ...store, auth: { ...store.auth, password } };
  }
  return store;
}

function routesOfFile(path: string) {
  if (!existsSync(path)) throw new UsageError(`${path} does not exist`);
  // the config file's schema checks each route; with an etcd "store" a config file has no routes
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  if (!raw || typeof raw !== 'object' || !Array.isArray(raw.routes)) throw new UsageError(`${path}: expected a JSON object with a "routes" array`);
  const config = loadConfigFile(path, false);
  const routes = config.routes.map(normalizeRoute);
  RouteTable.build(routes, 1, globalPolicy(config)); // semantic checks (upstream URLs, duplicate ids, conflicts)
  return routes;
}

/** The history operations of an import (admin/stores/history-etcd.ts): its record, source
 *  `import`, and the record of the routes it replaces if nothing recorded them yet. */
async function importRecord(client: Etcd3, keys: RouteKeys, store: EtcdStoreConfig, stored: StoredRoutes, routes: RouteSpec[], file: string, keep: number): Promise<IOperation[]> {
  const history = new EtcdHistory(store.prefix, keep, silentLogger());
  const current = specsOf(stored, keys);
  const found = await history.load(stored.others, current, stored.revision, async (rev) => specsOf(await loadRoutes(client, keys, undefined, rev), keys));
  const ops = found.adopt && found.record ? [client.put(history.keys.known(found.record.revision)).value(encodeRecord(found.record, true))] : [];
  const record = recordOf(current, routes, 0, found.revision, { source: withInstance({ kind: 'import', file: resolve(file) }) });
  return [...ops, ...history.writeOps(client, record)];
}

export async function runStoreCli(argv: string[]): Promise<number> {
  const say = (s: string) => process.stderr.write(`portico store: ${s}\n`);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: {
        store: { type: 'string' }, config: { type: 'string' }, 'password-file': { type: 'string' },
        cacert: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    const adminFlag = /'--(token|token-file|admin)'/.exec((e as Error).message);
    say(adminFlag
      ? `--${adminFlag[1]}: portico store talks to etcd, not to the admin API (for etcd's password: --password-file FILE; for the admin API: portico routes --${adminFlag[1]} ...)`
      : `${(e as Error).message}\n\n${STORE_USAGE}`);
    return EXIT_USAGE;
  }
  const { values, positionals } = parsed;
  if (values.help) { process.stdout.write(STORE_USAGE); return EXIT_OK; }
  const [command, file, extra] = positionals;
  let store: EtcdStoreConfig;
  /** Revisions the history keeps (the config file's history.keep): an import trims past it. */
  let keep: number;
  try {
    if (command !== 'export' && command !== 'import') throw new UsageError(`unknown command ${JSON.stringify(command ?? '')} (export or import)`);
    if (extra !== undefined || (command === 'import' && file === undefined)) throw new UsageError(command === 'import' ? 'import needs exactly one FILE' : 'export takes at most one FILE');
    store = storeFrom(values);
    keep = values.config ? loadConfigFile(values.config, false).history.keep : 100;
  } catch (e) {
    say(`${(e as Error).message}${e instanceof UsageError ? `\n\n${STORE_USAGE}` : ''}`);
    return EXIT_USAGE;
  }
  const keys = new RouteKeys(store.prefix);
  let routes;
  try {
    routes = command === 'import' ? routesOfFile(file) : undefined;
  } catch (e) {
    say(`${file}: ${(e as Error).message}`);
    return EXIT_USAGE;
  }
  const client = connectEtcd(store);
  try {
    if (routes === undefined) {
      const stored = await loadRoutes(client, keys);
      const specs = specsOf(stored, keys);
      if (file === undefined) {
        process.stdout.write(JSON.stringify({ routes: specs }, null, 2) + '\n');
      } else {
        const doc = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown> : {};
        await writeFileAtomic(file, JSON.stringify({ ...doc, routes: specs }, null, 2) + '\n');
      }
      say(`exported ${specs.length} route(s) from ${storeUrl(store)} at revision ${stored.revision}${file ? ` to ${file}` : ''}`);
      return EXIT_OK;
    }
    for (let attempt = 1; attempt <= CAS_ATTEMPTS; attempt++) {
      const stored = await loadRoutes(client, keys);
      const revision = await writeRoutes(client, keys, stored, routes, undefined, await importRecord(client, keys, store, stored, routes, file, keep));
      if (revision !== undefined) {
        say(`imported ${routes.length} route(s) into ${storeUrl(store)} at revision ${revision}`);
        return EXIT_OK;
      }
    }
    say(`${storeUrl(store)} kept changing during the import (another writer); nothing was imported`);
    return EXIT_RUNTIME;
  } catch (e) {
    say(`${storeUrl(store)}: ${(e as Error).message}`);
    return EXIT_RUNTIME;
  } finally {
    client.close();
  }
}
