// One client connection: Twisted's HTTPChannel with its shape kept and its defects fixed.
//
// States (State below; each transition is one method, named in brackets):
//
//          accept
//            |
//            v          first byte of a head: head timer
//   +-----> HEAD ---------------------------------+  idle timer, or FIN between requests
//   |        |  head parsed [#startRequest]        +--------------------------+
//   |        v                                                                |
//   |      BODY  (request body streaming upstream; body-silence timer)        |
//   |        |  body complete [#bodyDone], or answered early                  |
//   |        v                                                                v
//   |      WAIT  (response in progress: exchange, forward proxy, or local) -> CLOSING -> CLOSED
//   |        |  response done, connection persistent [responseDone]           ^   (socket 'close')
//   +--------+                                                                |
//            |  101 / CONNECT [upgrade]                                       |
//            +--> TUNNEL (the tunnel owns both sockets) ----------------------+---> CLOSED
//
// CLOSING [#gracefulClose]: the last response is flushed, FIN sent, input read and discarded
// until the client closes or the abort timer (abortMs) fires. Any state goes to CLOSED on the
// socket's 'close', and every abrupt end (client reset or FIN mid-request, an exchange failed
// after its head, a body timeout after the response began, an internal error) goes through one
// path, #teardown: the request in progress is cancelled and logged as aborted, and the socket
// destroyed. Draining (server shutdown, #draining) is a mode, not a phase: a connection idle
// after a request goes to CLOSING at once; any other (including one accepted that has not sent
// its first request yet) finishes its request, answered with Connection: close, and closes.
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
import { localResponse, type LocalAnswer } from './error-response.js';
import { tunnel } from './tunnel.js';
import { ClientReads, type ReadSink } from './client-reads.js';
import type { ChannelContext, ForwardRequest } from './channel-context.js';
import { requestHost } from './request-target.js';
import { plainAddress } from '../net/address-set.js';
import type { Deadline } from '../clock.js';

/** The connection's phase (diagram above); the order matters: >= CLOSING means no more requests. */
const enum State { HEAD, BODY, WAIT, TUNNEL, CLOSING, CLOSED }

/** Why the socket is not being read (several can hold at once; reading resumes when none does). */
const enum Pause {
  /** More than pipelineBufferBytes of pipelined input wait behind the request in flight. */
  PIPELINE = 1,
  /** The upstream is not ready for more request body. */
  UPSTREAM = 2,
  /** The client is not reading its responses (RESPONSE_HIGH_WATER queued). */
  CLIENT_NOT_READING = 4,
}

/** The socket property that leads a shared listener to its connection's channel. */
const CHANNEL = Symbol('portico.channel');
const channelOf = (socket: net.Socket): ClientChannel => (socket as unknown as Record<symbol, ClientChannel>)[CHANNEL];

const CONNECTION_ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
/** Response bytes queued on the client socket above which no further pipelined request is read
 *  (the relay's own limit, RELAY_HIGH_WATER, applies to relayed bodies). */
const RESPONSE_HIGH_WATER = 256 * 1024;
const enum Timer { NONE, IDLE, HEAD, BODY, ABORT }

/** The client's address as forwarding fields give it, and whether it is a trusted proxy. */
interface PeerInfo { plain: string; trusted: boolean }

/** Where a request is relayed: the origin, its health, the upstream request-target, the Host
 *  value (undefined: keep the client's Host line), the client's host (X-Forwarded-Host,
 *  Forwarded host=) and the Via pseudonym (undefined: no Via). */
interface RelayTarget {
  origin: Origin;
  health: OriginHealth;
  target: string;
  host: string | undefined;
  clientHost: string | undefined;
  via: string | undefined;
}

/** The Host the upstream gets: the upstream's authority (Twisted's default), or with
 *  preserveHost the client's: its own Host line kept as is (undefined), or for an absolute-form
 *  request the host named in the target (RFC 9112 §3.2.2). */
function upstreamHost(preserveHost: boolean, clientHost: string | undefined, head: ParsedHead, origin: Origin): string | undefined {
  if (!preserveHost || clientHost === undefined) return origin.authority;
  return head.targetForm === TargetForm.ABSOLUTE ? clientHost : undefined;
}

export class ClientChannel implements ClientSide, ReadSink {
  readonly socket: net.Socket;
  readonly #ctx: ChannelContext;
  readonly #reader: HeadReader;
  /** Made on the first chunked request body (#chunkedDecoder): most connections never send one. */
  #decoder: ChunkedDecoder | undefined;
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
  /** Pause reasons in force (a set of Pause bits). */
  #pausedFor = 0;
  /** Inside #pump: a response finished synchronously (answered locally) must not pump again
   *  from inside the pump; the running loop goes on with the next request (issue 9: a recursion
   *  per pipelined request overflowed the stack). */
  #pumping = false;
  readonly #timer: Deadline;
  #timerKind = Timer.NONE;
  // per request, for the access log
  #requestId = '';
  #routeId: string | undefined;
  #started = 0;
  /** The server is draining (shutting down): every response from now on closes the connection. */
  #draining = false;
  #bodySink: ChunkSink | undefined;
  /** Reads into Portico's buffers (client-reads.ts), or undefined: Node's 'data' events (TLS
   *  connections, or a Node without the hooks). */
  readonly #reads: ClientReads | undefined;
  /** Inside a read delivered in an owned buffer: views of it must not outlive the call. */
  #inOwnedRead = false;
  /** That read is in the shared head buffer: body bytes in it are copied before they go upstream. */
  #readShared = false;
  /** The exchange that got views of this read's body buffer (checked for a queued write after it). */
  #bodySentTo: Exchange | undefined;
  #peerInfo: PeerInfo | undefined;

  constructor(socket: net.Socket, ctx: ChannelContext, onClosed: (c: ClientChannel) => void) {
    this.socket = socket;
    this.#ctx = ctx;
    this.#onClosed = onClosed;
    this.#reader = new HeadReader(ctx.codec, HeadKind.REQUEST, ctx.requestLimits);
    this.#timer = ctx.clock.deadline(this.#onTimer);
    socket.setNoDelay(true);
    this.#reads = (socket as { encrypted?: boolean }).encrypted ? undefined : ClientReads.install(socket, this);
    (socket as unknown as Record<symbol, unknown>)[CHANNEL] = this;
    const on = ClientChannel.#listeners;
    socket.on('data', on.data);
    socket.on('end', on.end);
    socket.on('error', on.error);
    socket.on('close', on.close);
    socket.on('drain', on.drain);
    ctx.observers.clientConnection(1);
    this.#setTimer(Timer.IDLE);
  }

  // --- ClientSide (used by the exchange) -------------------------------------------------------

  get clientVersion(): number { return this.#request?.version ?? 11; }
  get closeAfter(): boolean { return this.#closeAfter || this.#state === State.CLOSING; }
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
    this.#resume(Pause.UPSTREAM);
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
    if (this.#state >= State.CLOSING) return;
    if (closeClient || this.#closeAfter || this.#state === State.BODY) {
      this.#gracefulClose();
      return;
    }
    this.#state = State.HEAD;
    this.#reader.reset();
    this.#resume(Pause.PIPELINE);
    this.#setTimer(Timer.IDLE);
    if (this.#pumping) return; // answered from inside the pump: its loop reads the next request
    try {
      this.#pump();
    } catch (e) {
      this.#internalError(e);
    }
  }

  respondError(answer: LocalAnswer): void {
    const close = this.#closeAfter || this.#state === State.BODY || this.#state === State.CLOSING;
    this.#writeLocal(answer, close);
    this.responseDone(answer.status, close);
  }

  abortClient(reason: string): void {
    this.#ctx.logger.warn({ req: this.#requestId, reason }, 'aborting client connection');
    this.#teardown();
  }

  upgrade(head: Buffer, upstream: net.Socket, rest: Buffer): void {
    this.#logRequest(head === CONNECTION_ESTABLISHED ? 200 : 101, false);
    this.#state = State.TUNNEL;
    this.#stopTimer(); // the tunnel has its own
    this.#exchange = undefined;
    this.#request = undefined;
    const s = this.socket;
    const on = ClientChannel.#listeners;
    s.off('data', on.data);
    s.off('end', on.end);
    s.off('drain', on.drain);
    s.write(head);
    if (rest.length > 0) s.write(rest);
    const pending = this.#buf ? Buffer.from(this.#buf.subarray(this.#off)) : undefined;
    this.#buf = undefined;
    this.#reads?.detach();
    if (pending && pending.length > 0) upstream.write(pending);
    this.#pausedFor = 0;
    tunnel(s, upstream, { idleMs: this.#ctx.config.timeouts.tunnelIdleMs, clock: this.#ctx.clock });
  }

  // --- socket events ----------------------------------------------------------------------------

  /** ReadSink: a read in an owned buffer. Whatever must outlive it is copied: the request head
   *  (#startRequest), body bytes from the shared buffer (#forBody), and unprocessed bytes (here). */
  read(bytes: Buffer, shared: boolean): void {
    this.#inOwnedRead = true;
    this.#readShared = shared;
    try {
      this.#onData(bytes);
    } finally {
      this.#inOwnedRead = false;
    }
    const buf = this.#buf;
    if (buf !== undefined && buf.buffer === bytes.buffer) {
      this.#buf = Buffer.from(buf.subarray(this.#off));
      this.#off = 0;
    }
    if (this.#bodySentTo !== undefined) {
      if (this.#bodySentTo.upstreamBacklog) this.#reads!.lend();
      this.#bodySentTo = undefined;
    }
  }

  /** ReadSink: a request body is streaming, so the next read goes to a body buffer. */
  get wantsBodyBuffer(): boolean {
    return this.#state === State.BODY;
  }

  /** Request body bytes for the exchange: a view of an owned body buffer (the exchange is noted,
   *  to lend the buffer if its upstream queues them), a copy out of the shared buffer, or the
   *  bytes of a 'data' event as they are. */
  #forBody(bytes: Buffer, ex: Exchange): Buffer {
    if (!this.#inOwnedRead) return bytes;
    if (this.#readShared) return Buffer.from(bytes);
    this.#bodySentTo = ex;
    return bytes;
  }

  /** The socket's listeners, one set for every connection (`this` is the socket, CHANNEL its
   *  channel): an idle connection holds no closures of its own for them (issue 14, memory). */
  static readonly #listeners = {
    data(this: net.Socket, chunk: Buffer): void { channelOf(this).#onData(chunk); },
    end(this: net.Socket): void { channelOf(this).#onEnd(); },
    error(this: net.Socket): void { /* 'close' follows; nothing to report to the client */ },
    close(this: net.Socket): void { channelOf(this).#onClose(); },
    drain(this: net.Socket): void { channelOf(this).#onDrain(); },
  };

  #onData(chunk: Buffer): void {
    if (this.#state >= State.CLOSING) return; // lingering close: discard
    if (this.#buf === undefined || this.#off >= this.#buf.length) {
      this.#buf = chunk;
      this.#off = 0;
    } else {
      this.#buf = Buffer.concat([this.#buf.subarray(this.#off), chunk]);
      this.#off = 0;
    }
    if (this.#timerKind === Timer.BODY) this.#timer.refresh();
    try {
      this.#pump();
    } catch (e) {
      this.#internalError(e);
    }
  }

  /** A bug must cost one connection, never the process. */
  #internalError(e: unknown): void {
    this.#ctx.logger.error({ err: e, req: this.#requestId }, 'internal error; closing the connection');
    this.#teardown();
  }

  /** The one abrupt end, whatever the cause: the request in progress (if any) is cancelled, its
   *  upstream socket discarded, it is logged as aborted, and the socket destroyed ('close' then
   *  moves to CLOSED). */
  #teardown(): void {
    this.#endRequestAborted();
    this.socket.destroy();
  }

  /** Cancels and logs (aborted, with `status`) the request in progress, if any. */
  #endRequestAborted(status = this.#exchange?.status ?? 0): void {
    this.#exchange?.abort();
    if (this.#request !== undefined) this.#logRequest(status, true);
    this.#exchange = undefined;
    this.#request = undefined;
  }

  #onEnd(): void {
    try {
      this.#ended();
    } catch (e) {
      this.#internalError(e);
    }
  }

  #ended(): void {
    this.#clientEnded = true;
    if (this.#state === State.CLOSING) { this.socket.destroy(); return; }
    switch (this.#state) {
      case State.HEAD:
        if (this.#exchange === undefined && !this.#buffered()) this.#gracefulClose();
        break;
      case State.BODY:
        this.#teardown(); // the request can never complete
        break;
      case State.WAIT:
        // clientHalfClose "finish": answer, then close (the pump closes once idle); "abort":
        // cancel the upstream exchange or the pending forward-proxy work
        if (this.#ctx.config.clientHalfClose !== 'finish') this.#teardown();
        break;
      default:
        break;
    }
  }

  #onDrain(): void {
    try {
      this.#exchange?.resumeUpstream();
      if ((this.#pausedFor & Pause.CLIENT_NOT_READING) !== 0) {
        this.#resume(Pause.CLIENT_NOT_READING);
        this.#pump();
      }
    } catch (e) {
      this.#internalError(e);
    }
  }

  #onClose(): void {
    const wasOpen = this.#state !== State.CLOSED;
    this.#state = State.CLOSED;
    this.#stopTimer(); // a closed connection must not stay reachable from a timer
    this.#endRequestAborted(0);
    this.#buf = undefined;
    this.#reads?.release();
    this.#reader.release();
    if (wasOpen) this.#ctx.observers.clientConnection(-1);
    this.#onClosed(this);
  }

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
    if (this.#clientEnded && this.#betweenRequests && !this.#buffered()) this.#gracefulClose();
  }

  #pumpLoop(): void {
    while (this.#buf !== undefined && this.#off < this.#buf.length) {
      if (this.#state === State.HEAD) {
        // a client that pipelines without reading the answers: stop reading it until its
        // responses drain (bounds what locally answered requests can queue)
        if (this.socket.writableLength > RESPONSE_HIGH_WATER) {
          this.#pause(Pause.CLIENT_NOT_READING);
          break;
        }
        if (!this.#readHead()) break;
      } else if (this.#state === State.BODY) {
        if (this.#bodyBlocked || !this.#readBody()) break;
      } else {
        if (this.#state === State.WAIT && this.#buffered() > this.#ctx.config.limits.pipelineBufferBytes) this.#pause(Pause.PIPELINE);
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
    let n: number;
    try {
      n = this.#reader.feed(buf, this.#off, buf.length);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      this.#off = buf.length;
      this.#reject({ status: e.info.status, code: e.info.name, detail: e.message });
      return false;
    }
    if (n === 0) {
      // the head began and is not complete: from its first byte it has headMs to arrive (a head
      // that arrives whole, the usual case, never arms this timer)
      if (this.#timerKind === Timer.IDLE) this.#setTimer(Timer.HEAD);
      this.#off = buf.length;
      return false;
    }
    this.#off += n;
    this.#startRequest(this.#reader.head!);
    return this.#state < State.CLOSING;
  }

  #startRequest(head: ParsedHead): void {
    // a request outlives the read its head came in (owned read buffers are reused)
    if (this.#inOwnedRead) head = head.copy();
    this.#request = head;
    this.#requestId = this.#ctx.nextRequestId();
    this.#started = this.#ctx.clock.now();
    this.#routeId = undefined;
    this.#bodyKind = head.bodyKind;
    this.#bodyBytes = 0;
    this.#bodyOk = true;
    // persistence (RFC 9112 §9.3): HTTP/1.1 unless "close"; HTTP/1.0 only with "keep-alive"
    // (Twisted's checkPersistence), and then only if the response can be delimited (exchange)
    this.#closeAfter = this.#draining || head.has(HeadFlag.CONNECTION_CLOSE) || (head.version === 10 && !head.has(HeadFlag.CONNECTION_KEEP_ALIVE));
    const limit = this.#ctx.config.limits.maxBodyBytes;
    if (head.bodyKind === BodyKind.LENGTH) {
      this.#bodyRemaining = head.contentLength;
      if (limit !== null && head.contentLength > limit) {
        this.#closeAfter = true;
        this.#state = State.BODY;
        this.#localResponse({ status: 413, code: 'PRX_BODY_TOO_LARGE', detail: `request body of ${head.contentLength} bytes exceeds the ${limit}-byte limit` });
        return;
      }
      if (head.contentLength === 0) this.#bodyKind = BodyKind.NONE;
    } else if (head.bodyKind === BodyKind.CHUNKED) {
      this.#chunkedDecoder().begin();
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
      this.#localResponse({ status: 400, code: 'PRX_NOT_A_PROXY_REQUEST', detail: 'this listener is a forward proxy: send absolute-form requests (http://host/path) or CONNECT' });
      return;
    }
    if (head.targetForm === TargetForm.AUTHORITY) {
      this.#localResponse({ status: 405, code: 'PRX_CONNECT_DISABLED', detail: 'CONNECT is not enabled on this listener', fields: 'Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n' });
      return;
    }
    if (head.targetForm === TargetForm.ASTERISK) {
      if (head.methodId === MethodId.OPTIONS) this.#localResponse({ status: 200 });
      else this.#localResponse({ status: 400, code: 'PRX_BAD_TARGET', detail: 'the asterisk-form target is only for OPTIONS' });
      return;
    }
    const where = requestHost(head);
    if (where.error) {
      this.#localResponse({ status: 400, code: 'PRX_BAD_TARGET', detail: where.error });
      return;
    }
    if (hasDotDotSegment(where.path)) {
      this.#localResponse({ status: 400, code: 'PRX_PATH_ESCAPE', detail: 'the path has a ".." segment' });
      return;
    }
    // ACME HTTP-01 (RFC 8555 §8.3; src/acme/challenge-answers.ts): a pending token is answered
    // before the redirect and the routes. (issue 24: to move into the request dispatcher)
    const acme = ctx.acmeChallenges?.answerHttp01(head.method, where.host, where.path);
    if (acme) {
      this.#localResponse(acme);
      return;
    }
    if (ctx.redirectToHttps) {
      this.#localResponse(httpsRedirect(where, ctx.redirectToHttps.port));
      return;
    }
    const table = this.#ctx.routes.current;
    const method = head.method;
    const route = table.match({ host: where.host, path: where.path, method, header: (n) => head.values(n) });
    if (!route) {
      const status = this.#ctx.config.notFoundStatus;
      this.#localResponse({ status, code: 'PRX_NO_ROUTE', detail: `no route for ${where.host || '(no host)'}${where.path}` });
      return;
    }
    this.#routeId = route.id;
    const { origin, health } = route.balancer.pick();
    const clientHost = where.clientHost;
    this.#relay(head, {
      origin,
      health,
      target: mapPath(where.path, where.query, { prefix: route.pathPrefix, basePath: origin.basePath, strip: route.stripPrefix, rewrite: route.rewritePrefix }),
      host: upstreamHost(route.preserveHost, clientHost, head, origin),
      clientHost,
      via: (route.via ?? ctx.config.via) ? (route.proxyName ?? ctx.config.proxyName) : undefined,
    });
  }

  /** Starts the exchange that relays this request upstream. */
  #relay(head: ParsedHead, { origin, health, target, host, clientHost, via }: RelayTarget): void {
    const ctx = this.#ctx;
    const upgrade = wantsUpgrade(head) && head.version === 11;
    const chunkedRequest = this.#bodyKind === BodyKind.CHUNKED;
    const requestHead = buildRequestHead({
      head,
      target,
      host,
      clientHost,
      framing: chunkedRequest ? 'chunked' : head.bodyKind === BodyKind.LENGTH ? 'length' : 'none',
      contentLength: head.contentLength,
      upgrade,
      peer: this.#peer.plain,
      peerTrusted: this.#peer.trusted,
      via,
      proto: ctx.secure ? 'https' : 'http',
      policy: ctx.config.forwarding,
    });
    const ex = new Exchange({ ctx, client: this, request: head, requestHead, pool: ctx.pools.get(origin), health, chunkedRequest, upgrade, via });
    this.#exchange = ex;
    if (this.#state !== State.BODY) ex.endBody();
    ex.start();
    // until the upstream connection is ready the body waits in the socket (backpressure); with an
    // idle pooled socket it is ready already and the body flows at once
    if (this.#state === State.BODY && !ex.connected) this.#blockBody();
  }

  /** The client's address for forwarding fields, worked out once per connection (it is the same
   *  for every request on it). */
  get #peer(): PeerInfo {
    if (this.#peerInfo === undefined) {
      const address = this.socket.remoteAddress;
      this.#peerInfo = { plain: plainAddress(address), trusted: this.#ctx.trustedProxies.has(address) };
    }
    return this.#peerInfo;
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
      respond: (answer) => {
        once();
        if (this.#state >= State.CLOSING) return;
        this.#bodyBlocked = false;
        this.#resume(Pause.UPSTREAM);
        this.#localResponse(answer);
      },
      relay: (origin, target, host, health) => {
        once();
        if (this.#state >= State.CLOSING) return;
        this.#bodyBlocked = false;
        this.#resume(Pause.UPSTREAM);
        try {
          this.#relay(head, { origin, health, target, host, clientHost: host, via: this.#ctx.config.via ? this.#ctx.config.proxyName : undefined });
          this.#pump();
        } catch (e) {
          this.#internalError(e);
        }
      },
      tunnel: (upstream) => {
        once();
        if (this.#state >= State.CLOSING) { upstream.destroy(); return; }
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
      const ok = ex ? ex.sendBody(this.#forBody(buf.subarray(this.#off, this.#off + take), ex)) : true;
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
      n = this.#decoder!.decode(buf, this.#off, buf.length, this.#bodySink!);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      this.#off = buf.length;
      this.#badBody({ status: e.info.status, code: e.info.name, detail: e.message });
      return false;
    }
    this.#off += n;
    if (this.#state !== State.BODY) return false; // #chunkData rejected the body
    if (this.#decoder!.done) this.#bodyDone();
    else if (!this.#bodyOk) this.#blockBody();
    return this.#state !== State.BODY || this.#bodyOk;
  }

  /** The decoder of chunked request bodies and the sink it feeds, made once per connection on
   *  its first chunked request (an idle connection holds neither: issue 14, memory). */
  #chunkedDecoder(): ChunkedDecoder {
    if (this.#decoder === undefined) {
      this.#decoder = new ChunkedDecoder(this.#ctx.codec, this.#reader.slot);
      this.#bodySink = {
        data: (b) => this.#chunkData(b),
        trailer: (b) => this.#exchange?.addTrailer(b),
      };
    }
    return this.#decoder;
  }

  #chunkData(bytes: Buffer): void {
    if (this.#state !== State.BODY) return;
    this.#bodyBytes += bytes.length;
    const limit = this.#ctx.config.limits.maxBodyBytes;
    if (limit !== null && this.#bodyBytes > limit) {
      this.#badBody({ status: 413, code: 'PRX_BODY_TOO_LARGE', detail: `request body exceeds the ${limit}-byte limit` });
      return;
    }
    const ex = this.#exchange;
    if (ex && !ex.sendChunk(this.#forBody(bytes, ex))) this.#bodyOk = false;
  }

  /** Stops reading the request body until the upstream can take more. The body-silence timer
   *  stops too: the client is not the slow party (the upstream's own timers apply). */
  #blockBody(): void {
    this.#bodyBlocked = true;
    this.#pause(Pause.UPSTREAM);
    if (this.#timerKind === Timer.BODY) this.#setTimer(Timer.NONE);
  }

  #bodyDone(): void {
    this.#state = State.WAIT;
    this.#setTimer(Timer.NONE);
    this.#exchange?.endBody();
  }

  /** The request body is invalid or too large: answer if we still can, and close. */
  #badBody(answer: LocalAnswer): void {
    this.#closeAfter = true;
    if (this.#exchange !== undefined && this.#exchange.status !== 0) {
      // the response already started: the client must see it cut short
      this.#teardown();
      return;
    }
    const ex = this.#exchange;
    this.#exchange = undefined;
    ex?.abort();
    this.#state = State.WAIT;
    this.#writeLocal(answer, true);
    this.#logRequest(answer.status, false);
    this.#gracefulClose();
  }

  /** A response the proxy makes itself for a parsed request (no route, bad target, 413...). */
  #localResponse(answer: LocalAnswer): void {
    // a body we will not read makes the connection unusable for further requests
    if (this.#state === State.BODY) this.#closeAfter = true;
    const close = this.#closeAfter;
    this.#writeLocal(answer, close);
    if (this.#state === State.BODY) this.#state = State.WAIT;
    this.responseDone(answer.status, close);
  }

  /** Writes a response the proxy makes itself. The one way local responses go out, so each
   *  follows HEAD rules for the request it answers (none is known for a head that failed to
   *  parse) and says how the connection goes on. */
  #writeLocal(answer: LocalAnswer, close: boolean): void {
    const request = this.#request;
    const persistence = close ? 'close' : request !== undefined && request.version === 10 ? 'keep-alive' : 'persistent';
    this.write(localResponse(answer, { persistence, headRequest: request !== undefined && request.methodId === MethodId.HEAD }));
  }

  /** A request that failed to parse: answer its status, close, read nothing more (D10). */
  #reject(answer: LocalAnswer): void {
    this.#requestId = this.#ctx.nextRequestId();
    this.#started = this.#ctx.clock.now();
    this.#writeLocal(answer, true);
    this.#ctx.logger.info({ req: this.#requestId, client: this.socket.remoteAddress, status: answer.status, error: answer.code }, 'bad request');
    this.#ctx.observers.requestFinished({ routeId: undefined, method: '', status: answer.status, durationMs: 0, aborted: false });
    this.#gracefulClose();
  }

  // --- flow control, timers, closing ----------------------------------------------------------

  #pause(reason: Pause): void {
    if (this.#pausedFor === 0) this.socket.pause();
    this.#pausedFor |= reason;
  }

  #resume(reason: Pause): void {
    if ((this.#pausedFor & reason) === 0) return;
    this.#pausedFor &= ~reason;
    if (this.#pausedFor === 0 && this.#state !== State.CLOSED) this.socket.resume();
  }

  #setTimer(kind: Timer): void {
    if (kind === this.#timerKind && this.#timer.armed) {
      this.#timer.refresh();
      return;
    }
    this.#clearTimer();
    this.#timerKind = kind;
    const t = this.#ctx.config.timeouts;
    const ms = kind === Timer.IDLE ? t.idleMs : kind === Timer.HEAD ? t.headMs : kind === Timer.BODY ? t.bodyIdleMs : kind === Timer.ABORT ? t.abortMs : 0;
    if (ms > 0) this.#timer.arm(ms);
  }

  #clearTimer(): void {
    this.#timer.disarm();
    this.#timerKind = Timer.NONE;
  }

  /** The timer's end for good (the connection closed, or became a tunnel): nothing stays scheduled. */
  #stopTimer(): void {
    this.#timer.cancel();
    this.#timerKind = Timer.NONE;
  }

  readonly #onTimer = (): void => {
    const kind = this.#timerKind;
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
          this.#teardown(); // the response began: the client must see it cut short
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
    this.#writeLocal({ status: 408, code: 'PRX_REQUEST_TIMEOUT', detail: `${what} not received in time` }, true);
    this.#ctx.logger.info({ client: this.socket.remoteAddress, what }, 'request timeout');
    this.#gracefulClose();
  }

  /** Flush what is queued, send FIN, and destroy after abortMs if the peer does not close. */
  #gracefulClose(): void {
    if (this.#state >= State.CLOSING) return;
    this.#state = State.CLOSING;
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
    this.#draining = true;
    if (this.#betweenRequests && this.#requestId !== '') this.#gracefulClose();
    else this.#closeAfter = true;
  }

  /** No request in progress and no byte of the next one received. */
  get #betweenRequests(): boolean {
    return this.#state === State.HEAD && this.#exchange === undefined && this.#reader.pendingLength === 0;
  }

  #logRequest(status: number, aborted: boolean): void {
    const head = this.#request;
    if (!head) return;
    const durationMs = this.#ctx.clock.now() - this.#started;
    const method = head.method;
    this.#ctx.observers.requestFinished({ routeId: this.#routeId, method, status, durationMs, aborted });
    const log = this.#ctx.logger;
    if (log.isLevelEnabled('info')) {
      log.info({
        req: this.#requestId, client: this.socket.remoteAddress, method, target: head.target, route: this.#routeId,
        upstream: this.#exchange?.authority, status, ms: Math.round(durationMs * 100) / 100, aborted: aborted || undefined,
      }, 'request');
    }
  }
}
