// One HTTP/2 client connection: node:http2 (nghttp2) does the framing, HPACK and flow control
// (RFC 9113); each stream is a request through the listener's dispatcher (./stream-request.ts).
// What this class adds around the session:
//
// - Settings chosen deliberately (see http2Options): the stream limit (http2.maxConcurrentStreams),
//   a header list bound from `limits` (SETTINGS_MAX_HEADER_LIST_SIZE, and node's count of pairs),
//   no server push; node's own bounds (session memory, SETTINGS entries, outstanding PINGs) set.
// - Streams start at the end of the read that carried them (setImmediate), not while nghttp2 is
//   still working through it: a HEADERS frame followed by its RST_STREAM in the same read (rapid
//   reset, CVE-2023-44487) costs no upstream work at all.
// - Flood bounds (./flood-budget.ts): resets, PINGs and SETTINGS over their budget end the
//   connection with GOAWAY ENHANCE_YOUR_CALM (RFC 9113 §5.4.1), logged at debug.
// - Protocol errors answered with the code RFC 9113 names. nghttp2 detects them and queues the
//   right frame (RST_STREAM for a stream error, GOAWAY for a connection error), but node:http2
//   then destroys the whole session with INTERNAL_ERROR, even for a stream error
//   (lib/internal/http2/core.js, onSessionInternalError). So that destroy is intercepted: for an
//   error nghttp2 answered itself, the session lives on and a PING checks that the peer still
//   talks to it (after a connection error nghttp2 reads nothing more: no ACK comes, and the
//   connection is closed after PROBE_MS); for a fatal one (a flood nghttp2 caught: too many
//   queued ACKs, too many CONTINUATION frames, CVE-2024-27316) the session ends with the code
//   that fits instead of INTERNAL_ERROR.
// - Timers through the clock: idle (no stream open for timeouts.idleMs: GOAWAY NO_ERROR and
//   close), send stall (a stream whose client takes none of its response for http2.sendStallMs:
//   RST_STREAM CANCEL), and the abort timer after a graceful close that does not finish.
// - Shutdown: GOAWAY NO_ERROR, open streams finish, then the connection closes.
import type net from 'node:net';
import http2 from 'node:http2';
import type { LocalAnswer } from '../http/local-answer.js';
import type { ProxyContext } from '../dispatch/context.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import { ClientPeer } from '../dispatch/client-peer.js';
import type { Config } from '../config/config.js';
import { guard, type Guarded } from '../guard.js';
import type { Deadline } from '../clock.js';
import { H2RequestHead } from './request-head.js';
import { H2StreamRequest, type H2StreamOwner } from './stream-request.js';
import { FloodBudget, PINGS, RESETS_PER_SECOND, SETTINGS } from './flood-budget.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_PROTOCOL_ERROR, NGHTTP2_INTERNAL_ERROR, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_CANCEL } = http2.constants;

/** nghttp2's library error codes (nghttp2.h) that reach node:http2's session destroy. */
const enum Nghttp2Error {
  FATAL = -900,
  BAD_CLIENT_MAGIC = -903,
  FLOODED = -904,
  TOO_MANY_CONTINUATIONS = -905,
}

/** How long a peer that caused a protocol error has to answer a PING before the connection is
 *  closed (after a connection error nghttp2 ignores everything it sends). */
const PROBE_MS = 2000;
/** Node's bound on the memory of one session's nghttp2 state (header blocks, queued frames), MB. */
const MAX_SESSION_MEMORY_MB = 10;
/** SETTINGS entries accepted in one frame (node's default; a longer frame is a connection error). */
const MAX_SETTINGS_ENTRIES = 32;

/** The header list bound node:http2 enforces itself (a stream past it is reset with
 *  ENHANCE_YOUR_CALM before it reaches us), advertised as SETTINGS_MAX_HEADER_LIST_SIZE: twice
 *  limits.maxHeaderFields and limits.maxHeadBytes, RFC 9113 §6.5.2 counting 32 bytes per field on
 *  top of its name and value. Up to it, H2RequestHead's own checks answer a list over the limits
 *  with 431, as the HTTP/1.1 path does (RFC 9113 §10.5.1). */
export function headerListBound(limits: Config['limits']): { maxHeaderListSize: number; maxHeaderListPairs: number } {
  const pairs = 2 * limits.maxHeaderFields + 8; // and the pseudo-header fields
  return { maxHeaderListSize: 2 * limits.maxHeadBytes + 32 * pairs, maxHeaderListPairs: pairs };
}

/** The session options of every client connection. */
export function http2Options(config: Config): http2.ServerSessionOptions {
  const bound = headerListBound(config.limits);
  return {
    settings: {
      maxConcurrentStreams: config.http2.maxConcurrentStreams,
      maxHeaderListSize: bound.maxHeaderListSize,
      enablePush: false,
    },
    maxHeaderListPairs: bound.maxHeaderListPairs,
    maxSessionMemory: MAX_SESSION_MEMORY_MB,
    maxSettings: MAX_SETTINGS_ENTRIES,
    // PINGs this side sends (the liveness probe): one at a time is enough
    maxOutstandingPings: 2,
  };
}

export class Http2Connection implements H2StreamOwner, Guarded {
  readonly socket: net.Socket;
  readonly ctx: ProxyContext;
  readonly dispatcher: Dispatcher;
  readonly peer: ClientPeer;
  readonly #session: http2.ServerHttp2Session;
  readonly #onClosed: (c: Http2Connection) => void;
  /** Streams open (started or waiting to start). */
  readonly #streams = new Set<H2StreamRequest>();
  /** Streams to start at the end of the current read (see the top). */
  #toStart: Array<[H2StreamRequest, H2RequestHead | Refusal]> = [];
  readonly #idle: Deadline;
  readonly #stall: Deadline;
  /** Streams whose client does not take their response, since when (clock ms). */
  readonly #stalled = new Map<H2StreamRequest, number>();
  #probe: Deadline | undefined;
  readonly #resets: FloodBudget;
  readonly #pings: FloodBudget;
  readonly #settings: FloodBudget;
  #closing = false;
  #closed = false;

  constructor(socket: net.Socket, ctx: ProxyContext, dispatcher: Dispatcher, onClosed: (c: Http2Connection) => void) {
    this.socket = socket;
    this.ctx = ctx;
    this.dispatcher = dispatcher;
    this.#onClosed = onClosed;
    this.peer = new ClientPeer(socket.remoteAddress, ctx.trustedProxies);
    const clock = ctx.clock;
    this.#idle = clock.deadline(() => guard(this, this.#idled));
    this.#stall = clock.deadline(() => guard(this, this.#checkStalls));
    const burst = 2 * ctx.config.http2.maxConcurrentStreams;
    this.#resets = new FloodBudget(clock, { burst, perSecond: RESETS_PER_SECOND });
    this.#pings = new FloodBudget(clock, PINGS);
    this.#settings = new FloodBudget(clock, SETTINGS);
    socket.setNoDelay(true);
    socket.on('error', noop);
    const session = http2.performServerHandshake(socket, http2Options(ctx.config));
    this.#session = session;
    this.#interceptDestroy(session);
    session.on('stream', (stream: http2.ServerHttp2Stream, _h: unknown, flags: number, raw: string[]) => guard(this, this.#stream, { stream, flags, raw }));
    session.on('ping', () => guard(this, () => this.#flood(this.#pings, 'PING flood')));
    session.on('remoteSettings', () => guard(this, () => this.#flood(this.#settings, 'SETTINGS flood')));
    session.on('error', (e: Error) => ctx.logger.debug({ client: socket.remoteAddress, err: e.message }, 'HTTP/2 session error'));
    session.on('frameError', (type: number, code: number, id: number) => ctx.logger.debug({ client: socket.remoteAddress, type, code, stream: id }, 'HTTP/2 frame not sent'));
    session.on('close', () => guard(this, this.#sessionClosed));
    socket.once('close', () => guard(this, this.#sessionClosed));
    ctx.observers.clientConnection(1);
    this.#idle.arm(ctx.config.timeouts.idleMs);
  }

  /** Guarded: a bug costs this connection, never the process. */
  internalError(e: unknown): void {
    this.ctx.logger.error({ err: e }, 'internal error on an HTTP/2 connection; closing it');
    this.#destroy(NGHTTP2_INTERNAL_ERROR);
  }

  // --- streams ---------------------------------------------------------------------------------

  #stream({ stream, flags, raw }: { stream: http2.ServerHttp2Stream; flags: number; raw: string[] }): void {
    const s = new H2StreamRequest(this, stream);
    this.#streams.add(s);
    this.#idle.disarm();
    const limits = this.ctx.config.limits;
    const head = H2RequestHead.from(raw, (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0, { maxFields: limits.maxHeaderFields, maxHeadBytes: limits.maxHeadBytes });
    if (this.#toStart.length === 0) setImmediate(this.#startStreams);
    this.#toStart.push([s, head instanceof H2RequestHead ? head : { answer: head, headRequest: isHeadRequest(raw) }]);
  }

  /** Starts the streams of the last read, but those reset already (see the top). */
  readonly #startStreams = (): void => {
    const batch = this.#toStart;
    this.#toStart = [];
    for (const [s, head] of batch) {
      if (s.stream.closed || s.stream.destroyed || this.#closed) continue;
      if (head instanceof H2RequestHead) guard(s, () => s.start(head));
      else guard(s, () => s.reject(head));
    }
  };

  streamClosed(s: H2StreamRequest, peerReset: boolean): void {
    this.#streams.delete(s);
    this.#unstall(s);
    if (peerReset) this.#flood(this.#resets, 'rapid reset (streams reset by the client)');
    if (this.#streams.size === 0 && !this.#closed && !this.#closing) this.#idle.arm(this.ctx.config.timeouts.idleMs);
  }

  // --- flow control: a client that does not take its responses -----------------------------------

  watchSend(s: H2StreamRequest, blocked: boolean): void {
    if (!blocked) {
      this.#unstall(s);
      return;
    }
    if (this.#stalled.has(s)) return;
    this.#stalled.set(s, this.ctx.clock.now());
    if (!this.#stall.armed) this.#stall.arm(this.ctx.config.http2.sendStallMs);
  }

  #unstall(s: H2StreamRequest): void {
    if (this.#stalled.delete(s) && this.#stalled.size === 0) this.#stall.disarm();
  }

  /** Resets the streams stalled for sendStallMs; checks again at the next one's deadline. */
  #checkStalls(): void {
    const now = this.ctx.clock.now();
    const ms = this.ctx.config.http2.sendStallMs;
    let next = Infinity;
    for (const [s, since] of this.#stalled) {
      if (now - since >= ms) {
        this.#stalled.delete(s);
        this.ctx.logger.debug({ client: this.socket.remoteAddress, stream: s.stream.id, ms }, 'HTTP/2 stream reset: its client took none of the response (flow-control window held closed)');
        s.resetStream(NGHTTP2_CANCEL, `client took none of the response for ${ms} ms`);
      } else next = Math.min(next, since + ms - now);
    }
    if (next !== Infinity) this.#stall.arm(Math.max(1, next));
  }

  // --- floods and protocol errors ------------------------------------------------------------------

  #flood(budget: FloodBudget, what: string): void {
    if (budget.take() || this.#closed) return;
    this.ctx.logger.debug({ client: this.socket.remoteAddress, what }, 'HTTP/2 connection closed: ENHANCE_YOUR_CALM');
    this.#destroy(NGHTTP2_ENHANCE_YOUR_CALM);
  }

  /** See the top: node:http2 would end the session with INTERNAL_ERROR for every nghttp2 error. */
  #interceptDestroy(session: http2.ServerHttp2Session): void {
    // node:http2 takes an error code in the error's place too (Http2Session#destroy)
    const destroy = session.destroy.bind(session) as (error?: Error | number, code?: number) => void;
    Object.defineProperty(session, 'destroy', {
      configurable: true,
      value: (error?: Error | number, code?: number): void => {
        if (error instanceof Error && (error as NodeJS.ErrnoException).code === 'ERR_HTTP2_ERROR') {
          guard(this, this.#nghttp2Error, (error as NodeJS.ErrnoException).errno ?? Nghttp2Error.FATAL);
          return;
        }
        destroy(error, code);
      },
    });
    this.#destroySession = destroy;
  }

  #destroySession: (error?: Error | number, code?: number) => void = () => {};

  #nghttp2Error(libCode: number): void {
    const client = this.socket.remoteAddress;
    if (libCode <= Nghttp2Error.FATAL) {
      const code = libCode === Nghttp2Error.FLOODED || libCode === Nghttp2Error.TOO_MANY_CONTINUATIONS ? NGHTTP2_ENHANCE_YOUR_CALM
        : libCode === Nghttp2Error.BAD_CLIENT_MAGIC ? NGHTTP2_PROTOCOL_ERROR : NGHTTP2_INTERNAL_ERROR;
      this.ctx.logger.debug({ client, nghttp2: libCode, code }, 'HTTP/2 connection closed: fatal protocol error or flood');
      this.#destroy(code);
      return;
    }
    // nghttp2 answered it (RST_STREAM or GOAWAY with the code RFC 9113 names): is the peer still
    // being read?
    this.ctx.logger.debug({ client, nghttp2: libCode }, 'HTTP/2 protocol error answered by nghttp2');
    if (this.#probe?.armed) return;
    this.#probe ??= this.ctx.clock.deadline(() => guard(this, () => this.#destroy(NGHTTP2_PROTOCOL_ERROR)));
    this.#probe.arm(PROBE_MS);
    try {
      this.#session.ping((err) => { if (!err) this.#probe?.disarm(); });
    } catch {
      // too many PINGs outstanding: the deadline decides
    }
  }

  // --- endings -----------------------------------------------------------------------------------

  /** No stream for idleMs: GOAWAY NO_ERROR, and close. */
  #idled(): void {
    if (this.#streams.size > 0) return;
    this.#gracefulClose();
  }

  /** GOAWAY NO_ERROR: node:http2 closes the connection once the open streams are done. A
   *  connection idle when it began that does not close within abortMs is cut off (during a
   *  shutdown, ProxyServer's own deadline cuts off the rest). */
  #gracefulClose(): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    this.#idle.cancel();
    this.#session.close();
    if (this.#streams.size === 0) {
      this.#probe ??= this.ctx.clock.deadline(() => guard(this, () => this.#destroy(NGHTTP2_NO_ERROR)));
      this.#probe.arm(this.ctx.config.timeouts.abortMs);
    }
  }

  /** Ends the connection now with GOAWAY `code`. */
  #destroy(code: number): void {
    if (this.#closed) return;
    this.#destroySession(code);
    this.socket.destroy();
  }

  /** Server shutdown (and a worker's drain): GOAWAY NO_ERROR, open streams finish. */
  shutdown(): void {
    this.#gracefulClose();
  }

  #sessionClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#idle.cancel();
    this.#stall.cancel();
    this.#probe?.cancel();
    this.#stalled.clear();
    this.#toStart = [];
    if (!this.socket.destroyed) this.socket.destroy();
    this.ctx.observers.clientConnection(-1);
    this.#onClosed(this);
  }
}

/** A stream refused before the dispatcher: the answer, and whether it answers a HEAD. */
interface Refusal { answer: LocalAnswer; headRequest: boolean }

/** Whether a header list is a HEAD request's (its answer gets no body). */
function isHeadRequest(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) if (raw[i] === ':method') return raw[i + 1] === 'HEAD';
  return false;
}

function noop(): void {}
