// Events the proxy reports to whoever watches it (the admin API's Prometheus metrics, tests).
// src/ never imports admin/: admin registers an observer through ProxyServer.addObserver.

export type UpstreamErrorKind = 'connect' | 'timeout' | 'reset' | 'invalid' | 'pool';

export interface RequestRecord {
  /** Route id, undefined when no route matched (or forward proxy: 'forward'). */
  routeId: string | undefined;
  method: string;
  status: number;
  /** Head parsed -> response finished (or aborted), milliseconds. */
  durationMs: number;
  /** True when the exchange ended abnormally after the response head was sent. */
  aborted: boolean;
}

export interface ProxyObserver {
  requestFinished?(r: RequestRecord): void;
  upstreamError?(kind: UpstreamErrorKind, authority: string): void;
  clientConnection?(delta: 1 | -1): void;
  /** An upstream socket was handed to a request: new or reused from the pool. */
  upstreamSocket?(authority: string, reused: boolean): void;
}
