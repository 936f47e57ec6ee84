// JSON Schemas of the admin API, derived from the proxy's own route and config schemas so there is
// one source of truth. They are registered as shared schemas ($id = OpenAPI component name) and
// used for validation (Ajv, below), serialisation (fast-json-stringify: response schemas drop
// anything they do not name) and the OpenAPI document (@fastify/swagger). Validators are compiled
// on first use, and Ajv is loaded then (./compile-on-first-use.ts).
import { createRequire } from 'node:module';
import type { Ajv, ValidateFunction } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';
import { validatorOnFirstUse } from './compile-on-first-use.js';
import { MAX_ROUTES, routeSpecSchema, ROUTE_ID_PATTERN } from '../../src/routing/route-spec.js';
import { configSchema } from '../../src/config/schema.js';
import { MAX_MESSAGE_CHARS, MESSAGE_HEADER, guardQueryProperties, historySchemas } from './history-schemas.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Deep copy without `$id`s (the source schemas carry their own, which would clash). */
function withoutIds<T>(schema: T): T {
  const strip = (v: Json): Json => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') {
      const out: Record<string, Json> = {};
      for (const [k, x] of Object.entries(v)) if (k !== '$id') out[k] = strip(x);
      return out;
    }
    return v;
  };
  return strip(schema as unknown as Json) as unknown as T;
}

const route = withoutIds(routeSpecSchema) as unknown as Record<string, unknown> & { properties: Record<string, unknown>; required: string[] };

export const RouteSchema = {
  ...route,
  $id: 'Route',
  title: 'Route',
  description: 'A route: requests whose host and path prefix (and optional method/header conditions) match go to one of its upstreams.',
};

/** PUT body: the id may be left out (it is in the URL); when given it must equal the URL's. */
export const RouteReplaceSchema = {
  ...route,
  $id: 'RouteReplace',
  title: 'RouteReplace',
  description: 'A whole route (replaces the stored one). `id` may be omitted; when present it must equal the id in the URL.',
  required: route.required.filter((k) => k !== 'id'),
};

export const RoutePatchSchema = {
  $id: 'RoutePatch',
  title: 'RoutePatch',
  type: 'object',
  description: 'A JSON merge patch (RFC 7396) of a Route: members replace, `null` removes, objects merge. The result is validated as a Route.',
  additionalProperties: true,
};

export const ProblemSchema = {
  $id: 'Problem',
  title: 'Problem',
  description: 'RFC 9457 problem details (application/problem+json).',
  type: 'object',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string', description: 'URI naming the kind of problem' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    code: { type: 'string', description: 'stable machine-readable code' },
    in: { type: 'string', enum: ['body', 'querystring', 'params', 'headers'], description: 'which part of the request `pointer` refers to' },
    pointer: { type: 'string', description: 'JSON pointer (RFC 6901) to the offending member' },
    route: { type: 'string', description: 'id of the route the problem is about, when another route is involved' },
    errors: {
      type: 'array',
      items: { type: 'object', properties: { pointer: { type: 'string' }, detail: { type: 'string' } } },
    },
  },
};

export const RouteListSchema = {
  $id: 'RouteList',
  title: 'RouteList',
  type: 'object',
  required: ['revision', 'routes'],
  properties: {
    revision: { type: 'integer', description: 'global configuration revision' },
    routes: { type: 'array', items: { $ref: 'Route#' } },
  },
};

export const DryRunSchema = {
  $id: 'DryRun',
  title: 'DryRun',
  description: 'What a mutation with ?dryRun=true would apply. Nothing was changed.',
  type: 'object',
  required: ['dryRun', 'revision', 'routes'],
  properties: {
    dryRun: { type: 'boolean', const: true },
    revision: { type: 'integer', description: 'the revision the change would create (the current one when it changes nothing)' },
    changed: { type: 'boolean', description: 'false when the change would be a no-op' },
    route: { $ref: 'Route#' },
    routes: { type: 'array', items: { $ref: 'Route#' }, description: 'the whole route list that would be applied' },
  },
};

/** The object at `path` inside a schema (throws when the config schema no longer has it). */
function nodeAt(schema: unknown, ...path: Array<string | number>): Record<string, unknown> {
  let n = schema;
  for (const k of path) n = (n as Record<string | number, unknown> | undefined)?.[k];
  if (typeof n !== 'object' || n === null) throw new Error(`the config schema has no /${path.join('/')}`);
  return n as Record<string, unknown>;
}

/** The config as served: secrets (admin tokens, forward-proxy passwords, etcd password) are not part of it. */
function configView(): Record<string, unknown> {
  const c = withoutIds(configSchema) as unknown as Record<string, unknown>;
  delete nodeAt(c, 'properties', 'admin', 'properties').token;
  delete nodeAt(c, 'properties', 'admin', 'properties', 'tokens', 'items', 'properties').token;
  const auth = nodeAt(c, 'properties', 'forwardProxy', 'properties', 'auth');
  delete nodeAt(auth, 'properties').users;
  auth.required = [];
  delete nodeAt(c, 'properties', 'store', 'oneOf', 1, 'properties', 'auth', 'properties').password;
  nodeAt(c, 'properties').routes = { type: 'array', items: { $ref: 'Route#' } };
  return c;
}

function configInput(): Record<string, unknown> {
  const c = withoutIds(configSchema) as unknown as Record<string, unknown>;
  // forward-proxy passwords are not served by GET, so a GET -> PUT round trip leaves them out:
  // absent means "unchanged"
  nodeAt(c, 'properties', 'forwardProxy', 'properties', 'auth').required = [];
  nodeAt(c, 'properties').routes = { type: 'array', maxItems: MAX_ROUTES, items: { $ref: 'Route#' } };
  // `{}` must not silently delete every route: the list is required ([] empties it)
  c.required = ['routes'];
  return c;
}

export const ConfigSchema = {
  ...configInput(),
  $id: 'Config',
  title: 'Config',
  description: 'The whole configuration, as in the config file. `routes` (required) replaces the route list atomically. Other settings cannot change at run time: when present they must equal the running ones (else 422); absent means unchanged.',
};

export const ConfigViewSchema = { ...configView(), $id: 'ConfigView', title: 'ConfigView', description: 'The running configuration without secrets.' };

export const ConfigDocumentSchema = {
  $id: 'ConfigDocument',
  title: 'ConfigDocument',
  type: 'object',
  required: ['revision', 'config'],
  properties: {
    revision: { type: 'integer', description: 'global configuration revision' },
    config: { $ref: 'ConfigView#' },
  },
};

export const sharedSchemas = [RouteSchema, RouteReplaceSchema, RoutePatchSchema, ProblemSchema, RouteListSchema, DryRunSchema, ConfigSchema, ConfigViewSchema, ConfigDocumentSchema, ...historySchemas];

export const idParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: ROUTE_ID_PATTERN, description: 'route id' } },
} as const;

/** Unknown query parameters are refused: `?dryrun=true` must not silently apply a change. */
export const mutationQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    dryRun: { type: 'boolean', default: false, description: 'validate and show what would be applied, change nothing' },
    ...guardQueryProperties,
  },
} as const;

export const noQuery = { type: 'object', additionalProperties: false, properties: {} } as const;

/** The request headers of every write. */
export const ifMatchHeaders = {
  type: 'object',
  properties: {
    'if-match': { type: 'string', description: 'apply only if the resource still has this ETag (else 412)' },
    [MESSAGE_HEADER]: { type: 'string', description: `why: kept with the revision in the route history (UTF-8, at most ${MAX_MESSAGE_CHARS} characters)` },
  },
} as const;

const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } } });
export const problemResponses = {
  '4xx': problemResponse('RFC 9457 problem details naming the offending field (400 schema, 401, 403, 404, 405, 409, 412, 415, 422)'),
  '5xx': problemResponse('RFC 9457 problem details (e.g. the config file cannot be written: nothing was changed)'),
} as const;

const requireHere = createRequire(import.meta.url);

function newAjv(coerce: boolean): Ajv {
  // Bodies: no type coercion ("true" is not a boolean) and no silent removal of unknown members;
  // defaults are filled so stored routes are complete. Query/params: strings coerced.
  const { Ajv } = requireHere('ajv') as typeof import('ajv');
  const ajv = new Ajv({ allErrors: false, useDefaults: true, coerceTypes: coerce, removeAdditional: false, strict: false, verbose: true });
  for (const s of sharedSchemas) ajv.addSchema(s);
  return ajv;
}

let bodyAjv: Ajv | undefined;
let paramAjv: Ajv | undefined;
const ajvFor = (httpPart: string | undefined): Ajv => (httpPart === 'body' ? (bodyAjv ??= newAjv(false)) : (paramAjv ??= newAjv(true)));

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => validatorOnFirstUse(() => ajvFor(httpPart).compile(schema as object));

/** Validator of a whole Route (used after applying a merge patch). */
export const validateRoute: ValidateFunction = validatorOnFirstUse(() => ajvFor('body').getSchema('Route')!);
