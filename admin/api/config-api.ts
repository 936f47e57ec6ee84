// /v1/config: the whole configuration (GET) and its atomic replacement (PUT).
// Only the route list can change at run time. Other settings in a PUT body must equal the running
// ones (422 naming the first that differs: edit the file and restart for those); settings left out
// are unchanged. Secrets (admin tokens, forward-proxy passwords, the etcd password) are never served.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Config } from '../../src/config/config.js';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import type { RouteStore } from '../stores/route-store.js';
import { keep, normalizeRoute, sameRoute } from '../stores/file-store.js';
import { canonicalJson, checkIfMatch, configEtag, ifNoneMatchHits } from '../protocol/etag.js';
import { AdminProblem, methodNotAllowed, pointerToken, requireMediaType } from '../protocol/problem.js';
import { ifMatchHeaders, mutationQuery, noQuery, problemResponses } from '../protocol/schemas.js';
import { changeMeta } from './change-meta.js';

export interface ConfigPluginOptions {
  store: RouteStore;
  config: Config;
  token: string | undefined;
}

type DryRunQuery = { dryRun: boolean };
type Body = Record<string, unknown> & { routes: RouteSpec[] };
type JsonObject = Record<string, unknown>;

const isJsonObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The running configuration without secrets, with the current routes. */
export function configView(config: Config, routes: ReadonlyArray<Readonly<RouteSpec>>): Record<string, unknown> {
  const view: Config = structuredClone({ ...config, routes: [] });
  if (view.admin) {
    delete view.admin.token;
    for (const t of view.admin.tokens ?? []) delete t.token;
  }
  const forwardAuth: { realm: string; users?: Record<string, string> } | undefined = view.forwardProxy.auth;
  if (forwardAuth) delete forwardAuth.users;
  if (view.store.type === 'etcd' && view.store.auth) delete view.store.auth.password;
  return { ...view, routes };
}

/** Pointer to the first place where a and b differ ('' when they are equal: returns undefined). */
export function firstDifference(a: unknown, b: unknown, at = ''): string | undefined {
  if (canonicalJson(a) === canonicalJson(b)) return undefined;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of [...keys].sort()) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}/${pointerToken(k)}`);
      if (d !== undefined) return d;
    }
  }
  return at;
}

export const configPlugin: FastifyPluginAsync<ConfigPluginOptions> = async (app: FastifyInstance, { store, config, token }) => {
  app.removeContentTypeParser('text/plain');

  app.get('/config', {
    schema: {
      tags: ['config'],
      summary: 'The running configuration (secrets left out), its revision and ETag',
      querystring: noQuery,
      response: { 200: { $ref: 'ConfigDocument#' }, ...problemResponses },
    },
  }, async (request, reply) => {
    const s = store.snapshot();
    const etag = configEtag(s.revision, s.specs);
    reply.header('etag', etag).header('x-portico-revision', String(s.revision));
    if (ifNoneMatchHits(request.headers['if-none-match'], etag)) return reply.code(304).send();
    return { revision: s.revision, config: configView(config, s.specs) };
  });

  app.put<{ Body: Body; Querystring: DryRunQuery }>('/config', {
    preValidation: [
      requireMediaType('application/json'),
      // which settings the client wrote (validation fills in defaults for the others)
      async (request) => {
        const b = request.body;
        (request as unknown as { sentKeys: string[] }).sentKeys = isJsonObject(b) ? Object.keys(b) : [];
        const fp = isJsonObject(b) ? b.forwardProxy : undefined;
        (request as unknown as { sentUsers: boolean }).sentUsers = isJsonObject(fp) && isJsonObject(fp.auth) && 'users' in fp.auth;
      },
    ],
    schema: {
      tags: ['config'],
      summary: 'Replace the configuration atomically (the route list; other settings must match)',
      description: 'The body is the config file format. All or nothing: a rejected body changes nothing. If-Match compares with the ETag of GET /v1/config.',
      security: [{ bearerAuth: [] }],
      querystring: mutationQuery,
      headers: ifMatchHeaders,
      body: { $ref: 'Config#' },
      response: { 200: { oneOf: [{ $ref: 'ConfigDocument#' }, { $ref: 'DryRun#' }] }, ...problemResponses },
    },
  }, async (request, reply) => {
    const body: JsonObject = request.body;
    const sent = (request as unknown as { sentKeys: string[] }).sentKeys;
    const running = config as unknown as JsonObject;
    for (const key of sent) {
      if (key === 'routes') continue;
      const a = structuredClone(body[key]);
      const b = structuredClone(running[key]);
      if (key === 'admin') {
        if (isJsonObject(a) && a.token !== undefined && a.token !== token) {
          throw new AdminProblem(422, 'restart-required', '/admin/token cannot change at run time (edit the config file and restart)', { in: 'body', pointer: '/admin/token' });
        }
        if (isJsonObject(a)) delete a.token;
        if (isJsonObject(b)) delete b.token;
        // token values are never served either: an entry without one keeps the running one
        const aTokens = isJsonObject(a) ? a.tokens : undefined;
        const bTokens = isJsonObject(b) ? b.tokens : undefined;
        if (Array.isArray(aTokens) && Array.isArray(bTokens)) {
          aTokens.forEach((t: unknown, i) => {
            const running: unknown = bTokens[i];
            if (isJsonObject(t) && t.token === undefined && isJsonObject(running)) t.token = running.token;
          });
        }
      }
      const aAuth = isJsonObject(a) ? a.auth : undefined;
      const bAuth = isJsonObject(b) ? b.auth : undefined;
      if (key === 'forwardProxy' && isJsonObject(aAuth) && isJsonObject(bAuth) && !(request as unknown as { sentUsers: boolean }).sentUsers) aAuth.users = bAuth.users;
      // the etcd password is never served, so a body made from GET /v1/config does not hold it
      if (key === 'store' && isJsonObject(aAuth) && isJsonObject(bAuth) && aAuth.password === undefined) aAuth.password = bAuth.password;
      const where = firstDifference(a, b, `/${pointerToken(key)}`);
      if (where !== undefined) {
        throw new AdminProblem(422, 'restart-required', `${where} differs from the running value and cannot change at run time (only /routes can; edit the config file and restart for the rest)`, { in: 'body', pointer: where });
      }
    }
    const wanted = (body.routes as RouteSpec[]).map(normalizeRoute);
    const outcome = await store.change((cur) => {
      checkIfMatch(request.headers['if-match'], () => configEtag(cur.revision, cur.specs), 'the configuration');
      const byId = new Map(cur.specs.map((r) => [r.id, r]));
      const specs = wanted.map((w) => {
        const old = byId.get(w.id);
        return old && sameRoute(old, w) ? keep(old) : w;
      });
      const unchanged = specs.length === cur.specs.length && specs.every((s, i) => s.id === cur.specs[i].id && sameRoute(s, cur.specs[i]));
      return { specs: unchanged ? undefined : specs };
    }, request.query.dryRun, changeMeta(request));
    if (outcome.dryRun) return { dryRun: true, revision: outcome.revision, changed: outcome.changed, routes: outcome.specs };
    reply.header('etag', configEtag(outcome.revision, outcome.specs)).header('x-portico-revision', String(outcome.revision));
    return { revision: outcome.revision, config: configView(config, outcome.specs) };
  });

  methodNotAllowed(app, '/config', ['GET', 'PUT']);
};
