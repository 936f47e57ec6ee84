// One request relayed over a stream of a pooled HTTP/2 session (routes with `upstreamProtocol`
// "h2" or "h2c": src/upstream/h2-session-pool.ts), its response handed to the front end's
// ResponseSink as the HTTP/1.1 exchange hands it (./exchange.ts): the front end drives both the
// same way (./upstream-exchange.ts).
//
// - The request: the head the dispatcher built for HTTP/1.1 (Host, Via, X-Forwarded-*, the
//   client's fields) as an HTTP/2 header list: the request-line as :method and :path, Host as
//   :authority, :scheme of the upstream; the HTTP/1.1 framing and connection-specific fields
//   dropped (RFC 9113 §8.2.2), `te: trailers` kept when the client sent it (gRPC needs it). The
//   body as DATA frames, trailers (filtered as for HTTP/1.1, src/http/trailers.ts) as a last
//   HEADERS frame; backpressure from the stream's flow-control window ('drain').
// - The response: 1xx, the head, DATA (the stream paused while the client does not take it, so
//   the origin's window closes: RFC 9113 §5.2), trailers, END_STREAM.
// - Failures: no session (refused, TLS, timeout) -> 502/504/503 and, as for HTTP/1.1, another try
//   where the route's policy allows (nothing was sent); a stream the origin refused
//   (REFUSED_STREAM, or above the last-stream-id of its GOAWAY: never processed, RFC 9113 §8.7)
//   likewise; a stream reset before the response head -> 502, and another try for an idempotent
//   request without a body sent; after the head -> the client's response is cut short with the
//   upstream's reset code (a gRPC client sees the status a direct call would). No response head
//   within the per-try or head timeout -> 504; silence during the body -> cut short.
//   A request body is not kept for replay here: once body bytes went upstream no other try is made.
// - The client went away: RST_STREAM CANCEL upstream (a gRPC server sees the call cancelled).
import http2 from 'node:http2';
import { FieldId, MethodId } from '../../asm/shared/constants.js';
import { keptTrailers } from '../http/trailers.js';
import { addField, addFieldLines, fieldLinesOf } from '../http/field-lines.js';
import { ProxyError, statusOf, type PorticoErrorCode } from '../errors.js';
import type { ProxyContext } from '../dispatch/context.js';
import type { RelayPlan, TryFailure } from '../dispatch/relay-plan.js';
import type { H2SessionPool, PooledSession } from '../upstream/h2-session-pool.js';
import type { Deadline } from '../clock.js';
import { guard, type Guarded } from '../guard.js';
import type { ResponseSink } from './response-sink.js';
import type { UpstreamExchange } from './upstream-exchange.js';
import { H2ResponseHead } from './h2-response-head.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

const enum State { CONNECTING, HEAD, BODY, DONE }

/** HTTP/1.1 fields that have no place in an HTTP/2 request (RFC 9113 §8.2.2), or become
 *  pseudo-header fields (host). */
const NOT_FORWARDED = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'http2-settings']);

/** The HTTP/2 header list of a request head built for HTTP/1.1 (src/dispatch/upstream-head.ts:
 *  well-formed by construction, CRLF line ends, `Name: value`). */
export function h2RequestHeaders(head: Buffer, scheme: 'http' | 'https', trailersTe: boolean): http2.OutgoingHttpHeaders {
  const text = head.toString('latin1');
  const lineEnd = text.indexOf('\r\n');
  const [method, target] = text.slice(0, lineEnd).split(' ');
  const out: http2.OutgoingHttpHeaders = { ':method': method, ':scheme': scheme, ':path': target };
  for (let at = lineEnd + 2; ;) {
    const end = text.indexOf('\r\n', at);
    if (end <= at) break; // the empty line
    const colon = text.indexOf(':', at);
    const name = text.slice(at, colon).toLowerCase();
    const value = text.slice(colon + 1, end).trim();
    at = end + 2;
    if (name === 'host') out[':authority'] = value;
    if (!NOT_FORWARDED.has(name)) addField(out, name, value);
  }
  if (trailersTe) out.te = 'trailers';
  return out;
}

export class H2Exchange implements UpstreamExchange, Guarded {
  readonly #ctx: ProxyContext;
  readonly #plan: RelayPlan;
  readonly #sink: ResponseSink;
  readonly #isHead: boolean;
  readonly #trailersTe: boolean;
  #state = State.CONNECTING;
  #pool: H2SessionPool;
  #stream: http2.ClientHttp2Stream | undefined;
  /** Body pieces read before the stream opened (copies). */
  #queued: Buffer[] | undefined;
  #bodyEnded = false;
  /** Body bytes went upstream on the current try (no other try after that). */
  #sentBody = false;
  #trailers: Buffer[] | undefined;
  #response: H2ResponseHead | undefined;
  #responseTrailers: Buffer | undefined;
  #status = 0;
  #clientSaw = false;
  #aborted = false;
  #paused = false;
  #slotHeld = true;
  /** The try's timer: the response head (per-try or head timeout), then silence in the body. */
  #timer: Deadline;
  /** The whole-request deadline (policy.timeouts.requestMs), when there is one. */
  #deadline: Deadline | undefined;

  constructor(ctx: ProxyContext, plan: RelayPlan, sink: ResponseSink) {
    this.#ctx = ctx;
    this.#plan = plan;
    this.#sink = sink;
    const head = plan.entry.head;
    this.#isHead = head.methodId === MethodId.HEAD;
    this.#trailersTe = head.valuesById(FieldId.TE).some((v) => /(?:^|,)\s*trailers\s*(?:$|[,;])/i.test(v));
    this.#pool = ctx.h2Pools.get(plan.origin);
    this.#timer = ctx.clock.deadline(() => guard(this, this.#timedOut));
    const requestMs = plan.policy.timeouts.requestMs;
    if (requestMs !== null) {
      this.#deadline = ctx.clock.deadline(() => guard(this, this.#requestTimedOut));
      this.#deadline.arm(Math.max(1, requestMs - (ctx.clock.now() - plan.entry.started)));
    }
  }

  get status(): number { return this.#status; }
  get upstreamBacklog(): boolean { return this.#stream !== undefined && this.#stream.writableLength > 0; }
  get connected(): boolean { return this.#stream !== undefined; }

  start(): void {
    const ready = this.#pool.acquireReady();
    if (ready !== undefined) {
      guard(this, this.#open, { session: ready, reused: true });
      return;
    }
    this.#pool.acquire(this.#plan.policy.timeouts.connectMs).then(
      (got) => guard(this, this.#open, got),
      (e: Error) => guard(this, this.#acquireFailed, e),
    );
  }

  internalError(e: unknown): void {
    this.#ctx.logger.error({ err: e, req: this.#plan.entry.id }, 'internal error relaying a request over HTTP/2');
    this.#aborted = true;
    this.#end(NGHTTP2_CANCEL);
    this.#sink.abort('internal error');
  }

  #acquireFailed(e: Error): void {
    if (this.#aborted || this.#state !== State.CONNECTING) return;
    const code: PorticoErrorCode = e instanceof ProxyError ? e.code : 'PRX_ERR_UPSTREAM_CONNECT';
    if (code !== 'PRX_ERR_POOL_FULL') this.#plan.dispatcher.tryFailed(this.#plan, e.message);
    this.#ctx.observers.upstreamError(code === 'PRX_ERR_POOL_FULL' ? 'pool' : code === 'PRX_ERR_UPSTREAM_TIMEOUT' ? 'timeout' : 'connect', this.#plan.origin.authority);
    if (this.#retry('connect', false)) return;
    this.#fail(code, code === 'PRX_ERR_POOL_FULL' ? 'no upstream HTTP/2 stream available in time' : e.message);
  }

  /** The stream opens on `session` (its place counted by the pool). */
  #open({ session, reused }: { session: PooledSession; reused: boolean }): void {
    if (this.#aborted || this.#state !== State.CONNECTING) {
      this.#pool.release(session);
      return;
    }
    this.#ctx.observers.upstreamSocket(this.#plan.origin.authority, reused);
    const headers = h2RequestHeaders(this.#plan.upstreamHead, this.#plan.origin.tls ? 'https' : 'http', this.#trailersTe);
    const bodyless = this.#bodyEnded && this.#queued === undefined && this.#trailers === undefined;
    const stream = session.session.request(headers, { endStream: bodyless, waitForTrailers: !bodyless });
    this.#stream = stream;
    this.#state = State.HEAD;
    const pool = this.#pool;
    stream.on('error', noop);
    stream.once('close', () => {
      pool.release(session);
      guard(this, this.#closed, stream);
    });
    stream.on('headers', (h: unknown, flags: number, raw: string[]) => guard(this, this.#interim, raw));
    stream.once('response', (h: unknown, flags: number, raw: string[]) => guard(this, this.#head, { raw, endStream: (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0 }));
    stream.on('data', (chunk: Buffer) => guard(this, this.#data, chunk));
    stream.once('trailers', (h: unknown, flags: number, raw: string[]) => { this.#responseTrailers = fieldLinesOf(raw); });
    stream.once('end', () => guard(this, this.#ended, stream));
    stream.on('drain', () => { if (this.#state !== State.DONE && !this.#bodyEnded) this.#sink.bodyWritable(); });
    stream.once('wantTrailers', () => {
      const t = this.#trailers;
      stream.sendTrailers(t === undefined ? {} : addFieldLines(keptTrailers(t, this.#plan.entry.head).toString('latin1'), {}));
    });
    const queued = this.#queued;
    this.#queued = undefined;
    if (queued !== undefined) {
      this.#sentBody = true;
      for (const b of queued) stream.write(b);
    }
    if (this.#bodyEnded && !bodyless) stream.end();
    const policy = this.#plan.policy;
    this.#timer.arm(policy.retries.perTryTimeoutMs ?? policy.timeouts.responseHeadMs);
    if (!this.#bodyEnded) this.#sink.bodyWritable();
  }

  // --- request body (from the front end) ------------------------------------------------------

  sendBody(bytes: Buffer): boolean {
    const stream = this.#stream;
    if (stream === undefined) {
      (this.#queued ??= []).push(Buffer.from(bytes));
      return false;
    }
    this.#sentBody = true;
    this.#timer.refresh();
    return stream.write(bytes);
  }

  /** HTTP/2 has no chunk framing: the same as sendBody. */
  sendChunk(bytes: Buffer): boolean {
    return bytes.length === 0 || this.sendBody(bytes);
  }

  addTrailer(bytes: Buffer): void {
    (this.#trailers ??= []).push(Buffer.from(bytes));
  }

  endBody(): void {
    this.#bodyEnded = true;
    const stream = this.#stream;
    if (stream !== undefined && !stream.writableEnded) stream.end();
  }

  // --- the response ------------------------------------------------------------------------------

  #interim(raw: string[]): void {
    if (this.#state !== State.HEAD) return;
    this.#timer.refresh();
    const head = new H2ResponseHead(raw, false, false);
    if (head.status === 101) return; // not in HTTP/2 (RFC 9113 §8.6); nghttp2 refuses it first
    this.#clientSaw = true;
    this.#sink.interim(head);
    this.#sink.readDone();
  }

  #head({ raw, endStream }: { raw: string[]; endStream: boolean }): void {
    if (this.#state !== State.HEAD) return;
    const head = new H2ResponseHead(raw, endStream, this.#isHead);
    const plan = this.#plan;
    const policy = plan.policy;
    if (head.status >= 500 && policy.outlier.on5xx) plan.dispatcher.tryFailed(plan, `status ${head.status}`);
    else plan.health.ok(this.#ctx.clock.now());
    if (policy.retries.onStatus.includes(head.status) && !this.#sentBody && this.#retry('status', true)) return;
    this.#status = head.status;
    this.#response = head;
    this.#clientSaw = true;
    this.#state = State.BODY;
    const t = policy.timeouts;
    this.#timer.arm(t.idleMs);
    const more = this.#sink.head(head, undefined);
    this.#sink.readDone();
    if (!more) this.#pause();
    // a HEAD, 204 or 304 whose stream stays open for (empty) trailers ends with it (#ended)
  }

  #data(chunk: Buffer): void {
    if (this.#state !== State.BODY) return;
    this.#timer.refresh();
    if (!this.#sink.body(chunk)) this.#pause();
    this.#sink.readDone();
  }

  /** END_STREAM from the origin: the response is complete. (node:http2 also ends the readable
   *  side of a stream its lost session closed, with the reset code it gave it: that is a
   *  response cut short.) */
  #ended(stream: http2.ClientHttp2Stream): void {
    if (this.#state !== State.BODY) return;
    if ((stream.rstCode ?? NGHTTP2_NO_ERROR) !== NGHTTP2_NO_ERROR) {
      this.#closed(stream);
      return;
    }
    const trailers = this.#responseTrailers;
    const kept = trailers !== undefined && trailers.length > 0 ? keptTrailers([trailers], this.#response!) : undefined;
    this.#end(NGHTTP2_NO_ERROR);
    this.#sink.end(kept !== undefined && kept.length > 0 ? kept : undefined);
  }

  #pause(): void {
    if (this.#paused || this.#stream === undefined) return;
    this.#paused = true;
    this.#stream.pause();
  }

  resumeUpstream(): void {
    if (!this.#paused || this.#stream === undefined || this.#aborted) return;
    this.#paused = false;
    this.#stream.resume();
    this.#timer.refresh();
  }

  /** The stream closed before the response was complete. */
  #closed(stream: http2.ClientHttp2Stream): void {
    if (stream !== this.#stream || this.#state === State.DONE || this.#aborted) return;
    const code = stream.rstCode ?? NGHTTP2_NO_ERROR;
    if (this.#state === State.BODY) {
      // a stream that ended normally reaches here only if 'end' did not (it was not read to
      // the end): treat as cut short too
      this.#plan.dispatcher.tryFailed(this.#plan, `upstream reset the stream (${code}) during the response body`);
      this.#ctx.observers.upstreamError('reset', this.#plan.origin.authority);
      this.#cutShort(`upstream reset the HTTP/2 stream (code ${code}) before the response was complete`, code === NGHTTP2_NO_ERROR ? undefined : code);
      return;
    }
    // refused (RFC 9113 §8.7): the origin did not process it, like a connection never made
    const refused = code === NGHTTP2_REFUSED_STREAM;
    const why = refused ? 'upstream refused the HTTP/2 stream' : `upstream reset the HTTP/2 stream (code ${code}) before a response head`;
    if (!refused) this.#plan.dispatcher.tryFailed(this.#plan, why);
    this.#ctx.observers.upstreamError('reset', this.#plan.origin.authority);
    if (this.#retry(refused ? 'connect' : 'reset', !refused)) return;
    this.#fail('PRX_ERR_UPSTREAM_RESET', why);
  }

  // --- tries, timeouts, endings ------------------------------------------------------------------

  /** Another try where the policy allows it and nothing of the body went upstream (it is not kept
   *  for replay), nor anything of the response to the client. */
  #retry(failure: TryFailure, sent: boolean): boolean {
    if (this.#clientSaw || this.#aborted || this.#sentBody) return false;
    const plan = this.#plan;
    const failedHealth = plan.health;
    if (!plan.dispatcher.retry(plan, failure, sent, true, false)) return false;
    if (this.#slotHeld) failedHealth.track(false);
    this.#slotHeld = true; // the dispatcher counted the new try's
    const old = this.#stream;
    this.#stream = undefined;
    if (old !== undefined && !old.closed) old.close(NGHTTP2_CANCEL);
    this.#pool = this.#ctx.h2Pools.get(plan.origin);
    this.#state = State.CONNECTING;
    this.#paused = false;
    this.#timer.disarm();
    this.start();
    return true;
  }

  #timedOut(): void {
    if (this.#paused) {
      // we are the ones not reading (a slow client): not an upstream timeout
      this.#timer.refresh();
      return;
    }
    const policy = this.#plan.policy;
    if (this.#state === State.HEAD) {
      const ms = policy.retries.perTryTimeoutMs ?? policy.timeouts.responseHeadMs;
      const why = `upstream sent no response head within ${ms} ms`;
      this.#plan.dispatcher.tryFailed(this.#plan, why);
      this.#ctx.observers.upstreamError('timeout', this.#plan.origin.authority);
      if (this.#retry('timeout', true)) return;
      this.#fail('PRX_ERR_UPSTREAM_TIMEOUT', why);
    } else if (this.#state === State.BODY) {
      this.#ctx.observers.upstreamError('timeout', this.#plan.origin.authority);
      this.#cutShort(`upstream idle for ${policy.timeouts.idleMs} ms during the response body`);
    }
  }

  #requestTimedOut(): void {
    if (this.#state === State.DONE || this.#aborted) return;
    const why = `request not done within timeouts.requestMs (${this.#plan.policy.timeouts.requestMs} ms)`;
    if (this.#clientSaw) this.#cutShort(why);
    else this.#fail('PRX_ERR_UPSTREAM_TIMEOUT', why);
  }

  /** The one way the exchange ends: DONE, timers off, the try's slot given back, the stream
   *  reset with `code` if it is still open (NO_ERROR: left to close by itself). */
  #end(code: number): boolean {
    if (this.#state === State.DONE) return false;
    this.#state = State.DONE;
    this.#timer.cancel();
    this.#deadline?.cancel();
    if (this.#slotHeld) {
      this.#slotHeld = false;
      this.#plan.health.track(false);
    }
    const stream = this.#stream;
    if (stream !== undefined && !stream.closed && code !== NGHTTP2_NO_ERROR) stream.close(code);
    return true;
  }

  #fail(code: PorticoErrorCode, detail: string): void {
    if (!this.#end(NGHTTP2_CANCEL)) return;
    if (this.#clientSaw) {
      this.#sink.abort(detail);
      return;
    }
    this.#status = statusOf(code);
    this.#sink.fail({ status: this.#status, code, detail });
  }

  #cutShort(reason: string, h2Code?: number): void {
    if (this.#end(NGHTTP2_CANCEL)) this.#sink.abort(reason, h2Code);
  }

  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#end(NGHTTP2_CANCEL);
  }
}

function noop(): void {}
