// A parsed request or response head: the raw head bytes plus the codec's offsets, with strings
// decoded only when asked. Hot-path costs (see bench/codec.ts):
// - of the field table, only each line's end and the field id are copied out of linear memory
//   (into a plain array, one number per field): a field's name starts where the previous line
//   ends, and its name and value bounds are found again in the raw bytes when asked, exactly as
//   the codec defines them (name up to the colon; value without the OWS around it). A TypedArray
//   of more than 64 bytes gets an off-heap backing store, which costs ~0.6 µs to allocate on
//   Node 20, more than parsing the head;
// - a well-known method is a constant string;
// - other strings are String#slice of one latin1 copy of the head (measured on Node 20 for a
//   12-field head: ~320-480 ns in all, against ~1750 ns with a Buffer#toString per field), decoded
//   on first use and only as far as needed: target and Host, usually in the first lines, cost
//   one short decode.
import { FieldEntry, FieldFlag, HeadFlag, HeadResult, MethodId } from '../../asm/shared/constants.js';
import type { Codec } from './codec.js';
import type { RequestHead } from '../http/request-head.js';
import type { ResponseHead } from '../http/response-head.js';

/** Buffer#latin1Slice: what Buffer#toString('latin1', start, end) calls after checking its
 *  arguments (undeclared in @types/node, present in every Node version this package supports). */
interface Latin1Buffer { latin1Slice(start: number, end: number): string }
const latin1 = (b: Buffer, start: number, end: number): string => (b as unknown as Latin1Buffer).latin1Slice(start, end);

const COLON = 0x3a;
const SP = 0x20;
const HTAB = 0x09;

/** Method strings by MethodId (index 0: not a well-known method). */
const METHOD_NAMES: readonly string[] = ['', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

export class ParsedHead implements RequestHead, ResponseHead {
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
  readonly #buf: Buffer;
  readonly #start: number;
  readonly #methodStart: number;
  readonly #methodLength: number;
  readonly #targetStart: number;
  readonly #targetLength: number;
  readonly #reasonStart: number;
  readonly #reasonLength: number;
  /** Per field: lineEnd | idFlags << 16 (a copy: linear memory is shared by every connection;
   *  heads are at most 64 KiB, so offsets fit in 16 bits). */
  readonly #fields: number[];
  /** Where the first field line starts. */
  readonly #fieldsStart: number;
  readonly #hostStart: number;
  readonly #hostLength: number;
  #raw: Buffer | undefined;
  #text: string | undefined;

  /** Reads the codec's result table right after a successful parse of the head that starts at
   *  buf[start] (the head's bytes stay in `buf`: the caller must not reuse it while it needs the
   *  head, as for `raw`). */
  constructor(c: Codec, buf: Buffer, start: number);
  /** (copy()) The same head over a copy of its bytes at buf[start]. */
  constructor(c: ParsedHead, buf: Buffer, start: number);
  constructor(c: Codec | ParsedHead, buf: Buffer, start: number) {
    this.#buf = buf;
    this.#start = start;
    if (c instanceof ParsedHead) {
      this.length = c.length; this.version = c.version; this.status = c.status; this.flags = c.flags;
      this.methodId = c.methodId; this.targetForm = c.targetForm; this.bodyKind = c.bodyKind;
      this.contentLength = c.contentLength; this.fieldCount = c.fieldCount; this.hostIndex = c.hostIndex;
      this.#methodStart = c.#methodStart; this.#methodLength = c.#methodLength;
      this.#targetStart = c.#targetStart; this.#targetLength = c.#targetLength;
      this.#reasonStart = c.#reasonStart; this.#reasonLength = c.#reasonLength;
      this.#fields = c.#fields; this.#fieldsStart = c.#fieldsStart;
      this.#hostStart = c.#hostStart; this.#hostLength = c.#hostLength;
      this.#text = c.#text;
      return;
    }
    const r = c.result;
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
    this.#methodStart = r[HeadResult.METHOD_START];
    this.#methodLength = r[HeadResult.METHOD_LENGTH];
    this.#targetStart = r[HeadResult.TARGET_START];
    this.#targetLength = r[HeadResult.TARGET_LENGTH];
    this.#reasonStart = r[HeadResult.REASON_START];
    this.#reasonLength = r[HeadResult.REASON_LENGTH];
    const n = this.fieldCount;
    const f = c.fields;
    const packed = new Array<number>(n);
    for (let i = 0, e = 0; i < n; i++, e += FieldEntry.SIZE) packed[i] = f[e + FieldEntry.LINE_END] | (f[e + FieldEntry.ID_FLAGS] << 16);
    this.#fields = packed;
    this.#fieldsStart = n > 0 ? f[FieldEntry.NAME_START] : this.length - 2;
    // Host is read for every request: its value bounds are copied too
    const h = this.hostIndex * FieldEntry.SIZE;
    this.#hostStart = this.hostIndex >= 0 ? f[h + FieldEntry.VALUE_START] : 0;
    this.#hostLength = this.hostIndex >= 0 ? f[h + FieldEntry.VALUE_LENGTH] : 0;
  }

  /** This head over a copy of its bytes, for a head that must outlive the buffer it was parsed
   *  from (a read buffer that is reused, upstream/owned-reads.ts). */
  copy(): ParsedHead {
    const bytes = Buffer.allocUnsafe(this.length);
    this.#buf.copy(bytes, 0, this.#start, this.#start + this.length);
    return new ParsedHead(this, bytes, 0);
  }

  /** Exactly the head's bytes, start-line to the empty line's CRLF (a view of the caller's buffer). */
  get raw(): Buffer {
    this.#raw ??= this.#buf.subarray(this.#start, this.#start + this.length);
    return this.#raw;
  }

  /** A string of the head's bytes [start, start + length): String#slice of a latin1 copy of the
   *  head's beginning, decoded once (a latin1 decode costs ~50 ns whatever its length up to a few
   *  hundred bytes, so target and Host, usually in the first lines, share one). */
  #slice(start: number, length: number): string {
    const end = start + length;
    if (this.#text === undefined || end > this.#text.length) {
      const upTo = end * 2 >= this.length ? this.length : Math.min(this.length, end + 128);
      this.#text = latin1(this.#buf, this.#start, this.#start + upTo);
    }
    return this.#text.slice(start, end);
  }

  get method(): string {
    return this.methodId !== MethodId.OTHER ? METHOD_NAMES[this.methodId] : this.#slice(this.#methodStart, this.#methodLength);
  }
  get target(): string { return this.#slice(this.#targetStart, this.#targetLength); }
  get reason(): string { return this.#slice(this.#reasonStart, this.#reasonLength); }

  has(flag: HeadFlag): boolean { return (this.flags & flag) !== 0; }

  /** Offset of field i's name (where its line starts) in the head. */
  nameStart(i: number): number { return i === 0 ? this.#fieldsStart : this.#fields[i - 1] & 0xffff; }
  /** Offset just past field i's CRLF. */
  lineEnd(i: number): number { return this.#fields[i] & 0xffff; }
  fieldId(i: number): number { return (this.#fields[i] >>> 16) & 0xff; }
  isConnectionListed(i: number): boolean { return ((this.#fields[i] >>> 16) & FieldFlag.CONNECTION_LISTED) !== 0; }

  /** Length of field i's name: up to the colon (a name is a token, so the first colon). */
  nameLength(i: number): number {
    const b = this.#buf;
    const s = this.#start + this.nameStart(i);
    let p = s;
    while (b[p] !== COLON) p++;
    return p - s;
  }

  /** Offset of field i's value: after the colon and the OWS that follows it. */
  valueStart(i: number): number {
    const b = this.#buf;
    const base = this.#start;
    const end = base + this.lineEnd(i) - 2;
    let p = base + this.nameStart(i) + this.nameLength(i) + 1;
    while (p < end && (b[p] === SP || b[p] === HTAB)) p++;
    return p - base;
  }

  /** Length of field i's value, without the OWS before its CRLF. */
  valueLength(i: number): number {
    const b = this.#buf;
    const base = this.#start;
    const vs = base + this.valueStart(i);
    let p = base + this.lineEnd(i) - 2;
    while (p > vs && (b[p - 1] === SP || b[p - 1] === HTAB)) p--;
    return p - vs;
  }

  /** The field name as received (case kept). */
  name(i: number): string { return this.#slice(this.nameStart(i), this.nameLength(i)); }

  /** The field value, leading and trailing whitespace removed. */
  value(i: number): string { return this.#slice(this.valueStart(i), this.valueLength(i)); }

  /** The Host value, or undefined. */
  host(): string | undefined {
    return this.hostIndex < 0 ? undefined : this.#slice(this.#hostStart, this.#hostLength);
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
      if (this.nameLength(i) === lower.length && this.name(i).toLowerCase() === lower) out.push(this.value(i));
    }
    return out;
  }

  /** Pushes to `out` the raw field lines (name case, order, duplicates and value bytes as
   *  received) whose id is not in `drop` (a bit per FieldId, src/http/hop-by-hop.ts) and which
   *  are not named by a Connection option. Runs of consecutive kept lines become one subarray of
   *  the raw head, so a typical request is forwarded as two or three slices without decoding a
   *  field to a string. Returns the number of bytes pushed. */
  copyFields(drop: number, out: Buffer[]): number {
    const raw = this.raw;
    let runStart = -1;
    let runEnd = -1;
    let bytes = 0;
    for (let i = 0; i < this.fieldCount; i++) {
      const keep = (drop & (1 << this.fieldId(i))) === 0 && !this.isConnectionListed(i);
      if (keep) {
        if (runStart < 0) runStart = this.nameStart(i);
        runEnd = this.lineEnd(i);
      } else if (runStart >= 0) {
        out.push(raw.subarray(runStart, runEnd));
        bytes += runEnd - runStart;
        runStart = -1;
      }
    }
    if (runStart >= 0) {
      out.push(raw.subarray(runStart, runEnd));
      bytes += runEnd - runStart;
    }
    return bytes;
  }

  /** The fields copyFields would forward, one by one (lower-case name, value): for an HTTP/2
   *  client, whose fields are strings (a decode per field, where copyFields copies slices). */
  forEachField(drop: number, visit: (name: string, value: string) => void): void {
    for (let i = 0; i < this.fieldCount; i++) {
      if ((drop & (1 << this.fieldId(i))) !== 0 || this.isConnectionListed(i)) continue;
      visit(this.name(i).toLowerCase(), this.value(i));
    }
  }

  /** All fields as [name, value] pairs, for tests and logs. */
  entries(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (let i = 0; i < this.fieldCount; i++) out.push([this.name(i), this.value(i)]);
    return out;
  }
}
