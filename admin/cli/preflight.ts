// Everything about a configuration that the schema cannot say, checked before anything listens
// (and by --check), so that a mistake is an exit 2 naming the setting, never a start that fails
// later (a 500 on the first route change, an exit 1 after "listening"):
//   - every listener address (plain and TLS) is HOST:PORT with a port in range;
//   - the admin tokens (file, token files or PORTICO_ADMIN_TOKEN) are long enough, readable and
//     distinct, admin.tls's files load, and a non-loopback admin listener has a credential (a
//     generated token is only for loopback);
//   - the --config file can be created and replaced where it is (the admin API writes it);
//   - more than one worker only where a primary can supervise them (the portico command);
//   - the proxy can be built from it: routes (upstream URLs, duplicate ids, conflicts) and the
//     CIDR lists, by constructing the very ProxyServer that would run, without listening (with
//     workers, each worker builds this same one);
//   - automatic HTTPS (`acme`) can work: its CA file, renewBefore, a listener for its challenges,
//     a writable place to keep the account and certificates (admin/acme/acme-preflight.ts).
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseHostPort, type AdminConfig, type Config } from '../../src/config/config.js';
import { MIN_ADMIN_TOKEN_LENGTH } from '../../src/config/schema.js';
import { ProxyError } from '../../src/errors.js';
import { isLoopbackHost } from '../../src/net/loopback.js';
import { ProxyServer } from '../../src/server/proxy-server.js';
import { silentLogger } from '../../src/log.js';
import { configuredTokens } from '../api/credentials.js';
import { loadAdminTls } from '../api/admin-tls.js';
import { checkAcmeConfiguration } from '../acme/acme-preflight.js';

const invalid = (message: string, path?: string) => new ProxyError('PRX_ERR_BAD_CONFIG', message, path);

function checkListeners(config: Config): void {
  if (config.listen !== false) parseHostPort(config.listen, '/listen (--listen)');
  config.listeners.forEach((l, i) => parseHostPort(l.listen, `/listeners/${i}/listen`));
  if (config.admin) parseHostPort(config.admin.listen, '/admin/listen (--admin)');
  if (config.forwardProxy.listen !== undefined) parseHostPort(config.forwardProxy.listen, '/forwardProxy/listen');
  if (config.demoOrigin?.listen !== undefined) parseHostPort(config.demoOrigin.listen, '/demoOrigin/listen');
}

/** The admin token the run will use: admin.token, else PORTICO_ADMIN_TOKEN, else undefined (one is
 *  generated, loopback only). */
export function configuredAdminToken(config: Config, env: NodeJS.ProcessEnv): string | undefined {
  if (!config.admin) return undefined;
  return config.admin.token ?? env.PORTICO_ADMIN_TOKEN;
}

/** Whether a configured credential other than the admin token can make changes (an admin-role
 *  token in admin.tokens, or a client certificate with role admin). */
export function hasAdminCredential(admin: AdminConfig): boolean {
  return admin.tokens.some((t) => t.role === 'admin') || (admin.tls?.clientCertificates?.clients ?? []).some((c) => c.role === 'admin');
}

function checkAdmin(config: Config, env: NodeJS.ProcessEnv): void {
  const admin = config.admin;
  if (!admin) return;
  const { host } = parseHostPort(admin.listen, '/admin/listen (--admin)');
  const token = configuredAdminToken(config, env);
  const tokens = configuredTokens(admin, token, admin.token !== undefined ? '/admin/token' : 'PORTICO_ADMIN_TOKEN');
  try {
    if (admin.tls) loadAdminTls(admin.tls);
  } catch (e) {
    if (!(e instanceof ProxyError)) throw e;
    throw invalid(e.path && !e.message.startsWith(e.path) ? `${e.path}: ${e.message}` : e.message, e.path);
  }
  // a name tells who made a change: a certificate's CN must not pass for a token's name
  const names = new Set(tokens.map((t) => t.name));
  (admin.tls?.clientCertificates?.clients ?? []).forEach((c, i) => {
    const where = `/admin/tls/clientCertificates/clients/${i}/commonName`;
    if (names.has(c.commonName)) throw invalid(`${where}: the name ${JSON.stringify(c.commonName)} is already taken (by a token or another client); names must be unique`, where);
    names.add(c.commonName);
  });
  if (names.size === 0 && !isLoopbackHost(host)) {
    throw invalid(`/admin/listen (--admin): the admin API on ${admin.listen} (not a loopback address) needs a token: set admin.token in the config file or PORTICO_ADMIN_TOKEN (at least ${MIN_ADMIN_TOKEN_LENGTH} characters), or listen on 127.0.0.1`);
  }
}

/** A config file that does not exist is created by the admin API's first route change (file
 *  store only). Where nothing would create it, a missing file is a mistyped path, not an empty
 *  proxy to start. The admin API saves changes next to the file (temp file + rename): its
 *  directory must exist and be writable, or the first change would fail. */
function checkConfigPath(config: Config, configPath: string | undefined): void {
  if (configPath === undefined) return;
  if (!existsSync(configPath) && (!config.admin || config.store.type !== 'file')) {
    const why = !config.admin ? 'with --admin off' : 'with an etcd store';
    throw invalid(`--config ${configPath}: no such file, and ${why} nothing would create it (only the admin API's first route change does, with the file store): check the path, or create the file`);
  }
  if (!config.admin) return;
  const dir = dirname(resolve(configPath));
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch { /* missing */ }
  if (!isDir) throw invalid(`--config ${configPath}: the directory ${dir} does not exist (route changes are saved to this file; create the directory first)`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw invalid(`--config ${configPath}: the directory ${dir} is not writable (route changes are saved there by a temporary file and a rename)`);
  }
}

function checkProxy(config: Config): void {
  try {
    // also reads and checks every certificate, key and CA file the configuration names
    new ProxyServer(config, silentLogger());
  } catch (e) {
    if (!(e instanceof ProxyError)) throw e;
    const route = e.path ? /^\/routes\/(\d+)/.exec(e.path) : null;
    const id = route ? config.routes[Number(route[1])]?.id : undefined;
    const where = e.path && !e.message.startsWith(e.path) ? `${e.path}${id ? ` (route ${JSON.stringify(id)})` : ''}: ` : '';
    throw invalid(`${where}${e.message}`, e.path);
  }
}

export interface PreflightOptions {
  env?: NodeJS.ProcessEnv;
}

/** Throws ProxyError PRX_ERR_BAD_CONFIG naming the setting on the first problem. */
export function checkConfiguration(config: Config, configPath: string | undefined, opts: PreflightOptions = {}): void {
  checkListeners(config);
  checkAdmin(config, opts.env ?? process.env);
  checkConfigPath(config, configPath);
  checkProxy(config);
  checkAcmeConfiguration(config, configPath);
}
