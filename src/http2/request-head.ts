// The head of a request that arrived on an HTTP/2 stream, as the dispatcher reads every request
// (src/http/request-head.ts), made from the stream's header list (node:http2's raw headers: names
// lower-case, in the order received, pseudo-header fields first).
//
// What nghttp2 already enforced before the stream reached us (RFC 9113 §8.1.1, §8.2, §8.3; each a
// RST_STREAM PROTOCOL_ERROR): pseudo-header fields present, known, unique and first; names
// lower-case; connection-specific fields (Connection, Keep-Alive, Proxy-Connection,
// Transfer-Encoding, Upgrade) absent; TE only "trailers"; Content-Length a number, and later the
// DATA received equal to it. What is checked here, as the HTTP/1.1 path checks it, with an answer
// that says what is wrong (RFC 9113 §8.1.1 lets a server answer a malformed request before it
// closes the stream):
// - a Host field that names another authority than :authority (RFC 9113 §8.3.1): 400;
// - :scheme other than http or https: 400 (this proxy forwards only those);
// - a framing or hop-by-hop name spelt with `_` (src/http/field-ids.ts): 400;
// - more fields than limits.maxHeaderFields, or more bytes (names and values, pseudo-header fields
//   included) than limits.maxHeadBytes: 431 (RFC 9113 §10.5.1, RFC 6585 §5).
//
// Forwarded over HTTP/1.1 (copyFields), the head becomes `Name: value` lines: `cookie` crumbs
// joined into one field with "; " (RFC 9113 §8.2.3), and a Host field made from :authority when
// the request has none (RFC 9113 §8.3.1: an intermediary MUST).
import { BodyKind, FieldId, HeadFlag, MethodId, TargetForm } from '../../asm/shared/constants.js';
import type { RequestHead } from '../http/request-head.js';
import type { LocalAnswer } from '../http/local-answer.js';
import { fieldIdOf, isUnderscoreLookalike } from '../http/field-ids.js';
import { FieldList, type Field } from '../http/field-list.js';

/** uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2): an IP-literal in brackets or a
 *  reg-name (unreserved, pct-encoded, sub-delims), as the codec holds an HTTP/1.1 Host to. */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]*)?$/;

const METHOD_IDS = new Map<string, MethodId>([
  ['GET', MethodId.GET], ['HEAD', MethodId.HEAD], ['POST', MethodId.POST], ['PUT', MethodId.PUT],
  ['DELETE', MethodId.DELETE], ['CONNECT', MethodId.CONNECT], ['OPTIONS', MethodId.OPTIONS],
  ['TRACE', MethodId.TRACE], ['PATCH', MethodId.PATCH],
]);

export interface H2HeadLimits {
  maxFields: number;
  maxHeadBytes: number;
}

/** What the head checks found wrong (the stream is answered with it). */
const bad = (detail: string): LocalAnswer => ({ status: 400, code: 'PRX_H2_MALFORMED', detail });

export class H2RequestHead implements RequestHead {
  readonly method: string;
  readonly methodId: number;
  readonly version = 20;
  readonly targetForm: number;
  readonly target: string;
  readonly bodyKind: number;
  readonly contentLength: number;
  /** :scheme (undefined for CONNECT). */
  readonly scheme: string | undefined;
  /** :protocol of an extended CONNECT (RFC 8441), else undefined. */
  readonly protocol: string | undefined;
  readonly #authority: string | undefined;
  readonly #flags: number;
  /** Regular fields in order; cookie crumbs joined in the first cookie's place, Host made from
   *  :authority first when absent. */
  readonly #fields: FieldList;

  private constructor(p: {
    method: string; target: string; targetForm: number; bodyKind: number; contentLength: number; scheme: string | undefined;
    protocol: string | undefined; authority: string | undefined; flags: number; fields: Field[];
  }) {
    this.method = p.method;
    this.methodId = METHOD_IDS.get(p.method) ?? MethodId.OTHER;
    this.target = p.target;
    this.targetForm = p.targetForm;
    this.bodyKind = p.bodyKind;
    this.contentLength = p.contentLength;
    this.scheme = p.scheme;
    this.protocol = p.protocol;
    this.#authority = p.authority;
    this.#flags = p.flags;
    this.#fields = new FieldList(p.fields);
  }

  /** The head of a stream whose header list is `raw` ([name, value, name, value...], as
   *  node:http2's 'stream' event gives it); `endStream`: the HEADERS frame ended the stream (no
   *  body). A LocalAnswer when the request must be refused. */
  static from(raw: readonly string[], endStream: boolean, limits: H2HeadLimits): H2RequestHead | LocalAnswer {
    let method = '';
    let path: string | undefined;
    let authority: string | undefined;
    let scheme: string | undefined;
    let protocol: string | undefined;
    let host: string | undefined;
    let contentLength = -1;
    let flags = 0;
    let bytes = 0;
    let count = 0;
    let cookieAt = -1;
    let crumbs: string[] | undefined;
    const fields: Field[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i];
      const value = raw[i + 1];
      bytes += name.length + value.length;
      if (name.charCodeAt(0) === 0x3a /* : */) {
        switch (name) {
          case ':method': method = value; break;
          case ':path': path = value; break;
          case ':authority': authority = value; break;
          case ':scheme': scheme = value; break;
          case ':protocol': protocol = value; break;
          default: return bad(`unknown pseudo-header field ${name}`); // nghttp2 refuses these first
        }
        continue;
      }
      count++;
      if (name === 'cookie') {
        if (cookieAt < 0) {
          cookieAt = fields.length;
          fields.push(['cookie', value, FieldId.OTHER]);
        } else (crumbs ??= [fields[cookieAt][1]]).push(value);
        continue;
      }
      const id = fieldIdOf(name);
      if (id === FieldId.OTHER && isUnderscoreLookalike(name)) return bad(`the field name ${name} spells a framing or hop-by-hop field with "_" for "-"`);
      if (id === FieldId.HOST) {
        if (host !== undefined) return bad('more than one Host field');
        host = value;
      } else if (id === FieldId.CONTENT_LENGTH) {
        contentLength = Number(value); // nghttp2 checked it is one number of digits
        flags |= HeadFlag.HAS_CONTENT_LENGTH;
      } else if (id === FieldId.EXPECT) {
        flags |= value.toLowerCase() === '100-continue' ? HeadFlag.EXPECT_CONTINUE : HeadFlag.EXPECT_OTHER;
      } else if (id === FieldId.TRAILER) {
        flags |= HeadFlag.HAS_TRAILER;
      }
      fields.push([name, value, id]);
    }
    if (count > limits.maxFields) return { status: 431, code: 'HPE_TOO_MANY_FIELDS', detail: `more than ${limits.maxFields} header fields` };
    if (bytes > limits.maxHeadBytes) return { status: 431, code: 'HPE_HEAD_TOO_LARGE', detail: `header fields of ${bytes} bytes exceed the ${limits.maxHeadBytes}-byte limit` };
    if (crumbs !== undefined) fields[cookieAt] = ['cookie', crumbs.join('; '), FieldId.OTHER];
    if (scheme !== undefined && scheme !== 'https' && scheme !== 'http') return bad(`unsupported :scheme ${scheme}`);
    if (authority !== undefined && host !== undefined && !sameAuthority(authority, host)) {
      return bad(`the Host field (${host}) names another authority than :authority (${authority})`);
    }
    authority ??= host;
    if (authority !== undefined && !AUTHORITY.test(authority)) return bad(`invalid authority ${JSON.stringify(authority)}`);
    if (host === undefined && authority !== undefined) fields.unshift(['host', authority, FieldId.HOST]);
    let targetForm: number;
    let target: string;
    if (method === 'CONNECT' && protocol === undefined) {
      targetForm = TargetForm.AUTHORITY;
      target = authority ?? '';
    } else {
      target = path ?? '';
      targetForm = target === '*' ? TargetForm.ASTERISK : TargetForm.ORIGIN;
    }
    // a CONNECT stream's DATA is the tunnel (RFC 9113 §8.5), not a request body
    const bodyKind = endStream || targetForm === TargetForm.AUTHORITY ? BodyKind.NONE : contentLength >= 0 ? BodyKind.LENGTH : BodyKind.CHUNKED;
    return new H2RequestHead({ method, target, targetForm, bodyKind, contentLength: Math.max(contentLength, 0), scheme, protocol, authority, flags, fields });
  }

  has(flag: HeadFlag): boolean { return (this.#flags & flag) !== 0; }

  host(): string | undefined { return this.#authority; }

  values(name: string): string[] { return this.#fields.values(name); }
  valuesById(id: number): string[] { return this.#fields.valuesById(id); }
  copyFields(drop: number, out: Buffer[]): number { return this.#fields.copyFields(drop, out); }
}

/** Whether a Host value and :authority name the same authority (host compared without case). */
function sameAuthority(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase();
}
