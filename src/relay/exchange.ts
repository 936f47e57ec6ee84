// One request relayed to one upstream and its response relayed back (Twisted's ProxyClient,
// fixed): the request head is written as soon as a pooled HTTP/1.1 connection is ready, the body
// streams behind it with backpressure, and the response is parsed by the codec and handed to the
// front end's ResponseSink, which frames it for its client. Failures map to statuses (RFC 9110
// §15.6.3, §15.6.5): refused/reset/invalid -> 502, timeouts -> 504, no pooled connection in time
// -> 503; after the response head went out, the sink is told to cut the response short, so the
// client sees an incomplete message rather than a short "success".
//
// A request may take several tries, each to one upstream (the route's traffic policy,
// src/upstream/policy.ts): when a try fails before any response byte reached the client in a way
// the policy lets it retry (no connection; an idempotent request whose connection closed or timed
// out before a response head; a status in retries.onStatus), the dispatcher moves the plan to
// another upstream (Dispatcher#retry) and the exchange starts over: the head again, then the body
// bytes kept for replay (all of them, up to retries.maxBodyBytes, for requests that may be
// retried after being sent; none otherwise, so an ordinary upload costs no copy).
//
// States (State below):
//
//   CONNECTING --(pooled socket ready [#connected]: request head written)--> HEAD
//       ^  |                                                                   |
//       |  +--(no socket: refused, timeout, pool full [#acquireFailed])--+     |
//       |                                                                |     |
//       +--(another try [#retry]: no connection; closed, reset or timed  |     |
//           out before the response head; a status in onStatus)----------|-----+
//                                                                        |     | final response head
//                           1xx: relayed, stays in HEAD                  |     v [#startResponse]
//                           101: tunnel [#interim] ---------------> DONE |   BODY
//                                                                    ^   |     |
//                                                                    +---+-----+ complete [#finish],
//                                                                                failed [#fail],
//                                                                                cut short [#cutShort],
//                                                                                client gone [abort]
//
// Every end goes through #end: DONE, the timers disarmed, the try's slot on its upstream given
// back, the upstream socket released to its pool (a complete response that left it reusable) or
// discarded.
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
import type { TryFailure } from '../dispatch/relay-plan.js';
import { isIdempotent } from '../dispatch/request-facts.js';
import type { Deadline } from '../clock.js';
import { guard, type Guarded } from '../guard.js';
import type { ResponseSink } from './response-sink.js';
import type { UpstreamExchange } from './upstream-exchange.js';

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

export class Exchange implements UpstreamExchange, SocketHandler, Guarded {
  readonly #ctx: ProxyContext;
  readonly #plan: RelayPlan;
  readonly #sink: ResponseSink;
  readonly #isHead: boolean;
  #state = State.CONNECTING;
  #socket: PooledSocket | undefined;
  #parser: ResponseParser | undefined;
  /** Request body pieces (framed, copies) not yet written to the current try's socket, and when
   *  #keep those already written too (for replay on another try). */
  #pieces: Buffer[] | undefined;
  /** How many of #pieces the current try's socket has been given. */
  #written = 0;
  /** Body pieces are kept after being written: the request may be retried after being sent. */
  #keep: boolean;
  #keptBytes = 0;
  /** Every body byte sent so far can be sent again (nothing was dropped). */
  #replayable = true;
  #bodyEnded = false;
  #trailers: Buffer[] | undefined;
  /** The current try received upstream bytes. */
  #gotResponseBytes = false;
  /** Something of the response went to the client (a 1xx, the head): no more tries. */
  #clientSaw = false;
  /** The request's slot on the current try's upstream is counted (OriginHealth#track). */
  #slotHeld = true;
  /** The whole-request deadline (policy.timeouts.requestMs), when there is one. */
  #deadline: Deadline | undefined;
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
    const head = plan.entry.head;
    this.#isHead = head.methodId === MethodId.HEAD;
    const retries = plan.policy.retries;
    this.#keep = plan.route !== undefined && retries.maxTries > 1 && head.bodyKind !== BodyKind.NONE
      && (isIdempotent(head.methodId) || (retries.idempotencyKey && head.values('idempotency-key').length > 0));
    const requestMs = plan.policy.timeouts.requestMs;
    if (requestMs !== null) {
      this.#deadline = ctx.clock.deadline(() => guard(this, this.#requestTimedOut));
      this.#deadline.arm(Math.max(1, requestMs - (ctx.clock.now() - plan.entry.started)));
    }
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
    pool.acquire(this.#plan.policy.timeouts.connectMs).then(
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
    this.#deadline?.cancel();
    this.#releaseSlot();
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

  /** The try's slot on its upstream is given back (once). */
  #releaseSlot(): void {
    if (!this.#slotHeld) return;
    this.#slotHeld = false;
    this.#plan.health.track(false);
  }

  #acquireFailed(e: Error): void {
    if (this.#aborted || this.#state !== State.CONNECTING) return;
    const code: PorticoErrorCode = e instanceof ProxyError ? e.code : 'PRX_ERR_UPSTREAM_CONNECT';
    // a full pool is this proxy's own limit, not the upstream's failure
    if (code !== 'PRX_ERR_POOL_FULL') this.#plan.dispatcher.tryFailed(this.#plan, e.message);
    this.#ctx.observers.upstreamError(code === 'PRX_ERR_POOL_FULL' ? 'pool' : code === 'PRX_ERR_UPSTREAM_TIMEOUT' ? 'timeout' : 'connect', this.#plan.origin.authority);
    if (this.#retry('connect', false, false)) return;
    this.#fail(code, code === 'PRX_ERR_POOL_FULL' ? 'no upstream connection available in time' : e.message);
  }

  /** Another try, if the policy allows it and the client has seen nothing: the failed try's
   *  socket is discarded, its slot given back, and the plan's next upstream tried from the start.
   *  `sent`: request bytes went upstream on the failed try; `stale`: it was a reused pooled
   *  connection that ended before any response byte (the keep-alive race). */
  #retry(failure: TryFailure, sent: boolean, stale: boolean): boolean {
    if (this.#clientSaw || this.#aborted) return false;
    const plan = this.#plan;
    const failedHealth = plan.health;
    const failedPool = plan.pool;
    if (!plan.dispatcher.retry(plan, failure, sent, this.#replayable, stale)) return false;
    if (this.#slotHeld) failedHealth.track(false);
    this.#slotHeld = true; // the dispatcher counted the new try's
    const p = this.#socket;
    this.#socket = undefined;
    if (p !== undefined) {
      p.timer.disarm();
      failedPool.discard(p);
    }
    this.#state = State.CONNECTING;
    this.#gotResponseBytes = false;
    this.#upstreamPaused = false;
    this.#written = 0;
    this.start();
    return true;
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
    const pieces = this.#pieces;
    // the common case is the head alone: one write, no cork
    const several = pieces !== undefined || (this.#bodyEnded && this.#plan.chunked);
    if (several) s.cork();
    s.write(this.#plan.upstreamHead);
    if (pieces !== undefined) {
      for (const b of pieces) s.write(b);
      this.#written = pieces.length;
      if (!this.#keep) this.#dropWritten();
    }
    if (this.#bodyEnded) this.#writeBodyEnd();
    if (several) s.uncork();
    const policy = this.#plan.policy;
    p.timer.arm(policy.retries.perTryTimeoutMs ?? policy.timeouts.responseHeadMs);
    if (!this.#bodyEnded) this.#sink.bodyWritable();
  }

  // --- request body (from the front end) ------------------------------------------------------

  /** Forwards body bytes as they are (a Content-Length body); false when the caller should stop
   *  reading its client until bodyWritable(). */
  sendBody(bytes: Buffer): boolean {
    if (!this.#socket) {
      this.#hold(Buffer.from(bytes), false);
      return false;
    }
    this.#socket.timer.refresh();
    if (this.#keep) this.#hold(Buffer.from(bytes), true);
    const s = this.#socket.socket;
    return s.write(bytes) || s.writableLength <= RELAY_HIGH_WATER;
  }

  /** Keeps a body piece (a copy): to write once connected, or (`written`) for replay. */
  #hold(piece: Buffer, written: boolean): void {
    if (this.#keep) {
      this.#keptBytes += piece.length;
      if (this.#keptBytes > this.#plan.policy.retries.maxBodyBytes) {
        // too large to replay: from now on only what the socket has not had is kept
        this.#keep = false;
        this.#dropWritten();
        if (written) return;
      }
    }
    (this.#pieces ??= []).push(piece);
    if (written) this.#written++;
  }

  /** Forgets the pieces the current socket has had: they cannot be sent again. */
  #dropWritten(): void {
    if (this.#written === 0) return;
    this.#replayable = false;
    const rest = this.#pieces!.slice(this.#written);
    this.#pieces = rest.length > 0 ? rest : undefined;
    this.#written = 0;
  }

  /** Forwards one piece of a body of unknown length, framed as a chunk (RFC 9112 §7.1); same
   *  return value as sendBody. */
  sendChunk(bytes: Buffer): boolean {
    if (bytes.length === 0) return true;
    const size = chunkSizeLine(bytes.length);
    if (!this.#socket) {
      this.#hold(Buffer.concat([size, bytes, CRLF]), false);
      return false;
    }
    this.#socket.timer.refresh();
    if (this.#keep) this.#hold(Buffer.concat([size, bytes, CRLF]), true);
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
      const why = reason === 'error' ? `upstream error: ${(error as NodeJS.ErrnoException)?.code ?? error?.message}` : 'upstream closed the connection before a complete response head';
      const stale = p.reused && !this.#gotResponseBytes;
      // a pooled connection the origin was closing is no sign of its health
      if (!stale) this.#plan.dispatcher.tryFailed(this.#plan, why);
      this.#ctx.observers.upstreamError('reset', this.#plan.origin.authority);
      if (this.#retry('reset', true, stale)) return;
      this.#fail('PRX_ERR_UPSTREAM_RESET', why);
      return;
    }
    // State.BODY: a close-delimited body ends with the connection (RFC 9112 §6.3)
    if (this.#bodyKind === BodyKind.CLOSE_DELIMITED && reason !== 'error') {
      this.#upstreamReusable = false;
      this.#finish(false);
      return;
    }
    this.#plan.dispatcher.tryFailed(this.#plan, `upstream ${reason} during the response body`);
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
          this.#invalid(detail);
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
      this.#clientSaw = true;
      this.#sink.interim(head);
      return true;
    }
    if (!this.#plan.upgrade) {
      this.#invalid('upstream switched protocols without an Upgrade request');
      return false;
    }
    // the socket leaves the pool for the tunnel: ended without release or discard
    this.#state = State.DONE;
    this.#deadline?.cancel();
    this.#releaseSlot();
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
      this.#invalid('upstream used a transfer coding other than chunked');
      return false;
    }
    const policy = this.#plan.policy;
    if (head.status >= 500 && policy.outlier.on5xx) this.#plan.dispatcher.tryFailed(this.#plan, `status ${head.status}`);
    else this.#plan.health.ok(this.#ctx.clock.now());
    if (policy.retries.onStatus.includes(head.status) && this.#retry('status', true, false)) return false;
    this.#status = head.status;
    const kind = head.bodyKind;
    this.#bodyKind = kind;
    this.#clientSaw = true;
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
    const t = policy.timeouts;
    if (t.idleMs !== (policy.retries.perTryTimeoutMs ?? t.responseHeadMs)) this.#socket!.timer.arm(t.idleMs);
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

  /** The upstream's response is not HTTP we relay: 502, never retried (the upstream answered). */
  #invalid(detail: string): void {
    this.#ctx.observers.upstreamError('invalid', this.#plan.origin.authority);
    this.#fail('PRX_ERR_UPSTREAM_INVALID', detail);
  }

  /** The exchange failed: before the response head, the client gets `code`'s status; after it,
   *  the response is cut short. */
  #fail(code: PorticoErrorCode, detail: string): void {
    const headSent = this.#state === State.BODY;
    if (!this.#end(false)) return;
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
    const policy = this.#plan.policy;
    if (this.#state === State.HEAD) {
      const ms = policy.retries.perTryTimeoutMs ?? policy.timeouts.responseHeadMs;
      const why = `upstream sent no response head within ${ms} ms`;
      this.#plan.dispatcher.tryFailed(this.#plan, why);
      this.#ctx.observers.upstreamError('timeout', this.#plan.origin.authority);
      if (this.#retry('timeout', true, false)) return;
      this.#fail('PRX_ERR_UPSTREAM_TIMEOUT', why);
    } else if (this.#state === State.BODY) {
      this.#ctx.observers.upstreamError('timeout', this.#plan.origin.authority);
      this.#cutShort(`upstream idle for ${policy.timeouts.idleMs} ms during the response body`);
    }
  }

  /** The whole-request deadline (policy.timeouts.requestMs) passed. */
  #requestTimedOut(): void {
    if (this.#state === State.DONE) return;
    const why = `no complete response within the whole-request deadline (${this.#plan.policy.timeouts.requestMs} ms)`;
    this.#ctx.observers.upstreamError('timeout', this.#plan.origin.authority);
    if (this.#clientSaw) this.#cutShort(why);
    else this.#fail('PRX_ERR_UPSTREAM_TIMEOUT', why);
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
