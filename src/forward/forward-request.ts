// A forward-proxy request (absolute-form or CONNECT) as the forward handler sees it, from the
// dispatcher (src/dispatch/dispatcher.ts), whichever front end received it. Exactly one of
// respond/relay/tunnel is called, once.
import type net from 'node:net';
import type { RequestHead } from '../http/request-head.js';
import type { LocalAnswer } from '../http/local-answer.js';
import type { Origin } from '../upstream/origin-url.js';
import type { OriginHealth } from '../upstream/origin-health.js';

export interface ForwardRequest {
  readonly head: RequestHead;
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
