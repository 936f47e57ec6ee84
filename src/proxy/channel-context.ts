// What every client connection shares: the codec, limits, configuration, route table holder,
// upstream pools, observers and logger. Built once by ProxyServer.
import type { Logger } from 'pino';
import type { Codec, HeadLimits } from '../wasm/codec.js';
import type { Config } from '../config/config.js';
import type { RouteTableHolder } from '../routing/route-table.js';
import type { PoolRegistry } from '../upstream/pool.js';
import type { HealthPolicy } from '../upstream/balancer.js';
import type { AddressSet } from '../net/address-set.js';
import type { ProxyObserver, RequestRecord, UpstreamErrorKind } from './observer.js';
import type net from 'node:net';
import type { ParsedHead } from '../wasm/parsed-head.js';
import type { Origin } from '../upstream/origin-url.js';
import type { OriginHealth } from '../upstream/balancer.js';
import type { LocalAnswer } from './error-response.js';
import type { Clock } from '../clock.js';
import type { AcmeChallengeAnswers } from '../acme/challenge-answers.js';

/** Fans events out to every registered observer; a throwing observer is ignored. */
export class Observers {
  readonly #list: ProxyObserver[] = [];

  add(o: ProxyObserver): () => void {
    this.#list.push(o);
    return () => {
      const i = this.#list.indexOf(o);
      if (i >= 0) this.#list.splice(i, 1);
    };
  }

  requestFinished(r: RequestRecord): void { for (const o of this.#list) try { o.requestFinished?.(r); } catch { /* observer bug */ } }
  upstreamError(kind: UpstreamErrorKind, authority: string): void { for (const o of this.#list) try { o.upstreamError?.(kind, authority); } catch { /* observer bug */ } }
  clientConnection(delta: 1 | -1): void { for (const o of this.#list) try { o.clientConnection?.(delta); } catch { /* observer bug */ } }
  upstreamSocket(authority: string, reused: boolean): void { for (const o of this.#list) try { o.upstreamSocket?.(authority, reused); } catch { /* observer bug */ } }
}

/** Which requests a listener serves: origin-form to the reverse routes, absolute-form and
 *  CONNECT to the forward proxy, or both on one port. */
export type ListenerMode = 'reverse' | 'forward' | 'both';

/** A forward-proxy request (absolute-form or CONNECT) as the forward handler sees it. Exactly one
 *  of respond/relay/tunnel must be called, once. */
export interface ForwardRequest {
  readonly head: ParsedHead;
  readonly peerAddress: string | undefined;
  readonly requestId: string;
  /** The client went away; nothing more will be written. */
  readonly closed: boolean;
  /** Answer locally (400, 403, 407, 502, 504...). */
  respond(answer: LocalAnswer): void;
  /** Forward an absolute-form http request through the upstream pools to `origin`, with this
   *  origin-form `target` and Host value (RFC 9112 §3.2.2: Host comes from the target). */
  relay(origin: Origin, target: string, host: string, health: OriginHealth): void;
  /** CONNECT succeeded: answer 200 and splice the client to `upstream` (bytes the client sent
   *  after the CONNECT head go first). */
  tunnel(upstream: net.Socket): void;
}

export interface ForwardHandler {
  handle(req: ForwardRequest): void;
}

export interface ChannelContext {
  codec: Codec;
  requestLimits: HeadLimits;
  responseLimits: HeadLimits;
  config: Config;
  logger: Logger;
  routes: RouteTableHolder;
  pools: PoolRegistry;
  healthPolicy: HealthPolicy;
  trustedProxies: AddressSet;
  observers: Observers;
  nextRequestId(): string;
  /** Every timer and duration of the data path (a FakeClock in timeout tests). */
  clock: Clock;
  mode: ListenerMode;
  /** The connection arrived over TLS (X-Forwarded-Proto / Forwarded proto=https). */
  secure: boolean;
  /** Plain listener that answers every request with a 308 to https:// on this port. */
  redirectToHttps: { port: number } | undefined;
  /** The forward proxy, when enabled. */
  forward: ForwardHandler | undefined;
  /** ACME HTTP-01 answers, when `acme` is configured. */
  acmeChallenges: AcmeChallengeAnswers | undefined;
}
