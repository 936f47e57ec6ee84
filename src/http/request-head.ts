// A request head as every front end hands it to the dispatcher: the HTTP/1.1 connection gives the
// codec's ParsedHead (src/wasm/parsed-head.ts) as it is; an HTTP/2 stream gives a head made from
// its header list. The dispatcher and the upstream head builder read only this, so they never
// know which front end asked.
import type { HeadFlag } from '../../asm/shared/constants.js';

export interface RequestHead {
  /** The method as received ('GET', or any token). */
  readonly method: string;
  /** MethodId (asm/shared/constants.ts); OTHER for a method the codec does not know. */
  readonly methodId: number;
  /** 10, 11 (HTTP/1.0, 1.1) or 20 (HTTP/2). */
  readonly version: number;
  /** TargetForm: origin, absolute, authority (CONNECT) or asterisk (RFC 9112 §3.2). */
  readonly targetForm: number;
  /** The request-target as received (HTTP/2: :path, or :authority for CONNECT). */
  readonly target: string;
  /** BodyKind: NONE, LENGTH (contentLength bytes) or CHUNKED (a body of unknown length: HTTP/1.1
   *  chunked, or HTTP/2 DATA without content-length; it goes upstream chunked). */
  readonly bodyKind: number;
  readonly contentLength: number;
  /** HeadFlag bits the codec sets (Connection options, Expect: 100-continue, Upgrade...). */
  has(flag: HeadFlag): boolean;
  /** The Host field's value (HTTP/2: :authority), or undefined. */
  host(): string | undefined;
  /** Values of every field named `name` (case-insensitive), in order. */
  values(name: string): string[];
  /** Values of every field with this FieldId, in order. */
  valuesById(id: number): string[];
  /** Pushes the field lines to forward, as HTTP/1.1 `Name: value\r\n` lines, skipping ids in
   *  `drop` (src/http/hop-by-hop.ts) and fields a Connection option names; returns the bytes. */
  copyFields(drop: number, out: Buffer[]): number;
}

/** The protocol version as Via gives it (RFC 9110 §7.6.3: received-protocol). */
export function viaVersion(version: number): string {
  return version === 10 ? '1.0' : version === 20 ? '2' : '1.1';
}
