// A response the proxy makes itself (a parse error, no route, an upstream failure, a timeout, a
// forward-proxy denial, OPTIONS *), as the dispatcher and the forward proxy decide it, whatever
// the front end: each front end writes it in its own protocol (src/http1/local-response.ts).
import type { PorticoErrorCode } from '../errors.js';

/** `detail` empty (or absent): no content. `fields`: extra complete field lines (Location, Allow,
 *  Proxy-Authenticate), each ending in CRLF. */
export interface LocalAnswer {
  readonly status: number;
  /** A Portico code, or the codec's HPE_* name for a request that failed to parse. */
  readonly code?: PorticoErrorCode | `HPE_${string}`;
  readonly detail?: string;
  readonly fields?: string;
  /** The exact content, sent as it is instead of the "STATUS Reason: detail (code)" text: for
   *  answers that are not errors (the ACME HTTP-01 key authorization, src/acme/). */
  readonly body?: string;
}
