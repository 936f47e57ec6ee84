// The response side of one HTTP/2 stream: how a relayed response is framed for an HTTP/2 client
// (RFC 9113 §8.1, §8.2.2). It is the ResponseSink an exchange writes to
// (src/relay/response-sink.ts), one per stream.
// - the head: :status and the upstream's end-to-end fields, lower-case; hop-by-hop and
//   connection-specific fields dropped (they are malformed in HTTP/2, RFC 9113 §8.2.2: Connection
//   and what it names, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, TE, and
//   HTTP2-Settings), content-length kept when the upstream framed the body by length (and for HEAD
//   and 304, where it describes the representation: RFC 9110 §8.6), Via added;
// - 1xx (100, 103) as informational HEADERS (RFC 9113 §8.1), before the final one;
// - no DATA for HEAD, 204 and 304: the HEADERS frame ends the stream;
// - trailers as a last HEADERS frame (waitForTrailers), for responses whose length is not known
//   with the head (a chunked or an HTTP/2 upstream);
// - backpressure per stream: body() says false once the stream holds more than its high-water
//   mark (the client's flow-control window is closed or the connection is busy), and the exchange
//   stops reading its upstream until 'drain' (resumeUpstream); other streams go on;
// - a response cut short is a RST_STREAM of this stream only (INTERNAL_ERROR, or the code the
//   upstream reset its own stream with).
import http2 from 'node:http2';
import { BodyKind, FieldId, MethodId } from '../../asm/shared/constants.js';
import type { ResponseHead } from '../http/response-head.js';
import type { LocalAnswer } from '../http/local-answer.js';
import { viaVersion } from '../http/request-head.js';
import { HOP_BY_HOP, mask } from '../http/hop-by-hop.js';
import type { ResponseSink } from '../relay/response-sink.js';
import { addField, addFieldLines } from '../http/field-lines.js';

const { NGHTTP2_INTERNAL_ERROR } = http2.constants;
const KEEP_CL = ~mask(FieldId.CONTENT_LENGTH);

/** What the response side needs of its stream driver (src/http2/stream-request.ts). */
export interface Http2StreamSide {
  readonly stream: http2.ServerHttp2Stream;
  readonly methodId: number;
  /** The upstream takes request body again. */
  bodyWritable(): void;
  /** The response is complete (its last frame queued). */
  responseDone(status: number): void;
  /** A relayed request failed before any response byte: answer locally. */
  respondError(answer: LocalAnswer): void;
  /** The response cannot be completed: reset the stream with `code`. */
  resetStream(code: number, reason: string): void;
  /** The stream holds response bytes the client has not taken (the send-stall watch). */
  sendBlocked(blocked: boolean): void;
}

export class Http2Response implements ResponseSink {
  readonly #side: Http2StreamSide;
  readonly #stream: http2.ServerHttp2Stream;
  #via: string | undefined;
  #status = 0;
  /** Trailers to send when the stream asks ('wantTrailers'), once the body has ended. */
  #trailers: http2.OutgoingHttpHeaders | undefined;
  #waitsForTrailers = false;

  constructor(side: Http2StreamSide) {
    this.#side = side;
    this.#stream = side.stream;
  }

  /** A relayed response begins (its route's Via pseudonym, undefined: none). */
  begin(via: string | undefined): void {
    this.#via = via;
  }

  bodyWritable(): void {
    this.#side.bodyWritable();
  }

  interim(head: ResponseHead): void {
    // 101 never reaches here (an exchange fails it without an upgrade request)
    if (this.#stream.destroyed || this.#stream.headersSent) return;
    this.#stream.additionalHeaders(this.#headers(head, HOP_BY_HOP));
  }

  upgrade(): void {
    // an HTTP/2 stream never asks for an upgrade (RFC 9113 §8.6): the exchange refuses a 101
    this.#side.resetStream(NGHTTP2_INTERNAL_ERROR, 'upstream switched protocols on an HTTP/2 request');
  }

  head(head: ResponseHead, body: Buffer | undefined): boolean {
    const stream = this.#stream;
    if (stream.destroyed) return true;
    this.#status = head.status;
    const isHead = this.#side.methodId === MethodId.HEAD;
    const bodiless = isHead || head.status === 204 || head.status === 304 || head.bodyKind === BodyKind.NONE;
    // HEAD and 304: the upstream's Content-Length describes the representation (RFC 9110 §8.6)
    const drop = head.bodyKind === BodyKind.LENGTH || (head.bodyKind === BodyKind.NONE && (isHead || head.status === 304)) ? HOP_BY_HOP & KEEP_CL : HOP_BY_HOP;
    const headers = this.#headers(head, drop);
    if (head.bodyKind === BodyKind.LENGTH) headers['content-length'] = head.contentLength;
    if (bodiless) {
      stream.respond(headers, { endStream: true });
      return true;
    }
    if (body !== undefined) {
      // the whole (small) body came with the head: one HEADERS and one DATA frame, no trailers
      stream.respond(headers);
      stream.end(body);
      return true;
    }
    this.#waitsForTrailers = true;
    stream.respond(headers, { waitForTrailers: true });
    return true;
  }

  body(bytes: Buffer): boolean {
    const stream = this.#stream;
    if (stream.destroyed) return true;
    if (stream.write(bytes)) return true;
    this.#side.sendBlocked(true);
    return false;
  }

  readonly takesTrailers = true;

  end(trailers: Buffer | undefined): void {
    const stream = this.#stream;
    if (!stream.destroyed) {
      if (this.#waitsForTrailers) {
        if (trailers !== undefined && trailers.length > 0) {
          this.#trailers = addFieldLines(trailers.toString('latin1'), {});
        }
        // an empty trailer section: node:http2 ends the stream with an empty DATA frame
        stream.once('wantTrailers', () => { if (!stream.destroyed) stream.sendTrailers(this.#trailers ?? {}); });
      }
      // not written yet only when the head was HEAD/204/304 (already ended) or a whole body
      if (!stream.writableEnded) stream.end();
    }
    this.#side.responseDone(this.#status);
  }

  fail(answer: LocalAnswer): void {
    this.#side.respondError(answer);
  }

  abort(reason: string, h2Code = NGHTTP2_INTERNAL_ERROR): void {
    this.#side.resetStream(h2Code, reason);
  }

  readDone(): void {}

  get queuedBytes(): number {
    return this.#stream.writableLength;
  }

  /** :status and the fields to forward, as node:http2 takes them (repeated names as arrays). */
  #headers(head: ResponseHead, drop: number): http2.OutgoingHttpHeaders {
    const out: http2.OutgoingHttpHeaders = { ':status': head.status };
    head.forEachField(drop, (name, value) => {
      // connection-specific (RFC 9113 §8.2.2, RFC 7540 §3.2.1)
      if (name !== 'http2-settings') addField(out, name, value);
    });
    if (this.#via !== undefined) addField(out, 'via', `${viaVersion(head.version)} ${this.#via}`);
    return out;
  }
}
