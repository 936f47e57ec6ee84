// The forward proxy: what Portico does with absolute-form requests (`GET http://host/path`) and
// CONNECT tunnels, the requests HTTP_PROXY/HTTPS_PROXY clients send. Twisted's Proxy fetched only
// http:// targets, trusted the client's Host, had no CONNECT and no access control; this one is
// secure by default (an open proxy is a relay for abuse and a way into the private network):
//
//   1. the client's address must be in allowClients (default: loopback)            -> else 403
//   2. Basic proxy authentication when configured                                   -> else 407
//   3. the target must parse: http://host[:port]/... or CONNECT host:port           -> else 400
//      (https:// absolute-form: 400 telling the client to use CONNECT, unless originateTls)
//   4. the port must be in httpPorts (http://), httpsPorts (https://, originateTls) or
//      connectPorts (CONNECT)                                                        -> else 403
//   5. the host name must not be in denyHosts                                       -> else 403
//   6. the name is resolved once (502 when it does not resolve, 504 past the deadline) and every
//      address is checked against the destination rules (DestinationPolicy: private, loopback,
//      link-local... denied unless in allowDestinations)                            -> else 403
//   7. absolute-form: relayed through the shared upstream pools to the checked address, with Host
//      regenerated from the target (https://: TLS verified against the target's name, as for
//      https:// route upstreams); CONNECT: a TCP connection to the first checked address that
//      accepts (502 refused, 504 timeout), then `200 Connection Established` and a byte tunnel.
//
// Denials are logged at warn with the request id, client, target and reason.
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { ForwardHandler, ForwardRequest } from './forward-request.js';
import { BodyKind, FieldId, MethodId } from '../../asm/shared/constants.js';
import { AddressSet, plainAddress } from '../net/address-set.js';
import { OriginHealth } from '../upstream/origin-health.js';
import type { Origin } from '../upstream/origin-url.js';
import { upstreamTls } from '../upstream/upstream-tls.js';
import { parseAbsoluteTarget, parseConnectTarget, type ForwardTarget } from './target.js';
import { DestinationPolicy, canonicalAddress } from './destination-policy.js';
import { ProxyAuth } from './proxy-auth.js';
import { DialError, connectFirst, fmt, resolveHost, systemResolver, tcpConnector, type Connector, type Resolver } from './dial.js';
import { statusOf, type PorticoErrorCode } from '../errors.js';
import { systemClock, type Clock } from '../clock.js';

export interface ForwardDeps {
  config: Config;
  logger: Logger;
  /** Name resolution; default: the system resolver (getaddrinfo). Tests inject their own. */
  resolver?: Resolver;
  /** Opens CONNECT upstream sockets; default: net.connect. */
  connector?: Connector;
  /** The resolve and connect deadline's timers (default: the process clock). */
  clock?: Clock;
}

export function createForwardHandler(deps: ForwardDeps): ForwardHandler {
  const { config, logger } = deps;
  const fp = config.forwardProxy;
  const resolver = deps.resolver ?? systemResolver;
  const connector = deps.connector ?? tcpConnector;
  const clock = deps.clock ?? systemClock;
  const clients = new AddressSet(fp.allowClients, '/forwardProxy/allowClients');
  const connectPorts = new Set(fp.connectPorts);
  const httpPorts = new Set(fp.httpPorts);
  const httpsPorts = new Set(fp.httpsPorts);
  const policy = new DestinationPolicy(fp);
  const auth = fp.auth ? new ProxyAuth(fp.auth.realm ?? 'portico', fp.auth.users) : undefined;

  async function handle(req: ForwardRequest, answer: Answer): Promise<void> {
    const head = req.head;
    const client = plainAddress(req.peerAddress);
    const deny = (reason: string, code: PorticoErrorCode) => {
      logger.warn({ req: req.requestId, client, target: head.target, reason }, 'forward proxy request denied');
      answer.respond(code, reason);
    };

    if (!clients.has(req.peerAddress)) return deny(`client ${client} is not allowed to use this proxy`, 'PRX_FORWARD_CLIENT_DENIED');

    if (auth) {
      const r = auth.check(head.valuesById(FieldId.PROXY_AUTHORIZATION));
      if (!r.ok) {
        // a first request without credentials is the normal start of the exchange
        if (r.missing) logger.info({ req: req.requestId, client, target: head.target }, 'forward proxy authentication required');
        else logger.warn({ req: req.requestId, client, target: head.target, reason: r.reason }, 'forward proxy authentication failed');
        answer.respond('PRX_FORWARD_AUTH_REQUIRED', r.reason, auth.challenge);
        return;
      }
    }

    const connect = head.methodId === MethodId.CONNECT;
    if (connect && (head.bodyKind === BodyKind.CHUNKED || (head.bodyKind === BodyKind.LENGTH && head.contentLength > 0))) {
      answer.respond('PRX_FORWARD_BAD_TARGET', 'a CONNECT request has no content (RFC 9110 §9.3.6)');
      return;
    }
    const parsed = connect ? parseConnectTarget(head.target) : parseAbsoluteTarget(head.target, fp.originateTls);
    if (!parsed.ok) {
      answer.respond(parsed.useConnect ? 'PRX_FORWARD_USE_CONNECT' : 'PRX_FORWARD_BAD_TARGET', parsed.reason);
      return;
    }
    const t = parsed.target;

    const ports = connect ? connectPorts : t.secure ? httpsPorts : httpPorts;
    if (!ports.has(t.port)) {
      const what = connect ? 'CONNECT (forwardProxy.connectPorts' : t.secure ? 'https:// targets (forwardProxy.httpsPorts' : 'http:// targets (forwardProxy.httpPorts';
      return deny(`port ${t.port} is not allowed for ${what}: ${[...ports].join(', ') || 'none'})`, 'PRX_FORWARD_PORT_DENIED');
    }
    const hostDenied = policy.checkHost(t.host);
    if (hostDenied) return deny(hostDenied, 'PRX_FORWARD_HOST_DENIED');

    const deadline = { clock, at: clock.now() + config.timeouts.upstreamConnectMs };
    let addresses: string[];
    try {
      addresses = t.family !== 0 ? [t.host] : await resolveHost(resolver, t.host, deadline);
    } catch (e) {
      failed(req, answer, e, t);
      return;
    }
    if (req.closed) return;

    // judge every address; connect only to those that pass
    const allowed: string[] = [];
    let firstReason: string | undefined;
    for (const a of addresses.map(canonicalAddress)) {
      const why = policy.checkAddress(a);
      if (why === undefined) { if (!allowed.includes(a)) allowed.push(a); } else firstReason ??= why;
    }
    if (allowed.length === 0) return deny(t.family === 0 ? `${t.host} resolves only to denied addresses: ${firstReason}` : `destination ${firstReason}`, 'PRX_FORWARD_DESTINATION_DENIED');
    if (firstReason !== undefined) logger.debug({ req: req.requestId, host: t.host, skipped: firstReason }, 'forward proxy skipped a denied address');

    if (!connect) {
      const address = allowed[0];
      // pool key: the checked address, so pooled connections are never shared with a pool that
      // would resolve the name again
      const authority = fmt(address, t.port);
      // https: SNI and verification use the target's name, not the address connected to
      const tls = t.secure ? { tls: upstreamTls(t.host, authority, t.family === 0 ? { servername: t.host } : {}) } : {};
      const origin: Origin = { host: address, port: t.port, authority, basePath: '', ...tls };
      answer.relay(origin, t.path, t.hostField, new OriginHealth(authority));
      return;
    }

    let socket;
    try {
      socket = await connectFirst(connector, allowed, t.port, deadline, () => req.closed);
    } catch (e) {
      failed(req, answer, e, t);
      return;
    }
    if (req.closed) {
      socket.destroy();
      return;
    }
    logger.debug({ req: req.requestId, client, target: head.target, upstream: fmt(socket.remoteAddress ?? allowed[0], t.port) }, 'forward proxy tunnel open');
    answer.tunnel(socket);
  }

  function failed(req: ForwardRequest, answer: Answer, e: unknown, t: ForwardTarget): void {
    if (req.closed) return;
    if (!(e instanceof DialError)) throw e;
    logger.info({ req: req.requestId, target: req.head.target, kind: e.kind, reason: e.message }, 'forward proxy upstream failure');
    if (e.kind === 'timeout') answer.respond('PRX_FORWARD_TIMEOUT', `${e.message} (${config.timeouts.upstreamConnectMs} ms)`);
    else if (e.kind === 'resolve') answer.respond('PRX_FORWARD_RESOLVE_FAILED', e.message);
    else answer.respond('PRX_FORWARD_CONNECT_FAILED', t.family === 0 ? `${t.host}: ${e.message}` : e.message);
  }

  return {
    handle(req) {
      const answer = new Answer(req);
      handle(req, answer).catch((e: unknown) => {
        logger.error({ err: e, req: req.requestId }, 'forward proxy error');
        if (!answer.used) answer.respond('PRX_FORWARD_INTERNAL', 'internal error in the forward proxy');
      });
    },
  };
}

/** Remembers whether the request was answered, so an unexpected error can still get a 500. */
class Answer {
  used = false;
  constructor(readonly req: ForwardRequest) {}
  /** Answers with `code`'s status from the registry. */
  respond(code: PorticoErrorCode, detail: string, fields?: string): void {
    this.used = true;
    this.req.respond({ status: statusOf(code), code, detail, fields });
  }
  relay(origin: Origin, target: string, host: string, health: OriginHealth): void {
    this.used = true;
    this.req.relay(origin, target, host, health);
  }
  tunnel(socket: import('node:net').Socket): void {
    this.used = true;
    this.req.tunnel(socket);
  }
}
