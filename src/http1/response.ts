// The response side of an HTTP/1.1 connection: how a relayed response, a 1xx, a 101 and a local
// answer are framed for this client (RFC 9112 §6, §9.3): the upstream's Content-Length kept,
// chunked re-framing for a body of unknown length to an HTTP/1.1 client (close-delimited to an
// HTTP/1.0 one, which cannot take chunks), Connection: close when the connection will close,
// keep-alive to an HTTP/1.0 client that asked, trailers only where the framing can carry them,
// HEAD and 304 rules. It is the ResponseSink an exchange writes to (src/relay/response-sink.ts);
// one per connection, since HTTP/1.1 has one response in progress at a time.
import type net from 'node:net';
import { BodyKind, MethodId } from '../../asm/shared/constants.js';
import type { ParsedHead } from '../wasm/parsed-head.js';
import type { ResponseHead } from '../http/response-head.js';
import type { LocalAnswer } from '../http/local-answer.js';
import type { ResponseSink } from '../relay/response-sink.js';
import { RELAY_HIGH_WATER, chunkSizeLine } from '../relay/exchange.js';
import { buildResponseHead, type ClientFraming } from './response-head.js';
import { localResponse } from './local-response.js';

/** What the response side needs of its connection. */
export interface Http1Transport {
  readonly socket: net.Socket;
  /** The connection will close after this response (Connection: close, HTTP/1.0 without
   *  keep-alive, an error, shutdown). */
  readonly closeAfter: boolean;
  /** The request body has been read completely (a response that ends before it must close). */
  readonly requestBodyDone: boolean;
  /** The upstream takes request body again. */
  bodyWritable(): void;
  /** The response is complete (`close`: the connection closes now). */
  responseDone(status: number, close: boolean): void;
  /** A relayed request failed before any response byte: answer locally. */
  respondError(answer: LocalAnswer): void;
  /** The response cannot be completed: the client must see the connection end. */
  abortClient(reason: string): void;
  /** 101: the connection becomes a tunnel to `upstream`. */
  upgrade(head: Buffer, upstream: net.Socket, rest: Buffer): void;
}

const CRLF = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n', 'latin1');
const LAST_CHUNK_CRLF = Buffer.from('0\r\n\r\n', 'latin1');

export class Http1Response implements ResponseSink {
  readonly #t: Http1Transport;
  readonly #socket: net.Socket;
  /** The request being answered, and the Via pseudonym its route gives responses. */
  #request: ParsedHead | undefined;
  #via: string | undefined;
  #framing: ClientFraming = 'none';
  #close = false;
  #status = 0;
  /** The socket is corked until the end of the current upstream read (readDone). */
  #corked = false;

  constructor(transport: Http1Transport) {
    this.#t = transport;
    this.#socket = transport.socket;
  }

  /** A relayed response for `request` begins (its route's Via pseudonym, undefined: none). */
  begin(request: ParsedHead, via: string | undefined): void {
    this.#request = request;
    this.#via = via;
    this.#framing = 'none';
    this.#status = 0;
  }

  /** The response is over: the request head it answered is let go, so that an idle connection
   *  does not keep its last request's head (and what it references) alive (issue 23, memory). */
  done(): void {
    this.#request = undefined;
    this.#via = undefined;
  }

  /** Writes response bytes; false when the socket's buffer is full (Writable#write). */
  write(bytes: Buffer): boolean {
    if (this.#socket.destroyed) return true;
    return this.#socket.write(bytes);
  }

  /** A response the proxy makes itself, the one way local responses go out, so each follows the
   *  HEAD rules of the request it answers (none is known for a head that failed to parse) and
   *  says how the connection goes on. */
  writeLocal(answer: LocalAnswer, request: ParsedHead | undefined, close: boolean): void {
    const persistence = close ? 'close' : request !== undefined && request.version === 10 ? 'keep-alive' : 'persistent';
    this.write(localResponse(answer, { persistence, headRequest: request !== undefined && request.methodId === MethodId.HEAD }));
  }

  // --- ResponseSink -----------------------------------------------------------------------------

  bodyWritable(): void {
    this.#t.bodyWritable();
  }

  interim(head: ResponseHead): void {
    // 1xx never go to an HTTP/1.0 client (RFC 9110 §15.2)
    if (this.#request!.version < 11) return;
    this.write(buildResponseHead({ head, framing: 'none', contentLength: 0, keepContentLength: false, upgrade: false, close: false, via: this.#via }));
  }

  upgrade(head: ResponseHead, upstream: net.Socket, rest: Buffer): void {
    this.#status = 101;
    const out = buildResponseHead({ head, framing: 'none', contentLength: 0, keepContentLength: false, upgrade: true, close: false, via: this.#via });
    this.#t.upgrade(out, upstream, rest);
  }

  head(head: ResponseHead, body: Buffer | undefined): boolean {
    const request = this.#request!;
    const client11 = request.version >= 11;
    // a response that ends before its request body was read leaves the connection unusable
    let close = this.#t.closeAfter || !this.#t.requestBodyDone;
    let framing: ClientFraming;
    switch (head.bodyKind) {
      case BodyKind.NONE: framing = 'none'; break;
      case BodyKind.LENGTH: framing = 'length'; break;
      // an HTTP/1.0 client kept alive (it asked) can only be answered with a length or no content
      default: framing = client11 ? 'chunked' : 'close';
    }
    if (framing === 'close') close = true;
    this.#framing = framing;
    this.#close = close;
    this.#status = head.status;
    const out = buildResponseHead({
      head, framing, contentLength: head.contentLength,
      // HEAD and 304: the upstream's Content-Length describes the representation (RFC 9110 §8.6)
      keepContentLength: head.bodyKind === BodyKind.NONE && (request.methodId === MethodId.HEAD || head.status === 304),
      upgrade: false, close, keepAlive: !client11, via: this.#via,
    }, body);
    // body bytes will follow (in this read, or later): gather this read's writes in one writev
    if (body === undefined && framing !== 'none') this.#cork();
    return this.#send(out);
  }

  body(bytes: Buffer): boolean {
    if (this.#framing !== 'chunked') return this.#send(bytes);
    this.#cork();
    this.write(chunkSizeLine(bytes.length));
    this.write(bytes);
    return this.#send(CRLF);
  }

  get takesTrailers(): boolean {
    // re-framed with a length, or close-delimited for HTTP/1.0, there is nowhere to put them
    // (RFC 9110 §6.5.1 lets a recipient discard them)
    return this.#framing === 'chunked';
  }

  end(trailers: Buffer | undefined): void {
    if (this.#framing === 'chunked') {
      // the last chunk and the trailer section (RFC 9112 §7.1.2)
      this.write(trailers === undefined || trailers.length === 0 ? LAST_CHUNK_CRLF : Buffer.concat([LAST_CHUNK, trailers, CRLF]));
    }
    this.#t.responseDone(this.#status, this.#close);
  }

  fail(answer: LocalAnswer): void {
    this.#t.respondError(answer);
  }

  abort(reason: string): void {
    this.#t.abortClient(reason);
  }

  readDone(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.#socket.uncork();
  }

  get queuedBytes(): number {
    return this.#socket.writableLength;
  }

  #cork(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.#socket.cork();
  }

  /** Writes; false when the client holds more than RELAY_HIGH_WATER queued (the exchange stops
   *  reading the upstream until the socket drains). */
  #send(bytes: Buffer): boolean {
    return this.write(bytes) || this.#socket.writableLength <= RELAY_HIGH_WATER;
  }
}
