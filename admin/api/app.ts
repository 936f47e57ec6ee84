// The admin API as a Fastify app: one encapsulated plugin per resource, shared schemas, problem
// details for every error, bearer-token and Host checks in front of everything.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AdminContext } from './admin-context.js';
import { parseHostPort } from '../../src/config/config.js';
import { AdminStore } from '../stores/file-store.js';
import type { RouteStore } from '../stores/route-store.js';
import { statusPlugin } from './status-api.js';
import { installAuth } from './auth.js';
import { installProblemHandlers, pathOf } from './problem.js';
import { installBodyDepthLimit } from './body-depth.js';
import { sharedSchemas, validatorCompiler } from './schemas.js';
import { routesPlugin } from './routes-api.js';
import { configPlugin } from './config-api.js';
import { upstreamsPlugin } from './upstreams-api.js';
import { tlsPlugin } from './tls-api.js';
import { healthPlugin } from './health-api.js';
import { AdminMetrics, metricsPlugin } from '../metrics/metrics-api.js';
import { docsPlugin, registerOpenApi } from './docs-api.js';
import { revisionsPlugin } from './revisions-api.js';
import { changesPlugin } from './changes-api.js';
import { packageVersion } from '../../src/package-root.js';

export interface AdminAppOptions {
  /** Process-level metrics (CPU, memory, event loop); default true. */
  defaultMetrics?: boolean;
}

function adminVersion(): string {
  return packageVersion() ?? '0.0.0';
}

/** Builds the app without listening (tests use inject()). */
export function buildAdminApp(ctx: AdminContext, opts: AdminAppOptions = {}): FastifyInstance {
  const { host, port: configuredPort } = parseHostPort(ctx.listen, 'admin listen');
  const app = Fastify({
    loggerInstance: ctx.logger.child({ component: 'admin' }) as unknown as FastifyBaseLogger,
    // mutations are logged by the onResponse hook below (path only, never the query string);
    // reads (probes, scrapes) are not
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 8 * 1024 * 1024,
    connectionTimeout: 10_000,
    requestTimeout: 10_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    exposeHeadRoutes: true,
  });
  app.setValidatorCompiler(validatorCompiler);
  for (const s of sharedSchemas) app.addSchema(s);
  installProblemHandlers(app);
  installBodyDepthLimit(app);
  installAuth(app, {
    token: ctx.token,
    listenHost: host,
    port: () => {
      const a = app.server.address();
      return a && typeof a === 'object' ? a.port : configuredPort;
    },
  });
  app.addHook('onResponse', async (request, reply) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      request.log.info({ method: request.method, url: pathOf(request), status: reply.statusCode }, 'admin request');
    }
  });

  // the shared store (etcd) when the proxy follows one, else the config file
  const store: RouteStore = (ctx.routeSource as unknown as RouteStore | undefined) ?? new AdminStore(ctx.dataPlane, ctx.configPath, ctx.logger.child({ component: 'admin' }), undefined, ctx.config.history.keep);
  const metrics = new AdminMetrics(ctx.dataPlane, { defaultMetrics: opts.defaultMetrics, store });
  store.observeResults((r) => metrics.changeResult(r));

  app.register(async (root) => {
    await store.open();
    await registerOpenApi(root, adminVersion());
    await root.register(healthPlugin, { plane: ctx.dataPlane });
    await root.register(metricsPlugin, { metrics });
    await root.register(statusPlugin, { prefix: '/v1', plane: ctx.dataPlane, store });
    await root.register(routesPlugin, { prefix: '/v1', store });
    await root.register(configPlugin, { prefix: '/v1', store, config: ctx.config, token: ctx.token });
    await root.register(upstreamsPlugin, { prefix: '/v1', plane: ctx.dataPlane });
    await root.register(tlsPlugin, { prefix: '/v1', plane: ctx.dataPlane });
    await root.register(revisionsPlugin, { prefix: '/v1', store });
    await root.register(changesPlugin, { prefix: '/v1', store, heartbeatMs: ctx.config.history.heartbeatMs, maxSubscribers: ctx.config.history.maxSubscribers });
    await root.register(docsPlugin);
  });
  return app;
}
