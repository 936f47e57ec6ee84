// Proxy errors with stable codes (PRX_ERR_*), the way undici and Fastify keep theirs: match on
// `code`, never on the message. Codec (parse) errors are CodecError in src/wasm/codec-error.ts.

export const PROXY_ERROR_CODES = {
  PRX_ERR_BAD_UPSTREAM_URL: 'an upstream URL is invalid',
  PRX_ERR_BAD_ROUTE: 'a route is invalid or conflicts with another',
  PRX_ERR_DUPLICATE_ROUTE: 'two routes have the same id',
  PRX_ERR_BAD_CONFIG: 'the configuration does not validate',
  PRX_ERR_CONFIG_FILE: 'the configuration file cannot be read or written',
  PRX_ERR_LISTEN: 'a listener cannot be opened',
  PRX_ERR_WORKER: 'a worker process did not start, answer or apply a change in time',
  PRX_ERR_STORE: 'the route store (etcd) cannot be reached or holds invalid data',
  PRX_ERR_UPSTREAM_CONNECT: 'the upstream refused or could not be reached',
  PRX_ERR_UPSTREAM_TIMEOUT: 'the upstream timed out',
  PRX_ERR_UPSTREAM_RESET: 'the upstream closed or reset the connection',
  PRX_ERR_UPSTREAM_INVALID: 'the upstream sent an invalid response',
  PRX_ERR_POOL_FULL: 'the upstream pool has no free connection in time',
  PRX_ERR_TLS_FILE: 'a TLS certificate, key or CA file is unreadable, invalid or does not match its pair',
  PRX_ERR_UPSTREAM_TLS: 'the TLS handshake with an https:// upstream or its certificate verification failed',
} as const;

export type ProxyErrorCode = keyof typeof PROXY_ERROR_CODES;

export class ProxyError extends Error {
  readonly code: ProxyErrorCode;
  /** Where in a config or request the problem is (a JSON pointer for config errors). */
  readonly path: string | undefined;

  constructor(code: ProxyErrorCode, message: string, path?: string) {
    super(message);
    this.name = 'ProxyError';
    this.code = code;
    this.path = path;
  }
}
