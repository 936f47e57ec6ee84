// Where an exchange delivers the upstream's response: the front end that received the request,
// which frames it in its own protocol (src/http1/response.ts re-frames it for an HTTP/1.1
// client: Content-Length, chunked or close-delimited, Connection, HEAD rules). The exchange
// parses the upstream response and knows nothing of the client's protocol.
import type net from 'node:net';
import type { ResponseHead } from '../http/response-head.js';
import type { LocalAnswer } from '../http/local-answer.js';

export interface ResponseSink {
  /** The upstream is ready for (more) request body: it connected, or its socket drained. */
  bodyWritable(): void;
  /** A 1xx response other than 101 (100 Continue, 103 Early Hints: RFC 9110 §15.2). */
  interim(head: ResponseHead): void;
  /** 101 Switching Protocols to an upgrade request: the front end takes the upstream socket for a
   *  tunnel; `rest` are upstream bytes after the 101 head. */
  upgrade(head: ResponseHead, upstream: net.Socket, rest: Buffer): void;
  /** The final response head (valid only during the call: it may be a view of a read buffer).
   *  `body`: the whole body when it arrived with the head and is small (the response is then
   *  complete: end() follows). Returns false when the client takes no more for now: the exchange
   *  stops reading the upstream until resumeUpstream(). */
  head(head: ResponseHead, body: Buffer | undefined): boolean;
  /** Response content, its upstream framing removed (a view, valid only during the call unless
   *  the sink queues it: then queuedBytes > 0 and the exchange lends the read buffer). Same
   *  return value as head(). */
  body(bytes: Buffer): boolean;
  /** Whether the client can receive trailer fields (the exchange collects them only then). */
  readonly takesTrailers: boolean;
  /** The response is complete; `trailers`: the forwardable trailer field lines, if any. */
  end(trailers: Buffer | undefined): void;
  /** The exchange failed before any response byte went to the client: answer this instead. */
  fail(answer: LocalAnswer): void;
  /** The exchange failed after the response head went out: the client must see the response
   *  cut short (an HTTP/1.1 connection is closed; an HTTP/2 stream is reset, with `h2Code` when
   *  the upstream reset its own HTTP/2 stream with one, else INTERNAL_ERROR). */
  abort(reason: string, h2Code?: number): void;
  /** One upstream read has been relayed (a sink that corks its socket uncorks here). */
  readDone(): void;
  /** Response bytes the client side still holds queued. */
  readonly queuedBytes: number;
}
