// Who may talk to the admin API.
// - Every request other than GET/HEAD needs `Authorization: Bearer <token>` (compared in constant
//   time). With no token configured, mutations are refused (403): the API is read-only.
// - On a loopback listener, the Host header must name the listener (localhost, 127.0.0.1 or [::1]
//   with its port): a web page whose name was re-pointed at 127.0.0.1 (DNS rebinding) sends its own
//   name, and is refused (403). Listeners on other addresses are reached by names we cannot know.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isLoopbackHost } from '../../src/net/loopback.js';
import { AdminProblem } from './problem.js';

export { isLoopbackHost };

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent the request (set by the token check; undefined: no token was presented). */
    principal?: { name: string; role: 'admin' | 'read' };
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time comparison (equal-length digests, so the length of the token does not leak either). */
export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(sha256(presented), sha256(expected));
}

export interface AuthOptions {
  token: string | undefined;
  /** Host of the listener (from HOST:PORT). */
  listenHost: string;
  /** Port the listener is bound to (asked per request: the port is known only after listen). */
  port: () => number;
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

export function allowedHostValues(listenHost: string, port: number): Set<string> {
  const names = ['localhost', '127.0.0.1', '[::1]'];
  const h = listenHost.includes(':') && !listenHost.startsWith('[') ? `[${listenHost}]` : listenHost;
  names.push(h.toLowerCase());
  return new Set(names.map((n) => `${n}:${port}`));
}

export function checkHost(request: FastifyRequest, opts: AuthOptions): void {
  if (!isLoopbackHost(opts.listenHost)) return;
  const host = (request.headers.host ?? '').toLowerCase();
  if (!allowedHostValues(opts.listenHost, opts.port()).has(host)) {
    throw new AdminProblem(403, 'forbidden', `Host ${JSON.stringify(request.headers.host ?? '')} is not allowed on this loopback listener (use localhost:${opts.port()} or 127.0.0.1:${opts.port()})`, { in: 'headers', pointer: '/host' });
  }
}

export function checkToken(request: FastifyRequest, token: string | undefined): void {
  if (SAFE_METHODS.has(request.method)) return;
  if (token === undefined) {
    throw new AdminProblem(403, 'forbidden', 'changes are disabled: no admin token is configured (set admin.token in the config file or PORTICO_ADMIN_TOKEN)');
  }
  const challenge = { 'www-authenticate': 'Bearer realm="portico-admin"' };
  const header = request.headers.authorization;
  if (!header) throw new AdminProblem(401, 'unauthorized', `${request.method} needs a bearer token (Authorization: Bearer <token>)`, {}, challenge);
  // lenient about the token's characters: a configured token may contain any printable ones
  const m = /^Bearer +(.*?) *$/i.exec(header);
  if (!m || !tokenMatches(m[1], token)) {
    throw new AdminProblem(401, 'unauthorized', 'the bearer token is wrong', {}, { 'www-authenticate': 'Bearer realm="portico-admin", error="invalid_token"' });
  }
  request.principal = { name: 'admin', role: 'admin' };
}

/** Installs the checks for every request of the app (before routing, so 404/405 leak nothing). */
export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
  app.addHook('onRequest', async (request) => {
    checkHost(request, opts);
    checkToken(request, opts.token);
  });
}
