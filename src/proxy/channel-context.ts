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

/** Handles requests that are not for the reverse proxy (absolute-form and CONNECT). */
export interface ForwardHandler {
  /** True when this request is the forward proxy's to answer. */
  claims(methodId: number, targetForm: number): boolean;
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
}
