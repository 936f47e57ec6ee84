// One HTTP/2 stream: one request through the same dispatcher as every HTTP/1.1 request
// (src/dispatch/dispatcher.ts), carried out on the stream. It owns the stream's request side (the
// body read with backpressure, its timer, trailers) and hands the response side to Http2Response.
//
//   DISPATCH --(decision: relay, with a body)--> BODY --(END_STREAM)--> WAIT --(response done)--> DONE
//       |                                                                 ^
//       +--(no body, or a local answer / tunnel)--------------------------+
//   any state --(client RST_STREAM, session gone)--> DONE (exchange cancelled, logged as aborted)
//
// - The request body goes upstream as it arrives; a stream whose upstream cannot take more is
//   paused, so node:http2 stops returning its flow-control window (WINDOW_UPDATE) and the client
//   stops sending on that stream only (RFC 9113 §5.2); other streams go on.
// - A body with content-length: the last bytes are held until END_STREAM arrives, so an upstream
//   never receives a complete body for a stream that then turns out malformed (more DATA than
//   content-length: nghttp2 resets the stream, RFC 9113 §8.1.1) and the exchange is cancelled.
//   Fewer bytes than content-length at END_STREAM: nghttp2 resets it too.
// - limits.maxBodyBytes and timeouts.bodyIdleMs as for HTTP/1.1 (413, 408 or a reset once the
//   response began).
// - A response that ends before the request body was read: RST_STREAM NO_ERROR after it (RFC 9113
//   §8.1: the client may stop sending).
import http2 from 'node:http2';
import { BodyKind, MethodId } from '../../asm/shared/constants.js';
import type { LocalAnswer } from '../http/local-answer.js';
import { fieldLinesOf } from '../http/field-lines.js';
import type { ProxyContext } from '../dispatch/context.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import type { Decision } from '../dispatch/decision.js';
import type { RelayPlan } from '../dispatch/relay-plan.js';
import type { RequestEntry } from '../dispatch/request-entry.js';
import type { ClientPeer } from '../dispatch/client-peer.js';
import type { UpstreamExchange } from '../relay/upstream-exchange.js';
import { createExchange } from '../relay/create-exchange.js';
import { tunnel } from '../relay/tunnel.js';
import { guard, type Guarded } from '../guard.js';
import type { Deadline } from '../clock.js';
import type { H2RequestHead } from './request-head.js';
import { Http2Response, type Http2StreamSide } from './response.js';
import { isGrpc, respondLocal } from './local-response.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;

/** What a stream needs of its connection (src/http2/connection.ts). */
export interface H2StreamOwner {
  readonly ctx: ProxyContext;
  readonly dispatcher: Dispatcher;
  readonly peer: ClientPeer;
  /** The stream closed; `peerReset`: the client reset it (or caused nghttp2 to) before its
   *  response was complete. */
  streamClosed(s: H2StreamRequest, peerReset: boolean): void;
  /** The stream holds response bytes its client does not take (true), or no longer (false). */
  watchSend(s: H2StreamRequest, blocked: boolean): void;
}

const enum State { DISPATCH, BODY, WAIT, DONE }

export class H2StreamRequest implements Http2StreamSide, Guarded {
  readonly stream: http2.ServerHttp2Stream;
  readonly #owner: H2StreamOwner;
  readonly #ctx: ProxyContext;
  #head: H2RequestHead | undefined;
  #entry: RequestEntry | undefined;
  #exchange: UpstreamExchange | undefined;
  #state = State.DISPATCH;
  #bodyBytes = 0;
  /** The last bytes of a content-length body, held until END_STREAM (see the top). */
  #held: Buffer | undefined;
  #bodyPaused = false;
  #bodyTimer: Deadline | undefined;
  /** The response is complete or the stream was reset by us: the request is logged. */
  #finished = false;
  /** We reset the stream (its close code is ours, not the client's). */
  #weReset = false;
  #grpc = false;

  constructor(owner: H2StreamOwner, stream: http2.ServerHttp2Stream) {
    this.#owner = owner;
    this.#ctx = owner.ctx;
    this.stream = stream;
    // every stream error (a client RST, a session torn down) ends in 'close': handled there
    stream.on('error', noop);
    stream.once('close', () => guard(this, this.#closed));
  }

  get methodId(): number { return this.#head?.methodId ?? MethodId.OTHER; }

  /** Guarded: a bug costs this stream, never the connection or the process. */
  internalError(e: unknown): void {
    this.#ctx.logger.error({ err: e, req: this.#entry?.id }, 'internal error on an HTTP/2 stream; resetting it');
    this.#exchange?.abort();
    this.resetStream(NGHTTP2_INTERNAL_ERROR, 'internal error');
  }

  /** The request begins (its head checked by the connection). */
  start(head: H2RequestHead): void {
    this.#head = head;
    this.#grpc = isGrpc(head.values('content-type')[0]);
    const owner = this.#owner;
    this.#entry = owner.dispatcher.begin(head, owner.peer, 'h2');
    const limit = this.#ctx.config.limits.maxBodyBytes;
    this.#state = head.bodyKind === BodyKind.NONE ? State.WAIT : State.BODY;
    if (head.bodyKind === BodyKind.LENGTH && limit !== null && head.contentLength > limit) {
      this.respondError({ status: 413, code: 'PRX_BODY_TOO_LARGE', detail: `request body of ${head.contentLength} bytes exceeds the ${limit}-byte limit` });
      return;
    }
    this.#carryOut(owner.dispatcher.decide(this.#entry));
  }

  /** A stream refused before it reached the dispatcher (its head failed the checks). */
  reject({ answer, headRequest }: { answer: LocalAnswer; headRequest: boolean }): void {
    this.#finished = true;
    respondLocal(this.stream, answer, { headRequest, grpc: false });
    this.#owner.dispatcher.rejected(this.#owner.peer, 'h2', answer);
    this.#stopReading();
  }

  #carryOut(d: Decision): void {
    switch (d.kind) {
      case 'local':
        this.respondError(d.answer);
        return;
      case 'relay':
        this.#relay(d);
        return;
      case 'tunnel':
        this.#tunnel(d.socket);
        return;
      case 'pending': {
        const entry = this.#entry!;
        void d.decided.then((next) => {
          if (entry.closed || this.#finished) {
            if (next.kind === 'tunnel') next.socket.destroy();
            return;
          }
          guard(this, this.#carryOut, next);
        });
        return;
      }
    }
  }

  #relay(plan: RelayPlan): void {
    const response = new Http2Response(this);
    response.begin(plan.via);
    const ex = createExchange(this.#ctx, plan, response);
    this.#exchange = ex;
    if (this.#state !== State.BODY) ex.endBody();
    ex.start();
    const stream = this.stream;
    stream.on('drain', () => guard(this, this.#drained));
    if (this.#state !== State.BODY || this.#finished) return;
    stream.on('data', (chunk: Buffer) => guard(this, this.#data, chunk));
    stream.on('end', () => guard(this, this.#bodyEnd));
    stream.on('trailers', (_t: unknown, _f: unknown, raw: string[]) => guard(this, this.#trailers, raw));
    this.#armBodyTimer();
    // until the upstream is ready the body waits in the client (its window is not returned)
    if (!ex.connected) this.#pauseBody();
  }

  /** CONNECT over HTTP/2 (RFC 9113 §8.5): 200, then the stream's DATA is a byte tunnel. */
  #tunnel(socket: import('node:net').Socket): void {
    const stream = this.stream;
    if (stream.destroyed) {
      socket.destroy();
      return;
    }
    this.#finish(200, false);
    stream.respond({ ':status': 200 });
    tunnel(stream, socket, { idleMs: this.#ctx.config.timeouts.tunnelIdleMs, clock: this.#ctx.clock });
  }

  // --- request body ------------------------------------------------------------------------------

  #data(chunk: Buffer): void {
    if (this.#state !== State.BODY) return;
    this.#bodyTimer?.refresh();
    const head = this.#head!;
    this.#bodyBytes += chunk.length;
    const limit = this.#ctx.config.limits.maxBodyBytes;
    if (limit !== null && this.#bodyBytes > limit) {
      this.#failRequest({ status: 413, code: 'PRX_BODY_TOO_LARGE', detail: `request body exceeds the ${limit}-byte limit` });
      return;
    }
    const ex = this.#exchange!;
    let ok: boolean;
    if (head.bodyKind === BodyKind.LENGTH) {
      if (this.#bodyBytes >= head.contentLength) {
        this.#held = chunk;
        return;
      }
      ok = ex.sendBody(chunk);
    } else {
      ok = ex.sendChunk(chunk);
    }
    if (!ok) this.#pauseBody();
  }

  #trailers(raw: readonly string[]): void {
    if (this.#state !== State.BODY || this.#exchange === undefined) return;
    const lines = fieldLinesOf(raw);
    if (lines.length > 0) this.#exchange.addTrailer(lines);
  }

  /** END_STREAM: the body is complete (nghttp2 checked it against content-length). */
  #bodyEnd(): void {
    if (this.#state !== State.BODY) return;
    this.#state = State.WAIT;
    this.#bodyTimer?.disarm();
    const ex = this.#exchange!;
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined) ex.sendBody(held);
    ex.endBody();
  }

  #pauseBody(): void {
    if (this.#bodyPaused) return;
    this.#bodyPaused = true;
    this.stream.pause();
    // the client is not the slow party while the upstream holds us back
    this.#bodyTimer?.disarm();
  }

  bodyWritable(): void {
    if (!this.#bodyPaused || this.#state !== State.BODY) return;
    this.#bodyPaused = false;
    this.#armBodyTimer();
    this.stream.resume();
  }

  #armBodyTimer(): void {
    const ms = this.#ctx.config.timeouts.bodyIdleMs;
    this.#bodyTimer ??= this.#ctx.clock.deadline(() => guard(this, this.#bodyTimedOut));
    this.#bodyTimer.arm(ms);
  }

  #bodyTimedOut(): void {
    if (this.#state !== State.BODY) return;
    this.#failRequest({ status: 408, code: 'PRX_REQUEST_TIMEOUT', detail: 'request body not received in time' });
  }

  /** The request cannot go on: cut short if its response began, else its exchange cancelled and
   *  `answer` sent. */
  #failRequest(answer: LocalAnswer): void {
    const ex = this.#exchange;
    if (this.stream.headersSent) {
      ex?.abort();
      this.resetStream(NGHTTP2_CANCEL, answer.detail ?? answer.code ?? 'request failed');
      return;
    }
    ex?.abort();
    this.#exchange = undefined;
    this.respondError(answer);
  }

  /** Stops taking the request body: once our response is out, RST_STREAM NO_ERROR tells the
   *  client it may stop sending (RFC 9113 §8.1). */
  #stopReading(): void {
    const stream = this.stream;
    if (this.#state === State.BODY || (!stream.readableEnded && stream.readable)) {
      this.#state = State.DONE;
      this.#bodyTimer?.disarm();
      this.#weReset = true;
      stream.close(NGHTTP2_NO_ERROR);
    }
  }

  // --- response side (Http2StreamSide) -----------------------------------------------------------

  #drained(): void {
    this.#owner.watchSend(this, false);
    this.#exchange?.resumeUpstream();
  }

  sendBlocked(blocked: boolean): void {
    this.#owner.watchSend(this, blocked);
  }

  responseDone(status: number): void {
    this.#finish(status, false);
    if (this.#state === State.BODY) this.#stopReading();
    else if (this.#state !== State.DONE) this.#state = State.DONE;
    // whatever is still queued must reach the client: watched until the stream closes
    if (this.stream.writableLength > 0) this.#owner.watchSend(this, true);
  }

  respondError(answer: LocalAnswer): void {
    const stream = this.stream;
    if (stream.headersSent) {
      this.resetStream(NGHTTP2_INTERNAL_ERROR, answer.detail ?? 'upstream failed');
      return;
    }
    respondLocal(stream, answer, { headRequest: this.methodId === MethodId.HEAD, grpc: this.#grpc });
    this.responseDone(answer.status);
  }

  resetStream(code: number, reason: string): void {
    const status = this.#exchange?.status ?? 0;
    if (!this.#finished) this.#ctx.logger.warn({ req: this.#entry?.id, reason }, 'resetting an HTTP/2 stream');
    this.#weReset = true;
    this.#state = State.DONE;
    this.#bodyTimer?.disarm();
    if (!this.stream.closed) this.stream.close(code);
    this.#finish(status, true);
  }

  /** The request is over: logged once (its access-log line and metrics record). */
  #finish(status: number, aborted: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    const entry = this.#entry;
    if (entry === undefined) return;
    entry.closed = aborted;
    this.#owner.dispatcher.finish(entry, status, aborted);
  }

  /** The stream closed (response sent and acknowledged, reset by either side, or the session
   *  ended): whatever is still running for it stops. */
  #closed(): void {
    this.#state = State.DONE;
    this.#bodyTimer?.cancel();
    this.#bodyTimer = undefined;
    // a reset that cost the proxy work: the client's (or its protocol error's) before the response
    const peerReset = !this.#weReset && this.stream.rstCode !== NGHTTP2_NO_ERROR && !this.#finished;
    if (!this.#finished) {
      // the client went away (or reset the stream) before its response was complete
      const ex = this.#exchange;
      ex?.abort();
      if (this.#entry !== undefined) this.#entry.closed = true;
      this.#finish(ex?.status ?? 0, true);
    }
    this.#exchange = undefined;
    this.#owner.streamClosed(this, peerReset);
  }
}

function noop(): void {}
