// Who may talk to the admin API (docs/admin-security.md), checked for every request before its
// handler (404s included, so an outsider learns nothing about which paths exist):
// - On a loopback listener, the Host header must name the listener (localhost, 127.0.0.1 or [::1]
//   with its port): a web page whose name was re-pointed at 127.0.0.1 (DNS rebinding) sends its own
//   name, and is refused (403). Listeners on other addresses are reached by names we cannot know.
// - What the route needs (./access-policy.ts): public, metrics, read or admin.
// - The credential: `Authorization: Bearer <token>` (./credentials.ts: a named token with a role),
//   else a verified client certificate listed in admin.tls.clientCertificates.clients
//   (./admin-tls.ts). A token, when sent, decides: a wrong one is refused even where reads are
//   open or a client certificate would do.
// - The answer: no credential where one is needed, or a wrong one: 401 with a Bearer challenge
//   (RFC 6750 §3); a read credential on a mutation: 403 insufficient_scope (RFC 6750 §3.1); wrong
//   credentials beyond the address's budget (./failed-auth-budget.ts): 429 after
//   admin.failedAuth.delayMs, with Retry-After (RFC 6585 §4).
// - request.principal: who the request acts as ({ name, role }); the access log and the route
//   history record its name, never a token.
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isLoopbackHost } from '../../src/net/loopback.js';
import { AdminProblem } from '../protocol/problem.js';
import { accessOf, type AccessRouteConfig } from './access-policy.js';
import type { Principal, TokenSet } from './credentials.js';
import type { AdminRole } from '../../src/config/admin-schema.js';
import { certificateCredential } from './admin-tls.js';
import { addressKey, type FailedAuthBudget } from './failed-auth-budget.js';

export { isLoopbackHost };

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts as (undefined: no credential, e.g. an open read or a probe). */
    principal?: { name: string; role: 'admin' | 'read' };
  }
}

/** Why a request was refused, as counted in portico_admin_auth_failures_total. */
export type AuthFailureReason = 'missing' | 'invalid' | 'forbidden';

export interface AuthEvents {
  failure(reason: AuthFailureReason): void;
  /** A failure over its address's budget: answered late ('delayed') or at once ('refused'). */
  throttled(action: 'delayed' | 'refused'): void;
}

export interface AuthOptions {
  tokens: TokenSet;
  /** Verified client certificates by subject CN (admin.tls.clientCertificates.clients). */
  clients: ReadonlyMap<string, AdminRole>;
  openReads: boolean;
  metricsAuth: boolean;
  budget: FailedAuthBudget;
  /** How long a failure over the budget waits for its answer. */
  delayMs: number;
  /** Host of the listener (from HOST:PORT). */
  listenHost: string;
  /** Port the listener is bound to (asked per request: the port is known only after listen). */
  port: () => number;
  events?: AuthEvents;
}

const REALM = 'Bearer realm="portico-admin"';

export function allowedHostValues(listenHost: string, port: number): Set<string> {
  const names = ['localhost', '127.0.0.1', '[::1]'];
  const h = listenHost.includes(':') && !listenHost.startsWith('[') ? `[${listenHost}]` : listenHost;
  names.push(h.toLowerCase());
  return new Set(names.map((n) => `${n}:${port}`));
}

export function checkHost(request: FastifyRequest, opts: Pick<AuthOptions, 'listenHost' | 'port'>): void {
  if (!isLoopbackHost(opts.listenHost)) return;
  const host = (request.headers.host ?? '').toLowerCase();
  if (!allowedHostValues(opts.listenHost, opts.port()).has(host)) {
    throw new AdminProblem(403, 'forbidden', `Host ${JSON.stringify(request.headers.host ?? '')} is not allowed on this loopback listener (use localhost:${opts.port()} or 127.0.0.1:${opts.port()})`, { in: 'headers', pointer: '/host' });
  }
}

/** The principal of an Authorization header, or undefined when it is not a known bearer token. */
export function bearerPrincipal(header: string, tokens: TokenSet): Principal | undefined {
  // lenient about the token's characters: a configured token may contain any printable ones
  const m = /^Bearer +(.*?) *$/i.exec(header);
  return m ? tokens.match(m[1]) : undefined;
}

/** Counts a wrong credential against the address; beyond its budget, answers late with 429. */
async function refuseWrongCredential(request: FastifyRequest, opts: AuthOptions, detail: string): Promise<never> {
  opts.events?.failure('invalid');
  const key = addressKey(request.ip);
  const verdict = opts.budget.fail(key);
  if (!verdict.over) throw new AdminProblem(401, 'unauthorized', detail, {}, { 'www-authenticate': `${REALM}, error="invalid_token"` });
  if (verdict.firstOver) {
    request.log.warn({ client: request.ip, retryAfterS: verdict.retryAfterS }, 'admin API: too many failed authentications from this address; its failures are answered late from now on');
  }
  const release = opts.budget.hold(key);
  opts.events?.throttled(release ? 'delayed' : 'refused');
  const headers: Record<string, string> = { 'retry-after': String(verdict.retryAfterS) };
  if (release) {
    try {
      await sleep(opts.delayMs);
    } finally {
      release();
    }
  } else {
    // as many answers from this address are held as allowed: this one costs no more
    headers.connection = 'close';
  }
  throw new AdminProblem(429, 'too-many-failures', `${detail}; too many failed authentications from this address: failures are answered late for the next ${verdict.retryAfterS} s (a valid credential is never held)`, {}, headers);
}

/** Installs the checks for every request of the app. */
export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
  app.decorateRequest('principal', undefined);
  const adminPossible = opts.tokens.hasRole('admin') || [...opts.clients.values()].includes('admin');
  app.addHook('onRequest', async (request) => {
    checkHost(request, opts);
    const access = accessOf(request.method, request.routeOptions.config as AccessRouteConfig | undefined);
    if (access === 'public' || (access === 'metrics' && !opts.metricsAuth)) return;
    if (access === 'admin' && !adminPossible) {
      throw new AdminProblem(403, 'forbidden', 'changes are disabled: no admin token is configured (set admin.token in the config file or PORTICO_ADMIN_TOKEN)');
    }
    const header = request.headers.authorization;
    let refused: string | undefined;
    if (header !== undefined) {
      const principal = bearerPrincipal(header, opts.tokens);
      if (!principal) await refuseWrongCredential(request, opts, /^Bearer /i.test(header) ? 'the bearer token is wrong' : 'the Authorization header must be "Bearer <token>"');
      request.principal = principal;
    } else {
      const cert = certificateCredential(request.raw.socket, opts.clients);
      if (cert.principal) request.principal = cert.principal;
      refused = cert.refused;
    }
    const principal = request.principal;
    if (!principal) {
      if (access !== 'admin' && opts.openReads) return;
      opts.events?.failure('missing');
      const what = access === 'admin' ? `${request.method} needs an admin token` : `${request.method} needs a token (read or admin) on this listener`;
      throw new AdminProblem(401, 'unauthorized', `${what} (Authorization: Bearer <token>)${refused ? `; ${refused}` : ''}`, {}, { 'www-authenticate': REALM });
    }
    if (access === 'admin' && principal.role !== 'admin') {
      opts.events?.failure('forbidden');
      throw new AdminProblem(403, 'forbidden', `${JSON.stringify(principal.name)} may only read (role "read"): ${request.method} needs an admin token`, {}, { 'www-authenticate': `${REALM}, error="insufficient_scope"` });
    }
  });
}
