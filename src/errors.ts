// Every Portico error code in one registry (Fastify keeps its codes the same way): the status a
// response with the code gets, the level it is logged at, and what it means. Match on `code`,
// never on a message. The channel, the exchange, the forward proxy, the admin API and the
// configuration loaders all take their codes from here, typed as PorticoErrorCode, so a typo does
// not compile; docs/errors.md's table of codes is checked against this registry in both directions
// (test/errors.test.ts). Codec (parse) errors are HPE_* names in src/wasm/codec-error.ts.

export type ErrorLogLevel = 'error' | 'warn' | 'info';

export interface ErrorCodeInfo {
  /** The status of a response with this code (a local response, or the admin API's answer);
   *  null where the code is never an HTTP answer (startup: the CLI exits 2). */
  readonly status: number | null;
  readonly level: ErrorLogLevel;
  readonly message: string;
}

const e = (status: number | null, level: ErrorLogLevel, message: string): ErrorCodeInfo => ({ status, level, message });

export const ERROR_CODES = {
  // configuration and control plane (startup exits 2; the admin API answers the status)
  PRX_ERR_BAD_UPSTREAM_URL: e(422, 'error', 'an upstream URL is invalid'),
  PRX_ERR_BAD_ROUTE: e(422, 'error', 'a route is invalid or conflicts with another'),
  PRX_ERR_DUPLICATE_ROUTE: e(422, 'error', 'two routes have the same id'),
  PRX_ERR_BAD_CONFIG: e(422, 'error', 'the configuration does not validate'),
  PRX_ERR_CONFIG_FILE: e(500, 'error', 'the configuration file cannot be read or written'),
  PRX_ERR_LISTEN: e(null, 'error', 'a listener cannot be opened'),
  PRX_ERR_WORKER: e(503, 'error', 'a worker process did not start, answer or apply a change in time'),
  PRX_ERR_STORE: e(503, 'error', 'the route store (etcd) cannot be reached or holds invalid data'),
  PRX_ERR_TLS_FILE: e(422, 'error', 'a TLS certificate, key or CA file is unreadable, invalid or does not match its pair'),
  PRX_ERR_ACME: e(null, 'warn', 'an ACME account, order or renewal failed: the current certificate (if any) is kept and the order is retried with backoff'),
  PRX_ERR_ACME_RATE_LIMITED: e(null, 'warn', "the ACME CA refused with a rate limit: the next order waits for the CA's Retry-After"),
  PRX_TLS_NO_CERTIFICATE: e(null, 'warn', 'a TLS handshake for a name that has no certificate yet (ACME issuance pending) was refused'),
  // upstream (the exchange)
  PRX_ERR_UPSTREAM_CONNECT: e(502, 'warn', 'the upstream refused or could not be reached'),
  PRX_ERR_UPSTREAM_TIMEOUT: e(504, 'warn', 'the upstream timed out'),
  PRX_ERR_UPSTREAM_RESET: e(502, 'warn', 'the upstream closed or reset the connection'),
  PRX_ERR_UPSTREAM_INVALID: e(502, 'warn', 'the upstream sent an invalid response'),
  PRX_ERR_POOL_FULL: e(503, 'warn', 'the upstream pool has no free connection in time'),
  PRX_ERR_OVERLOADED: e(503, 'warn', 'every upstream of the route is at its concurrency limit and its wait queue is full or timed out (Retry-After: 1)'),
  PRX_ERR_UPSTREAM_TLS: e(502, 'warn', 'the TLS handshake with an https:// upstream or its certificate verification failed'),
  // the client's request (the channel)
  PRX_BODY_TOO_LARGE: e(413, 'info', 'the request body exceeds limits.maxBodyBytes'),
  PRX_REQUEST_TIMEOUT: e(408, 'info', 'the request head or body was not received in time'),
  PRX_NOT_A_PROXY_REQUEST: e(400, 'info', 'an origin-form request on a forward-proxy-only listener'),
  PRX_CONNECT_DISABLED: e(405, 'info', 'CONNECT on a listener without the forward proxy'),
  PRX_BAD_TARGET: e(400, 'info', 'the request-target or Host is invalid'),
  PRX_PATH_ESCAPE: e(400, 'info', 'the path has a ".." segment'),
  PRX_NO_ROUTE: e(404, 'info', 'no route matches (the status is notFoundStatus, 404 by default)'),
  PRX_REDIRECT_HTTPS: e(308, 'info', 'a plain listener with redirectToHttps: use https://'),
  PRX_REDIRECT_NO_HOST: e(400, 'info', 'redirectToHttps without a valid Host to redirect to'),
  PRX_H2_MALFORMED: e(400, 'info', 'an HTTP/2 request that RFC 9113 calls malformed and node:http2 let through (Host differs from :authority, an unsupported :scheme...)'),
  // the forward proxy
  PRX_FORWARD_CLIENT_DENIED: e(403, 'warn', 'the client address is not in forwardProxy.allowClients'),
  PRX_FORWARD_AUTH_REQUIRED: e(407, 'info', 'proxy authentication is required or failed'),
  PRX_FORWARD_BAD_TARGET: e(400, 'info', 'the forward-proxy target is invalid'),
  PRX_FORWARD_USE_CONNECT: e(400, 'info', 'an https:// target in absolute form: use CONNECT'),
  PRX_FORWARD_PORT_DENIED: e(403, 'warn', 'the destination port is not allowed'),
  PRX_FORWARD_HOST_DENIED: e(403, 'warn', 'the destination host is denied'),
  PRX_FORWARD_DESTINATION_DENIED: e(403, 'warn', 'the destination resolves only to denied addresses'),
  PRX_FORWARD_RESOLVE_FAILED: e(502, 'warn', 'the destination name does not resolve'),
  PRX_FORWARD_CONNECT_FAILED: e(502, 'warn', 'the destination refused or could not be reached'),
  PRX_FORWARD_TIMEOUT: e(504, 'warn', 'the destination did not answer in time'),
  PRX_FORWARD_INTERNAL: e(500, 'error', 'an internal error in the forward proxy'),
} as const satisfies Record<string, ErrorCodeInfo>;

export type PorticoErrorCode = keyof typeof ERROR_CODES;
/** The codes a ProxyError carries (every code; the name is kept for existing imports). */
export type ProxyErrorCode = PorticoErrorCode;

/** The status a response with `code` gets (throws for a code that is never an HTTP answer). */
export function statusOf(code: PorticoErrorCode): number {
  const status = ERROR_CODES[code].status;
  if (status === null) throw new Error(`portico: ${code} is not an HTTP answer`);
  return status;
}

export class ProxyError extends Error {
  readonly code: PorticoErrorCode;
  /** Where in a config or request the problem is (a JSON pointer for config errors). */
  readonly path: string | undefined;

  constructor(code: PorticoErrorCode, message: string, path?: string) {
    super(message);
    this.name = 'ProxyError';
    this.code = code;
    this.path = path;
  }
}
