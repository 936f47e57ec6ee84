// Differential tests against Node's own llhttp (the HTTPParser binding behind node:http, strict
// mode) on generated heads.
//
// 1. Valid request and response heads (fast-check: llhttp's method tokens, origin/absolute/asterisk
//    targets, token field names, field values with SP/HTAB/obs-text inside): both parsers accept,
//    with the same method, target, version, status, reason, field names and values. The codec's
//    input is also split at random offsets.
// 2. Heads built from Content-Length / Transfer-Encoding fields with valid and invalid values, in
//    every order: whenever llhttp refuses the message for a framing reason, the codec refuses it
//    too (it may refuse more: e.g. identical duplicate Content-Length is the one thing it accepts
//    that llhttp does not, and the test checks that is the only such case).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { codecFor, defaultBuild, drive, whole, splitAt, logOf } from './harness.js';
import { nodeParse, METHODS } from './node-llhttp.js';

const codec = codecFor(defaultBuild());
const RUNS = Number(process.env.CODEC_FC_RUNS ?? 300);

const TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const PCHAR = "-._~!$&'()*+,;=:@0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** Names whose fields change framing or connection handling; the valid-head generator avoids them. */
const SPECIAL = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'expect', 'keep-alive', 'proxy-connection', 'te', 'trailer']);

const token = (chars: string, max: number) =>
  fc.array(fc.constantFrom(...chars), { minLength: 1, maxLength: max }).map((a) => a.join(''));

const pctEncoded = fc.integer({ min: 0, max: 255 }).map((n) => '%' + n.toString(16).toUpperCase().padStart(2, '0'));
const segment = fc.array(fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...PCHAR) }, { weight: 1, arbitrary: pctEncoded }), { maxLength: 12 }).map((a) => a.join(''));
const path = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => '/' + s.join('/'));
const query = fc.option(fc.array(fc.constantFrom(...PCHAR, '/', '?'), { maxLength: 16 }).map((a) => '?' + a.join('')), { nil: '' });
const originForm = fc.tuple(path, query).map(([p, q]) => p + q);
const hostName = fc.array(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'), { minLength: 1, maxLength: 12 }).map((a) => a.join('') + '.test');
const absoluteForm = fc.tuple(fc.constantFrom('http', 'https'), hostName, fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }), originForm)
  .map(([s, h, port, p]) => `${s}://${h}${port === undefined ? '' : ':' + port}${p}`);

// llhttp refuses CONNECT without authority-form and treats it as an upgrade: left out here
const method = fc.constantFrom(...METHODS.filter((m) => m !== 'CONNECT'));

const fieldName = token(TCHAR, 20).filter((n) => !SPECIAL.has(n.toLowerCase()));
const VCHAR_OBS = Array.from({ length: 256 }, (_, i) => i).filter((c) => (c > 0x20 && c < 0x7f) || c >= 0x80).map((c) => String.fromCharCode(c));
// a value: field-vchar at both ends, SP/HTAB allowed inside (leading/trailing OWS is not part of it)
const fieldValue = fc.oneof(
  fc.constant(''),
  fc.tuple(
    fc.constantFrom(...VCHAR_OBS),
    fc.array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...VCHAR_OBS) }, { weight: 1, arbitrary: fc.constantFrom(' ', '\t') }), { maxLength: 40 }),
    fc.constantFrom(...VCHAR_OBS),
  ).map(([a, m, b]) => a + m.join('') + b),
);
const ows = fc.constantFrom('', ' ', '  ', '\t', ' \t');
const field = fc.tuple(fieldName, ows, fieldValue, ows);
const fields = fc.array(field, { maxLength: 40 });

function head(startLine: string, fs: ReadonlyArray<readonly [string, string, string, string]>): Buffer {
  const lines = [startLine, ...fs.map(([n, a, v, b]) => `${n}:${a}${v}${b}`)];
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}

describe('differential: valid heads parse the same as Node\'s llhttp', () => {
  it('requests', () => {
    fc.assert(
      fc.property(
        method,
        fc.oneof({ weight: 4, arbitrary: originForm }, { weight: 1, arbitrary: absoluteForm }, { weight: 1, arbitrary: fc.constant('*') }),
        fc.constantFrom('1.0', '1.1'),
        hostName,
        fields,
        fc.integer({ min: 0, max: 4000 }),
        (m, target, v, host, fs, cut) => {
          const all: Array<[string, string, string, string]> = [['Host', ' ', host, ''], ...fs];
          const input = head(`${m} ${target} HTTP/${v}`, all);
          const node = nodeParse('request', [input]);
          expect(node.error, 'llhttp accepts the generated head').toBeUndefined();
          expect(node.messages.length).toBe(1);
          const n = node.messages[0];
          for (const reads of [whole(input), splitAt(input, cut % input.length)]) {
            const o = drive(codec, reads, { kind: 'request', maxMessages: 1 });
            expect(o.error, logOf(o, 'request').join(' | ')).toBeUndefined();
            expect(o.messages.length).toBe(1);
            const h = o.messages[0].head;
            expect(h.method).toBe(n.method);
            expect(h.target).toBe(n.url);
            expect(h.version).toBe(n.versionMajor * 10 + n.versionMinor);
            expect(h.entries()).toEqual(n.headers);
            expect(o.messages[0].headEnd).toBe(input.length);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('responses', () => {
    const reason = fc.array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...VCHAR_OBS) }, { weight: 1, arbitrary: fc.constantFrom(' ', '\t') }), { maxLength: 30 }).map((a) => a.join(''));
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 999 }),
        reason,
        fc.constantFrom('1.0', '1.1'),
        fields,
        fc.integer({ min: 0, max: 4000 }),
        (status, why, v, fs, cut) => {
          const input = head(`HTTP/${v} ${status} ${why}`, [...fs, ['Content-Length', ' ', '0', '']]);
          const node = nodeParse('response', [input]);
          expect(node.error, 'llhttp accepts the generated head').toBeUndefined();
          const n = node.messages[0];
          for (const reads of [whole(input), splitAt(input, cut % input.length)]) {
            const o = drive(codec, reads, { kind: 'response', maxMessages: 1 });
            expect(o.error, logOf(o, 'response').join(' | ')).toBeUndefined();
            const h = o.messages[0].head;
            expect(h.status).toBe(n.status);
            expect(h.reason).toBe(n.reason);
            expect(h.version).toBe(n.versionMajor * 10 + n.versionMinor);
            expect(h.entries()).toEqual(n.headers);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});

// Content-Length and Transfer-Encoding shapes, valid and not
const FRAMING_NAMES = ['Content-Length', 'content-length', 'CONTENT-LENGTH', 'Transfer-Encoding', 'transfer-encoding', 'TRANSFER-ENCODING'];
const CL_VALUES = ['0', '5', '005', '-1', '+5', '5, 5', '5,6', '5 5', '', '0x5', 'abc', '99999999999999999999', ' 5', '5 ', '5,', ',5', '5.0'];
const TE_VALUES = ['chunked', 'Chunked', 'CHUNKED', 'identity', 'gzip', 'gzip, chunked', 'chunked, gzip', 'chunked,chunked', ' chunked', 'chunked ', 'xchunked', 'chunkedx', 'chunked;a=b', '"chunked"', '', ',chunked', 'chunked,', 'deflate', 'chunk', 'chunked\t', 'identity, chunked'];
const BODIES = ['', '0\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n', 'hello', '0\r\n\r\nhello'];

/** llhttp error codes that are about message framing. */
const FRAMING_ERRORS = new Set(['HPE_INVALID_CONTENT_LENGTH', 'HPE_UNEXPECTED_CONTENT_LENGTH', 'HPE_INVALID_TRANSFER_ENCODING', 'HPE_INVALID_CHUNK_SIZE']);

/** Only Content-Length fields, every member of every list 1*DIGIT and all the same number: the one
 *  shape the codec accepts and llhttp refuses ("Duplicate Content-Length"). RFC 9110 §8.6 lets a
 *  recipient accept it, and the length is not ambiguous (`005` and `5` are both 5 to any parser
 *  that accepts 1*DIGIT). */
function sameLengthRepeated(fs: ReadonlyArray<readonly [string, string, ...string[]]>): boolean {
  if (!fs.every(([n]) => n.toLowerCase() === 'content-length')) return false;
  const members = fs.flatMap(([, v]) => v.split(',').map((x) => x.trim()));
  return members.length > 1 && members.every((x) => /^[0-9]+$/.test(x)) && new Set(members.map(Number)).size === 1;
}

describe('differential: never accept what llhttp refuses for framing reasons', () => {
  const framingField = fc.constantFrom(...FRAMING_NAMES).chain((name) =>
    fc.tuple(fc.constant(name), fc.constantFrom(...(name.toLowerCase() === 'content-length' ? CL_VALUES : TE_VALUES)), ows, ows));
  for (const kind of ['request', 'response'] as const) it(`${kind}s with Content-Length / Transfer-Encoding fields`, () => {
    let refused = 0;
    fc.assert(
      fc.property(
        kind === 'request' ? fc.constantFrom('GET / HTTP/1.0', 'POST / HTTP/1.1', 'PUT / HTTP/1.1') : fc.constantFrom('HTTP/1.0 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 404 Not Found'),
        fc.array(framingField, { minLength: 1, maxLength: 3 }),
        fc.constantFrom(...BODIES),
        fc.integer({ min: 0, max: 1000 }),
        (startLine, fs, body, cut) => {
          const all: Array<[string, string, string, string]> = [['Host', ' ', 'a', ''], ...fs.map(([n, val, a, b]) => [n, a, val, b] as [string, string, string, string])];
          const input = Buffer.concat([head(startLine, all), Buffer.from(body, 'latin1')]);
          const node = nodeParse(kind, [input]);
          if (!node.error || !FRAMING_ERRORS.has(node.error.code)) return;
          // Node 20's llhttp (9.3) refuses an HTAB after a Content-Length value; llhttp 9.4.2
          // accepts it (corpus case request/content-length.md "Tabs in `Content-Length`
          // (surrounding)"), as the codec does: trailing OWS is not part of the value
          if (node.error.code === 'HPE_INVALID_CONTENT_LENGTH' && fs.some(([n, , , b]) => n.toLowerCase() === 'content-length' && b.includes('\t'))) return;
          refused++;
          for (const reads of [whole(input), splitAt(input, cut % input.length)]) {
            const o = drive(codec, reads, { kind, maxMessages: 1 });
            expect(o.crash).toBeUndefined();
            // the codec refuses the head, or (Content-Length bodies) stops at a message boundary
            // where llhttp's error is in bytes the codec treats as the next head, which it refuses
            if (o.error) continue;
            expect(sameLengthRepeated(fs), `codec accepts ${JSON.stringify(input.toString('latin1'))}; llhttp: ${node.error.code} ${node.error.reason}`).toBe(true);
          }
        },
      ),
      { numRuns: RUNS * 3 },
    );
    expect(refused).toBeGreaterThan(RUNS / 4);
  });
});
