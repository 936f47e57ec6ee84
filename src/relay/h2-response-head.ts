// The head of a response from an HTTP/2 upstream (a stream's header list, as node:http2's
// 'response' and 'headers' events give it), as every response sink reads it
// (src/http/response-head.ts). nghttp2 already refused what RFC 9113 calls malformed
// (connection-specific fields, a bad :status, content-length not a number). Its body is known from
// the frame and the fields: none when END_STREAM came with the head, for HEAD and for 204/304;
// content-length bytes when given; else until END_STREAM (a sink re-frames it as chunked for an
// HTTP/1.1 client).
import { BodyKind, FieldId, HeadFlag } from '../../asm/shared/constants.js';
import type { ResponseHead } from '../http/response-head.js';
import { fieldIdOf } from '../http/field-ids.js';
import { FieldList, type Field } from '../http/field-list.js';

export class H2ResponseHead implements ResponseHead {
  readonly status: number;
  readonly reason = '';
  readonly version = 20;
  readonly bodyKind: number;
  readonly contentLength: number;
  readonly #flags: number;
  readonly #fields: FieldList;

  /** `raw`: [name, value, ...]; `endStream`: the HEADERS frame ended the stream. */
  constructor(raw: readonly string[], endStream: boolean, headRequest: boolean) {
    let status = 0;
    let contentLength = -1;
    let flags = 0;
    const fields: Field[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i];
      const value = raw[i + 1];
      if (name === ':status') {
        status = Number(value);
        continue;
      }
      if (name.charCodeAt(0) === 0x3a) continue;
      const id = fieldIdOf(name);
      if (id === FieldId.CONTENT_LENGTH) {
        contentLength = Number(value);
        flags |= HeadFlag.HAS_CONTENT_LENGTH;
      } else if (id === FieldId.TRAILER) flags |= HeadFlag.HAS_TRAILER;
      fields.push([name, value, id]);
    }
    this.status = status;
    this.#flags = flags;
    this.#fields = new FieldList(fields);
    const bodiless = endStream || headRequest || status === 204 || status === 304 || status < 200;
    this.bodyKind = bodiless ? BodyKind.NONE : contentLength >= 0 ? BodyKind.LENGTH : BodyKind.CHUNKED;
    this.contentLength = Math.max(contentLength, 0);
  }

  has(flag: HeadFlag): boolean { return (this.#flags & flag) !== 0; }
  valuesById(id: number): string[] { return this.#fields.valuesById(id); }
  copyFields(drop: number, out: Buffer[]): number { return this.#fields.copyFields(drop, out); }
  forEachField(drop: number, visit: (name: string, value: string) => void): void { this.#fields.forEachField(drop, visit); }
}
