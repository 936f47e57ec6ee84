// One request relayed to one upstream and its response relayed back (Twisted's ProxyClient,
// fixed): the request head is written as soon as a pooled HTTP/1.1 connection is ready, the body
// streams behind it with backpressure, and the response is parsed by the codec and handed to the
// front end's ResponseSink, which frames it for its client. Failures map to statuses (RFC 9110
// §15.6.3, §15.6.5): refused/reset/invalid -> 502, timeouts -> 504, no pooled connection in time
// -> 503; after the response head went out, the sink is told to cut the response short, so the
// client sees an incomplete message rather than a short "success".
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
//                                                                                cut short [#cutShort],
//                                                                                client gone [abort]
//
// Every end goes through #end: DONE, the timer disarmed, the upstream socket released to its pool
// (a complete response that left it reusable) or discarded.
import type net from 'node:net';
import { BodyKind, HeadFlag, HeadKind, MethodId } from '../../asm/shared/constants.js';
import type { ParsedHead } from '../wasm/parsed-head.js';
import { HeadReader } from '../wasm/head-reader.js';
import { ChunkedDecoder, type ChunkSink } from '../wasm/chunked-decoder.js';
import { CodecError } from '../wasm/codec-error.js';
import type { PooledSocket, SocketHandler } from '../upstream/pool.js';
import { ProxyError, statusOf, type PorticoErrorCode } from '../errors.js';
import { keptTrailers } from '../http/trailers.js';
import type { ProxyContext } from '../dispatch/context.js';
import type { RelayPlan } from '../dispatch/relay-plan.js';
import type { UpstreamErrorKind } from '../dispatch/observer.js';
import { guard, type Guarded } from '../guard.js';
import type { ResponseSink } from './response-sink.js';

/** Per pooled socket: its response parser (a codec slot), released when the socket closes. */
class ResponseParser {
  readonly reader: HeadReader;
  readonly decoder: ChunkedDecoder;
  constructor(ctx: ProxyContext) {
    this.reader = new HeadReader(ctx.codec, HeadKind.RESPONSE, ctx.responseLimits);
    this.decoder = new ChunkedDecoder(ctx.codec, this.reader.slot);
  }
  release(): void { this.reader.release(); }
}

const enum State { CONNECTING, HEAD, BODY, DONE }

/** RFC 9110 §9.2.2. */
const IDEMPOTENT = new Set<number>([MethodId.GET, MethodId.HEAD, MethodId.OPTIONS, MethodId.TRACE, MethodId.PUT, MethodId.DELETE]);

export class Exchange implements SocketHandler, Guarded {
  readonly #ctx: ProxyContext;
  readonly #plan: RelayPlan;
  readonly #sink: ResponseSink;
  readonly #isHead: boolean;
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
  /** The response head, kept (a copy) for its Connection options when trailers may follow. */
  #response: ParsedHead | undefined;
  #remaining = 0;
  #bodyKind = BodyKind.NONE;
  #upstreamReusable = false;
  #status = 0;
  #upstreamPaused = false;
  /** The response's trailer section (pieces), kept only when the sink takes trailers. */
  #responseTrailers: Buffer[] | undefined;
  /** Decoded response chunks go to the sink; trailers are kept when it takes them. */
  #responseSink: ChunkSink | undefined;

  constructor(ctx: ProxyContext, plan: RelayPlan, sink: ResponseSink) {
    this.#ctx = ctx;
    this.#plan = plan;
    this.#sink = sink;
    this.#isHead = plan.entry.head.methodId === MethodId.HEAD;
  }

  /** The final response's status once its head arrived (0 before). */
  get status(): number { return this.#status; }

  /** Bytes written upstream that wait in the socket's queue (the kernel did not take them). */
  get upstreamBacklog(): boolean {
    return this.#socket !== undefined && this.#socket.socket.writableLength > 0;
  }

  /** Whether the upstream socket is ready (start() found an idle one, or it connected since). */
  get connected(): boolean { return this.#socket !== undefined; }

  start(): void {
    const pool = this.#plan.pool;
    const idle = pool.acquireIdle();
    if (idle !== undefined) {
      guard(this, this.#connected, idle);
      return;
    }
    pool.acquire().then(
      (p) => guard(this, this.#connected, p),
      (e: Error) => guard(this, this.#acquireFailed, e),
    );
  }

  /** Guarded: a bug costs this exchange and its client, never the process. */
  internalError(e: unknown): void {
    this.#ctx.logger.error({ err: e, req: this.#plan.entry.id }, 'internal error relaying a request');
    this.#aborted = true;
    this.#end(false);
    this.#sink.abort('internal error');
  }

  /** The one way an exchange ends, whatever the outcome: DONE, its timer disarmed, its upstream
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
      this.#plan.pool.discard(p);
      return true;
    }
    if (this.#upstreamPaused) p.socket.resume();
    this.#plan.pool.release(p);
    return true;
  }

  #acquireFailed(e: Error): void {
    if (this.#aborted) {
      return;
    }
    const code: PorticoErrorCode = e instanceof ProxyError ? e.code : 'PRX_ERR_UPSTREAM_CONNECT';
    if (code === 'PRX_ERR_POOL_FULL') {
      this.#fail('pool', code, 'no upstream connection available in time');
      return;
    }
    this.#plan.health.failed(this.#ctx.healthPolicy, this.#ctx.clock.now());
    this.#fail(code === 'PRX_ERR_UPSTREAM_TIMEOUT' ? 'timeout' : 'connect', code, e.message);
  }

  #connected(p: PooledSocket): void {
    if (this.#aborted) {
      this.#plan.pool.release(p);
      return;
    }
    this.#socket = p;
    p.handler = this;
    this.#ctx.observers.upstreamSocket(this.#plan.origin.authority, p.reused);
    let parser = p.context as ResponseParser | undefined;
    if (parser === undefined) {
      parser = new ResponseParser(this.#ctx);
      p.context = parser;
    }
    this.#parser = parser;
    parser.reader.reset();
    this.#state = State.HEAD;
    const s = p.socket;
    const queued = this.#queued;
    // the common case is the head alone: one write, no cork
    const several = queued !== undefined || (this.#bodyEnded && this.#plan.chunked);
    if (several) s.cork();
    s.write(this.#plan.upstreamHead);
    if (queued !== undefined) for (const b of queued) s.write(b);
    this.#queued = undefined;
    if (this.#bodyEnded) this.#writeBodyEnd();
    if (several) s.uncork();
    p.timer.arm(this.#ctx.config.timeouts.upstreamHeadMs);
    if (!this.#bodyEnded) this.#sink.bodyWritable();
  }

  // --- request body (from the front end) ------------------------------------------------------

  /** Forwards body bytes as they are (a Content-Length body); false when the caller should stop
   *  reading its client until bodyWritable(). */
  sendBody(bytes: Buffer): boolean {
    if (!this.#socket) {
      (this.#queued ??= []).push(Buffer.from(bytes));
      return false;
    }
    this.#socket.timer.refresh();
    const s = this.#socket.socket;
    return s.write(bytes) || s.writableLength <= RELAY_HIGH_WATER;
  }

  /** Forwards one piece of a body of unknown length, framed as a chunk (RFC 9112 §7.1); same
   *  return value as sendBody. */
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

  /** Trailer field lines of a chunked request body (filtered when the body ends). */
  addTrailer(bytes: Buffer): void {
    (this.#trailers ??= []).push(Buffer.from(bytes));
  }

  endBody(): void {
    this.#bodyEnded = true;
    if (this.#socket) this.#writeBodyEnd();
  }

  #writeBodyEnd(): void {
    if (!this.#plan.chunked) return;
    const s = this.#socket!.socket;
    s.write(LAST_CHUNK);
    if (this.#trailers !== undefined) s.write(keptTrailers(this.#trailers, this.#plan.entry.head));
    s.write(CRLF);
  }

  // --- upstream socket events (SocketHandler) -----------------------------------------------

  data(chunk: Buffer): void {
    if (this.#state === State.DONE || this.#aborted) return;
    this.#gotResponseBytes = true;
    const p = this.#socket!;
    p.timer.refresh();
    guard(this, this.#consume, chunk);
    this.#sink.readDone();
    // `chunk` may be a view of the pooled socket's read buffer (src/net/owned-reads.ts): what the
    // client side could not take at once is queued by reference, so that buffer must not be
    // read into again
    if (this.#sink.queuedBytes > 0) p.reads?.lend();
  }

  drain(): void {
    if (this.#state !== State.DONE && !this.#bodyEnded) this.#sink.bodyWritable();
  }

  gone(reason: 'end' | 'error' | 'close', error?: Error): void {
    if (this.#state === State.DONE || this.#aborted || this.#state === State.CONNECTING) return;
    guard(this, this.#gone, { reason, error });
  }

  #gone({ reason, error }: { reason: 'end' | 'error' | 'close'; error?: Error }): void {
    const p = this.#socket!;
    if (this.#state === State.HEAD) {
      // a stale keep-alive socket: retry an idempotent, bodiless request once on a new socket
      const request = this.#plan.entry.head;
      if (p.reused && !this.#gotResponseBytes && !this.#retried && request.bodyKind === BodyKind.NONE && IDEMPOTENT.has(request.methodId)) {
        this.#retried = true;
        p.timer.disarm();
        this.#plan.pool.discard(p);
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
    // State.BODY: a close-delimited body ends with the connection (RFC 9112 §6.3)
    if (this.#bodyKind === BodyKind.CLOSE_DELIMITED && reason !== 'error') {
      this.#upstreamReusable = false;
      this.#finish(false);
      return;
    }
    this.#ctx.observers.upstreamError('reset', this.#plan.origin.authority);
    this.#cutShort(`upstream ${reason} before the response body was complete`);
  }

  // --- response parsing -------------------------------------------------------------------------

  #consume(chunk: Buffer): void {
    let off = 0;
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

  /** 1xx: relayed (RFC 9110 §15.2); 101 turns the exchange into a tunnel. */
  #interim(head: ParsedHead, chunk: Buffer, off: number): boolean {
    if (head.status !== 101) {
      this.#sink.interim(head);
      return true;
    }
    if (!this.#plan.upgrade) {
      this.#fail('invalid', 'PRX_ERR_UPSTREAM_INVALID', 'upstream switched protocols without an Upgrade request');
      return false;
    }
    // the socket leaves the pool for the tunnel: ended without release or discard
    this.#state = State.DONE;
    this.#status = 101;
    const p = this.#socket!;
    this.#socket = undefined;
    this.#plan.pool.detach(p);
    this.#sink.upgrade(head, p.socket, chunk.subarray(off));
    return false;
  }

  /** The head ended at chunk[off]; the bytes after it in this read are body (or extra bytes).
   *  Returns whether the response continues (its body is relayed by #relayBody). */
  #startResponse(head: ParsedHead, chunk: Buffer, off: number): boolean {
    if (head.has(HeadFlag.TE_OTHER_CODINGS)) {
      this.#fail('invalid', 'PRX_ERR_UPSTREAM_INVALID', 'upstream used a transfer coding other than chunked');
      return false;
    }
    this.#status = head.status;
    const kind = head.bodyKind;
    this.#bodyKind = kind;
    this.#plan.health.ok();
    const upstreamKeepAlive = head.version === 11 ? !head.has(HeadFlag.CONNECTION_CLOSE) : head.has(HeadFlag.CONNECTION_KEEP_ALIVE);
    this.#upstreamReusable = upstreamKeepAlive && kind !== BodyKind.CLOSE_DELIMITED;
    if (kind === BodyKind.LENGTH) this.#remaining = head.contentLength;
    // a small Content-Length body that came whole with the head goes to the sink with it
    const whole = kind === BodyKind.LENGTH && this.#remaining <= INLINE_BODY_MAX && chunk.length - off >= this.#remaining
      ? chunk.subarray(off, off + this.#remaining)
      : undefined;
    this.#state = State.BODY;
    // from the head to the body: the idle timeout now (data() has just refreshed the deadline, so
    // with the same duration, the default, there is nothing to re-arm)
    const t = this.#ctx.config.timeouts;
    if (t.upstreamIdleMs !== t.upstreamHeadMs) this.#socket!.timer.arm(t.upstreamIdleMs);
    const more = this.#sink.head(head, whole);
    if (whole !== undefined) {
      off += whole.length;
      this.#remaining = 0;
    }
    if (kind === BodyKind.NONE || (kind === BodyKind.LENGTH && this.#remaining === 0)) {
      this.#finish(off < chunk.length);
      return false;
    }
    if (kind === BodyKind.CHUNKED) {
      this.#parser!.decoder.begin();
      // kept for the trailer section's Connection rules: a copy, since the head's bytes are in
      // the pooled socket's read buffer, valid only during this read
      if (this.#sink.takesTrailers) this.#response = head.copy();
    }
    if (!more) this.#pauseUpstream();
    return true;
  }

  /** Relays response body bytes from chunk[off, end); returns the new offset. */
  #relayBody(chunk: Buffer, off: number, end: number): number {
    switch (this.#bodyKind) {
      case BodyKind.LENGTH: {
        const take = Math.min(this.#remaining, end - off);
        this.#relay(chunk.subarray(off, off + take));
        this.#remaining -= take;
        if (this.#remaining === 0) this.#finish(off + take < end);
        return off + take;
      }
      case BodyKind.CHUNKED: {
        const decoder = this.#parser!.decoder;
        let n: number;
        try {
          n = decoder.decode(chunk, off, end, this.#responseSink ??= this.#chunkSink());
        } catch (e) {
          this.#ctx.observers.upstreamError('invalid', this.#plan.origin.authority);
          this.#cutShort(`invalid chunked response body: ${(e as Error).message}`);
          return end;
        }
        if (decoder.done) this.#finish(off + n < end);
        return off + n;
      }
      default: // close-delimited
        this.#relay(chunk.subarray(off, end));
        return end;
    }
  }

  /** Made on the first chunked response this exchange relays. */
  #chunkSink(): ChunkSink {
    return {
      data: (b) => this.#relay(b),
      trailer: (b) => { if (this.#response !== undefined) (this.#responseTrailers ??= []).push(Buffer.from(b)); },
    };
  }

  #relay(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (!this.#sink.body(bytes)) this.#pauseUpstream();
  }

  /** The client is not taking the response as fast as the upstream sends it: stop reading the
   *  upstream until it drains (backpressure; the upstream is not silent, we stopped listening:
   *  #timedOut re-arms the idle timer meanwhile). */
  #pauseUpstream(): void {
    if (this.#upstreamPaused || this.#socket === undefined) return;
    this.#upstreamPaused = true;
    this.#socket.socket.pause();
  }

  /** The client drained its queue (the front end calls this). */
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
    const pieces = this.#responseTrailers;
    this.#responseTrailers = undefined;
    this.#sink.end(pieces === undefined ? undefined : keptTrailers(pieces, this.#response!));
  }

  /** The exchange failed: before the response head, the client gets `code`'s status. */
  #fail(kind: UpstreamErrorKind, code: PorticoErrorCode, detail: string): void {
    const headSent = this.#state === State.BODY;
    if (!this.#end(false)) return;
    this.#ctx.observers.upstreamError(kind, this.#plan.origin.authority);
    if (headSent) {
      this.#sink.abort(detail);
      return;
    }
    this.#status = statusOf(code);
    this.#sink.fail({ status: this.#status, code, detail });
  }

  #cutShort(reason: string): void {
    if (this.#end(false)) this.#sink.abort(reason);
  }

  /** The upstream socket's timer expired (SocketHandler). */
  timeout(): void {
    guard(this, this.#timedOut);
  }

  #timedOut(): void {
    if (this.#upstreamPaused) {
      // we are the ones not reading (slow client): not an upstream timeout
      this.#socket!.timer.refresh();
      return;
    }
    if (this.#state === State.HEAD) {
      this.#plan.health.failed(this.#ctx.healthPolicy, this.#ctx.clock.now());
      this.#fail('timeout', 'PRX_ERR_UPSTREAM_TIMEOUT', `upstream sent no response head within ${this.#ctx.config.timeouts.upstreamHeadMs} ms`);
    } else if (this.#state === State.BODY) {
      this.#ctx.observers.upstreamError('timeout', this.#plan.origin.authority);
      this.#cutShort(`upstream idle for ${this.#ctx.config.timeouts.upstreamIdleMs} ms during the response body`);
    }
  }

  /** The client went away: cancel the upstream request (its socket is discarded, never reused
   *  half-way through a response). */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#end(false);
  }
}

/** Bytes a relay may queue on a socket before it stops reading the other side. Above Node's
 *  16 KiB default so a fast transfer is not paused and resumed on every 64 KiB read; Twisted's
 *  transport buffer is 64 KiB. Per direction and connection, so memory stays bounded. */
export const RELAY_HIGH_WATER = 256 * 1024;
/** Largest response body handed over with its head (the HTTP/1.1 writer copies it into the
 *  head's buffer: one write instead of a writev of two; above it the copy costs more). */
const INLINE_BODY_MAX = 4 * 1024;
const CRLF = Buffer.from('\r\n', 'latin1');
/** A chunk's size line (RFC 9112 §7.1): hex size, CRLF; the data and a CRLF follow. */
export const chunkSizeLine = (length: number): Buffer => Buffer.from(`${length.toString(16)}\r\n`, 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n', 'latin1');
