// What every front end, the dispatcher and the exchanges share: the codec, limits, configuration,
// route table holder, upstream pools, observers, logger and clock. Built once by ProxyServer.
import type { Logger } from 'pino';
import type { Codec, HeadLimits } from '../wasm/codec.js';
import type { Config } from '../config/config.js';
import type { RouteTableHolder } from '../routing/route-table.js';
import type { PoolRegistry } from '../upstream/pool.js';
import type { H2PoolRegistry } from '../upstream/h2-session-pool.js';
import type { AddressSet } from '../net/address-set.js';
import type { ForwardHandler } from '../forward/forward-request.js';
import type { Observers } from './observer.js';
import type { Clock } from '../clock.js';
import type { IdleList } from '../net/idle-list.js';
import type { AcmeChallengeAnswers } from '../acme/challenge-answers.js';

export interface ProxyContext {
  codec: Codec;
  requestLimits: HeadLimits;
  responseLimits: HeadLimits;
  config: Config;
  logger: Logger;
  routes: RouteTableHolder;
  pools: PoolRegistry;
  /** HTTP/2 session pools, for routes with upstreamProtocol h2 / h2c. */
  h2Pools: H2PoolRegistry;
  trustedProxies: AddressSet;
  observers: Observers;
  nextRequestId(): string;
  /** Every timer and duration of the data path (a FakeClock in timeout tests). */
  clock: Clock;
  /** The idle keep-alive HTTP/1.1 connections, on one timer (src/net/idle-list.ts). */
  idle: IdleList;
  /** The forward proxy, when enabled. */
  forward: ForwardHandler | undefined;
  /** ACME HTTP-01 answers, when `acme` is configured (src/acme/challenge-answers.ts). */
  acmeChallenges: AcmeChallengeAnswers | undefined;
}

/** Which requests a listener serves: origin-form to the reverse routes, absolute-form and
 *  CONNECT to the forward proxy, or both on one port. */
export type ListenerMode = 'reverse' | 'forward' | 'both';

/** What a listener adds to the shared context: one dispatcher per listener. */
export interface ListenerRole {
  mode: ListenerMode;
  /** The connections arrive over TLS (X-Forwarded-Proto / Forwarded proto=https). */
  secure: boolean;
  /** Plain listener that answers every request with a 308 to https:// on this port. */
  redirectToHttps: { port: number } | undefined;
}
