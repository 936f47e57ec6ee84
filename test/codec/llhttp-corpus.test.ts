// llhttp's own fixtures (../shared/corpus/llhttp, 251 cases of nodejs/llhttp 9.4.2) replayed
// through the codec.
//
// Strict cases (`request`, `response`, `*-finish`): the codec must agree with llhttp's log on
// what a proxy acts on (accept/reject, method, url, version, status, reason, header names and
// values, Content-Length, chunk sizes, body bytes, trailers, where each head and message ends),
// except for the cases in DIFFERENCES below, where the codec deliberately differs and the table
// says what it does instead (asserted, and asserted to still differ, so the table cannot go stale).
//
// Host: most of llhttp's HTTP/1.1 fixtures have no Host field, which RFC 9112 §3.2 requires (the
// codec answers MISSING_HOST). Every such case is run twice: as written, where the codec must
// refuse it with MISSING_HOST (or the error it finds first), and with `Host: llhttp.test` inserted
// after each request-line that lacks one, where everything else must match llhttp.
//
// Lenient cases (`*-lenient-*`): llhttp accepts them only with a leniency flag. Node's own llhttp
// in strict mode is the oracle: whatever it refuses, the codec must refuse too (for a head still
// incomplete at the end of the input: once its empty line arrives), and data after a message that
// closes the connection is never parsed.
//
// Every case is also read byte by byte and split at every offset, with identical results.
import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMarkdown, type MdCase } from './markdown.js';
import { compareCase, injectHost, runOptionsFor } from './llhttp-compare.js';
import { parseLlhttpLog } from './llhttp-log.js';
import { nodeParse } from './node-llhttp.js';
import {
  codecFor, defaultBuild, drive, whole, bytewise, splitAt, splitOffsets, logOf, errorName, ErrorCode,
} from './harness.js';

const CORPUS = fileURLToPath(new URL('../../../shared/corpus/llhttp/', import.meta.url));

type Rule =
  | 'any-method' | 'http-only' | 'no-http09' | 'h2-preface' | 'one-empty-line'
  | 'complete-head-first' | 'skip-body' | 'codings' | 'finish-in-callback';

const RULES: Record<Rule, string> = {
  'any-method':
    'RFC 9110 §9.1: a method is any token. llhttp knows a fixed list (and ties RTSP and ICE methods to ' +
    'their protocols); a proxy forwards methods it does not know.',
  'http-only':
    'RTSP/x.y and ICE/x.y are not HTTP. The codec reads HTTP/1.0 and HTTP/1.1 only: another protocol ' +
    'name is INVALID_VERSION (requests) or INVALID_STATUS_LINE (responses).',
  'no-http09':
    'HTTP/0.9 (a request-line without version, a status-line with 0.9) is refused: RFC 9112 has no ' +
    'HTTP/0.9 and Twisted answers `GET /` with 400.',
  'h2-preface':
    'llhttp pauses on the HTTP/2 connection preface; the codec has no h2c prior-knowledge mode, so ' +
    '`PRI * HTTP/1.1` is an HTTP/1.1 request without Host (MISSING_HOST) and, with Host, the `SM` ' +
    'line that follows is not a request-line.',
  'one-empty-line':
    'Exactly one empty line before a request-line is skipped (RFC 9112 §2.2 "at least one"; Twisted ' +
    'skips one and answers `\\r\\n\\r\\nGET` with 400); llhttp skips any number.',
  'complete-head-first':
    'The codec checks a head\'s syntax in one pass once its empty line has arrived (the scanner ' +
    'enforces line framing and the limits byte by byte, so nothing is rescanned); llhttp reports the ' +
    'error at the offending byte. An incomplete head is never accepted: completed with CRLF CRLF, ' +
    'the same input is refused with the listed code.',
  'skip-body':
    'llhttp lets on_headers_complete return 1 to skip the body (meant for responses to HEAD); a proxy ' +
    'never skips a request body the framing declares, so the next request is read as body bytes.',
  'codings':
    'RFC 9112 §6.1: a transfer coding the proxy does not implement (deflate) before ' +
    'chunked is refused with 501; llhttp only checks that chunked is the final coding.',
  'finish-in-callback':
    'An llhttp API test (llhttp_finish called from inside on_headers_complete); the codec has no ' +
    'callbacks. Read to the end of input, the close-delimited response ends there.',
};

interface Difference {
  rule: Rule;
  /** What the codec does with the case (as written, or with Host inserted when it had none):
   *  an ErrorCode name, 'accept', or for 'complete-head-first' the code once the head is complete. */
  codec: string;
}

/** Every strict case where the codec deliberately differs from llhttp, by case id. */
const DIFFERENCES: Record<string, Difference> = {
  'request/connection.md#CRLF between requests, implicit `keep-alive`': { rule: 'one-empty-line', codec: 'EMPTY_START_LINE' },
  'request/content-length.md#Error on `Content-Length` overflow': { rule: 'complete-head-first', codec: 'CONTENT_LENGTH_OVERFLOW' },
  'request/content-length.md#Error on duplicate `Content-Length`': { rule: 'complete-head-first', codec: 'CONFLICTING_CONTENT_LENGTH' },
  'request/content-length.md#Content-Length reset when no body is received': { rule: 'skip-body', codec: 'accept' },
  'request/invalid.md#HTTP protocol and ANNOUNCE method': { rule: 'any-method', codec: 'accept' },
  'request/invalid.md#Invalid method': { rule: 'any-method', codec: 'accept' },
  'request/invalid.md#Invalid HTTP version': { rule: 'complete-head-first', codec: 'UNSUPPORTED_VERSION' },
  'request/invalid.md#Invalid space after start line': { rule: 'complete-head-first', codec: 'WHITESPACE_AFTER_START_LINE' },
  'request/method.md#SOURCE request with ICE': { rule: 'http-only', codec: 'INVALID_VERSION' },
  'request/method.md#OPTIONS request with RTSP': { rule: 'http-only', codec: 'INVALID_VERSION' },
  'request/method.md#ANNOUNCE request with RTSP': { rule: 'http-only', codec: 'INVALID_VERSION' },
  'request/method.md#PRI request HTTP2': { rule: 'h2-preface', codec: 'INVALID_REQUEST_LINE' },
  'request/sample.md#No HTTP version': { rule: 'no-http09', codec: 'INVALID_REQUEST_LINE' },
  'request/transfer-encoding.md#POST with `chunked` as last transfer-encoding': { rule: 'codings', codec: 'UNSUPPORTED_TRANSFER_CODING' },
  'request/transfer-encoding.md#POST with `chunked` as last transfer-encoding (multiple headers)': { rule: 'codings', codec: 'UNSUPPORTED_TRANSFER_CODING' },
  'response/finish.md#It should be safe to finish with cb after empty response': { rule: 'finish-in-callback', codec: 'accept' },
  'response/invalid.md#Invalid space after start line': { rule: 'complete-head-first', codec: 'WHITESPACE_AFTER_START_LINE' },
  'response/sample.md#RTSP response': { rule: 'http-only', codec: 'INVALID_STATUS_LINE' },
  'response/sample.md#ICE response': { rule: 'http-only', codec: 'INVALID_STATUS_LINE' },
  'response/sample.md#HTTP version 0.9': { rule: 'no-http09', codec: 'INVALID_STATUS_LINE' },
};

function loadCorpus(): MdCase[] {
  const cases: MdCase[] = [];
  for (const dir of ['request', 'response']) {
    for (const f of readdirSync(join(CORPUS, dir)).filter((x) => x.endsWith('.md')).sort()) {
      cases.push(...parseMarkdown(join(CORPUS, dir, f), `${dir}/${f}`));
    }
  }
  return cases;
}

const codec = codecFor(defaultBuild());
const all = loadCorpus();
const isLenient = (k: MdCase) => String(k.meta.type).includes('lenient');
const strict = all.filter((k) => !isLenient(k));
const lenient = all.filter(isLenient);

/** The input as compared (with Host inserted where an HTTP/1.1 request has none). */
function comparedInput(k: MdCase): Buffer {
  const opts = runOptionsFor(k);
  return opts.kind === 'request' ? injectHost(k.input, parseLlhttpLog(k.log)).input : k.input;
}

function outcomeName(k: MdCase, input: Buffer): string {
  const o = drive(codec, whole(input), runOptionsFor(k));
  return o.error ? errorName(o.error.code) : o.state === 'head' ? 'incomplete' : 'accept';
}

describe('llhttp corpus', () => {
  it('holds the 251 cases of llhttp 9.4.2', () => {
    expect(all.length).toBe(251);
    expect(strict.length + lenient.length).toBe(251);
  });

  it('lists only existing strict cases as differences', () => {
    const ids = new Set(strict.map((k) => k.id));
    expect(Object.keys(DIFFERENCES).filter((id) => !ids.has(id))).toEqual([]);
  });

  describe('strict cases agree with llhttp', () => {
    for (const k of strict) {
      const listed = DIFFERENCES[k.id];
      it(listed ? `${k.id} [differs: ${listed.rule}]` : k.id, () => {
        const r = compareCase(codec, k, true);
        expect(r.ours.crash).toBeUndefined();
        if (!listed) {
          expect(r.diffs, 'differences from llhttp').toEqual([]);
        } else {
          // still a difference, and the codec does what the table says
          expect(r.diffs.length, `${k.id} no longer differs from llhttp: remove it from DIFFERENCES`).toBeGreaterThan(0);
          const input = comparedInput(k);
          const why = RULES[listed.rule];
          if (listed.rule === 'complete-head-first') {
            expect(outcomeName(k, input), why).toBe('incomplete');
            expect(outcomeName(k, Buffer.concat([input, Buffer.from('\r\n\r\n')])), why).toBe(listed.codec);
          } else {
            expect(outcomeName(k, input), why).toBe(listed.codec);
          }
        }
      });
    }
  });

  describe('strict HTTP/1.1 requests without Host are refused as written', () => {
    const needHost = strict.filter((k) => runOptionsFor(k).kind === 'request' && injectHost(k.input, parseLlhttpLog(k.log)).inserts.length > 0);
    it('covers most request cases', () => {
      expect(needHost.length).toBeGreaterThan(50);
    });
    for (const k of needHost) {
      it(k.id, () => {
        const withHost = drive(codec, whole(comparedInput(k)), runOptionsFor(k));
        const asWritten = drive(codec, whole(k.input), runOptionsFor(k));
        // Host is only inserted into complete heads: as written, one of them is refused with
        // MISSING_HOST, unless the codec meets another error first (the same as with Host)
        const allowed = [ErrorCode.MISSING_HOST, ...(withHost.error ? [withHost.error.code] : [])].map(errorName);
        expect(allowed).toContain(asWritten.error ? errorName(asWritten.error.code) : asWritten.state);
      });
    }
  });

  describe('lenient cases: the codec refuses what only a lenient parser accepts', () => {
    for (const k of lenient) {
      it(`${k.id} [${String(k.meta.type)}]`, () => {
        const opts = runOptionsFor(k);
        const input = comparedInput(k);
        const node = nodeParse(opts.kind, [input]);
        expect(node.error, 'strict llhttp refuses it').toBeDefined();
        const o = drive(codec, whole(input), opts);
        expect(o.crash).toBeUndefined();
        if (node.error!.code === 'HPE_CLOSED_CONNECTION') {
          // data after a message that closes the connection: never parsed
          expect(o.state).toBe('closed');
          expect(o.rest).toBeGreaterThan(0);
        } else if (o.state === 'head') {
          expect(outcomeName(k, Buffer.concat([input, Buffer.from('\r\n\r\n')]))).not.toMatch(/^(accept|incomplete)$/);
        } else {
          expect(o.error, `the codec accepts: ${logOf(o, opts.kind).join(' | ')}`).toBeDefined();
        }
      });
    }
  });

  describe('every case gives the same result whole, byte by byte and split at every offset', () => {
    for (const k of all) {
      it(k.id, () => {
        const opts = runOptionsFor(k);
        const input = comparedInput(k);
        const base = logOf(drive(codec, whole(input), opts), opts.kind);
        expect(logOf(drive(codec, bytewise(input), opts), opts.kind)).toEqual(base);
        const joined = base.join('\n');
        for (const at of splitOffsets(input)) {
          const split = logOf(drive(codec, splitAt(input, at), opts), opts.kind);
          if (split.join('\n') !== joined) expect(split, `split at ${at}`).toEqual(base);
        }
      });
    }
  });
});
