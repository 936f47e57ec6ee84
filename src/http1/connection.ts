// One HTTP/1.1 client connection: Twisted's HTTPChannel with its shape kept and its defects fixed.
// It owns the transport only: reads, request framing (heads through the WebAssembly codec,
// bodies by Content-Length or chunked decoding), the pipelining queue, pauses, timers and one
// teardown. What happens to a request is the dispatcher's decision (src/dispatch/dispatcher.ts);
// how its response is framed is Http1Response's (./response.ts).
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
// after its head, a body timeout after the response began, an internal error, the abort timer)
// goes through one path, #teardown: the request in progress (if any) is cancelled and logged as
// aborted, and the socket destroyed. A request that must end early is answered by one path too,
// #failRequest: cut short if its response began, else its exchange cancelled and the answer
// written. Draining (server shutdown, #draining) is a mode, not a phase: a connection idle
// after a request goes to CLOSING at once; any other (including one accepted that has not sent
// its first request yet) finishes its request, answered with Connection: close, and closes.
//
// - Serial pipelining with head-of-line blocking (Twisted's HTTPChannel): one request at a time;
//   bytes that arrive while a request is in flight are buffered, and once more than
//   pipelineBufferBytes (16 KiB, Twisted's _optimisticEagerReadSize) are waiting the socket stops
//   being read until the response is done. Responses are therefore always in request order.
// - Bodies stream: request body bytes go upstream as they arrive, with backpressure both ways;
//   nothing is spooled (Twisted buffered whole bodies).
// - Bad requests get their status (400/413/414/431/501/505) with Connection: close, and nothing
//   after them on the connection is read (RFC 9112 §11.2: a server cannot trust the framing).
// - One refreshable timer per connection: idle (silent close, never 408 on an idle keep-alive),
//   whole-head deadline (408, slowloris), request-body silence (408), and a hard abort after a
//   graceful close that did not finish (Twisted's abortTimeout).
// - A client that sends FIN while it waits for a response aborts it by default (clientHalfClose
//   "abort", as nginx): the upstream request is cancelled and its pool slot freed, so clients
//   that left cannot hold upstream connections. "finish" keeps the half-close: the response is
//   sent, then the connection closes. A client that goes away cancels its request.
import type net from 'node:net';
import { BodyKind, HeadFlag, HeadKind } from '../../asm/shared/constants.js';
import { HeadReader } from '../wasm/head-reader.js';
import { ChunkedDecoder, type ChunkSink } from '../wasm/chunked-decoder.js';
import { CodecError } from '../wasm/codec-error.js';
import type { ParsedHead } from '../wasm/parsed-head.js';
import type { LocalAnswer } from '../http/local-answer.js';
import { ClientReads, type ReadSink } from '../net/owned-reads.js';
import type { UpstreamExchange } from '../relay/upstream-exchange.js';
import { createExchange } from '../relay/create-exchange.js';
import { tunnel } from '../relay/tunnel.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import type { Decision } from '../dispatch/decision.js';
import type { RelayPlan } from '../dispatch/relay-plan.js';
import type { RequestEntry } from '../dispatch/request-entry.js';
import { ClientPeer } from '../dispatch/client-peer.js';
import type { ProxyContext } from '../dispatch/context.js';
import { guard, type Guarded } from '../guard.js';
import type { Deadline } from '../clock.js';
import type { IdleEntry } from '../net/idle-list.js';
import { Http1Response, type Http1Transport } from './response.js';

/** The connection's phase (diagram above); the order matters: >= CLOSING means no more requests. */
const enum State { HEAD, BODY, WAIT, TUNNEL, CLOSING, CLOSED }

/** Why the socket is not being read (several can hold at once; reading resumes when none does). */
const enum Pause {
  /** More than pipelineBufferBytes of pipelined input wait behind the request in flight. */
  PIPELINE = 1,
  /** The upstream is not ready for more request body (or the forward proxy has not decided). */
  UPSTREAM = 2,
  /** The client is not reading its responses (RESPONSE_HIGH_WATER queued). */
  CLIENT_NOT_READING = 4,
}

/** The socket property that leads a shared listener to its connection. */
const CONNECTION = Symbol('portico.http1');
const connectionOf = (socket: net.Socket): Http1Connection => (socket as unknown as Record<symbol, Http1Connection>)[CONNECTION];

const CONNECTION_ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
/** Response bytes queued on the client socket above which no further pipelined request is read
 *  (the relay's own limit, RELAY_HIGH_WATER, applies to relayed bodies). */
const RESPONSE_HIGH_WATER = 256 * 1024;
const enum Timer { NONE, IDLE, HEAD, BODY, ABORT }

export class Http1Connection implements Http1Transport, ReadSink, Guarded, IdleEntry {
  readonly socket: net.Socket;
  readonly #ctx: ProxyContext;
  readonly #dispatcher: Dispatcher;
  readonly #reader: HeadReader;
  readonly #response: Http1Response;
  /** Made on the first chunked request body (#chunkedDecoder): most connections never send one. */
  #decoder: ChunkedDecoder | undefined;
  #bodySink: ChunkSink | undefined;
  readonly #onClosed: (c: Http1Connection) => void;
  #state = State.HEAD;
  #buf: Buffer | undefined;
  #off = 0;
  #exchange: UpstreamExchange | undefined;
  #request: ParsedHead | undefined;
  /** The request in progress as the dispatcher knows it (access log, route). */
  #entry: RequestEntry | undefined;
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
   *  from inside the pump; the running loop goes on with the next request (a recursion per
   *  pipelined request overflowed the stack). */
  #pumping = false;
  /** The head, body and abort timer, made the first time one is needed: a connection whose
   *  requests arrive whole never needs one; while idle it is on the server's IdleList instead
   *  (src/net/idle-list.ts: an idle connection holds no timer, issue 23). */
  #timer: Deadline | undefined;
  #timerKind = Timer.NONE;
  // IdleEntry: the links of the server's idle list
  idlePrev: IdleEntry | undefined = undefined;
  idleNext: IdleEntry | undefined = undefined;
  idleDue = NaN;
  /** The server is draining (shutting down): every response from now on closes the connection. */
  #draining = false;
  /** A request was seen on this connection (draining closes idle ones only after one). */
  #served = false;
  /** Reads into Portico's buffers (src/net/owned-reads.ts), or undefined: Node's 'data' events
   *  (a Node without the hooks). */
  readonly #reads: ClientReads | undefined;
  /** Inside a read delivered in an owned buffer: views of it must not outlive the call. */
  #inOwnedRead = false;
  /** That read is in the shared head buffer: body bytes in it are copied before they go upstream. */
  #readShared = false;
  /** The exchange that got views of this read's body buffer (checked for a queued write after it). */
  #bodySentTo: UpstreamExchange | undefined;
  #peer: ClientPeer | undefined;

  constructor(socket: net.Socket, ctx: ProxyContext, dispatcher: Dispatcher, onClosed: (c: Http1Connection) => void) {
    this.socket = socket;
    this.#ctx = ctx;
    this.#dispatcher = dispatcher;
    this.#onClosed = onClosed;
    this.#reader = new HeadReader(ctx.codec, HeadKind.REQUEST, ctx.requestLimits);
    this.#response = new Http1Response(this);
    socket.setNoDelay(true);
    // TLS sockets too: TLSWrap copies each decrypted read into the buffer given (src/net/owned-reads.ts);
    // anything it read before this (none in practice) waits in the socket and comes as 'data'
    this.#reads = ClientReads.install(socket, this);
    (socket as unknown as Record<symbol, unknown>)[CONNECTION] = this;
    const on = Http1Connection.#listeners;
    /* eslint-disable @typescript-eslint/unbound-method -- Node calls each listener with the socket as `this`: one set of functions for every connection */
    socket.on('data', on.data);
    socket.on('end', on.end);
    socket.on('error', on.error);
    socket.on('close', on.close);
    socket.on('drain', on.drain);
    /* eslint-enable @typescript-eslint/unbound-method */
    ctx.observers.clientConnection(1);
    this.#setTimer(Timer.IDLE);
  }

  /** The socket's listeners, one set for every connection (`this` is the socket, CONNECTION its
   *  connection): an idle connection holds no closures of its own for them (issue 14, memory). */
  static readonly #listeners = {
    data(this: net.Socket, chunk: Buffer): void { connectionOf(this).#onData(chunk); },
    end(this: net.Socket): void { const c = connectionOf(this); guard(c, c.#ended); },
    error(this: net.Socket): void { /* 'close' follows; nothing to report to the client */ },
    close(this: net.Socket): void { connectionOf(this).#onClose(); },
    drain(this: net.Socket): void { const c = connectionOf(this); guard(c, c.#drained); },
  };

  // --- Http1Transport (the response side) -------------------------------------------------------

  get closeAfter(): boolean { return this.#closeAfter || this.#state === State.CLOSING; }
  get requestBodyDone(): boolean { return this.#state !== State.BODY; }

  bodyWritable(): void {
    if (!this.#bodyBlocked) return;
    this.#bodyBlocked = false;
    if (this.#state === State.BODY) this.#setTimer(Timer.BODY);
    this.#resume(Pause.UPSTREAM);
    guard(this, this.#pump);
  }

  responseDone(status: number, close: boolean): void {
    this.#endRequest(status, false);
    if (this.#state >= State.CLOSING) return;
    if (close || this.#closeAfter || this.#state === State.BODY) {
      this.#gracefulClose();
      return;
    }
    this.#state = State.HEAD;
    this.#reader.reset();
    this.#resume(Pause.PIPELINE);
    this.#setTimer(Timer.IDLE);
    if (this.#pumping) return; // answered from inside the pump: its loop reads the next request
    guard(this, this.#pump);
  }

  respondError(answer: LocalAnswer): void {
    const close = this.#closeAfter || this.#state === State.BODY || this.#state === State.CLOSING;
    this.#response.writeLocal(answer, this.#request, close);
    this.responseDone(answer.status, close);
  }

  abortClient(reason: string): void {
    this.#ctx.logger.warn({ req: this.#entry?.id, reason }, 'aborting client connection');
    this.#teardown();
  }

  upgrade(head: Buffer, upstream: net.Socket, rest: Buffer): void {
    this.#endRequest(head === CONNECTION_ESTABLISHED ? 200 : 101, false);
    this.#state = State.TUNNEL;
    this.#stopTimer(); // the tunnel has its own
    const s = this.socket;
    const on = Http1Connection.#listeners;
    /* eslint-disable @typescript-eslint/unbound-method -- the same listener functions as installed (see the constructor) */
    s.off('data', on.data);
    s.off('end', on.end);
    s.off('drain', on.drain);
    /* eslint-enable @typescript-eslint/unbound-method */
    s.write(head);
    if (rest.length > 0) s.write(rest);
    const pending = this.#buf ? Buffer.from(this.#buf.subarray(this.#off)) : undefined;
    this.#buf = undefined;
    this.#reads?.detach();
    if (pending && pending.length > 0) upstream.write(pending);
    this.#pausedFor = 0;
    tunnel(s, upstream, { idleMs: this.#ctx.config.timeouts.tunnelIdleMs, clock: this.#ctx.clock });
  }

  // --- reads ------------------------------------------------------------------------------------

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
  #forBody(bytes: Buffer, ex: UpstreamExchange): Buffer {
    if (!this.#inOwnedRead) return bytes;
    if (this.#readShared) return Buffer.from(bytes);
    this.#bodySentTo = ex;
    return bytes;
  }

  #onData(chunk: Buffer): void {
    if (this.#state >= State.CLOSING) return; // lingering close: discard
    if (this.#buf === undefined || this.#off >= this.#buf.length) {
      this.#buf = chunk;
      this.#off = 0;
    } else {
      this.#buf = Buffer.concat([this.#buf.subarray(this.#off), chunk]);
      this.#off = 0;
    }
    if (this.#timerKind === Timer.BODY) this.#timer!.refresh();
    guard(this, this.#pump);
  }

  #ended(): void {
    this.#clientEnded = true;
    switch (this.#state) {
      case State.CLOSING:
        this.#teardown(); // it has read our FIN's answer: done
        break;
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

  #drained(): void {
    this.#exchange?.resumeUpstream();
    if ((this.#pausedFor & Pause.CLIENT_NOT_READING) !== 0) {
      this.#resume(Pause.CLIENT_NOT_READING);
      this.#pump();
    }
  }

  #onClose(): void {
    const wasOpen = this.#state !== State.CLOSED;
    this.#state = State.CLOSED;
    this.#stopTimer(); // a closed connection must not stay reachable from a timer
    this.#cancelRequest(0);
    this.#buf = undefined;
    this.#reads?.release();
    this.#reader.release();
    if (wasOpen) this.#ctx.observers.clientConnection(-1);
    this.#onClosed(this);
  }

  // --- endings ----------------------------------------------------------------------------------

  /** Guarded: a bug must cost one connection, never the process. */
  internalError(e: unknown): void {
    this.#ctx.logger.error({ err: e, req: this.#entry?.id }, 'internal error; closing the connection');
    this.#teardown();
  }

  /** The one abrupt end, whatever the cause: the request in progress (if any) is cancelled and
   *  logged as aborted, and the socket destroyed ('close' then moves to CLOSED). */
  #teardown(): void {
    this.#cancelRequest();
    this.socket.destroy();
  }

  /** Cancels the request in progress, if any: its exchange (its upstream socket is discarded)
   *  or its pending forward-proxy work; logged as aborted with `status`. */
  #cancelRequest(status = this.#exchange?.status ?? 0): void {
    this.#exchange?.abort();
    this.#exchange = undefined;
    this.#endRequest(status, true);
  }

  /** The request in progress is over: logged (once), forgotten. */
  #endRequest(status: number, aborted: boolean): void {
    const entry = this.#entry;
    this.#exchange = undefined;
    this.#request = undefined;
    this.#response.done();
    this.#entry = undefined;
    if (entry === undefined) return;
    entry.closed = aborted;
    this.#dispatcher.finish(entry, status, aborted);
  }

  /** A request that cannot go on (a bad body, a body timeout): cut short if its response
   *  began, else its exchange is cancelled, `answer` written, and the connection closed. */
  #failRequest(answer: LocalAnswer): void {
    this.#closeAfter = true;
    if (this.#exchange !== undefined && this.#exchange.status !== 0) {
      this.#teardown(); // the client must see the response cut short
      return;
    }
    this.#exchange?.abort();
    this.#exchange = undefined;
    this.#state = State.WAIT;
    this.#response.writeLocal(answer, this.#request, true);
    this.#endRequest(answer.status, false);
    this.#gracefulClose();
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

  #startRequest(parsed: ParsedHead): void {
    // a request outlives the read its head came in (owned read buffers are reused)
    const head = this.#inOwnedRead ? parsed.copy() : parsed;
    this.#request = head;
    this.#served = true;
    this.#entry = this.#dispatcher.begin(head, this.#peer ??= new ClientPeer(this.socket.remoteAddress, this.#ctx.trustedProxies), 'http/1.1');
    this.#bodyKind = head.bodyKind;
    this.#bodyBytes = 0;
    this.#bodyOk = true;
    // persistence (RFC 9112 §9.3): HTTP/1.1 unless "close"; HTTP/1.0 only with "keep-alive"
    // (Twisted's checkPersistence), and then only if the response can be delimited (response.ts)
    this.#closeAfter = this.#draining || head.has(HeadFlag.CONNECTION_CLOSE) || (head.version === 10 && !head.has(HeadFlag.CONNECTION_KEEP_ALIVE));
    const limit = this.#ctx.config.limits.maxBodyBytes;
    if (head.bodyKind === BodyKind.LENGTH) {
      this.#bodyRemaining = head.contentLength;
      if (limit !== null && head.contentLength > limit) {
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
    this.#carryOut(this.#dispatcher.decide(this.#entry));
  }

  /** Carries out the dispatcher's decision for the request in progress. */
  #carryOut(d: Decision): void {
    switch (d.kind) {
      case 'local':
        this.#localResponse(d.answer);
        return;
      case 'relay':
        this.#relay(d);
        return;
      case 'tunnel':
        this.#connectTunnel(d.socket);
        return;
      case 'pending': {
        // the body waits in the socket until the forward proxy has decided
        this.#blockBody();
        const entry = this.#entry!;
        void d.decided.then((next) => {
          if (entry.closed || this.#entry !== entry) this.#dispatcher.abandon(next);
          else guard(this, this.#decided, next);
        });
        return;
      }
    }
  }

  /** A pending decision settled while the request is still in progress. */
  #decided(d: Decision): void {
    this.#bodyBlocked = false;
    this.#resume(Pause.UPSTREAM);
    this.#carryOut(d);
    if (d.kind === 'relay') this.#pump();
  }

  /** Starts the exchange that relays this request upstream. */
  #relay(plan: RelayPlan): void {
    this.#response.begin(this.#request!, plan.via);
    const ex = createExchange(this.#ctx, plan, this.#response);
    this.#exchange = ex;
    if (this.#state !== State.BODY) ex.endBody();
    ex.start();
    // until the upstream connection is ready the body waits in the socket (backpressure); with an
    // idle pooled socket it is ready already and the body flows at once
    if (this.#state === State.BODY && !ex.connected) this.#blockBody();
  }

  /** CONNECT established: 200, then the connection is a byte tunnel. */
  #connectTunnel(socket: net.Socket): void {
    if (this.#state >= State.CLOSING) {
      socket.destroy();
      return;
    }
    this.upgrade(CONNECTION_ESTABLISHED, socket, EMPTY);
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
      this.#failRequest({ status: e.info.status, code: e.info.name, detail: e.message });
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
      this.#failRequest({ status: 413, code: 'PRX_BODY_TOO_LARGE', detail: `request body exceeds the ${limit}-byte limit` });
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

  /** A local answer to a parsed request (no route, bad target, 413...). */
  #localResponse(answer: LocalAnswer): void {
    // a body we will not read makes the connection unusable for further requests
    if (this.#state === State.BODY) {
      this.#closeAfter = true;
      this.#state = State.WAIT;
    }
    const close = this.#closeAfter;
    this.#response.writeLocal(answer, this.#request, close);
    this.responseDone(answer.status, close);
  }

  /** A request that failed to parse: answer its status, close, read nothing more. */
  #reject(answer: LocalAnswer): void {
    this.#response.writeLocal(answer, undefined, true);
    this.#dispatcher.rejected(this.#peer ??= new ClientPeer(this.socket.remoteAddress, this.#ctx.trustedProxies), 'http/1.1', answer);
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
    if (kind === Timer.IDLE) {
      // (re)joins the idle list's tail; a per-connection timer, if any, stops
      this.#timer?.disarm();
      this.#timerKind = kind;
      this.#ctx.idle.add(this);
      return;
    }
    if (this.#timerKind === Timer.IDLE) this.#ctx.idle.remove(this);
    else if (kind === this.#timerKind && this.#timer?.armed === true) {
      this.#timer.refresh();
      return;
    }
    this.#timer?.disarm();
    this.#timerKind = kind;
    const t = this.#ctx.config.timeouts;
    const ms = kind === Timer.HEAD ? t.headMs : kind === Timer.BODY ? t.bodyIdleMs : kind === Timer.ABORT ? t.abortMs : 0;
    if (ms > 0) (this.#timer ??= this.#ctx.clock.deadline(() => this.#onTimer())).arm(ms);
  }

  /** The timer's end for good (the connection closed, or became a tunnel): nothing stays scheduled. */
  #stopTimer(): void {
    this.#ctx.idle.remove(this);
    this.#timer?.cancel();
    this.#timerKind = Timer.NONE;
  }

  #onTimer(): void {
    const kind = this.#timerKind;
    this.#timerKind = Timer.NONE;
    guard(this, this.#timerFired, kind);
  }

  /** IdleEntry: idle for timeouts.idleMs (the list took it off before this call). */
  idleExpired(): void {
    this.#onTimer();
  }

  #timerFired(kind: Timer): void {
    switch (kind) {
      case Timer.IDLE:
        // an idle keep-alive connection closes silently (RFC 9110 §15.5.9: no 408 here)
        if (this.#reader.pendingLength > 0) this.#timeoutHead();
        else this.#gracefulClose();
        break;
      case Timer.HEAD:
        this.#timeoutHead();
        break;
      case Timer.BODY:
        this.#failRequest({ status: 408, code: 'PRX_REQUEST_TIMEOUT', detail: 'request body not received in time' });
        break;
      case Timer.ABORT:
        this.#teardown();
        break;
      default:
        break;
    }
  }

  /** The head of the next request did not arrive in time: 408 (RFC 9110 §15.5.9) and close. */
  #timeoutHead(): void {
    this.#response.writeLocal({ status: 408, code: 'PRX_REQUEST_TIMEOUT', detail: 'request head not received in time' }, undefined, true);
    this.#ctx.logger.info({ client: this.socket.remoteAddress, what: 'request head' }, 'request timeout');
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
   *  a client retries only on a reused connection, RFC 9112 §9.3.1); it is answered, with
   *  `Connection: close`, or closed at the shutdown deadline. This matters when a worker drains
   *  during a rolling restart while connections keep arriving. */
  shutdown(): void {
    this.#draining = true;
    if (this.#betweenRequests && this.#served) this.#gracefulClose();
    else this.#closeAfter = true;
  }

  /** No request in progress and no byte of the next one received. */
  get #betweenRequests(): boolean {
    return this.#state === State.HEAD && this.#exchange === undefined && this.#reader.pendingLength === 0;
  }
}
