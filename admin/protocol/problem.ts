// Errors as RFC 9457 problem details (application/problem+json): `type`, `title`, `status`,
// `detail`, and `pointer` (RFC 6901) naming the offending member of the request part `in`.
import { STATUS_CODES } from 'node:http';
import type { ErrorObject } from 'ajv';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, ProxyError, type PorticoErrorCode } from '../../src/errors.js';
import { closestKey } from '../../src/config/config.js';

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** Problem kinds (`type` is `urn:portico:problem:<kind>`). */
export type ProblemKind =
  | 'schema' | 'malformed-json' | 'not-found' | 'method-not-allowed' | 'conflict' | 'precondition-failed'
  | 'unsupported-media-type' | 'semantic' | 'restart-required' | 'unauthorized' | 'forbidden'
  | 'body-too-large' | 'bad-request' | 'persistence' | 'internal' | 'store-unavailable' | 'too-many-failures' | 'gone' | 'too-many-followers';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code?: PorticoErrorCode;
  in?: 'body' | 'querystring' | 'params' | 'headers';
  pointer?: string;
  route?: string;
  errors?: Array<{ pointer: string; detail: string }>;
}

export class AdminProblem extends Error {
  readonly status: number;
  readonly kind: ProblemKind;
  readonly extra: Partial<Problem>;
  readonly headers: Record<string, string>;

  constructor(status: number, kind: ProblemKind, detail: string, extra: Partial<Problem> = {}, headers: Record<string, string> = {}) {
    super(detail);
    this.name = 'AdminProblem';
    this.status = status;
    this.kind = kind;
    this.extra = extra;
    this.headers = headers;
  }

  toProblem(instance?: string): Problem {
    return {
      type: `urn:portico:problem:${this.kind}`,
      title: STATUS_CODES[this.status] ?? 'Error',
      status: this.status,
      detail: this.message,
      ...(instance ? { instance } : {}),
      ...this.extra,
    };
  }
}

/** Escapes one JSON-pointer reference token. */
export function pointerToken(s: string | number): string {
  return String(s).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Ajv error -> pointer to the offending member and a sentence about it. */
export function describeAjvError(e: ErrorObject): { pointer: string; detail: string } {
  let pointer = e.instancePath;
  const p = e.params as Record<string, unknown>;
  let what: string;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      pointer += `/${pointerToken(key)}`;
      const guess = closestKey(key, Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {}));
      what = `is not a known member${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : ''}`;
      break;
    }
    case 'required':
      pointer += `/${pointerToken(String(p.missingProperty))}`;
      what = 'is required';
      break;
    case 'enum':
      what = `must be one of ${JSON.stringify(p.allowedValues)}`;
      break;
    case 'oneOf':
      what = 'must be an upstream URL string or an object {"url": ..., "weight": ...}';
      break;
    default:
      what = e.message ?? 'is invalid';
  }
  return { pointer, detail: `${pointer || '(the whole document)'} ${what}` };
}

/** A ProxyError answered with its code's status from the registry (src/errors.ts). */
function semanticProblem(e: ProxyError): AdminProblem {
  const status = ERROR_CODES[e.code].status ?? 500;
  if (status === 500) return new AdminProblem(500, 'persistence', e.message, { code: e.code });
  if (status === 503) return new AdminProblem(503, e.code === 'PRX_ERR_STORE' ? 'store-unavailable' : 'internal', e.message, { code: e.code });
  return new AdminProblem(status, 'semantic', e.message, { code: e.code, in: 'body', ...(e.path !== undefined ? { pointer: e.path } : {}) });
}

/** Any error thrown in a handler or by Fastify -> AdminProblem. */
export function toAdminProblem(err: unknown): AdminProblem {
  if (err instanceof AdminProblem) return err;
  if (err instanceof ProxyError) return semanticProblem(err);
  const fe = err as FastifyError & { validationContext?: string };
  if (fe.validation) {
    const errors = (fe.validation as unknown as ErrorObject[]).map(describeAjvError);
    const part = (fe.validationContext ?? 'body') as Problem['in'];
    return new AdminProblem(400, 'schema', `${part === 'body' ? '' : `${part}: `}${errors[0].detail}`, { in: part, pointer: errors[0].pointer, errors });
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AdminProblem(415, 'unsupported-media-type', 'the body must be application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AdminProblem(400, 'malformed-json', fe.message, { in: 'body', pointer: '' });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AdminProblem(413, 'body-too-large', fe.message);
  }
  if (err instanceof SyntaxError) return new AdminProblem(400, 'malformed-json', `the body is not valid JSON: ${err.message}`, { in: 'body', pointer: '' });
  const status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500 ? fe.statusCode : 500;
  if (status < 500) return new AdminProblem(status, 'bad-request', fe.message);
  return new AdminProblem(500, 'internal', 'internal error (see the proxy log)');
}

/** The request path without its query string: what problems and the log show of a URL (a query
 *  may carry credentials, e.g. ?token=, which must never be logged or echoed). */
export function pathOf(request: FastifyRequest): string {
  const q = request.url.indexOf('?');
  return q < 0 ? request.url : request.url.slice(0, q);
}

export function sendProblem(reply: FastifyReply, p: AdminProblem, instance?: string): FastifyReply {
  for (const [k, v] of Object.entries(p.headers)) reply.header(k, v);
  return reply.code(p.status).type(PROBLEM_MEDIA_TYPE).send(p.toProblem(instance));
}

/** Error and not-found handlers of the whole app. */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, request: FastifyRequest, reply: FastifyReply) => {
    const p = toAdminProblem(err);
    if (p.status >= 500) request.log.error({ err }, 'admin request failed');
    return sendProblem(reply, p, pathOf(request));
  });
  app.setNotFoundHandler((request, reply) => {
    return sendProblem(reply, new AdminProblem(404, 'not-found', `no resource at ${request.method} ${pathOf(request)}`), pathOf(request));
  });
}

const METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS'] as const;

/** Answers 405 with Allow for the methods a path does not serve. */
export function methodNotAllowed(app: FastifyInstance, url: string, allowed: ReadonlyArray<(typeof METHODS)[number]>): void {
  const allow = new Set<string>(allowed);
  if (allow.has('GET')) allow.add('HEAD');
  const others = METHODS.filter((m) => !allow.has(m));
  const allowHeader = [...allow].join(', ');
  app.route({
    method: others,
    url,
    schema: { hide: true },
    handler: async (request, reply) => {
      const path = pathOf(request);
      return sendProblem(reply, new AdminProblem(405, 'method-not-allowed', `${request.method} is not allowed on ${path}; allowed: ${allowHeader}`, {}, { allow: allowHeader }), path);
    },
  });
}

/** preValidation hook: the body (when there is one) must have one of these media types (else 415). */
export function requireMediaType(...types: string[]) {
  return async (request: FastifyRequest): Promise<void> => {
    if (request.body === undefined) return;
    const ct = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (!types.includes(ct)) throw new AdminProblem(415, 'unsupported-media-type', `the body must be ${types.join(' or ')}, not ${ct || 'untyped'}`);
  };
}
