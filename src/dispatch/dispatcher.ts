// The request path every front end calls. Given a parsed request (its head, the client peer, the
// protocol it came in), the dispatcher decides what happens to it, without knowing which front
// end asked: reverse or forward proxy, which route, which upstream, the upstream's request-target
// and head. It hands back a Decision that the front end carries out in its own protocol (a local
// answer, an exchange to run, a tunnel, or a decision still pending), and writes the access-log
// line and the metrics record when the front end says the request ended.
//
//   origin-form ──► target checks ──► ACME HTTP-01? ──► redirectToHttps? ──► route match ──► upstream pick ──► RelayPlan
//   absolute-form / CONNECT ──► forward proxy (async: resolve, check, connect) ──► pending ──► local | RelayPlan | tunnel
//
// One dispatcher per listener (its mode, TLS-ness and redirect setting differ); the shared
// context is the proxy's.
import { BodyKind, MethodId, TargetForm } from '../../asm/shared/constants.js';
import type { RequestHead } from '../http/request-head.js';
import type { LocalAnswer } from '../http/local-answer.js';
import { requestHost, type RequestWhere } from '../http/request-target.js';
import { hasDotDotSegment, mapPath } from '../routing/path-mapping.js';
import type { Route } from '../routing/route.js';
import type { Policy } from '../upstream/policy.js';
import type { Origin } from '../upstream/origin-url.js';
import type { OriginHealth } from '../upstream/origin-health.js';
import type { Target } from '../upstream/balancer.js';
import type { ForwardRequest } from '../forward/forward-request.js';
import { buildRequestHead, wantsUpgrade } from './upstream-head.js';
import { httpsRedirect } from './https-redirect.js';
import { RelayPlan, type TryFailure } from './relay-plan.js';
import { hashKeyOf, isIdempotent } from './request-facts.js';
import { RequestEntry } from './request-entry.js';
import { local, type Decision, type LocalDecision } from './decision.js';
import type { ClientPeer } from './client-peer.js';
import type { ClientProtocol } from './observer.js';
import type { ListenerRole, ProxyContext } from './context.js';

const OPTIONS_ASTERISK: LocalDecision = local({ status: 200 });
const NOT_A_PROXY_REQUEST = local({ status: 400, code: 'PRX_NOT_A_PROXY_REQUEST', detail: 'this listener is a forward proxy: send absolute-form requests (http://host/path) or CONNECT' });
const CONNECT_DISABLED = local({ status: 405, code: 'PRX_CONNECT_DISABLED', detail: 'CONNECT is not enabled on this listener', fields: 'Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n' });
const ASTERISK_NOT_OPTIONS = local({ status: 400, code: 'PRX_BAD_TARGET', detail: 'the asterisk-form target is only for OPTIONS' });
const PATH_ESCAPE = local({ status: 400, code: 'PRX_PATH_ESCAPE', detail: 'the path has a ".." segment' });
/** Retry-After of a 503 for a route at its concurrency limit: a second (RFC 9110 §10.2.3). */
const OVERLOADED_FIELDS = 'Retry-After: 1\r\n';

/** The Host the upstream gets: the upstream's authority (Twisted's default), or with
 *  preserveHost the client's: its own Host line kept as is (undefined), or for an absolute-form
 *  request the host named in the target (RFC 9112 §3.2.2). */
function upstreamHost(preserveHost: boolean, clientHost: string | undefined, head: RequestHead, origin: Origin): string | undefined {
  if (!preserveHost || clientHost === undefined) return origin.authority;
  return head.targetForm === TargetForm.ABSOLUTE ? clientHost : undefined;
}

export class Dispatcher {
  readonly #ctx: ProxyContext;
  readonly #role: ListenerRole;

  constructor(ctx: ProxyContext, role: ListenerRole) {
    this.#ctx = ctx;
    this.#role = role;
  }

  /** A request whose head is complete: its entry (id, start time) for everything that follows. */
  begin(head: RequestHead, peer: ClientPeer, protocol: ClientProtocol): RequestEntry {
    return new RequestEntry(this.#ctx.nextRequestId(), this.#ctx.clock.now(), head, peer, protocol);
  }

  /** What to do with the request. Never throws for anything a client can send. */
  decide(entry: RequestEntry): Decision {
    const head = entry.head;
    const ctx = this.#ctx;
    const mode = this.#role.mode;
    const form = head.targetForm;
    if ((form === TargetForm.ABSOLUTE || form === TargetForm.AUTHORITY) && ctx.forward && mode !== 'reverse') {
      entry.routeId = 'forward';
      return { kind: 'pending', decided: this.#forward(entry) };
    }
    if (mode === 'forward') return NOT_A_PROXY_REQUEST;
    if (form === TargetForm.AUTHORITY) return CONNECT_DISABLED;
    if (form === TargetForm.ASTERISK) return head.methodId === MethodId.OPTIONS ? OPTIONS_ASTERISK : ASTERISK_NOT_OPTIONS;
    const where = requestHost(head);
    if (where.error) return local({ status: 400, code: 'PRX_BAD_TARGET', detail: where.error });
    if (hasDotDotSegment(where.path)) return PATH_ESCAPE;
    // ACME HTTP-01 (RFC 8555 §8.3): a pending token is answered before the redirect (the CA asks
    // over plain HTTP) and the routes; any other path under /.well-known/acme-challenge/ is routed
    const acme = ctx.acmeChallenges?.answerHttp01(head.method, where.host, where.path);
    if (acme) return local(acme);
    const redirect = this.#role.redirectToHttps;
    if (redirect) return local(httpsRedirect(where, redirect.port));
    const route = ctx.routes.current.match({ host: where.host, path: where.path, method: head.method, header: (n) => head.values(n) });
    if (!route) {
      return local({ status: ctx.config.notFoundStatus, code: 'PRX_NO_ROUTE', detail: `no route for ${where.host || '(no host)'}${where.path}` });
    }
    entry.routeId = route.id;
    const policy = route.policy;
    const hashKey = policy.loadBalancing.hashOn === undefined ? undefined : hashKeyOf(policy.loadBalancing.hashOn, head, entry.peer);
    const now = ctx.clock.now();
    route.budget.request(now);
    const limit = policy.limits.maxConcurrentPerUpstream;
    const target = route.balancer.pick(now, hashKey, limit);
    if (route.balancer.panicStarted) ctx.logger.warn({ route: route.id }, 'every upstream of the route is unavailable (ejected or failing its health check): sending to all of them (panic mode)');
    if (target === undefined) return this.#queue(entry, route, where, hashKey);
    target.health.track(true);
    return this.#plan(entry, route, where, hashKey, target);
  }

  /** Every upstream of the route is at its concurrency limit: wait in the route's queue, or 503
   *  when the queue is full or the wait times out. */
  #queue(entry: RequestEntry, route: Route, where: RequestWhere, hashKey: string | undefined): Decision {
    const overloaded = (why: string): Decision => {
      this.#ctx.observers.overloaded(route.id);
      return local({ status: 503, code: 'PRX_ERR_OVERLOADED', detail: `route ${route.id}: ${why}`, fields: OVERLOADED_FIELDS });
    };
    const limits = route.policy.limits;
    const waiting = route.queue.wait(this.#ctx.clock, hashKey, () => entry.closed);
    if (waiting === undefined) return overloaded(`every upstream has ${limits.maxConcurrentPerUpstream} requests in progress and ${limits.maxQueue} more wait`);
    return {
      kind: 'pending',
      decided: waiting.then((target) => target === undefined
        ? overloaded(`no upstream was free within ${limits.queueTimeoutMs} ms`)
        : this.#plan(entry, route, where, hashKey, target)),
    };
  }

  /** The relay plan of a routed request to `target` (its slot already counted). */
  #plan(entry: RequestEntry, route: Route, where: RequestWhere, hashKey: string | undefined, target: Target): RelayPlan {
    const config = this.#ctx.config;
    const via = (route.via ?? config.via) ? (route.proxyName ?? config.proxyName) : undefined;
    const head = entry.head;
    const chunked = head.bodyKind === BodyKind.CHUNKED;
    const upgrade = head.version === 11 && wantsUpgrade(head);
    const origin = target.origin;
    entry.upstream = origin.authority;
    return new RelayPlan(this, entry, route, route.policy, where, hashKey, target, origin, target.health, this.#ctx.pools.get(origin),
      this.#routedHead(entry, route, where, origin, chunked, upgrade, via), chunked, upgrade, via);
  }

  /** The upstream head of a routed request for `origin`: its path mapped onto the origin's base. */
  #routedHead(entry: RequestEntry, route: Route, where: RequestWhere, origin: Origin, chunked: boolean, upgrade: boolean, via: string | undefined): Buffer {
    const target = mapPath(where.path, where.query, { prefix: route.pathPrefix, basePath: origin.basePath, strip: route.stripPrefix, rewrite: route.rewritePrefix });
    return this.#upstreamHead(entry, target, upstreamHost(route.preserveHost, where.clientHost, entry.head, origin), where.clientHost, chunked, upgrade, via);
  }

  #upstreamHead(entry: RequestEntry, target: string, host: string | undefined, clientHost: string | undefined, chunked: boolean, upgrade: boolean, via: string | undefined): Buffer {
    const head = entry.head;
    return buildRequestHead({
      head,
      target,
      host,
      clientHost,
      framing: chunked ? 'chunked' : head.bodyKind === BodyKind.LENGTH ? 'length' : 'none',
      contentLength: head.contentLength,
      upgrade,
      peer: entry.peer.plain,
      peerTrusted: entry.peer.trusted,
      via,
      proto: this.#role.secure ? 'https' : 'http',
      policy: this.#ctx.config.forwarding,
    });
  }

  /**
   * Another try for a relayed request whose current try failed (`failure`), if the route's policy
   * allows it: true when the plan now points at another upstream (or, after a stale pooled
   * connection with no other upstream, at the same one), with that upstream's slot counted. The
   * exchange has released the failed try's slot and knows what the client has seen: it asks only
   * while no response byte went to the client. `sent`: request bytes went upstream on the failed
   * try; `replayable`: every body byte sent so far is kept and can be sent again.
   *
   * The rules (docs/traffic-policy.md): nothing sent (connect failures): any method; otherwise
   * idempotent methods (RFC 9110 §9.2.2), or requests with Idempotency-Key when the route opts
   * in (not for statuses); never a body that was not kept; at most retries.maxTries tries in
   * all, within the route's retry budget; never the upstream that just failed while another
   * is available.
   */
  retry(plan: RelayPlan, failure: TryFailure, sent: boolean, replayable: boolean, stale: boolean): boolean {
    const route = plan.route;
    if (route === undefined) return false; // the forward proxy has one destination
    const ctx = this.#ctx;
    const retries = plan.policy.retries;
    const head = plan.entry.head;
    if (plan.tries >= retries.maxTries) return false;
    if (sent || failure === 'status') {
      const keyed = failure !== 'status' && retries.idempotencyKey && head.values('idempotency-key').length > 0;
      if (!isIdempotent(head.methodId) && !keyed) return false;
      if (!replayable) return false;
    }
    const now = ctx.clock.now();
    const tried = (plan.tried ??= []);
    if (plan.target !== undefined) tried.push(plan.target);
    let next = route.balancer.retry(now, tried, plan.hashKey, plan.policy.limits.maxConcurrentPerUpstream);
    // a pooled connection the origin was closing (the keep-alive race): the same origin on a new
    // connection is as good as another (RFC 9112 §9.3.1)
    if (next === undefined && stale && plan.target !== undefined) next = plan.target;
    if (next === undefined) return false;
    if (!route.budget.tryRetry(now, retries)) {
      ctx.observers.retryBudgetExhausted(route.id);
      return false;
    }
    const entry = plan.entry;
    (entry.retried ??= []).push(`${plan.origin.authority} ${failure}`);
    ctx.observers.retried(route.id, failure);
    next.health.track(true);
    plan.tries++;
    plan.target = next;
    plan.origin = next.origin;
    plan.health = next.health;
    plan.pool = ctx.pools.get(next.origin);
    plan.upstreamHead = this.#routedHead(entry, route, plan.where!, next.origin, plan.chunked, plan.upgrade, plan.via);
    entry.upstream = next.origin.authority;
    return true;
  }

  /** The outlier rule after a failed try: `why` counts against the upstream, which is ejected
   *  after the route's consecutiveFailures unless that would eject more than
   *  maxEjectionPercent of the route's upstreams. */
  tryFailed(plan: RelayPlan, why: string): void {
    const route = plan.route;
    const now = this.#ctx.clock.now();
    let mayEject = true;
    if (route !== undefined) {
      const targets = route.balancer.targets;
      let ejected = 0;
      for (const t of targets) if (!t.health.passing(now)) ejected++;
      mayEject = ejected + 1 <= (targets.length * plan.policy.outlier.maxEjectionPercent) / 100;
    }
    if (plan.health.failed(plan.policy.outlier, now, why, mayEject) && route !== undefined) {
      this.#ctx.observers.upstreamEjected(plan.origin.authority, route.id);
      this.#ctx.logger.warn({ route: route.id, upstream: plan.origin.authority, why, ms: Math.round(plan.health.ejectedUntil - now) }, 'upstream ejected after consecutive failures');
    }
  }

  /** The relay plan of a forward-proxy request: one destination, the global policy. */
  #forwardPlan(entry: RequestEntry, origin: Origin, health: OriginHealth, target: string, host: string, via: string | undefined): RelayPlan {
    const head = entry.head;
    const chunked = head.bodyKind === BodyKind.CHUNKED;
    const upgrade = head.version === 11 && wantsUpgrade(head);
    entry.upstream = origin.authority;
    health.track(true);
    const policy: Policy = this.#ctx.routes.current.defaults;
    return new RelayPlan(this, entry, undefined, policy, undefined, undefined, undefined, origin, health, this.#ctx.pools.get(origin),
      this.#upstreamHead(entry, target, host, host, chunked, upgrade, via), chunked, upgrade, via);
  }

  /** The forward proxy's answer, once it has one (it resolves and checks the destination, and
   *  opens the socket of a CONNECT). */
  #forward(entry: RequestEntry): Promise<Decision> {
    const forward = this.#ctx.forward!;
    const config = this.#ctx.config;
    return new Promise<Decision>((settle) => {
      let answered = false;
      const once = () => {
        if (answered) throw new Error('portico: a forward request was answered twice');
        answered = true;
      };
      const request: ForwardRequest = {
        head: entry.head,
        peerAddress: entry.peer.address,
        requestId: entry.id,
        get closed() { return entry.closed; },
        respond: (answer: LocalAnswer) => {
          once();
          settle(local(answer));
        },
        relay: (origin, target, host, health) => {
          once();
          settle(this.#forwardPlan(entry, origin, health, target, host, config.via ? config.proxyName : undefined));
        },
        tunnel: (socket) => {
          once();
          settle({ kind: 'tunnel', socket });
        },
      };
      forward.handle(request);
    });
  }

  /** A decision that will not be carried out (its client went away while it was pending): what
   *  it holds is given back (a CONNECT socket closed, an upstream slot freed). */
  abandon(d: Decision): void {
    if (d.kind === 'tunnel') d.socket.destroy();
    else if (d.kind === 'relay') d.health.track(false);
  }

  /** The request ended (`aborted`: cut short after its response began, or given up): its
   *  metrics record and access-log line. */
  finish(entry: RequestEntry, status: number, aborted: boolean): void {
    const ctx = this.#ctx;
    const durationMs = ctx.clock.now() - entry.started;
    const method = entry.head.method;
    ctx.observers.requestFinished({ routeId: entry.routeId, method, status, durationMs, aborted, protocol: entry.protocol });
    const log = ctx.logger;
    if (log.isLevelEnabled('info')) {
      log.info({
        req: entry.id, client: entry.peer.address, proto: entry.protocol, method, target: entry.head.target, route: entry.routeId,
        upstream: entry.upstream, status, ms: Math.round(durationMs * 100) / 100, aborted: aborted || undefined,
        retried: entry.retried,
      }, 'request');
    }
  }

  /** A request that failed to parse (no head to route): its metrics record and log line. */
  rejected(peer: ClientPeer, protocol: ClientProtocol, answer: LocalAnswer): void {
    const ctx = this.#ctx;
    ctx.observers.requestFinished({ routeId: undefined, method: '', status: answer.status, durationMs: 0, aborted: false, protocol });
    ctx.logger.info({ req: ctx.nextRequestId(), client: peer.address, proto: protocol, status: answer.status, error: answer.code }, 'bad request');
  }
}
