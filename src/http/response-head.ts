// A response head as every response sink reads it (src/relay/response-sink.ts), whichever
// upstream protocol it came in: the codec's ParsedHead (src/wasm/parsed-head.ts) for an HTTP/1.1
// upstream, a head made from the header list of an HTTP/2 upstream stream
// (src/relay/h2-response-head.ts). The HTTP/1.1 writer re-frames it as field lines (copyFields);
// the HTTP/2 writer takes it field by field (forEachField).
import type { HeadFlag } from '../../asm/shared/constants.js';

export interface ResponseHead {
  readonly status: number;
  /** The reason phrase as received ('' for none, and always for HTTP/2). */
  readonly reason: string;
  /** 10, 11 (HTTP/1.0, 1.1) or 20 (HTTP/2): Via's received-protocol. */
  readonly version: number;
  /** BodyKind: NONE, LENGTH (contentLength bytes), CHUNKED (unknown length: HTTP/1.1 chunked, or
   *  HTTP/2 DATA without content-length) or CLOSE_DELIMITED (HTTP/1.x only). */
  readonly bodyKind: number;
  readonly contentLength: number;
  has(flag: HeadFlag): boolean;
  /** Values of every field with this FieldId, in order. */
  valuesById(id: number): string[];
  /** Pushes the field lines to forward, as HTTP/1.1 `Name: value\r\n` lines, skipping ids in
   *  `drop` (src/http/hop-by-hop.ts) and fields a Connection option names; returns the bytes. */
  copyFields(drop: number, out: Buffer[]): number;
  /** The same fields one by one: lower-case name, value. */
  forEachField(drop: number, visit: (name: string, value: string) => void): void;
}
