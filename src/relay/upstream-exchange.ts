// What a front end drives to relay one request upstream, whichever protocol the route speaks to
// its upstream: HTTP/1.1 on a pooled connection (./exchange.ts) or a stream of a pooled HTTP/2
// session (./h2-exchange.ts, `upstreamProtocol` "h2" or "h2c"). The front end feeds the request
// body in and gets the response through its ResponseSink (./response-sink.ts); it never knows
// which one it drives.
export interface UpstreamExchange {
  /** The final response's status once its head arrived (0 before). */
  readonly status: number;
  /** Request body bytes written upstream that the transport has not taken yet (a caller that
   *  lent its read buffer keeps it lent). */
  readonly upstreamBacklog: boolean;
  /** The upstream is ready for request body (start() found a connection, or one connected). */
  readonly connected: boolean;
  start(): void;
  /** Forwards body bytes as they are (a body of known length); false when the caller should stop
   *  reading its client until the sink's bodyWritable(). */
  sendBody(bytes: Buffer): boolean;
  /** Forwards one piece of a body of unknown length; same return value as sendBody. */
  sendChunk(bytes: Buffer): boolean;
  /** Trailer field lines of the request body (`Name: value\r\n`, filtered when the body ends). */
  addTrailer(bytes: Buffer): void;
  endBody(): void;
  /** The client went away: cancel the upstream request. */
  abort(): void;
  /** The client drained what it had queued: read the upstream again. */
  resumeUpstream(): void;
}
