// GET /v1/status: the instance's state for operators. Members are added by the parts that own
// them (`store` here; worker processes add `workers`): clients must ignore members they do not know.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { ProxyServer } from '../src/proxy/proxy-server.js';
import type { RouteStore } from './route-store.js';
import { noQuery, problemResponses } from './schemas.js';

export interface StatusPluginOptions {
  proxy: ProxyServer;
  store: RouteStore;
}

const statusSchema = {
  type: 'object',
  required: ['revision', 'store'],
  additionalProperties: true,
  properties: {
    revision: { type: 'integer', description: 'revision of the running route table' },
    store: {
      type: 'object',
      required: ['type', 'connected', 'since', 'revision'],
      additionalProperties: true,
      properties: {
        type: { enum: ['file', 'etcd'] },
        connected: { type: 'boolean', description: 'false while the store cannot be reached (the last table keeps serving)' },
        since: { type: 'string', format: 'date-time', description: 'when `connected` last changed' },
        revision: { type: 'integer' },
        endpoints: { type: 'array', items: { type: 'string' } },
        prefix: { type: 'string' },
        path: { type: 'string' },
        lastError: { type: 'string' },
      },
    },
  },
} as const;

export const statusPlugin: FastifyPluginAsync<StatusPluginOptions> = async (app: FastifyInstance, { proxy, store }) => {
  app.get('/status', {
    schema: {
      tags: ['health'],
      summary: 'Instance status: running revision and the route store (connected, since when)',
      querystring: noQuery,
      response: { 200: statusSchema, ...problemResponses },
    },
  }, async () => ({ revision: proxy.revision, store: store.status() }));
};
