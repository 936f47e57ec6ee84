// The `portico` command: flags over the config file, validation with messages that name the bad
// field, start-up (demo origin, proxy, admin API), and graceful shutdown on SIGTERM/SIGINT.
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { loadConfigFile, parseHostPort, resolveConfig, type Config } from '../../src/config/config.js';
import { ProxyServer } from '../../src/server/proxy-server.js';
import { InProcessDataPlane } from '../cluster/in-process.js';
import type { DataPlane } from '../../src/contract/data-plane.js';
import { resolveWorkerCount, workersFromFlag } from '../cluster/worker-count.js';
import { createLogger } from '../../src/log.js';
import { startDemoOrigin } from '../../src/demo/demo-origin.js';
import { parseOriginUrl } from '../../src/upstream/origin-url.js';
import { ProxyError } from '../../src/errors.js';
import { USAGE, parseFlags, routeFromFlag, type CliFlags } from './args.js';
import type { AdminHandle } from '../api/admin-context.js';
import type { RouteSource } from '../stores/route-source.js';
import { checkConfiguration, configuredAdminToken, hasAdminCredential } from './preflight.js';
import { exposureNotices } from '../api/access-policy.js';
import { isLoopbackHost } from '../../src/net/loopback.js';
import { checkStoreConfig, parseStoreUrl } from '../../src/config/store-config.js';
import { packageVersion } from '../../src/package-root.js';
import { LocalTicketKeys, type TicketKeySource } from '../tls/ticket-key-rotation.js';

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

function version(): string {
  return packageVersion() ?? 'unknown';
}

/** The config file (if any) with the flags applied, validated. */
export function buildConfig(flags: CliFlags): Config {
  const base = flags.config ? loadConfigFile(flags.config, true) : resolveConfig({});
  const raw: Record<string, unknown> = structuredClone(base) as unknown as Record<string, unknown>;
  if (flags.listen) raw.listen = flags.listen === 'off' ? false : flags.listen;
  if (flags.tlsListen.length) raw.listeners = [...base.listeners, ...flags.tlsListen.map((listen) => ({ listen, tls: { certificates: flags.tlsCerts } }))];
  if (flags.admin) raw.admin = flags.admin === 'off' ? false : { ...(base.admin || {}), listen: flags.admin };
  if (flags.logLevel) raw.logLevel = flags.logLevel;
  if (flags.workers !== undefined) raw.workers = workersFromFlag(flags.workers);
  if (flags.forward) raw.forwardProxy = { ...base.forwardProxy, enabled: true };
  if (flags.store) raw.store = parseStoreUrl(flags.store, base.store);
  if (flags.storeCache) {
    if ((raw.store as { type: string }).type !== 'etcd') throw new ProxyError('PRX_ERR_BAD_CONFIG', '--store-cache needs an etcd store (--store etcd://...)');
    raw.store = { ...(raw.store as object), cacheFile: flags.storeCache };
  }
  if (flags.routes.length) {
    // flags override the file: a flag route replaces a file route with its id (cli-N, which the
    // admin API persists into the file), else it is added
    const routes = [...base.routes];
    for (const r of flags.routes.map(routeFromFlag)) {
      const i = routes.findIndex((x) => x.id === r.id);
      if (i >= 0) routes[i] = r;
      else routes.push(r);
    }
    raw.routes = routes;
  }
  const config = resolveConfig(raw);
  checkConfiguration(config, flags.config);
  checkStoreConfig(config.store, config.routes.length);
  return config;
}

/** Names of upstream hosts that do not resolve (reported, not fatal: they may appear later). */
async function unresolvedUpstreams(config: Config): Promise<string[]> {
  const hosts = new Set<string>();
  for (const r of config.routes) for (const u of r.upstreams) {
    const h = parseOriginUrl(typeof u === 'string' ? u : u.url).host;
    if (net.isIP(h) === 0) hosts.add(h);
  }
  const bad: string[] = [];
  await Promise.all([...hosts].map(async (h) => { try { await lookup(h); } catch { bad.push(h); } }));
  return bad;
}

const say = (line: string) => process.stderr.write(line + '\n');

/** Runs the proxy (the `portico` command without a subcommand). The admin API (Fastify), the
 *  cluster supervisor (node:cluster) and the etcd client (gRPC) are loaded only when the
 *  configuration uses them: with `--admin off` the proxy process stays small. */
export async function runPortico(argv: string[]): Promise<number> {
  let flags: CliFlags;
  try {
    flags = parseFlags(argv);
  } catch (e) {
    say(`portico: ${(e as Error).message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (flags.help) { process.stdout.write(USAGE); return EXIT_OK; }
  if (flags.version) { process.stdout.write(`portico ${version()}\n`); return EXIT_OK; }
  let config: Config;
  try {
    config = buildConfig(flags);
  } catch (e) {
    say(`portico: invalid configuration: ${(e as Error).message}`);
    return EXIT_USAGE;
  }
  // before anything else is said: an admin listener others can reach, and what it lets through
  if (config.admin) for (const notice of exposureNotices(config.admin)) say(`portico: ${notice}`);
  const unresolved = await unresolvedUpstreams(config);
  if (flags.check) {
    if (unresolved.length) {
      say(`portico: upstream host(s) do not resolve: ${unresolved.join(', ')}`);
      return EXIT_USAGE;
    }
    say(`portico: configuration OK (${config.routes.length} route(s))`);
    return EXIT_OK;
  }
  const logger = createLogger(config.logLevel);
  for (const h of unresolved) say(`portico: warning: upstream host ${h} does not resolve (requests to it will get 502)`);

  // every listener is bound before anything is announced: a busy port fails the start (exit 1)
  // before a "listening" line could send someone to a half-started proxy
  let demo: import('node:http').Server | undefined;
  if (config.demoOrigin?.listen) {
    try {
      demo = await startDemoOrigin(config.demoOrigin.listen);
    } catch (e) {
      say(`portico: cannot start the demo origin on ${config.demoOrigin.listen}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return EXIT_RUNTIME;
    }
  }
  let source: RouteSource | undefined;
  if (config.store.type === 'etcd') {
    // the routes come from the store, loaded before the proxy listens
    try {
      const { EtcdRouteStore } = await import('../stores/etcd-store.js');
      source = await EtcdRouteStore.open(config.store, logger, config.history.keep);
    } catch (e) {
      say(`portico: ${(e as Error).message}`);
      demo?.close();
      return EXIT_RUNTIME;
    }
    if (source.notice) say(`portico: ${source.notice}`);
    config = { ...config, routes: source.initial.routes };
  }
  const workers = resolveWorkerCount(config.workers);
  // one process unless asked: the cluster code is not even loaded then
  const plane: DataPlane = workers > 1
    ? await (await import('../cluster/primary.js')).startCluster({ config, workers, logger })
    : new InProcessDataPlane(new ProxyServer(config, logger));
  source?.attach(plane);
  // TLS session ticket keys: the workers (and with etcd the fleet) share them, so they are set
  // before the workers start
  let tickets: TicketKeySource | undefined;
  if (config.sessionTickets.enabled && config.listeners.some((l) => l.tls)) {
    const apply = (set: import('../../src/tls/ticket-keys.js').TicketKeySet) => plane.setTicketKeys(set);
    const rotateMs = config.sessionTickets.keyRotationMs;
    tickets = config.store.type === 'etcd'
      ? new (await import('../stores/etcd-ticket-keys.js')).EtcdTicketKeys(config.store, rotateMs, apply, logger)
      : new LocalTicketKeys(rotateMs, apply, logger);
    await tickets.start();
  }
  try {
    await plane.listen();
  } catch (e) {
    say(`portico: ${(e as Error).message}`);
    await tickets?.close();
    await source?.close();
    demo?.close();
    return EXIT_RUNTIME;
  }

  // automatic HTTPS: the listeners answer validations now; orders run in the background
  let acme: import('../acme/acme-manager.js').AcmeManager | undefined;
  if (config.acme) {
    try {
      acme = await (await import('../acme/start-acme.js')).startAcme({ config, configPath: flags.config, plane, logger });
    } catch (e) {
      say(`portico: acme: ${(e as Error).message}`);
      await tickets?.close();
      await source?.close();
      await plane.close(0);
      demo?.close();
      return EXIT_RUNTIME;
    }
  }

  let admin: AdminHandle | undefined;
  let adminLine = '';
  if (config.admin) {
    let token = configuredAdminToken(config, process.env);
    // a token for this run when nothing else could make changes, on loopback only (preflight
    // refuses a listener beyond loopback without a credential; with read tokens alone it is read-only)
    const generated = token === undefined && !hasAdminCredential(config.admin) && isLoopbackHost(parseHostPort(config.admin.listen, '/admin/listen').host);
    if (generated) token = randomBytes(18).toString('base64url');
    try {
      const { startAdmin } = await import('../api/start-admin.js');
      admin = await startAdmin({ dataPlane: plane, config, configPath: flags.config, listen: config.admin.listen, token, logger, routeSource: source, acme });
    } catch (e) {
      say(`portico: admin API: ${(e as Error).message}`);
      await acme?.close();
      await tickets?.close();
      await source?.close();
      await plane.close(0);
      demo?.close();
      return EXIT_RUNTIME;
    }
    adminLine = `\nportico: admin API on ${admin.url}${generated ? ` (generated token for this run: ${token}; set PORTICO_ADMIN_TOKEN to choose one)` : ''}`;
  }

  const urls = plane.listeners().map(({ tls, address: a }) => `${tls ? 'https' : 'http'}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
  // one write, so a reader that waits for "listening on" also has the lines after it
  say((demo ? `portico: demo origin on http://${config.demoOrigin!.listen}\n` : '')
    + `portico: listening on ${urls.join(', ')} (${config.routes.length} route(s)${workers > 1 ? `, ${workers} workers` : ''})`
    + (config.routes.length ? `\nportico: try   curl -i ${urls[0]}${config.routes[0].pathPrefix}` : '')
    + adminLine);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        say(`portico: ${signal} again, exiting now`);
        process.exit(EXIT_RUNTIME);
      }
      stopping = true;
      say(`portico: ${signal}: finishing in-flight requests (up to ${config.timeouts.shutdownMs} ms)`);
      void (async () => {
        await acme?.close();
        await Promise.all([plane.close(), admin?.close(), source?.close(), tickets?.close()]);
        demo?.close();
        logger.flush();
        resolve(EXIT_OK);
      })();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    const restart = plane.restartWorkers?.bind(plane);
    // SIGHUP (as nginx): replace the workers one at a time; one process keeps Node's default
    if (restart) {
      process.on('SIGHUP', () => {
        if (stopping) return;
        say('portico: SIGHUP: replacing the workers one at a time');
        restart().catch((e: Error) => say(`portico: rolling restart: ${e.message}`));
      });
    }
  });
}
