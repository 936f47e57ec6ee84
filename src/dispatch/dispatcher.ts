// The request path every front end calls. Given a parsed request (its head, the client peer, the
// protocol it came in), the dispatcher decides what happens to it, without knowing which front
// end asked: reverse or forward proxy, which route, which upstream, the upstream's request-target
// and head. It hands back a Decision that the front end carries out in its own protocol (a local
// answer, an exchange to run, a tunnel, or a decision still pending), and writes the access-log
// line and the metrics record when the front end says the request ended.
//
//   origin-form ──► target checks ──► redirectToHttps? ──► route match ──► upstream pick ──► RelayPlan
//   absolute-form / CONNECT ──► forward proxy (async: resolve, check, connect) ──► pending ──► local | RelayPlan | tunnel
//
// One dispatcher per listener (its mode, TLS-ness and redirect setting differ); the shared
// context is the proxy's.
import { MethodId, TargetForm } from '../../asm/shared/constants.js';
import type { RequestHead } from '../http/request-head.js';
import type { LocalAnswer } from '../http/local-answer.js';
import { requestHost, type RequestWhere } from '../http/request-target.js';
import { hasDotDotSegment, mapPath } from '../routing/path-mapping.js';
import type { Route } from '../routing/route-table.js';
import type { Origin } from '../upstream/origin-url.js';
import type { OriginHealth } from '../upstream/balancer.js';
import type { ForwardRequest } from '../forward/forward-request.js';
import { BodyKind } from '../../asm/shared/constants.js';
import { buildRequestHead, wantsUpgrade } from './upstream-head.js';
import { httpsRedirect } from './https-redirect.js';
import { RelayPlan } from './relay-plan.js';
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
    const redirect = this.#role.redirectToHttps;
    if (redirect) return local(httpsRedirect(where, redirect.port));
    const route = ctx.routes.current.match({ host: where.host, path: where.path, method: head.method, header: (n) => head.values(n) });
    if (!route) {
      return local({ status: ctx.config.notFoundStatus, code: 'PRX_NO_ROUTE', detail: `no route for ${where.host || '(no host)'}${where.path}` });
    }
    entry.routeId = route.id;
    const { origin, health } = route.balancer.pick(ctx.clock.now());
    return this.#plan(entry, route, where, origin, health);
  }

  /** The relay plan of a routed request to `origin`. */
  #plan(entry: RequestEntry, route: Route, where: RequestWhere, origin: Origin, health: OriginHealth): RelayPlan {
    const config = this.#ctx.config;
    const target = mapPath(where.path, where.query, { prefix: route.pathPrefix, basePath: origin.basePath, strip: route.stripPrefix, rewrite: route.rewritePrefix });
    const via = (route.via ?? config.via) ? (route.proxyName ?? config.proxyName) : undefined;
    return this.#relayPlan(entry, route, origin, health, target, upstreamHost(route.preserveHost, where.clientHost, entry.head, origin), where.clientHost, via);
  }

  #relayPlan(entry: RequestEntry, route: Route | undefined, origin: Origin, health: OriginHealth, target: string, host: string | undefined, clientHost: string | undefined, via: string | undefined): RelayPlan {
    const head = entry.head;
    const chunked = head.bodyKind === BodyKind.CHUNKED;
    const upgrade = head.version === 11 && wantsUpgrade(head);
    const upstreamHead = buildRequestHead({
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
    entry.upstream = origin.authority;
    return new RelayPlan(entry, route, origin, health, this.#ctx.pools.get(origin), upstreamHead, chunked, upgrade, via);
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
          settle(this.#relayPlan(entry, undefined, origin, health, target, host, host, config.via ? config.proxyName : undefined));
        },
        tunnel: (socket) => {
          once();
          settle({ kind: 'tunnel', socket });
        },
      };
      forward.handle(request);
    });
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
