// Liveness and readiness probes.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { DataPlane } from '../../src/contract/data-plane.js';
import { noQuery } from '../protocol/schemas.js';

export interface HealthPluginOptions {
  plane: DataPlane;
}

const statusSchema = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string' },
    revision: { type: 'integer' },
    routes: { type: 'integer' },
    checks: { type: 'object', properties: { proxyListening: { type: 'boolean' }, configLoaded: { type: 'boolean' } } },
  },
} as const;

export const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (app: FastifyInstance, { plane }) => {
  // probes answer anyone (orchestrators probe without credentials): ./access-policy.ts
  app.get('/healthz', {
    config: { access: 'public' },
    schema: { tags: ['health'], summary: 'Liveness: the process answers', security: [], querystring: noQuery, response: { 200: statusSchema } },
  }, async () => ({ status: 'ok' }));

  app.get('/readyz', {
    config: { access: 'public' },
    schema: {
      tags: ['health'],
      summary: 'Readiness: the proxy listens and its configuration is loaded (503 otherwise)',
      security: [],
      querystring: noQuery,
      response: { 200: statusSchema, 503: statusSchema },
    },
  }, async (_request, reply) => {
    const table = plane.routes.current;
    // the admin app exists only once the config has been loaded and validated
    const checks = { proxyListening: plane.ready, configLoaded: true };
    const ok = checks.proxyListening && checks.configLoaded;
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', revision: table.revision, routes: table.routes.length, checks });
  });
};
