// fast-check arbitraries shared by the property and build-equivalence tests: HTTP-shaped pieces,
// random bytes, mutations of valid messages, run options with small limits, split points.
import fc from 'fast-check';
import type { RunOptions } from './harness.js';

export const PIECES = [
  'GET', 'POST', 'HEAD', 'CONNECT', 'OPTIONS', 'get', ' ', '  ', '\t', '/', '/a?b', '*', 'http://a/', 'a:80',
  'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'http/1.1', 'HTTP/1.1 ', '200', '204', '304', '101', '100', '1xx', 'OK',
  '\r\n', '\r', '\n', '\r\n\r\n', '\r\n\r\n\r\n', ':', ': ', 'Host', 'Host: a\r\n', 'host:', 'Content-Length', 'Content-Length: ',
  'Transfer-Encoding', 'Transfer-Encoding: chunked\r\n', 'chunked', 'gzip', ',', ';', '=', '"', '\\', 'Connection: ', 'close',
  'keep-alive', 'upgrade', 'Upgrade: x\r\n', 'Expect: 100-continue\r\n', 'Trailer', 'X-A', '0', '1', '5', '9', 'a', 'f', 'fF',
  '0x', '-', '+', '\0', '\x01', '\x0b', '\x7f', '\x80', '\xff', 'X-A: b\r\n', ' \t', '0\r\n\r\n', '5\r\nhello\r\n', '3;a="b"\r\nabc\r\n',
  'abc', '[::1]', '@', '%20',
];
export const piece = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...PIECES) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 6 }).map((u) => Buffer.from(u).toString('latin1')) },
);
export const httpish = fc.array(piece, { maxLength: 80 }).map((a) => Buffer.from(a.join(''), 'latin1'));

export const TEMPLATES = [
  'POST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET http://a.test:8080/p HTTP/1.1\r\nHost: a.test:8080\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabcPUT / HTTP/1.0\r\n\r\n',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nTrailer: X\r\n\r\n2\r\nab\r\n0\r\nX: 1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok',
];
export const mutation = fc.tuple(fc.nat(), fc.constantFrom('insert', 'delete', 'replace'), piece);
export const mutated = fc.tuple(fc.constantFrom(...TEMPLATES), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([t, ms]) => {
  let s = t;
  for (const [at, op, p] of ms) {
    const i = at % (s.length + 1);
    if (op === 'insert') s = s.slice(0, i) + p + s.slice(i);
    else if (op === 'delete') s = s.slice(0, i) + s.slice(i + 1 + (at % 3));
    else s = s.slice(0, i) + p + s.slice(i + p.length);
  }
  return Buffer.from(s, 'latin1');
});
export const anyInput = fc.oneof(httpish, mutated, fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)));

export const options: fc.Arbitrary<RunOptions> = fc.record({
  kind: fc.constantFrom('request' as const, 'response' as const),
  headRequest: fc.boolean(),
  limits: fc.option(fc.record({ maxLine: fc.integer({ min: 1, max: 80 }), maxFields: fc.integer({ min: 0, max: 8 }), maxHead: fc.integer({ min: 1, max: 300 }) }), { nil: undefined }),
  chunkLimits: fc.option(fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 60 })), { nil: undefined }),
});
export const cuts = fc.array(fc.nat(), { minLength: 1, maxLength: 4 });

