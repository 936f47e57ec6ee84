// /v1/routes: list, get, create (POST), replace (PUT), merge-patch (PATCH), delete.
// Every mutation goes through the store (one writer, all-or-nothing) and takes ?dryRun=true.
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import type { RouteStore } from '../stores/route-store.js';
import { keep, normalizeRoute, sameRoute, type ChangeOutcome, type ChangePlan } from '../stores/file-store.js';
import { checkIfMatch, configEtag, ifNoneMatchHits, routeEtag } from '../protocol/etag.js';
import { AdminProblem, describeAjvError, methodNotAllowed, requireMediaType } from '../protocol/problem.js';
import { idParams, ifMatchHeaders, mutationQuery, noQuery, problemResponses, validateRoute } from '../protocol/schemas.js';
import { changeMeta } from './change-meta.js';
import type { ChangeMeta } from '../history/revision-log.js';

export interface RoutesPluginOptions {
  store: RouteStore;
}

type IdParams = { id: string };
type DryRunQuery = { dryRun: boolean };

const MERGE_PATCH = 'application/merge-patch+json';
const JSON_TYPE = 'application/json';

/** Pointer mapping for a change about the route at `index` of the new list. */
function focusOn(index: number): ChangePlan['mapPointer'] {
  return (path, specs) => {
    const m = /^\/routes\/(\d+)(\/.*)?$/.exec(path);
    if (!m) return { pointer: path };
    const i = Number(m[1]);
    if (i === index) return { pointer: m[2] ?? '' };
    // another route is involved (e.g. two routes that match the same requests)
    return { pointer: '', route: specs[i]?.id };
  };
}

function dryRunBody(o: ChangeOutcome, route?: Readonly<RouteSpec>) {
  return { dryRun: true, revision: o.revision, changed: o.changed, ...(route ? { route } : {}), routes: o.specs };
}

/** ETag of the route and the revision that holds it (from the change's outcome: another change
 *  may already be applied by the time the reply is sent). */
function setEtags(reply: FastifyReply, revision: number, spec: Readonly<RouteSpec>): void {
  reply.header('etag', routeEtag(spec)).header('x-portico-revision', String(revision));
}

const security = [{ bearerAuth: [] }];

export const routesPlugin: FastifyPluginAsync<RoutesPluginOptions> = async (app: FastifyInstance, { store }) => {
  // only JSON bodies here (text/plain would otherwise parse and fail as a schema error)
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(MERGE_PATCH, { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));

  app.get('/routes', {
    schema: {
      tags: ['routes'],
      summary: 'List routes (in match-tie order)',
      querystring: noQuery,
      response: { 200: { $ref: 'RouteList#' }, ...problemResponses },
    },
  }, async (request, reply) => {
    const s = store.snapshot();
    const etag = configEtag(s.revision, s.specs);
    reply.header('etag', etag).header('x-portico-revision', String(s.revision));
    if (ifNoneMatchHits(request.headers['if-none-match'], etag)) return reply.code(304).send();
    return { revision: s.revision, routes: s.specs };
  });

  app.get<{ Params: IdParams }>('/routes/:id', {
    schema: {
      tags: ['routes'],
      summary: 'Get one route (ETag: its strong validator)',
      params: idParams,
      querystring: noQuery,
      response: { 200: { $ref: 'Route#' }, ...problemResponses },
    },
  }, async (request, reply) => {
    const s = store.snapshot();
    const spec = s.specs.find((r) => r.id === request.params.id);
    if (!spec) throw new AdminProblem(404, 'not-found', `no route with id ${JSON.stringify(request.params.id)}`, { in: 'params', pointer: '/id' });
    setEtags(reply, s.revision, spec);
    if (ifNoneMatchHits(request.headers['if-none-match'], routeEtag(spec))) return reply.code(304).send();
    return spec;
  });

  app.post<{ Body: RouteSpec; Querystring: DryRunQuery }>('/routes', {
    preValidation: requireMediaType(JSON_TYPE),
    schema: {
      tags: ['routes'],
      summary: 'Create a route (appended; 409 if the id exists)',
      description: 'If-Match, when sent, is compared with the global ETag of GET /v1/routes.',
      security,
      querystring: mutationQuery,
      headers: ifMatchHeaders,
      body: { $ref: 'Route#' },
      response: { 200: { $ref: 'DryRun#' }, 201: { $ref: 'Route#' }, ...problemResponses },
    },
  }, async (request, reply) => {
    const route = normalizeRoute(request.body);
    const outcome = await store.change((cur) => {
      checkIfMatch(request.headers['if-match'], () => configEtag(cur.revision, cur.specs), 'the route list');
      if (cur.specs.some((r) => r.id === route.id)) {
        throw new AdminProblem(409, 'conflict', `a route with id ${JSON.stringify(route.id)} already exists (PUT /v1/routes/${route.id} replaces it)`, { in: 'body', pointer: '/id' });
      }
      const specs = [...cur.specs.map(keep), route];
      return { specs, mapPointer: focusOn(specs.length - 1) };
    }, request.query.dryRun, changeMeta(request));
    const stored = outcome.specs.find((r) => r.id === route.id)!;
    if (outcome.dryRun) return dryRunBody(outcome, stored);
    reply.header('location', `/v1/routes/${encodeURIComponent(route.id)}`);
    setEtags(reply, outcome.revision, stored);
    return reply.code(201).send(stored);
  });

  /** Replace (PUT) or patch (PATCH) the route `id` with what `next` makes of the current one. */
  async function update(id: string, ifMatch: string | string[] | undefined, dryRun: boolean, meta: ChangeMeta, next: (cur: Readonly<RouteSpec>) => RouteSpec, reply: FastifyReply) {
    let index = -1;
    const outcome = await store.change((cur) => {
      index = cur.specs.findIndex((r) => r.id === id);
      const existing = index >= 0 ? cur.specs[index] : undefined;
      checkIfMatch(ifMatch, existing ? routeEtag(existing) : undefined, `route ${JSON.stringify(id)}`);
      if (!existing) throw new AdminProblem(404, 'not-found', `no route with id ${JSON.stringify(id)} (POST /v1/routes creates one)`, { in: 'params', pointer: '/id' });
      const replacement = next(existing);
      if (sameRoute(replacement, existing)) return { specs: undefined };
      const specs = cur.specs.map((r, i) => (i === index ? replacement : keep(r)));
      return { specs, mapPointer: focusOn(index) };
    }, dryRun, meta);
    const stored = outcome.specs.find((r) => r.id === id)!;
    if (outcome.dryRun) return dryRunBody(outcome, stored);
    setEtags(reply, outcome.revision, stored);
    return reply.code(200).send(stored);
  }

  app.put<{ Params: IdParams; Body: Partial<RouteSpec>; Querystring: DryRunQuery }>('/routes/:id', {
    preValidation: requireMediaType(JSON_TYPE),
    schema: {
      tags: ['routes'],
      summary: 'Replace a route (404 if it does not exist)',
      security,
      params: idParams,
      querystring: mutationQuery,
      headers: ifMatchHeaders,
      body: { $ref: 'RouteReplace#' },
      response: { 200: { oneOf: [{ $ref: 'Route#' }, { $ref: 'DryRun#' }] }, ...problemResponses },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    if (request.body.id !== undefined && request.body.id !== id) {
      throw new AdminProblem(400, 'schema', `/id must equal the id in the URL (${JSON.stringify(id)}); to rename, POST the new route and DELETE the old one`, { in: 'body', pointer: '/id' });
    }
    const replacement = normalizeRoute({ ...request.body, id } as RouteSpec);
    return update(id, request.headers['if-match'], request.query.dryRun, changeMeta(request), () => replacement, reply);
  });

  app.patch<{ Params: IdParams; Body: Record<string, unknown>; Querystring: DryRunQuery }>('/routes/:id', {
    preValidation: requireMediaType(MERGE_PATCH, JSON_TYPE),
    schema: {
      tags: ['routes'],
      summary: 'Change members of a route with a JSON merge patch (RFC 7396)',
      description: 'Content-Type application/merge-patch+json (or application/json). `null` removes a member.',
      consumes: [MERGE_PATCH, JSON_TYPE],
      security,
      params: idParams,
      querystring: mutationQuery,
      headers: ifMatchHeaders,
      body: { $ref: 'RoutePatch#' },
      response: { 200: { oneOf: [{ $ref: 'Route#' }, { $ref: 'DryRun#' }] }, ...problemResponses },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    const patch = request.body;
    if ('id' in patch && patch.id !== id) {
      throw new AdminProblem(400, 'schema', `/id cannot be changed by PATCH (it is ${JSON.stringify(id)})`, { in: 'body', pointer: '/id' });
    }
    return update(id, request.headers['if-match'], request.query.dryRun, changeMeta(request), (cur) => {
      const merged = mergePatch(structuredClone(cur), patch) as Record<string, unknown>;
      if (!validateRoute(merged)) {
        const errors = validateRoute.errors!.map(describeAjvError);
        throw new AdminProblem(400, 'schema', `the patched route is invalid: ${errors[0].detail}`, { in: 'body', pointer: errors[0].pointer, errors });
      }
      return normalizeRoute(merged as unknown as RouteSpec);
    }, reply);
  });

  app.delete<{ Params: IdParams; Querystring: DryRunQuery }>('/routes/:id', {
    schema: {
      tags: ['routes'],
      summary: 'Delete a route',
      security,
      params: idParams,
      querystring: mutationQuery,
      headers: ifMatchHeaders,
      response: { 200: { $ref: 'DryRun#' }, 204: { type: 'null', description: 'deleted' }, ...problemResponses },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    const outcome = await store.change((cur) => {
      const existing = cur.specs.find((r) => r.id === id);
      checkIfMatch(request.headers['if-match'], existing ? routeEtag(existing) : undefined, `route ${JSON.stringify(id)}`);
      if (!existing) throw new AdminProblem(404, 'not-found', `no route with id ${JSON.stringify(id)}`, { in: 'params', pointer: '/id' });
      return { specs: cur.specs.filter((r) => r.id !== id).map(keep) };
    }, request.query.dryRun, changeMeta(request));
    if (outcome.dryRun) return dryRunBody(outcome);
    reply.header('x-portico-revision', String(outcome.revision));
    return reply.code(204).send();
  });

  methodNotAllowed(app, '/routes', ['GET', 'POST']);
  methodNotAllowed(app, '/routes/:id', ['GET', 'PUT', 'PATCH', 'DELETE']);
};

/** RFC 7396 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
