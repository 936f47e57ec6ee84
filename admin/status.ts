// /v1/status: the revision and every data-plane process (one entry in one-process mode);
// POST /v1/workers/restart: rolling restart of the workers (as SIGHUP to the primary).
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { DataPlane } from '../src/cluster/data-plane.js';
import { AdminProblem, methodNotAllowed } from './problem.js';
import { noQuery, problemResponses } from './schemas.js';

export interface StatusPluginOptions {
  plane: DataPlane;
}

const nullableInt = { type: ['integer', 'null'] } as const;

const statusBody = {
  type: 'object',
  required: ['revision', 'workers'],
  properties: {
    revision: { type: 'integer', description: 'revision of the route configuration (acknowledged by every live worker)' },
    mode: { enum: ['single', 'cluster'], description: 'single: one process (workers: 1); cluster: a primary and N workers' },
    rollingRestart: {
      type: 'object',
      description: 'the last rolling restart (SIGHUP or POST /v1/workers/restart)',
      properties: {
        state: { enum: ['running', 'done', 'failed'] },
        startedAt: { type: 'string' },
        finishedAt: { type: 'string' },
        error: { type: 'string' },
      },
    },
    workers: {
      type: 'array',
      items: {
        type: 'object',
        required: ['pid', 'revision', 'uptimeS', 'connections', 'restarts'],
        properties: {
          slot: { type: 'integer' },
          pid: nullableInt,
          state: { enum: ['starting', 'ready', 'draining', 'backoff'] },
          revision: nullableInt,
          uptimeS: { type: 'number' },
          connections: nullableInt,
          restarts: { type: 'integer', description: 'times this slot was refilled after its worker died' },
          crashes: { type: 'integer', description: 'crash loop: early deaths in a row' },
          nextStartInMs: { type: 'integer', description: 'crash loop: when the slot is started again' },
        },
      },
    },
  },
} as const;

export const statusPlugin: FastifyPluginAsync<StatusPluginOptions> = async (app: FastifyInstance, { plane }) => {
  app.get('/status', {
    schema: { tags: ['status'], summary: 'Route revision and the data-plane processes (pid, revision, uptime, connections, restarts)', querystring: noQuery, response: { 200: statusBody, ...problemResponses } },
  }, async () => plane.status());

  app.post('/workers/restart', {
    schema: {
      tags: ['status'],
      summary: 'Replace the workers one at a time (rolling restart; no connection is refused)',
      description: 'Answers 202 at once (a restart takes seconds per worker: start, listen, drain the old one); GET /v1/status shows its progress in `rollingRestart` and the workers\' states. A call while one runs joins it.',
      security: [{ bearerAuth: [] }],
      querystring: noQuery,
      response: { 202: statusBody, ...problemResponses },
    },
  }, async (_request, reply) => {
    if (!plane.restartWorkers) {
      throw new AdminProblem(409, 'conflict', 'Portico runs as one process (workers: 1): there are no workers to replace; start it with --workers N to use them');
    }
    plane.restartWorkers().catch(() => {}); // the outcome is logged and shown in /v1/status
    return reply.code(202).header('location', '/v1/status').send(await plane.status());
  });

  methodNotAllowed(app, '/status', ['GET']);
  methodNotAllowed(app, '/workers/restart', ['POST']);
};
