// GET /v1/status: the instance's state for operators: the revision, every data-plane process (one
// entry in one-process mode) and the route store (connected, since when). Clients must ignore
// members they do not know. POST /v1/workers/restart: rolling restart of the workers (as SIGHUP
// to the primary).
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { DataPlane } from '../../src/contract/data-plane.js';
import type { RouteStore } from '../stores/route-store.js';
import type { GuardKeeper } from '../guard/guard-keeper.js';
import { AdminProblem, methodNotAllowed } from '../protocol/problem.js';
import { noQuery, problemResponses } from '../protocol/schemas.js';

export interface StatusPluginOptions {
  plane: DataPlane;
  store: RouteStore;
  /** Guarded changes (absent: none are shown). */
  guards?: Pick<GuardKeeper, 'status'>;
}

const counts = {
  type: 'object',
  properties: { requests: { type: 'integer' }, errors: { type: 'integer', description: '5xx answers (generated or relayed) and retried upstream connect failures' } },
} as const;

const guardBody = {
  type: 'object',
  properties: {
    revision: { type: 'integer', description: 'the guarded revision' },
    routes: { type: 'array', items: { type: 'string' }, description: 'the routes it added or changed: those watched' },
    state: { enum: ['watching', 'passed', 'rolled-back', 'superseded', 'abandoned', 'failed'] },
    since: { type: 'string', format: 'date-time' },
    until: { type: 'string', format: 'date-time', description: 'when the window ends' },
    windowMs: { type: 'integer' },
    maxErrorRate: { type: 'number' },
    minRequests: { type: 'integer' },
    before: { ...counts, description: 'the routes\' counts over the span before the change (its length, at most 5 minutes)' },
    after: { ...counts, description: 'their counts since the change, so far (every worker\'s; with etcd, every instance\'s that reported)' },
    byRoute: {
      type: 'object', description: 'with more than one route: each one\'s counts (any route alone can decide a rollback)',
      additionalProperties: { type: 'object', properties: { before: counts, after: counts } },
    },
    instances: { type: 'integer', description: 'etcd fleet: instances whose counts are included' },
    judge: { type: 'string', description: 'the instance (host:pid) that judges it: the one that accepted the write' },
    endedAt: { type: 'string', format: 'date-time' },
    by: { type: 'integer', description: 'rolled-back: the revision that undid it; superseded: the newer revision' },
    reason: { type: 'string' },
  },
} as const;

const nullableInt = { type: ['integer', 'null'] } as const;

const statusBody = {
  type: 'object',
  required: ['revision', 'workers', 'store'],
  additionalProperties: true,
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
    upstreams: {
      type: 'array',
      description: 'each route\'s upstreams: whether it takes new requests, its active health check, an outlier ejection in force (docs/traffic-policy.md)',
      items: {
        type: 'object',
        required: ['route', 'upstream', 'available'],
        properties: {
          route: { type: 'string' },
          upstream: { type: 'string', description: 'host:port' },
          available: { type: 'boolean', description: 'takes new requests: not ejected and healthy by the route\'s check' },
          check: {
            type: 'object',
            description: 'the route\'s active health check of it (absent: the route has none)',
            properties: {
              healthy: { type: 'boolean' },
              since: { type: 'string', format: 'date-time', description: 'when healthy last changed (or the start)' },
              last: { type: 'string', description: 'the last probe\'s outcome: a status, timeout, or an error code' },
              lastAt: { type: 'string', format: 'date-time' },
              why: { type: 'string', description: 'why it is unhealthy' },
            },
          },
          ejected: {
            type: 'object',
            description: 'an outlier ejection in force',
            properties: {
              until: { type: 'string', format: 'date-time' },
              why: { type: 'string', description: 'the failure that ejected it' },
              workers: { type: 'array', items: { type: 'integer' }, description: 'with workers: the workers that have it ejected (each keeps its own passive state)' },
            },
          },
        },
      },
    },
    guards: { type: 'array', items: guardBody, description: 'guarded changes in progress (?guard=): on an etcd fleet, those other instances judge as well (their counts are with their judge)' },
    recentGuards: { type: 'array', items: guardBody, description: 'the last 10 guards this instance judged that ended: passed, rolled back, superseded, abandoned or failed' },
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

export const statusPlugin: FastifyPluginAsync<StatusPluginOptions> = async (app: FastifyInstance, { plane, store, guards }) => {
  const status = async () => {
    const g = guards?.status();
    return { ...(await plane.status()), store: store.status(), ...(g ? { guards: g.active, recentGuards: g.recent } : {}) };
  };
  app.get('/status', {
    schema: { tags: ['status'], summary: 'Route revision, the data-plane processes (pid, revision, uptime, connections, restarts), the route store (connected, since when) and the guarded changes (in progress, recently ended)', querystring: noQuery, response: { 200: statusBody, ...problemResponses } },
  }, status);

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
    return reply.code(202).header('location', '/v1/status').send(await status());
  });

  methodNotAllowed(app, '/status', ['GET']);
  methodNotAllowed(app, '/workers/restart', ['POST']);
};
