import { describe, it, expect } from 'vitest';
import { codec } from '../src/wasm/codec.js';
import { HeadReader } from '../src/wasm/head-reader.js';
import { DEFAULT_HEAD_LIMITS } from '../src/wasm/codec.js';
import { HeadKind } from '../asm/shared/constants.js';

describe('smoke', () => {
  it('parses a request', () => {
    const r = new HeadReader(codec(), HeadKind.REQUEST, DEFAULT_HEAD_LIMITS);
    const b = Buffer.from('GET /a?b HTTP/1.1\r\nHost: x.test\r\nX-A:  1 \r\nContent-Length: 5\r\n\r\nhello');
    const n = r.feed(b, 0, b.length);
    expect(n).toBe(b.length - 5);
    const h = r.head!;
    expect(h.method).toBe('GET');
    expect(h.target).toBe('/a?b');
    expect(h.host()).toBe('x.test');
    expect(h.entries()).toEqual([['Host', 'x.test'], ['X-A', '1'], ['Content-Length', '5']]);
    expect(h.contentLength).toBe(5);
  });
});
