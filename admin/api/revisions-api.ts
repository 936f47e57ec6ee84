// /v1/revisions: the route history (admin/history/). List the kept revisions (newest first, by
// pages), read one revision's routes, compare two revisions, and roll back: a NEW revision whose
// routes equal an earlier one's, applied like any change (validated, persisted, in every worker
// before the answer; with etcd the fleet follows), honouring If-Match and ?dryRun=true.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import type { RouteStore } from '../stores/route-store.js';
import { keep } from '../stores/file-store.js';
import { RevisionGone, diffOf, sameRoutes, type RevisionLog, type RevisionRecord } from '../history/revision-log.js';
import { diffRoutes, sameSpec, type RouteDiff } from '../history/route-diff.js';
import { checkIfMatch, configEtag, ifNoneMatchHits } from '../protocol/etag.js';
import { AdminProblem, methodNotAllowed } from '../protocol/problem.js';
import { ifMatchHeaders, mutationQuery, problemResponses } from '../protocol/schemas.js';
import { changeMeta, tokenName } from './change-meta.js';

export interface RevisionsPluginOptions {
  store: RouteStore;
}

type Routes = ReadonlyArray<Readonly<RouteSpec>>;
type RevParams = { rev: number };

export const MAX_PAGE = 1000;
const DEFAULT_PAGE = 20;

const revParams = {
  type: 'object',
  additionalProperties: false,
  required: ['rev'],
  properties: { rev: { type: 'integer', minimum: 1, description: 'a revision number' } },
} as const;

/** What every view of a revision says about it. */
function metaOf(r: RevisionRecord) {
  return {
    revision: r.revision, previous: r.previous, time: r.time, source: r.source,
    ...(r.message !== undefined ? { message: r.message } : {}),
    routes: r.routes, hash: r.hash,
    ...(r.initial ? { initial: true } : {}),
    ...(r.guard ? { guard: r.guard } : {}),
  };
}

/** The summary of a record, as listed. */
export function summaryOf(r: RevisionRecord) {
  return { ...metaOf(r), added: r.initial ? r.routes : r.added.length, removed: r.removed.length, changed: r.changed.length, reordered: r.order !== undefined };
}

/** The routes of `rev`, or the problem that says why there are none (`where`: the request part). */
export function routesOf(log: RevisionLog, rev: number, where: { in: 'params' | 'querystring'; pointer: string }): Routes {
  if (rev === 0 && where.in === 'querystring') return [];
  let routes: Routes | undefined;
  try {
    routes = log.routesAt(rev);
  } catch (e) {
    if (e instanceof RevisionGone) throw new AdminProblem(410, 'gone', e.message, where);
    throw e;
  }
  if (!routes) {
    const range = log.oldest !== undefined ? ` (kept: ${log.oldest} to ${log.head!.revision})` : '';
    throw new AdminProblem(404, 'not-found', `no revision ${rev} in the route history${range}`, where);
  }
  return routes;
}

export function diffBody(from: number, to: number, d: RouteDiff) {
  return { from, to, added: d.added, removed: d.removed, changed: d.changed, ...(d.order ? { order: d.order } : {}) };
}

/** The new list for a rollback: `target`'s routes, reusing the running route objects that are
 *  equal (the route table then keeps their compiled routes and balancer state). */
function restore(current: Routes, target: Routes): RouteSpec[] {
  const byId = new Map(current.map((r) => [r.id, r]));
  return target.map((t) => {
    const now = byId.get(t.id);
    return keep(now && sameSpec(now, t) ? now : structuredClone(t));
  });
}

export const revisionsPlugin: FastifyPluginAsync<RevisionsPluginOptions> = async (app: FastifyInstance, { store }) => {
  const log = store.history;

  app.get<{ Querystring: { limit: number; before?: number } }>('/revisions', {
    schema: {
      tags: ['history'],
      summary: 'The kept revisions of the routes, newest first (paginated)',
      description: 'Each: number, time, source (who: admin token name, rollback, guard, file, etcd, import), message, and how many routes it added, removed and changed. Pages: ?limit (default 20) and ?before=REV; the next page is in `next` and in Link: rel="next".',
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: DEFAULT_PAGE, description: 'revisions per page' },
          before: { type: 'integer', minimum: 1, description: 'only revisions older than this one (the next page)' },
        },
      },
      response: { 200: { $ref: 'RevisionPage#' }, ...problemResponses },
    },
  }, async (request, reply) => {
    const { limit, before } = request.query;
    const page = log.page(before, limit);
    const last = page.at(-1);
    const more = last !== undefined && log.oldest !== undefined && last.revision > log.oldest;
    const next = more ? `/v1/revisions?before=${last.revision}&limit=${limit}` : undefined;
    if (next) reply.header('link', `<${next}>; rel="next"`);
    return {
      current: store.snapshot().revision, oldest: log.oldest ?? null, keep: log.keep,
      revisions: page.map(summaryOf), ...(next ? { next } : {}),
    };
  });

  app.get<{ Params: RevParams }>('/revisions/:rev', {
    schema: {
      tags: ['history'],
      summary: 'One kept revision and its whole route set',
      description: 'ETag: as GET /v1/routes had it at that revision. 404: no such revision; 410: older than the history keeps.',
      params: revParams,
      querystring: { type: 'object', additionalProperties: false, properties: {} },
      response: { 200: { $ref: 'RevisionRoutes#' }, ...problemResponses },
    },
  }, async (request, reply) => {
    const { rev } = request.params;
    const routes = routesOf(log, rev, { in: 'params', pointer: '/rev' });
    const record = log.find(rev)!; // every kept revision has its record
    const etag = configEtag(rev, routes);
    reply.header('etag', etag);
    if (ifNoneMatchHits(request.headers['if-none-match'], etag)) return reply.code(304).send();
    return { ...metaOf(record), routes };
  });

  app.get<{ Params: RevParams; Querystring: { from?: number } }>('/revisions/:rev/diff', {
    schema: {
      tags: ['history'],
      summary: 'What changed between two revisions: routes added, removed, changed (and which members)',
      description: '?from=R (default: the revision before; 0: no routes, so every route is added). `from` may be newer than `rev` (the diff then goes backwards).',
      params: revParams,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { from: { type: 'integer', minimum: 0, description: 'the revision to compare with (default: the one before)' } },
      },
      response: { 200: { $ref: 'RouteDiff#' }, ...problemResponses },
    },
  }, async (request) => {
    const { rev } = request.params;
    const to = routesOf(log, rev, { in: 'params', pointer: '/rev' });
    const record = log.find(rev);
    const from = request.query.from;
    if (from === undefined) {
      if (record && !record.initial) return diffBody(record.previous ?? 0, rev, record);
      if (record?.initial) return diffBody(0, rev, diffOf(record, to));
      throw new AdminProblem(404, 'not-found', `revision ${rev} has no earlier revision kept: pass ?from=REV`, { in: 'querystring', pointer: '/from' });
    }
    const older = routesOf(log, from, { in: 'querystring', pointer: '/from' });
    if (record && record.previous === from && !record.initial) return diffBody(from, rev, record);
    return diffBody(from, rev, diffRoutes(older, to));
  });

  app.post<{ Params: RevParams; Querystring: { dryRun: boolean } }>('/revisions/:rev/rollback', {
    schema: {
      tags: ['history'],
      summary: 'Roll back: a new revision whose routes equal revision {rev}\'s',
      description: 'Applied like any change: validated (422 if those routes are not valid now), persisted, and running in every worker before the answer (with etcd the fleet follows). If-Match is compared with the ETag of GET /v1/routes (412 when the routes moved on). ?dryRun=true answers the diff it would apply. ?guard=30s watches it like any guarded write. Routes that equal the running ones keep their state (round-robin position, upstream health).',
      security: [{ bearerAuth: [] }],
      params: revParams,
      querystring: mutationQuery,
      headers: ifMatchHeaders,
      response: { 200: { $ref: 'Rollback#' }, ...problemResponses },
    },
  }, async (request, reply) => {
    const { rev } = request.params;
    // a quick answer for a revision that is not kept (checked again inside the change)
    routesOf(log, rev, { in: 'params', pointer: '/rev' });
    let before: Routes = [];
    let beforeRevision = 0;
    const outcome = await store.change((cur) => {
      checkIfMatch(request.headers['if-match'], () => configEtag(cur.revision, cur.specs), 'the route list');
      before = cur.specs;
      beforeRevision = cur.revision;
      const specs = restore(cur.specs, routesOf(log, rev, { in: 'params', pointer: '/rev' }));
      return { specs: sameRoutes(specs, cur.specs) ? undefined : specs };
    }, request.query.dryRun, changeMeta(request, { kind: 'rollback', token: tokenName(request), to: rev }));
    const diff = outcome.record ?? diffRoutes(before, outcome.specs);
    if (!outcome.dryRun) reply.header('etag', configEtag(outcome.revision, outcome.specs)).header('x-portico-revision', String(outcome.revision));
    return {
      revision: outcome.revision, rolledBackTo: rev, applied: outcome.changed && !outcome.dryRun, dryRun: outcome.dryRun,
      diff: diffBody(beforeRevision, outcome.revision, diff),
    };
  });

  methodNotAllowed(app, '/revisions', ['GET']);
  methodNotAllowed(app, '/revisions/:rev', ['GET']);
  methodNotAllowed(app, '/revisions/:rev/diff', ['GET']);
  methodNotAllowed(app, '/revisions/:rev/rollback', ['POST']);
};
