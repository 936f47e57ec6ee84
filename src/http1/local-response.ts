// Responses the proxy writes itself, in HTTP/1.1: parse errors (400/413/414/431/501/505), no route (404),
// upstream failures (502/503/504), timeouts (408), the forward proxy's answers (400/403/407/502/504)
// and OPTIONS * (200). Every one is built here, so every one follows the same rules: a short text
// body naming the reason and its stable code (or no content when there is no detail),
// `Connection: close` when the connection is closing, `Connection: keep-alive` to an HTTP/1.0
// client that asked to keep it, and no content at all in answer to HEAD (RFC 9110 §9.3.2: the
// header fields a GET would get, Content-Length included, and nothing after them; a body there
// would be read as the start of the next response).
import { STATUS_CODES } from 'node:http';
import type { LocalAnswer } from '../http/local-answer.js';

/** What the response says about the connection: 'close' (Connection: close), 'keep-alive' (an
 *  HTTP/1.0 client that asked to keep the connection, RFC 9112 §9.3), or 'persistent'
 *  (HTTP/1.1's default: nothing to say). */
export type Persistence = 'close' | 'keep-alive' | 'persistent';

export interface LocalResponseOptions {
  readonly persistence: Persistence;
  /** The request was HEAD: the fields a GET would get, no content. */
  readonly headRequest: boolean;
}

export function localResponse(answer: LocalAnswer, { persistence, headRequest }: LocalResponseOptions): Buffer {
  const { status, detail = '', code, fields = '' } = answer;
  const reason = STATUS_CODES[status] ?? 'Error';
  const body = answer.body ?? (detail === '' ? '' : `${status} ${reason}: ${detail} (${code})\n`);
  return Buffer.from(
    `HTTP/1.1 ${status} ${reason}\r\n` +
    (body === '' ? '' : 'Content-Type: text/plain; charset=utf-8\r\n') +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    fields +
    (persistence === 'close' ? 'Connection: close\r\n' : persistence === 'keep-alive' ? 'Connection: keep-alive\r\n' : '') +
    '\r\n' + (headRequest ? '' : body),
    'utf8',
  );
}
