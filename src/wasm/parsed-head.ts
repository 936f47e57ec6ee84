// A parsed request or response head: the raw head bytes plus the codec's offsets, with strings
// decoded only when asked (one latin1 slice of the whole head, then String#slice per field:
// ~5x cheaper than a Buffer#toString per field, ../shared/DESIGN.md §3).
import { FieldEntry, FieldFlag, HeadFlag, HeadResult } from '../../asm/shared/constants.js';
import type { Codec } from './codec.js';

export class ParsedHead {
  /** Exactly the head's bytes, start-line to the empty line's CRLF. */
  readonly raw: Buffer;
  readonly length: number;
  /** 10 or 11. */
  readonly version: number;
  /** Response status code (0 for a request). */
  readonly status: number;
  readonly flags: number;
  readonly methodId: number;
  readonly targetForm: number;
  readonly bodyKind: number;
  readonly contentLength: number;
  readonly fieldCount: number;
  readonly hostIndex: number;
  readonly #starts: Int32Array; // method start/len, target start/len, reason start/len
  /** FieldEntry.SIZE words per field. */
  readonly fields: Int32Array;
  #text: string | undefined;

  /** Reads the codec's result table right after a successful parse of `raw`. */
  constructor(c: Codec, raw: Buffer) {
    const r = c.result;
    this.raw = raw;
    this.length = r[HeadResult.HEAD_LENGTH];
    this.version = r[HeadResult.VERSION];
    this.status = r[HeadResult.STATUS];
    this.flags = r[HeadResult.FLAGS];
    this.methodId = r[HeadResult.METHOD_ID];
    this.targetForm = r[HeadResult.TARGET_FORM];
    this.bodyKind = r[HeadResult.BODY_KIND];
    this.contentLength = c.resultF64[HeadResult.CONTENT_LENGTH >> 1];
    this.fieldCount = r[HeadResult.FIELD_COUNT];
    this.hostIndex = r[HeadResult.HOST_INDEX];
    this.#starts = new Int32Array([
      r[HeadResult.METHOD_START], r[HeadResult.METHOD_LENGTH],
      r[HeadResult.TARGET_START], r[HeadResult.TARGET_LENGTH],
      r[HeadResult.REASON_START], r[HeadResult.REASON_LENGTH],
    ]);
    this.fields = c.fields.slice(0, this.fieldCount * FieldEntry.SIZE);
  }

  /** The whole head as one latin1 string, built once. */
  text(): string {
    this.#text ??= this.raw.toString('latin1', 0, this.length);
    return this.#text;
  }

  #slice(start: number, length: number): string {
    return this.text().slice(start, start + length);
  }

  get method(): string { return this.#slice(this.#starts[0], this.#starts[1]); }
  get target(): string { return this.#slice(this.#starts[2], this.#starts[3]); }
  get reason(): string { return this.#slice(this.#starts[4], this.#starts[5]); }
  get targetStart(): number { return this.#starts[2]; }
  get targetLength(): number { return this.#starts[3]; }
  /** Offset just past the start-line's CRLF, where the field lines begin. */
  get fieldsStart(): number { return this.fieldCount > 0 ? this.nameStart(0) : this.length - 2; }

  has(flag: HeadFlag): boolean { return (this.flags & flag) !== 0; }

  nameStart(i: number): number { return this.fields[i * FieldEntry.SIZE + FieldEntry.NAME_START]; }
  lineEnd(i: number): number { return this.fields[i * FieldEntry.SIZE + FieldEntry.LINE_END]; }
  fieldId(i: number): number { return this.fields[i * FieldEntry.SIZE + FieldEntry.ID_FLAGS] & 0xff; }
  isConnectionListed(i: number): boolean { return (this.fields[i * FieldEntry.SIZE + FieldEntry.ID_FLAGS] & FieldFlag.CONNECTION_LISTED) !== 0; }

  /** The field name as received (case kept). */
  name(i: number): string {
    const e = i * FieldEntry.SIZE;
    return this.#slice(this.fields[e + FieldEntry.NAME_START], this.fields[e + FieldEntry.NAME_LENGTH]);
  }

  /** The field value, leading and trailing whitespace removed. */
  value(i: number): string {
    const e = i * FieldEntry.SIZE;
    return this.#slice(this.fields[e + FieldEntry.VALUE_START], this.fields[e + FieldEntry.VALUE_LENGTH]);
  }

  /** The Host value, or undefined. */
  host(): string | undefined {
    return this.hostIndex >= 0 ? this.value(this.hostIndex) : undefined;
  }

  /** Values of every field with this id, in order. */
  valuesById(id: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.fieldCount; i++) if (this.fieldId(i) === id) out.push(this.value(i));
    return out;
  }

  /** Values of every field named `name` (compared case-insensitively), in order. */
  values(name: string): string[] {
    const lower = name.toLowerCase();
    const out: string[] = [];
    for (let i = 0; i < this.fieldCount; i++) {
      const e = i * FieldEntry.SIZE;
      if (this.fields[e + FieldEntry.NAME_LENGTH] === lower.length && this.name(i).toLowerCase() === lower) out.push(this.value(i));
    }
    return out;
  }

  /** All fields as [name, value] pairs, for tests and logs. */
  entries(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (let i = 0; i < this.fieldCount; i++) out.push([this.name(i), this.value(i)]);
    return out;
  }
}
