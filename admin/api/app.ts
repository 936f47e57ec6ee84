// The admin API as a Fastify app: one encapsulated plugin per resource, shared schemas, problem
// details for every error, credential and Host checks in front of everything (./auth.ts), over
// HTTPS when admin.tls is set (./admin-tls.ts).
import type { Server as TlsServer } from 'node:tls';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AdminContext } from './admin-context.js';
import { parseHostPort, resolveConfig } from '../../src/config/config.js';
import { AdminStore } from '../stores/file-store.js';
import type { RouteStore } from '../stores/route-store.js';
import { statusPlugin } from './status-api.js';
import { installAuth } from './auth.js';
import { installProblemHandlers, pathOf } from '../protocol/problem.js';
import { installBodyDepthLimit } from './body-depth.js';
import { sharedSchemas, validatorCompiler } from '../protocol/schemas.js';
import { compilersOnFirstUse } from '../protocol/compile-on-first-use.js';
import { routesPlugin } from './routes-api.js';
import { configPlugin } from './config-api.js';
import { upstreamsPlugin } from './upstreams-api.js';
import { tlsPlugin } from './tls-api.js';
import { healthPlugin } from './health-api.js';
import { AdminMetrics, metricsPlugin } from './metrics-api.js';
import { docsPlugin, recordRoutes } from './docs-api.js';
import { revisionsPlugin } from './revisions-api.js';
import { changesPlugin } from './changes-api.js';
import { packageVersion } from '../../src/package-root.js';
import type { AdminConfig } from '../../src/config/admin-schema.js';
import { followCertificateStore } from '../../src/tls/tls-listener.js';
import { CertificateWatcher } from '../../src/tls/certificate-watcher.js';
import { configuredTokens, TokenSet } from './credentials.js';
import { resolveOpenReads } from './access-policy.js';
import { loadAdminTls } from './admin-tls.js';
import { FailedAuthBudget } from './failed-auth-budget.js';
import { guardHeader } from './change-meta.js';
import { GuardKeeper } from '../guard/guard-keeper.js';
import { GuardedStore } from '../guard/guarded-store.js';
import { EtcdGuardBoard } from '../guard/etcd-guard-board.js';
import { RouteTotals } from '../guard/route-counts.js';
import { INSTANCE } from '../history/revision-log.js';

export interface AdminAppOptions {
  /** Process-level metrics (CPU, memory, event loop); default true. */
  defaultMetrics?: boolean;
}

function adminVersion(): string {
  return packageVersion() ?? '0.0.0';
}

/** The admin settings of the context's configuration (the defaults when it has none). */
function adminSettings(ctx: AdminContext): AdminConfig {
  return ctx.config.admin || (resolveConfig({ admin: { listen: ctx.listen } }).admin as AdminConfig);
}

/** Builds the app without listening (tests use inject()). Reads the token files and TLS files of
 *  the configuration; throws ProxyError naming the setting when one is wrong. */
export function buildAdminApp(ctx: AdminContext, opts: AdminAppOptions = {}): FastifyInstance {
  const { host, port: configuredPort } = parseHostPort(ctx.listen, 'admin listen');
  const settings = adminSettings(ctx);
  const tokens = new TokenSet(configuredTokens(settings, ctx.token));
  const tls = settings.tls ? loadAdminTls(settings.tls) : undefined;
  const app = Fastify({
    ...(tls ? { https: tls.serverOptions } : {}),
    // at level silent Fastify gets no logger: given one, it loads pino for its serializers (issue 23)
    ...(ctx.logger.level === 'silent' ? {} : { loggerInstance: ctx.logger.child({ component: 'admin' }) as unknown as FastifyBaseLogger }),
    // mutations are logged by the onResponse hook below (path only, never the query string);
    // reads (probes, scrapes) are not
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 8 * 1024 * 1024,
    connectionTimeout: 10_000,
    requestTimeout: 10_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    exposeHeadRoutes: true,
    // validators and serializers compiled when first used, not at start (issue 23); giving both
    // compilers here also keeps Fastify from loading its default ones (Ajv, fast-json-stringify)
    schemaController: compilersOnFirstUse(validatorCompiler),
  }) as unknown as FastifyInstance;
  if (tls) {
    const logger = ctx.logger.child({ component: 'admin' });
    followCertificateStore(app.server as unknown as TlsServer, tls.store, { id: tls.store.id, handshakeTimeoutMs: tls.handshakeTimeoutMs, logger });
    const watcher = tls.watchFiles ? new CertificateWatcher(tls.store, tls.watchIntervalMs, logger) : undefined;
    app.addHook('onClose', async () => watcher?.close());
  }
  for (const s of sharedSchemas) app.addSchema(s);
  installProblemHandlers(app);
  installBodyDepthLimit(app);

  // the shared store (etcd) when the proxy follows one, else the config file
  const inner: RouteStore = (ctx.routeSource as unknown as RouteStore | undefined) ?? new AdminStore(ctx.dataPlane, ctx.configPath, ctx.logger.child({ component: 'admin' }), undefined, ctx.config.history.keep);
  // guarded changes (?guard=30s): judged here, once (admin/guard/)
  const totals = new RouteTotals();
  const shared = inner.shared?.();
  const board = shared && new EtcdGuardBoard({ ...shared, instance: INSTANCE, totals, plane: ctx.dataPlane, logger: ctx.logger.child({ component: 'guard' }) });
  const guards = new GuardKeeper({ store: inner, plane: ctx.dataPlane, logger: ctx.logger, instance: INSTANCE, totals, board });
  const store: RouteStore = new GuardedStore(inner, guards);
  app.addHook('onSend', guardHeader);
  app.addHook('onClose', async () => {
    guards.close();
    await board?.close();
  });
  const metrics = new AdminMetrics(ctx.dataPlane, { defaultMetrics: opts.defaultMetrics, store, acme: ctx.acme });
  store.observeResults((r) => metrics.changeResult(r));

  installAuth(app, {
    tokens,
    clients: tls?.clients ?? new Map(),
    openReads: resolveOpenReads(settings.openReads, host),
    metricsAuth: settings.metricsAuth,
    budget: new FailedAuthBudget(settings.failedAuth),
    delayMs: settings.failedAuth.delayMs,
    listenHost: host,
    port: () => {
      const a = app.server.address();
      return a && typeof a === 'object' ? a.port : configuredPort;
    },
    events: metrics.authEvents,
  });
  // the access log: every mutation, with who made it (the credential's name, never a token);
  // reads (probes, scrapes) are not logged, nor are requests refused for their credential (401,
  // 429: a flood of them would be a flood of lines; metrics count them, ./auth.ts warns once per
  // address)
  app.addHook('onResponse', async (request, reply) => {
    if (request.method === 'GET' || request.method === 'HEAD') return;
    if (!request.principal && (reply.statusCode === 401 || reply.statusCode === 429)) return;
    request.log.info({ method: request.method, url: pathOf(request), status: reply.statusCode, principal: request.principal?.name ?? null }, 'admin request');
  });

  app.register(async (root) => {
    await store.open();
    board?.start().catch((e: Error) => ctx.logger.warn({ err: e.message }, 'guard: cannot follow the fleet\'s guards in etcd; guards of other instances get no counts from this one'));
    const routes = recordRoutes(root);
    await root.register(healthPlugin, { plane: ctx.dataPlane });
    await root.register(metricsPlugin, { metrics });
    await root.register(statusPlugin, { prefix: '/v1', plane: ctx.dataPlane, store, guards });
    await root.register(routesPlugin, { prefix: '/v1', store });
    await root.register(configPlugin, { prefix: '/v1', store, config: ctx.config, token: ctx.token });
    await root.register(upstreamsPlugin, { prefix: '/v1', plane: ctx.dataPlane });
    await root.register(tlsPlugin, { prefix: '/v1', plane: ctx.dataPlane, acme: ctx.acme });
    await root.register(revisionsPlugin, { prefix: '/v1', store });
    await root.register(changesPlugin, { prefix: '/v1', store, heartbeatMs: ctx.config.history.heartbeatMs, maxSubscribers: ctx.config.history.maxSubscribers, guardEvents: (listener) => guards.on(listener) });
    await root.register(docsPlugin(routes, adminVersion()));
  });
  return app;
}
