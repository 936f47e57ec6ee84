// /v1/upstreams: the origins the running routes use, with their pool state (read-only; upstreams
// are changed through the routes that name them).
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { DataPlane } from '../../src/contract/data-plane.js';
import { methodNotAllowed } from '../protocol/problem.js';
import { noQuery, problemResponses } from '../protocol/schemas.js';

export interface UpstreamsPluginOptions {
  plane: DataPlane;
}

const upstreamList = {
  type: 'object',
  required: ['revision', 'upstreams'],
  properties: {
    revision: { type: 'integer' },
    upstreams: {
      type: 'array',
      items: {
        type: 'object',
        required: ['authority', 'routes'],
        properties: {
          authority: { type: 'string', description: 'host:port of the origin (the pool key)' },
          routes: { type: 'array', items: { type: 'string' }, description: 'ids of the routes that use it' },
          pool: {
            type: 'object',
            properties: {
              active: { type: 'integer' }, idle: { type: 'integer' }, waiting: { type: 'integer' },
              created: { type: 'integer' }, reused: { type: 'integer' },
            },
          },
        },
      },
    },
  },
} as const;

export const upstreamsPlugin: FastifyPluginAsync<UpstreamsPluginOptions> = async (app: FastifyInstance, { plane }) => {
  app.get('/upstreams', {
    schema: { tags: ['upstreams'], summary: 'Origins used by the running routes, with pool state (summed over workers)', querystring: noQuery, response: { 200: upstreamList, ...problemResponses } },
  }, async () => {
    const table = plane.routes.current;
    const pools = new Map((await plane.stats()).pools.map((p) => [p.authority, p]));
    const byAuthority = new Map<string, string[]>();
    for (const r of table.routes) {
      for (const t of r.balancer.targets) {
        const ids = byAuthority.get(t.origin.authority) ?? [];
        if (!ids.includes(r.id)) ids.push(r.id);
        byAuthority.set(t.origin.authority, ids);
      }
    }
    return {
      revision: table.revision,
      upstreams: [...byAuthority].map(([authority, routes]) => {
        const p = pools.get(authority);
        return { authority, routes, ...(p ? { pool: { active: p.active, idle: p.idle, waiting: p.waiting, created: p.created, reused: p.reused } } : {}) };
      }),
    };
  });
  methodNotAllowed(app, '/upstreams', ['GET']);
};
