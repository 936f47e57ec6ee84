// One client connection: Twisted's HTTPChannel with its shape kept and its defects fixed.
//
// - Serial pipelining with head-of-line blocking (spec §4.1): one request at a time; bytes that
//   arrive while a request is in flight are buffered, and once more than pipelineBufferBytes
//   (16 KiB, Twisted's _optimisticEagerReadSize) are waiting the socket stops being read until
//   the response is done. Responses are therefore always in request order.
// - Bodies stream (D11): request body bytes go upstream as they arrive, with backpressure both
//   ways; nothing is spooled.
// - Bad requests get their status (400/413/414/431/501/505, D10) with Connection: close, and
//   nothing after them on the connection is read.
// - One refreshable timer per connection: idle (silent close, never 408 on an idle keep-alive),
//   whole-head deadline (408, slowloris), request-body silence (408), and a hard abort after a
//   graceful close that did not finish (Twisted's abortTimeout).
// - A client that sends FIN while it waits for a response aborts it by default (clientHalfClose
//   "abort", as nginx): the upstream request is cancelled and its pool slot freed, so clients
//   that left cannot hold upstream connections. "finish" keeps the half-close (D29): the response
//   is sent, then the connection closes. A client that goes away cancels its request (D30).
import type net from 'node:net';
import { BodyKind, HeadFlag, HeadKind, MethodId, TargetForm } from '../../asm/shared/constants.js';
import { HeadReader } from '../wasm/head-reader.js';
import { ChunkedDecoder, type ChunkSink } from '../wasm/chunked-decoder.js';
import { CodecError } from '../wasm/codec-error.js';
import type { ParsedHead } from '../wasm/parsed-head.js';
import type { Origin } from '../upstream/origin-url.js';
import type { OriginHealth } from '../upstream/balancer.js';
import { hasDotDotSegment, mapPath } from '../routing/path-mapping.js';
import { Exchange, type ClientSide } from './exchange.js';
import { buildRequestHead, wantsUpgrade } from './request-head.js';
import { httpsRedirect } from './https-redirect.js';
import { localResponse } from './error-response.js';
import { tunnel } from './tunnel.js';
import type { ChannelContext, ForwardRequest } from './channel-context.js';
import { requestHost } from './request-target.js';

const enum State { HEAD, BODY, WAIT, TUNNEL, CLOSED }

const CONNECTION_ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
/** Response bytes queued on the client socket above which no further pipelined request is read
 *  (the relay's own limit, RELAY_HIGH_WATER, applies to relayed bodies). */
const RESPONSE_HIGH_WATER = 256 * 1024;
const enum Timer { NONE, IDLE, HEAD, BODY, ABORT }

export class ClientChannel implements ClientSide {
  readonly socket: net.Socket;
  readonly #ctx: ChannelContext;
  readonly #reader: HeadReader;
  readonly #decoder: ChunkedDecoder;
  readonly #onClosed: (c: ClientChannel) => void;
  #state = State.HEAD;
  #buf: Buffer | undefined;
  #off = 0;
  #exchange: Exchange | undefined;
  #request: ParsedHead | undefined;
  #bodyKind = BodyKind.NONE;
  #bodyRemaining = 0;
  #bodyBytes = 0;
  #bodyBlocked = false;
  #bodyOk = true;
  #closeAfter = false;
  #clientEnded = false;
  #pausedFor = 0; // bit 1: pipeline buffer full, bit 2: upstream not ready for body, bit 4: client not reading responses
  /** Inside #pump: a response finished synchronously (answered locally) must not pump again
   *  from inside the pump; the running loop goes on with the next request (issue 9: a recursion
   *  per pipelined request overflowed the stack). */
  #pumping = false;
  #timer: NodeJS.Timeout | undefined;
  #timerKind = Timer.NONE;
  // per request, for the access log
  #requestId = '';
  #routeId: string | undefined;
  #started = 0;
  /** True between a graceful close and the socket's end. */
  #closing = false;
  /** The server is shutting down: every response from now on closes the connection. */
  #shuttingDown = false;
  readonly #bodySink: ChunkSink;

  constructor(socket: net.Socket, ctx: ChannelContext, onClosed: (c: ClientChannel) => void) {
    this.socket = socket;
    this.#ctx = ctx;
    this.#onClosed = onClosed;
    this.#reader = new HeadReader(ctx.codec, HeadKind.REQUEST, ctx.requestLimits);
    this.#decoder = new ChunkedDecoder(ctx.codec, this.#reader.slot);
    this.#bodySink = {
      data: (b) => this.#chunkData(b),
      trailer: (b) => this.#exchange?.addTrailer(b),
    };
    socket.setNoDelay(true);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    socket.on('drain', this.#onDrain);
    ctx.observers.clientConnection(1);
    this.#setTimer(Timer.IDLE);
  }

  // --- ClientSide (used by the exchange) -------------------------------------------------------

  get clientVersion(): number { return this.#request?.version ?? 11; }
  get closeAfter(): boolean { return this.#closeAfter || this.#closing; }
  get requestBodyDone(): boolean { return this.#state !== State.BODY; }

  write(bytes: Buffer): boolean {
    if (this.#state === State.CLOSED || this.socket.destroyed) return true;
    return this.socket.write(bytes);
  }

  get writableLength(): number { return this.socket.writableLength; }
  cork(): void { this.socket.cork(); }
  uncork(): void { this.socket.uncork(); }

  bodyWritable(): void {
    if (!this.#bodyBlocked) return;
    this.#bodyBlocked = false;
    if (this.#state === State.BODY) this.#setTimer(Timer.BODY);
    this.#resume(2);
    try {
      this.#pump();
    } catch (e) {
      this.#internalError(e);
    }
  }

  responseDone(status: number, closeClient: boolean): void {
    this.#logRequest(status, false);
    this.#exchange = undefined;
    this.#request = undefined;
    if (this.#state === State.CLOSED) return;
    if (closeClient || this.#closeAfter || this.#state === State.BODY) {
      this.#gracefulClose();
      return;
    }
    this.#state = State.HEAD;
    this.#reader.reset();
    this.#resume(1);
    this.#setTimer(Timer.IDLE);
    if (this.#pumping) return; // answered from inside the pump: its loop reads the next request
    try {
      this.#pump();
    } catch (e) {
      this.#internalError(e);
    }
  }

  respondError(status: number, detail: string, code: string): void {
    const close = this.#closeAfter || this.#state === State.BODY || this.#closing;
    this.#writeLocal(status, detail, code, close);
    this.responseDone(status, close);
  }

  abortClient(reason: string): void {
    this.#ctx.logger.warn({ req: this.#requestId, reason }, 'aborting client connection');
    this.#logRequest(this.#exchange?.status ?? 0, true);
    this.#exchange = undefined;
    this.socket.destroy();
  }

  upgrade(head: Buffer, upstream: net.Socket, rest: Buffer): void {
    this.#logRequest(head === CONNECTION_ESTABLISHED ? 200 : 101, false);
    this.#state = State.TUNNEL;
    this.#clearTimer();
    this.#exchange = undefined;
    const s = this.socket;
    s.off('data', this.#onData);
    s.off('end', this.#onEnd);
    s.off('drain', this.#onDrain);
    s.write(head);
    if (rest.length > 0) s.write(rest);
    const pending = this.#buf ? this.#buf.subarray(this.#off) : undefined;
    this.#buf = undefined;
    if (pending && pending.length > 0) upstream.write(pending);
    this.#pausedFor = 0;
    tunnel(s, upstream, { idleMs: this.#ctx.config.timeouts.tunnelIdleMs });
  }

  // --- socket events ----------------------------------------------------------------------------

  readonly #onData = (chunk: Buffer): void => {
    if (this.#state === State.CLOSED || this.#closing) return; // lingering close: discard
    if (this.#buf === undefined || this.#off >= this.#buf.length) {
      this.#buf = chunk;
      this.#off = 0;
    } else {
      this.#buf = Buffer.concat([this.#buf.subarray(this.#off), chunk]);
      this.#off = 0;
    }
    if (this.#timerKind === Timer.BODY) this.#timer?.refresh();
    try {
      this.#pump();
    } catch (e) {
      this.#internalError(e);
    }
  };

  /** A bug must cost one connection, never the process. */
  #internalError(e: unknown): void {
    this.#ctx.logger.error({ err: e, req: this.#requestId }, 'internal error; closing the connection');
    this.#exchange?.abort();
    this.#exchange = undefined;
    this.socket.destroy();
  }

  readonly #onEnd = (): void => {
    try {
      this.#ended();
    } catch (e) {
      this.#internalError(e);
    }
  };

  #ended(): void {
    this.#clientEnded = true;
    if (this.#closing) { this.socket.destroy(); return; }
    switch (this.#state) {
      case State.HEAD:
        if (this.#exchange === undefined && !this.#buffered()) this.#gracefulClose();
        break;
      case State.BODY:
        this.#cancelRequest(); // the request can never complete
        break;
      case State.WAIT:
        // clientHalfClose "finish": answer, then close (the pump closes once idle); "abort":
        // cancel the upstream exchange or the pending forward-proxy work
        if (this.#ctx.config.clientHalfClose !== 'finish') this.#cancelRequest();
        break;
      default:
        break;
    }
  }

  /** Cancels the request in progress (its upstream exchange, if any) and drops the connection. */
  #cancelRequest(): void {
    this.#exchange?.abort();
    this.#logRequest(this.#exchange?.status ?? 0, true);
    this.#exchange = undefined;
    this.socket.destroy();
  }

  readonly #onError = (): void => {
    // 'close' follows; nothing to report to the client
  };

  readonly #onDrain = (): void => {
    try {
      this.#exchange?.resumeUpstream();
      if ((this.#pausedFor & 4) !== 0) {
        this.#resume(4);
        this.#pump();
      }
    } catch (e) {
      this.#internalError(e);
    }
  };

  readonly #onClose = (): void => {
    const wasOpen = this.#state !== State.CLOSED;
    this.#state = State.CLOSED;
    this.#clearTimer();
    if (this.#exchange) {
      this.#exchange.abort();
      this.#logRequest(0, true);
      this.#exchange = undefined;
    }
    this.#buf = undefined;
    this.#reader.release();
    if (wasOpen) this.#ctx.observers.clientConnection(-1);
    this.#onClosed(this);
  };

  // --- input processing -------------------------------------------------------------------------

  #buffered(): number {
    return this.#buf ? this.#buf.length - this.#off : 0;
  }

  /** Processes buffered input: a loop, never a recursion, whatever the requests are (every
   *  response, local or relayed, that finishes while it runs just returns to this loop). */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      this.#pumpLoop();
    } finally {
      this.#pumping = false;
    }
    if (this.#state === State.HEAD && this.#clientEnded && this.#exchange === undefined && this.#reader.pendingLength === 0 && !this.#buffered()) this.#gracefulClose();
  }

  #pumpLoop(): void {
    while (this.#buf !== undefined && this.#off < this.#buf.length) {
      if (this.#state === State.HEAD) {
        // a client that pipelines without reading the answers: stop reading it until its
        // responses drain (bounds what locally answered requests can queue)
        if (this.socket.writableLength > RESPONSE_HIGH_WATER) {
          this.#pause(4);
          break;
        }
        if (!this.#readHead()) break;
      } else if (this.#state === State.BODY) {
        if (this.#bodyBlocked || !this.#readBody()) break;
      } else {
        if (this.#state === State.WAIT && this.#buffered() > this.#ctx.config.limits.pipelineBufferBytes) this.#pause(1);
        break;
      }
    }
    if (this.#buf !== undefined && this.#off >= this.#buf.length) {
      this.#buf = undefined;
      this.#off = 0;
    }
  }

  /** Feeds the head reader; true when a request started and processing may go on. */
  #readHead(): boolean {
    const buf = this.#buf!;
    if (this.#timerKind === Timer.IDLE) this.#setTimer(Timer.HEAD);
    let n: number;
    try {
      n = this.#reader.feed(buf, this.#off, buf.length);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      this.#off = buf.length;
      this.#reject(e.info.status, e.message, e.info.name);
      return false;
    }
    if (n === 0) {
      this.#off = buf.length;
      return false;
    }
    this.#off += n;
    this.#startRequest(this.#reader.head!);
    return this.#state !== State.CLOSED && !this.#closing;
  }

  #startRequest(head: ParsedHead): void {
    this.#request = head;
    this.#requestId = this.#ctx.nextRequestId();
    this.#started = performance.now();
    this.#routeId = undefined;
    this.#bodyKind = head.bodyKind;
    this.#bodyBytes = 0;
    this.#bodyOk = true;
    // persistence (RFC 9112 §9.3): HTTP/1.1 unless "close"; HTTP/1.0 only with "keep-alive"
    // (Twisted's checkPersistence), and then only if the response can be delimited (exchange)
    this.#closeAfter = this.#shuttingDown || head.has(HeadFlag.CONNECTION_CLOSE) || (head.version === 10 && !head.has(HeadFlag.CONNECTION_KEEP_ALIVE));
    const limit = this.#ctx.config.limits.maxBodyBytes;
    if (head.bodyKind === BodyKind.LENGTH) {
      this.#bodyRemaining = head.contentLength;
      if (limit !== null && head.contentLength > limit) {
        this.#closeAfter = true;
        this.#state = State.BODY;
        this.#localResponse(413, `request body of ${head.contentLength} bytes exceeds the ${limit}-byte limit`, 'PRX_BODY_TOO_LARGE');
        return;
      }
      if (head.contentLength === 0) this.#bodyKind = BodyKind.NONE;
    } else if (head.bodyKind === BodyKind.CHUNKED) {
      this.#decoder.begin();
    }
    this.#state = this.#bodyKind === BodyKind.NONE ? State.WAIT : State.BODY;
    this.#setTimer(this.#state === State.BODY ? Timer.BODY : Timer.NONE);
    this.#dispatch(head);
  }

  /** Routes the request and starts its exchange, or answers it locally. */
  #dispatch(head: ParsedHead): void {
    const ctx = this.#ctx;
    const forwardForm = head.targetForm === TargetForm.ABSOLUTE || head.targetForm === TargetForm.AUTHORITY;
    if (forwardForm && ctx.forward && ctx.mode !== 'reverse') {
      this.#routeId = 'forward';
      this.#blockBody();
      ctx.forward.handle(this.#forwardRequest(head));
      return;
    }
    if (ctx.mode === 'forward') {
      this.#localResponse(400, 'this listener is a forward proxy: send absolute-form requests (http://host/path) or CONNECT', 'PRX_NOT_A_PROXY_REQUEST');
      return;
    }
    if (head.targetForm === TargetForm.AUTHORITY) {
      this.#localResponse(405, 'CONNECT is not enabled on this listener', 'PRX_CONNECT_DISABLED', 'Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n');
      return;
    }
    if (head.targetForm === TargetForm.ASTERISK) {
      if (head.methodId === MethodId.OPTIONS) this.#localResponse(200, '', '');
      else this.#localResponse(400, 'the asterisk-form target is only for OPTIONS', 'PRX_BAD_TARGET');
      return;
    }
    const where = requestHost(head);
    if (where.error) {
      this.#localResponse(400, where.error, 'PRX_BAD_TARGET');
      return;
    }
    if (hasDotDotSegment(where.path)) {
      this.#localResponse(400, 'the path has a ".." segment', 'PRX_PATH_ESCAPE');
      return;
    }
    if (ctx.redirectToHttps) {
      const r = httpsRedirect(where, ctx.redirectToHttps.port);
      this.#localResponse(r.status, r.detail, r.code, r.fields);
      return;
    }
    const table = this.#ctx.routes.current;
    const method = head.method;
    const route = table.match({ host: where.host, path: where.path, method, header: (n) => head.values(n) });
    if (!route) {
      const status = this.#ctx.config.notFoundStatus;
      this.#localResponse(status, `no route for ${where.host || '(no host)'}${where.path}`, 'PRX_NO_ROUTE');
      return;
    }
    this.#routeId = route.id;
    const target = route.balancer.pick();
    const origin = target.origin;
    const clientHost = where.clientHost;
    // Host: the upstream's (Twisted's default) or the client's; absolute-form names it in the target
    const host = route.preserveHost && clientHost !== undefined ? (head.targetForm === TargetForm.ABSOLUTE ? clientHost : undefined) : origin.authority;
    const via = (route.via ?? ctx.config.via) ? (route.proxyName ?? ctx.config.proxyName) : undefined;
    this.#relay(head, origin, target.health, mapPath(where.path, where.query, route.pathPrefix, origin.basePath, route.stripPrefix, route.rewritePrefix), host, clientHost, via);
  }

  /** Starts the exchange that relays this request to `origin`. `host` undefined: keep the
   *  client's Host line. `via`: the Via pseudonym, undefined for none. */
  #relay(head: ParsedHead, origin: Origin, health: OriginHealth, upstreamTarget: string, host: string | undefined, clientHost: string | undefined, via: string | undefined): void {
    const ctx = this.#ctx;
    const upgrade = wantsUpgrade(head) && head.version === 11;
    const requestHead = buildRequestHead({
      head,
      target: upstreamTarget,
      host,
      clientHost,
      framing: this.#bodyKind === BodyKind.CHUNKED ? 'chunked' : head.bodyKind === BodyKind.LENGTH ? 'length' : 'none',
      contentLength: head.contentLength,
      upgrade,
      peerAddress: this.socket.remoteAddress,
      peerTrusted: ctx.trustedProxies.has(this.socket.remoteAddress),
      via,
      proto: ctx.secure ? 'https' : 'http',
      policy: ctx.config.forwarding,
    });
    const ex = new Exchange(ctx, this, head, requestHead, ctx.pools.get(origin), health, this.#bodyKind === BodyKind.CHUNKED, upgrade, via);
    this.#exchange = ex;
    if (this.#state === State.BODY) {
      // until the upstream connection is ready the body waits in the socket (backpressure)
      this.#blockBody();
    } else {
      ex.endBody();
    }
    ex.start();
  }

  /** The view of this request the forward proxy works with. */
  #forwardRequest(head: ParsedHead): ForwardRequest {
    let used = false;
    const once = () => {
      if (used) throw new Error('portico: a forward request was answered twice');
      used = true;
    };
    const channel = this;
    return {
      head,
      peerAddress: this.socket.remoteAddress,
      requestId: this.#requestId,
      get closed() { return channel.#state === State.CLOSED; },
      respond: (status, detail, code, extraFields = '') => {
        once();
        if (this.#state === State.CLOSED) return;
        this.#bodyBlocked = false;
        this.#resume(2);
        this.#localResponse(status, detail, code, extraFields);
      },
      relay: (origin, target, host, health) => {
        once();
        if (this.#state === State.CLOSED) return;
        this.#bodyBlocked = false;
        this.#resume(2);
        try {
          this.#relay(head, origin, health, target, host, host, this.#ctx.config.via ? this.#ctx.config.proxyName : undefined);
          this.#pump();
        } catch (e) {
          this.#internalError(e);
        }
      },
      tunnel: (upstream) => {
        once();
        if (this.#state === State.CLOSED) { upstream.destroy(); return; }
        this.upgrade(CONNECTION_ESTABLISHED, upstream, EMPTY);
      },
    };
  }

  /** Feeds request body bytes to the exchange; false when processing must wait. */
  #readBody(): boolean {
    const buf = this.#buf!;
    const ex = this.#exchange;
    if (this.#bodyKind === BodyKind.LENGTH) {
      const take = Math.min(this.#bodyRemaining, buf.length - this.#off);
      const ok = ex ? ex.sendBody(buf.subarray(this.#off, this.#off + take)) : true;
      this.#off += take;
      this.#bodyRemaining -= take;
      if (this.#bodyRemaining === 0) this.#bodyDone();
      else if (!ok) this.#blockBody();
      return this.#state !== State.BODY || ok;
    }
    // chunked
    this.#bodyOk = true;
    let n: number;
    try {
      n = this.#decoder.decode(buf, this.#off, buf.length, this.#bodySink);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      this.#off = buf.length;
      this.#badBody(e.info.status, e.message, e.info.name);
      return false;
    }
    this.#off += n;
    if (this.#state !== State.BODY) return false; // #chunkData rejected the body
    if (this.#decoder.done) this.#bodyDone();
    else if (!this.#bodyOk) this.#blockBody();
    return this.#state !== State.BODY || this.#bodyOk;
  }

  #chunkData(bytes: Buffer): void {
    if (this.#state !== State.BODY) return;
    this.#bodyBytes += bytes.length;
    const limit = this.#ctx.config.limits.maxBodyBytes;
    if (limit !== null && this.#bodyBytes > limit) {
      this.#badBody(413, `request body exceeds the ${limit}-byte limit`, 'PRX_BODY_TOO_LARGE');
      return;
    }
    if (this.#exchange && !this.#exchange.sendChunk(bytes)) this.#bodyOk = false;
  }

  /** Stops reading the request body until the upstream can take more. The body-silence timer
   *  stops too: the client is not the slow party (the upstream's own timers apply). */
  #blockBody(): void {
    this.#bodyBlocked = true;
    this.#pause(2);
    if (this.#timerKind === Timer.BODY) this.#setTimer(Timer.NONE);
  }

  #bodyDone(): void {
    this.#state = State.WAIT;
    this.#setTimer(Timer.NONE);
    this.#exchange?.endBody();
  }

  /** The request body is invalid or too large: answer if we still can, and close. */
  #badBody(status: number, detail: string, code: string): void {
    this.#closeAfter = true;
    const ex = this.#exchange;
    this.#exchange = undefined;
    ex?.abort();
    this.#state = State.WAIT;
    if (ex && ex.status !== 0) {
      // the response already started: the client must see it cut short
      this.#logRequest(ex.status, true);
      this.socket.destroy();
      return;
    }
    this.#writeLocal(status, detail, code, true);
    this.#logRequest(status, false);
    this.#gracefulClose();
  }

  /** A response the proxy makes itself for a parsed request (no route, bad target, 413...). */
  #localResponse(status: number, detail: string, code: string, extra = ''): void {
    // a body we will not read makes the connection unusable for further requests
    if (this.#state === State.BODY) this.#closeAfter = true;
    const close = this.#closeAfter;
    this.#writeLocal(status, detail, code, close, extra);
    if (this.#state === State.BODY) this.#state = State.WAIT;
    this.responseDone(status, close);
  }

  /** Writes a response the proxy makes itself. The one way local responses go out, so each
   *  follows HEAD rules for the request it answers (none is known for a head that failed to
   *  parse) and says how the connection goes on. */
  #writeLocal(status: number, detail: string, code: string, close: boolean, extra = ''): void {
    const request = this.#request;
    const persistence = close ? 'close' : request !== undefined && request.version === 10 ? 'keep-alive' : 'persistent';
    this.write(localResponse(status, detail, code, persistence, request !== undefined && request.methodId === MethodId.HEAD, extra));
  }

  /** A request that failed to parse: answer its status, close, read nothing more (D10). */
  #reject(status: number, detail: string, code: string): void {
    this.#requestId = this.#ctx.nextRequestId();
    this.#started = performance.now();
    this.#writeLocal(status, detail, code, true);
    this.#ctx.logger.info({ req: this.#requestId, client: this.socket.remoteAddress, status, error: code }, 'bad request');
    this.#ctx.observers.requestFinished({ routeId: undefined, method: '', status, durationMs: 0, aborted: false });
    this.#gracefulClose();
  }

  // --- flow control, timers, closing ----------------------------------------------------------

  #pause(bit: number): void {
    if (this.#pausedFor === 0) this.socket.pause();
    this.#pausedFor |= bit;
  }

  #resume(bit: number): void {
    if ((this.#pausedFor & bit) === 0) return;
    this.#pausedFor &= ~bit;
    if (this.#pausedFor === 0 && this.#state !== State.CLOSED) this.socket.resume();
  }

  #setTimer(kind: Timer): void {
    if (kind === this.#timerKind && this.#timer) {
      this.#timer.refresh();
      return;
    }
    this.#clearTimer();
    this.#timerKind = kind;
    const t = this.#ctx.config.timeouts;
    const ms = kind === Timer.IDLE ? t.idleMs : kind === Timer.HEAD ? t.headMs : kind === Timer.BODY ? t.bodyIdleMs : kind === Timer.ABORT ? t.abortMs : 0;
    if (ms > 0) this.#timer = setTimeout(this.#onTimer, ms);
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerKind = Timer.NONE;
  }

  readonly #onTimer = (): void => {
    const kind = this.#timerKind;
    this.#timer = undefined;
    this.#timerKind = Timer.NONE;
    try {
      this.#timerFired(kind);
    } catch (e) {
      this.#internalError(e);
    }
  };

  #timerFired(kind: Timer): void {
    switch (kind) {
      case Timer.IDLE:
        // an idle keep-alive connection closes silently (RFC 9110 §15.5.9: no 408 here)
        if (this.#reader.pendingLength > 0) this.#timeoutRequest('request head');
        else this.#gracefulClose();
        break;
      case Timer.HEAD:
        this.#timeoutRequest('request head');
        break;
      case Timer.BODY:
        if (this.#exchange && this.#exchange.status !== 0) {
          this.#exchange.abort();
          this.#exchange = undefined;
          this.socket.destroy();
        } else {
          this.#exchange?.abort();
          this.#exchange = undefined;
          this.#timeoutRequest('request body');
        }
        break;
      case Timer.ABORT:
        this.socket.destroy();
        break;
      default:
        break;
    }
  }

  #timeoutRequest(what: string): void {
    this.#writeLocal(408, `${what} not received in time`, 'PRX_REQUEST_TIMEOUT', true);
    this.#ctx.logger.info({ client: this.socket.remoteAddress, what }, 'request timeout');
    this.#gracefulClose();
  }

  /** Flush what is queued, send FIN, and destroy after abortMs if the peer does not close. */
  #gracefulClose(): void {
    if (this.#closing || this.#state === State.CLOSED) return;
    this.#closing = true;
    this.#buf = undefined;
    this.#pausedFor = 0;
    this.socket.resume(); // keep reading (and discarding) so unread input does not turn into an RST
    this.socket.end();
    this.#setTimer(Timer.ABORT);
    if (this.#clientEnded) this.socket.destroySoon();
  }

  /** Server shutdown: close now if idle between requests, else after the current (or partly
   *  received) request. A connection accepted but with no request yet is not idle: its client has
   *  just connected and is sending its first request (closing it would fail that request, which
   *  a client retries only on a reused connection, RFC 9112 section 9.3.1); it is answered, with
   *  `Connection: close`, or closed at the shutdown deadline. This matters when a worker drains
   *  during a rolling restart while connections keep arriving. */
  shutdown(): void {
    this.#shuttingDown = true;
    const betweenRequests = this.#state === State.HEAD && this.#exchange === undefined && this.#reader.pendingLength === 0 && this.#requestId !== '';
    if (betweenRequests) this.#gracefulClose();
    else this.#closeAfter = true;
  }

  get idle(): boolean {
    return this.#state === State.HEAD && this.#exchange === undefined && this.#reader.pendingLength === 0;
  }

  #logRequest(status: number, aborted: boolean): void {
    const head = this.#request;
    if (!head) return;
    const durationMs = performance.now() - this.#started;
    const method = head.method;
    this.#ctx.observers.requestFinished({ routeId: this.#routeId, method, status, durationMs, aborted });
    const log = this.#ctx.logger;
    if (log.isLevelEnabled('info')) {
      log.info({ req: this.#requestId, client: this.socket.remoteAddress, method, target: head.target, route: this.#routeId, upstream: this.#exchange?.authority, status, ms: Math.round(durationMs * 100) / 100, aborted: aborted || undefined }, 'request');
    }
  }
}
