// One request relayed to one upstream and its response relayed back (Twisted's ProxyClient,
// fixed): the request head is written as soon as a pooled HTTP/1.1 connection is ready, the body
// streams behind it with backpressure, and the response is parsed by the codec and re-framed for
// the client. Failures map to statuses (D23, D24, D26): refused/reset/invalid -> 502, timeouts
// -> 504, no pooled connection in time -> 503; after the response head went out, a failure aborts
// the client connection so the client sees an incomplete message rather than a short "success".
//
// States (State below):
//
//   CONNECTING --(pooled socket ready [#connected]: request head written)--> HEAD
//       ^  |                                                                   |
//       |  +--(no socket: refused, timeout, pool full [#acquireFailed])--+     |
//       |                                                                |     |
//       +--(stale reused socket closed before any response byte: retry   |     |
//           an idempotent bodiless request once [#gone])-----------------|-----+
//                                                                        |     | final response head
//                           1xx: relayed, stays in HEAD                  |     v [#startResponse]
//                           101: tunnel [#interim] ---------------> DONE |   BODY
//                                                                    ^   |     |
//                                                                    +---+-----+ complete [#finish],
//                                                                                failed [#fail],
//                                                                                cut short [#abortClient],
//                                                                                client gone [abort]
//
// Every end goes through #end: DONE, the timer cancelled, the upstream socket released to its
// pool (a complete response that left it reusable) or discarded. Before the response head a
// failure becomes a local answer (#fail -> respondError); after it, the client connection is
// aborted (#abortClient), so the client sees an incomplete message.
import type net from 'node:net';
import { BodyKind, HeadFlag, HeadKind, MethodId } from '../../asm/shared/constants.js';
import type { ParsedHead } from '../wasm/parsed-head.js';
import { HeadReader } from '../wasm/head-reader.js';
import { ChunkedDecoder, type ChunkSink } from '../wasm/chunked-decoder.js';
import { CodecError } from '../wasm/codec-error.js';
import type { OriginPool, PooledSocket, SocketHandler } from '../upstream/pool.js';
import type { OriginHealth } from '../upstream/balancer.js';
import { ProxyError, statusOf, type PorticoErrorCode } from '../errors.js';
import type { LocalAnswer } from '../http1/local-response.js';
import { buildResponseHead, type ClientFraming } from '../http1/response-head.js';
import type { UpstreamErrorKind } from '../dispatch/observer.js';
import type { ChannelContext } from '../dispatch/context.js';
import { keptTrailers } from '../http/trailers.js';

/** What the exchange needs from the client side (the ClientChannel). */
export interface ClientSide {
  readonly clientVersion: number;
  /** The connection will close after this response (Connection: close, HTTP/1.0 without
   *  keep-alive, errors, shutdown). */
  readonly closeAfter: boolean;
  /** The request body has been fully read from the client. */
  readonly requestBodyDone: boolean;
  /** Writes response bytes; false when the client's buffer is full (wait for resumeUpstream). */
  write(bytes: Buffer): boolean;
  /** Bytes queued on the client socket. */
  readonly writableLength: number;
  cork(): void;
  uncork(): void;
  /** The upstream is ready for more request body (connected, or drained). */
  bodyWritable(): void;
  /** The response is complete; `status` for the log. */
  responseDone(status: number, closeClient: boolean): void;
  /** The exchange failed before any response byte: answer with this status. */
  respondError(answer: LocalAnswer): void;
  /** The exchange failed after the response head: the client must see an incomplete message. */
  abortClient(reason: string): void;
  /** 101: hand both sockets to a tunnel. `rest` are upstream bytes after the 101 head. */
  upgrade(head: Buffer, upstream: net.Socket, rest: Buffer): void;
}

export interface ExchangeOptions {
  ctx: ChannelContext;
  client: ClientSide;
  /** The client's request (method, version, body framing). */
  request: ParsedHead;
  /** The head to send upstream (buildRequestHead). */
  requestHead: Buffer;
  pool: OriginPool;
  health: OriginHealth;
  /** The request body goes upstream chunked (re-framed chunk by chunk). */
  chunkedRequest: boolean;
  /** The request asked to upgrade (WebSocket): a 101 turns the exchange into a tunnel. */
  upgrade: boolean;
  /** The Via pseudonym for the response, undefined for none. */
  via: string | undefined;
}

/** Per pooled socket: its response parser (a codec slot), released when the socket closes. */
class ResponseParser {
  readonly reader: HeadReader;
  readonly decoder: ChunkedDecoder;
  constructor(ctx: ChannelContext) {
    this.reader = new HeadReader(ctx.codec, HeadKind.RESPONSE, ctx.responseLimits);
    this.decoder = new ChunkedDecoder(ctx.codec, this.reader.slot);
  }
  release(): void { this.reader.release(); }
}

const enum State { CONNECTING, HEAD, BODY, DONE }

const IDEMPOTENT = new Set([MethodId.GET, MethodId.HEAD, MethodId.OPTIONS, MethodId.TRACE, MethodId.PUT, MethodId.DELETE]);

export class Exchange implements SocketHandler {
  readonly #ctx: ChannelContext;
  readonly #client: ClientSide;
  readonly #request: ParsedHead;
  readonly #requestHead: Buffer;
  readonly #pool: OriginPool;
  readonly #health: OriginHealth;
  readonly #chunkedRequest: boolean;
  readonly #isHead: boolean;
  readonly #wantsUpgrade: boolean;
  /** Via pseudonym for the response, or undefined for none. */
  readonly #via: string | undefined;
  #state = State.CONNECTING;
  #socket: PooledSocket | undefined;
  #parser: ResponseParser | undefined;
  /** Body bytes (already framed) read before the upstream connection was ready. */
  #queued: Buffer[] | undefined;
  #bodyEnded = false;
  #trailers: Buffer[] | undefined;
  #retried = false;
  #gotResponseBytes = false;
  #aborted = false;
  // response state
  #response: ParsedHead | undefined;
  #framing: ClientFraming = 'none';
  #remaining = 0;
  #bodyKind = BodyKind.NONE;
  #closeClient = false;
  #upstreamReusable = false;
  #status = 0;
  #upstreamPaused = false;
  /** The client socket is corked for the rest of this upstream read. */
  #corked = false;
  /** Response trailer section (pieces), kept only when the client gets the response chunked. */
  #responseTrailers: Buffer[] | undefined;
  /** Decoded response chunks go to the client; trailers too when the client's framing is chunked
   *  (re-framed with a length or close-delimited for HTTP/1.0 there is nowhere to put them, and
   *  RFC 9110 §6.5.1 lets a recipient discard them). */
  #responseSink: ChunkSink | undefined;
  /** Made on the first chunked response this exchange relays. */
  #makeResponseSink(): ChunkSink {
    return {
      data: (b) => this.#writeBody(b),
      trailer: (b) => { if (this.#framing === 'chunked') (this.#responseTrailers ??= []).push(Buffer.from(b)); },
    };
  }

  constructor(options: ExchangeOptions) {
    const { ctx, request } = options;
    this.#ctx = ctx;
    this.#client = options.client;
    this.#request = request;
    this.#requestHead = options.requestHead;
    this.#pool = options.pool;
    this.#health = options.health;
    this.#chunkedRequest = options.chunkedRequest;
    this.#isHead = request.methodId === MethodId.HEAD;
    this.#wantsUpgrade = options.upgrade;
    this.#via = options.via;
  }

  get status(): number { return this.#status; }
  get authority(): string { return this.#pool.origin.authority; }

  /** Bytes written upstream that wait in the socket's queue (the kernel did not take them). */
  get upstreamBacklog(): boolean {
    return this.#socket !== undefined && this.#socket.socket.writableLength > 0;
  }

  /** Whether the upstream socket is ready (start() found an idle one, or it connected since). */
  get connected(): boolean { return this.#socket !== undefined; }

  start(): void {
    const idle = this.#pool.acquireIdle();
    if (idle !== undefined) {
      try {
        this.#connected(idle);
      } catch (e) {
        this.#internalError(e);
      }
      return;
    }
    this.#pool.acquire().then((p) => this.#connected(p), (e: Error) => this.#acquireFailed(e)).catch((e: unknown) => this.#internalError(e));
  }

  /** Last resort: a bug must cost this client connection, never the process. */
  #internalError(e: unknown): void {
    this.#ctx.logger.error({ err: e }, 'internal error relaying a request');
    this.#aborted = true;
    this.#end(false);
    this.#client.abortClient('internal error');
  }

  /** The one way an exchange ends, whatever the outcome: DONE, its timer cancelled, its upstream
   *  socket back to the pool when `reuse` (a complete response on a keep-alive connection), else
   *  discarded. False when it had already ended. */
  #end(reuse: boolean): boolean {
    if (this.#state === State.DONE) return false;
    this.#state = State.DONE;
    const p = this.#socket;
    this.#socket = undefined;
    if (p === undefined) return true;
    p.timer.disarm();
    if (!reuse) {
      this.#pool.discard(p);
      return true;
    }
    if (this.#upstreamPaused) p.socket.resume();
    this.#pool.release(p);
    return true;
  }

  #acquireFailed(e: Error): void {
    if (this.#aborted) return;
    const code: PorticoErrorCode = e instanceof ProxyError ? e.code : 'PRX_ERR_UPSTREAM_CONNECT';
    if (code === 'PRX_ERR_POOL_FULL') {
      this.#fail('pool', code, 'no upstream connection available in time');
      return;
    }
    this.#health.failed(this.#ctx.healthPolicy, Date.now());
    if (code === 'PRX_ERR_UPSTREAM_TIMEOUT') this.#fail('timeout', code, e.message);
    else this.#fail('connect', code, e.message);
  }

  #connected(p: PooledSocket): void {
    if (this.#aborted) {
      this.#pool.release(p);
      return;
    }
    this.#socket = p;
    p.handler = this;
    this.#ctx.observers.upstreamSocket(this.authority, p.reused);
    this.#parser = p.context as ResponseParser | undefined;
    if (!this.#parser) {
      this.#parser = new ResponseParser(this.#ctx);
      p.context = this.#parser;
    }
    this.#parser.reader.reset();
    this.#state = State.HEAD;
    const s = p.socket;
    const queued = this.#queued;
    // the common case is the head alone: one write, no cork
    const several = queued !== undefined || (this.#bodyEnded && this.#chunkedRequest);
    if (several) s.cork();
    s.write(this.#requestHead);
    if (queued !== undefined) for (const b of queued) s.write(b);
    this.#queued = undefined;
    if (this.#bodyEnded) this.#writeBodyEnd();
    if (several) s.uncork();
    p.timer.arm(this.#ctx.config.timeouts.upstreamHeadMs);
    if (!this.#bodyEnded) this.#client.bodyWritable();
  }

  // --- request body (called by the client channel) -------------------------------------------

  /** Forwards Content-Length body bytes; false when the caller should pause the client. */
  sendBody(bytes: Buffer): boolean {
    if (!this.#socket) {
      (this.#queued ??= []).push(Buffer.from(bytes));
      return false;
    }
    this.#socket.timer.refresh();
    const s = this.#socket.socket;
    return s.write(bytes) || s.writableLength <= RELAY_HIGH_WATER;
  }

  /** Forwards one decoded chunk, re-framed; false when the caller should pause the client. */
  sendChunk(bytes: Buffer): boolean {
    if (bytes.length === 0) return true;
    const size = chunkSizeLine(bytes.length);
    if (!this.#socket) {
      (this.#queued ??= []).push(size, Buffer.from(bytes), CRLF);
      return false;
    }
    this.#socket.timer.refresh();
    const s = this.#socket.socket;
    s.write(size);
    s.write(bytes);
    return s.write(CRLF) || s.writableLength <= RELAY_HIGH_WATER;
  }

  addTrailer(bytes: Buffer): void {
    (this.#trailers ??= []).push(Buffer.from(bytes));
  }

  endBody(): void {
    this.#bodyEnded = true;
    if (this.#socket) this.#writeBodyEnd();
  }

  #writeBodyEnd(): void {
    if (!this.#chunkedRequest) return;
    const s = this.#socket!.socket;
    s.write(LAST_CHUNK);
    if (this.#trailers !== undefined) s.write(keptTrailers(this.#trailers, this.#request));
    s.write(CRLF);
  }

  // --- upstream socket events (SocketHandler) -----------------------------------------------

  data(chunk: Buffer): void {
    if (this.#state === State.DONE || this.#aborted) return;
    this.#gotResponseBytes = true;
    const p = this.#socket!;
    p.timer.refresh();
    // several writes from one read go out in one writev: chunked framing (size line, data, CRLF
    // per chunk), or a head with body bytes behind it (#startResponse corks then); one write
    // (body-only reads, a head with its small body inline) needs no cork
    if (this.#framing === 'chunked') this.#corkClient();
    try {
      this.#consume(chunk, 0);
    } catch (e) {
      this.#internalError(e);
    } finally {
      if (this.#corked) {
        this.#corked = false;
        this.#client.uncork();
      }
    }
    // `chunk` is a view of the pooled socket's read buffer (owned-reads.ts): what the client
    // socket could not take at once is queued by reference, so that buffer must not be read into
    // again
    if (this.#client.writableLength > 0) p.retainedRead();
  }

  drain(): void {
    if (this.#state !== State.DONE && !this.#bodyEnded) this.#client.bodyWritable();
  }

  gone(reason: 'end' | 'error' | 'close', error?: Error): void {
    try {
      this.#gone(reason, error);
    } catch (e) {
      this.#internalError(e);
    }
  }

  #gone(reason: 'end' | 'error' | 'close', error?: Error): void {
    if (this.#state === State.DONE || this.#aborted) return;
    if (this.#state === State.CONNECTING) return;
    const p = this.#socket!;
    if (this.#state === State.HEAD) {
      // a stale keep-alive socket: retry an idempotent, bodiless request once on a new socket
      if (p.reused && !this.#gotResponseBytes && !this.#retried && this.#request.bodyKind === BodyKind.NONE && IDEMPOTENT.has(this.#request.methodId)) {
        this.#retried = true;
        p.timer.disarm();
        this.#pool.discard(p);
        this.#socket = undefined;
        this.#state = State.CONNECTING;
        this.#queued = undefined;
        this.start();
        return;
      }
      const why = reason === 'error' ? `upstream error: ${(error as NodeJS.ErrnoException)?.code ?? error?.message}` : 'upstream closed the connection before a complete response head';
      this.#fail('reset', 'PRX_ERR_UPSTREAM_RESET', why);
      return;
    }
    // State.BODY
    if (this.#bodyKind === BodyKind.CLOSE_DELIMITED && reason !== 'error') {
      this.#upstreamReusable = false;
      if (this.#framing === 'chunked') this.#writeClient(LAST_CHUNK_CRLF);
      this.#finish(false);
      return;
    }
    this.#ctx.observers.upstreamError('reset', this.authority);
    this.#abortClient(`upstream ${reason} before the response body was complete`);
  }

  // --- response parsing -------------------------------------------------------------------------

  #consume(chunk: Buffer, off: number): void {
    const end = chunk.length;
    while (off < end && this.#state !== State.DONE) {
      if (this.#state === State.HEAD) {
        const reader = this.#parser!.reader;
        let n: number;
        try {
          n = reader.feed(chunk, off, end, this.#isHead);
        } catch (e) {
          const detail = e instanceof CodecError ? `invalid response from upstream: ${e.message} (${e.info.name})` : String(e);
          this.#fail('invalid', 'PRX_ERR_UPSTREAM_INVALID', detail);
          return;
        }
        if (n === 0) return;
        off += n;
        const head = reader.head!;
        reader.reset();
        if (head.status < 200) {
          if (!this.#interim(head, chunk, off)) return;
          continue;
        }
        if (!this.#startResponse(head, chunk, off)) return;
        continue;
      }
      off = this.#relayBody(chunk, off, end);
    }
  }

  /** 1xx: relay 100/103 to HTTP/1.1 clients (RFC 9110 §15.2), tunnel on 101. */
  #interim(head: ParsedHead, chunk: Buffer, off: number): boolean {
    if (head.status === 101) {
      if (!this.#wantsUpgrade) {
        this.#fail('invalid', 'PRX_ERR_UPSTREAM_INVALID', 'upstream switched protocols without an Upgrade request');
        return false;
      }
      // the socket leaves the pool for the tunnel: ended without release or discard
      this.#state = State.DONE; // (detach cancels the socket's timer: the tunnel has its own)
      this.#status = 101;
      const out = buildResponseHead({ head, framing: 'none', contentLength: 0, keepContentLength: false, upgrade: true, close: false, via: this.#via });
      this.#pool.detach(this.#socket!);
      this.#client.upgrade(out, this.#socket!.socket, chunk.subarray(off));
      return false;
    }
    if (this.#client.clientVersion >= 11) {
      this.#client.write(buildResponseHead({ head, framing: 'none', contentLength: 0, keepContentLength: false, upgrade: false, close: false, via: this.#via }));
    }
    return true;
  }

  /** The head ended at chunk[off]; the bytes after it in this read are body (or extra bytes).
   *  Returns whether the response continues (its body is relayed by #relayBody). */
  #startResponse(head: ParsedHead, chunk: Buffer, off: number): boolean {
    if (head.has(HeadFlag.TE_OTHER_CODINGS)) {
      this.#fail('invalid', 'PRX_ERR_UPSTREAM_INVALID', 'upstream used a transfer coding other than chunked');
      return false;
    }
    // kept for the trailer section's Connection rules only; a copy, since the head's bytes are in
    // the pooled socket's read buffer, valid only during this read
    if (head.bodyKind === BodyKind.CHUNKED) this.#response = head.copy();
    this.#status = head.status;
    this.#bodyKind = head.bodyKind;
    this.#health.ok();
    const client11 = this.#client.clientVersion >= 11;
    // an HTTP/1.0 client kept alive (it asked) can only be answered with a length or no content
    let close = this.#client.closeAfter || !this.#client.requestBodyDone;
    let framing: ClientFraming;
    switch (head.bodyKind) {
      case BodyKind.NONE: framing = 'none'; break;
      case BodyKind.LENGTH: framing = 'length'; this.#remaining = head.contentLength; break;
      default: framing = client11 ? 'chunked' : 'close';
    }
    if (framing === 'close') close = true;
    this.#framing = framing;
    this.#closeClient = close;
    const upstreamKeepAlive = head.version === 11 ? !head.has(HeadFlag.CONNECTION_CLOSE) : head.has(HeadFlag.CONNECTION_KEEP_ALIVE);
    this.#upstreamReusable = upstreamKeepAlive && head.bodyKind !== BodyKind.CLOSE_DELIMITED;
    // a small Content-Length body that came whole with the head goes out in the head's buffer
    const inline = framing === 'length' && this.#remaining <= INLINE_BODY_MAX && chunk.length - off >= this.#remaining
      ? chunk.subarray(off, off + this.#remaining)
      : undefined;
    const out = buildResponseHead({
      head, framing, contentLength: head.contentLength,
      keepContentLength: head.bodyKind === BodyKind.NONE && (this.#isHead || head.status === 304),
      upgrade: false, close, keepAlive: !client11, via: this.#via,
    }, inline);
    this.#state = State.BODY;
    // from the head to the body: the idle timeout now (data() has just refreshed the deadline, so
    // with the same duration, the default, there is nothing to re-arm)
    const t = this.#ctx.config.timeouts;
    if (t.upstreamIdleMs !== t.upstreamHeadMs) this.#socket!.timer.arm(t.upstreamIdleMs);
    if (framing === 'chunked' || (inline === undefined && off < chunk.length)) this.#corkClient();
    this.#writeClient(out);
    if (inline !== undefined) {
      off += inline.length;
      this.#remaining = 0;
    }
    if (head.bodyKind === BodyKind.NONE || (head.bodyKind === BodyKind.LENGTH && this.#remaining === 0)) {
      this.#finish(off < chunk.length);
      return false;
    }
    if (head.bodyKind === BodyKind.CHUNKED) this.#parser!.decoder.begin();
    return true;
  }

  /** Relays response body bytes from chunk[off, end); returns the new offset. */
  #relayBody(chunk: Buffer, off: number, end: number): number {
    switch (this.#bodyKind) {
      case BodyKind.LENGTH: {
        const take = Math.min(this.#remaining, end - off);
        this.#writeBody(chunk.subarray(off, off + take));
        this.#remaining -= take;
        if (this.#remaining === 0) this.#finish(off + take < end);
        return off + take;
      }
      case BodyKind.CHUNKED: {
        const decoder = this.#parser!.decoder;
        let n: number;
        try {
          n = decoder.decode(chunk, off, end, this.#responseSink ??= this.#makeResponseSink());
        } catch (e) {
          this.#ctx.observers.upstreamError('invalid', this.authority);
          this.#abortClient(`invalid chunked response body: ${(e as Error).message}`);
          return end;
        }
        if (decoder.done) {
          if (this.#framing === 'chunked') this.#writeLastChunk();
          this.#finish(off + n < end);
        }
        return off + n;
      }
      default: // close-delimited
        this.#writeBody(chunk.subarray(off, end));
        return end;
    }
  }

  #writeBody(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.#framing === 'chunked') {
      this.#writeClient(chunkSizeLine(bytes.length));
      this.#writeClient(bytes);
      this.#writeClient(CRLF);
    } else {
      this.#writeClient(bytes);
    }
  }

  /** The last chunk and the trailer section (RFC 9112 §7.1.2), with the forwardable trailers. */
  #writeLastChunk(): void {
    const trailers = this.#responseTrailers;
    if (trailers === undefined) {
      this.#writeClient(LAST_CHUNK_CRLF);
      return;
    }
    this.#responseTrailers = undefined;
    this.#writeClient(Buffer.concat([LAST_CHUNK, keptTrailers(trailers, this.#response!), CRLF]));
  }

  /** Corks the client socket until the end of the current upstream read (data()). */
  #corkClient(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.#client.cork();
  }

  #writeClient(bytes: Buffer): void {
    if (!this.#client.write(bytes) && !this.#upstreamPaused && this.#socket && this.#client.writableLength > RELAY_HIGH_WATER) {
      // slow client: stop reading the upstream until the client drains (D27). The upstream is
      // not silent, we stopped listening: #timeout re-arms the idle timer meanwhile.
      this.#upstreamPaused = true;
      this.#socket.socket.pause();
    }
  }

  /** The client drained its write buffer. */
  resumeUpstream(): void {
    if (this.#upstreamPaused && this.#socket && !this.#aborted) {
      this.#upstreamPaused = false;
      this.#socket.socket.resume();
      this.#socket.timer.refresh();
    }
  }

  // --- endings ----------------------------------------------------------------------------------

  /** The response is complete. `extra`: the upstream sent bytes beyond it (an unsolicited
   *  response, or garbage): that connection is out of sync and must not be reused
   *  (response-queue poisoning). */
  #finish(extra: boolean): void {
    if (!this.#end(this.#upstreamReusable && this.#bodyEnded && !extra)) return;
    this.#client.responseDone(this.#status, this.#closeClient);
  }

  /** The exchange failed: before the response head, the client gets `code`'s status. */
  #fail(kind: UpstreamErrorKind, code: PorticoErrorCode, detail: string): void {
    const headSent = this.#state === State.BODY;
    if (!this.#end(false)) return;
    this.#ctx.observers.upstreamError(kind, this.authority);
    if (headSent) this.#client.abortClient(detail);
    else {
      this.#status = statusOf(code);
      this.#client.respondError({ status: this.#status, code, detail });
    }
  }

  #abortClient(reason: string): void {
    if (!this.#end(false)) return;
    this.#client.abortClient(reason);
  }

  /** The upstream socket's timer expired (SocketHandler). */
  timeout(): void {
    try {
      this.#timedOut();
    } catch (e) {
      this.#internalError(e);
    }
  }

  #timedOut(): void {
    if (this.#upstreamPaused) {
      // we are the ones not reading (slow client): not an upstream timeout
      this.#socket!.timer.refresh();
      return;
    }
    if (this.#state === State.HEAD) {
      this.#health.failed(this.#ctx.healthPolicy, Date.now());
      this.#fail('timeout', 'PRX_ERR_UPSTREAM_TIMEOUT', `upstream sent no response head within ${this.#ctx.config.timeouts.upstreamHeadMs} ms`);
    } else if (this.#state === State.BODY) {
      this.#ctx.observers.upstreamError('timeout', this.authority);
      this.#abortClient(`upstream idle for ${this.#ctx.config.timeouts.upstreamIdleMs} ms during the response body`);
    }
  }

  /** The client went away (D30): cancel the upstream request. */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#end(false);
  }
}

/** Bytes a relay may queue on a socket before it stops reading the other side (D27). Above
 *  Node's 16 KiB default so a fast transfer is not paused and resumed on every 64 KiB read;
 *  Twisted's transport buffer is 64 KiB. Per direction and connection, so memory stays bounded. */
const RELAY_HIGH_WATER = 256 * 1024;
/** Largest response body copied into the head's buffer (one write instead of a writev of two);
 *  above it the copy costs more than the second iovec saves. */
const INLINE_BODY_MAX = 4 * 1024;
const CRLF = Buffer.from('\r\n', 'latin1');
/** A chunk's size line (RFC 9112 §7.1): hex size, CRLF; the data and a CRLF follow. */
const chunkSizeLine = (length: number): Buffer => Buffer.from(`${length.toString(16)}\r\n`, 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n', 'latin1');
const LAST_CHUNK_CRLF = Buffer.from('0\r\n\r\n', 'latin1');
