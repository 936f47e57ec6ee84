// Events the proxy reports to whoever watches it (the admin API's Prometheus metrics, guarded
// route changes, tests). src/ never imports admin/: admin registers an observer through
// ProxyServer.addObserver.

export type UpstreamErrorKind = 'connect' | 'timeout' | 'reset' | 'invalid' | 'pool';

/** Why a try was retried (src/dispatch/relay-plan.ts TryFailure). */
export type RetryReason = 'connect' | 'reset' | 'timeout' | 'status';

/** The protocol a client request arrived in. */
export type ClientProtocol = 'http/1.1' | 'h2';

export interface RequestRecord {
  /** Route id, undefined when no route matched (or forward proxy: 'forward'). */
  routeId: string | undefined;
  method: string;
  status: number;
  /** Head parsed -> response finished (or aborted), milliseconds. */
  durationMs: number;
  /** True when the exchange ended abnormally after the response head was sent. */
  aborted: boolean;
  protocol: ClientProtocol;
}

export interface ProxyObserver {
  requestFinished?(r: RequestRecord): void;
  upstreamError?(kind: UpstreamErrorKind, authority: string): void;
  clientConnection?(delta: 1 | -1): void;
  /** An upstream socket was handed to a request: new or reused from the pool. */
  upstreamSocket?(authority: string, reused: boolean): void;
  /** A request was retried on another upstream (or the same one, after a stale connection). */
  retried?(routeId: string, reason: RetryReason): void;
  /** A retry the policy allowed was refused by the route's retry budget. */
  retryBudgetExhausted?(routeId: string): void;
  /** A request was refused (503) by the route's concurrency limit or queue. */
  overloaded?(routeId: string): void;
  /** An upstream was ejected by outlier detection. */
  upstreamEjected?(authority: string, routeId: string): void;
  /** An active health probe of an upstream passed or failed (where this process probes). */
  healthChecked?(authority: string, pass: boolean): void;
}

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
  retried(routeId: string, reason: RetryReason): void { for (const o of this.#list) try { o.retried?.(routeId, reason); } catch { /* observer bug */ } }
  retryBudgetExhausted(routeId: string): void { for (const o of this.#list) try { o.retryBudgetExhausted?.(routeId); } catch { /* observer bug */ } }
  overloaded(routeId: string): void { for (const o of this.#list) try { o.overloaded?.(routeId); } catch { /* observer bug */ } }
  upstreamEjected(authority: string, routeId: string): void { for (const o of this.#list) try { o.upstreamEjected?.(authority, routeId); } catch { /* observer bug */ } }
  healthChecked(authority: string, pass: boolean): void { for (const o of this.#list) try { o.healthChecked?.(authority, pass); } catch { /* observer bug */ } }
}
