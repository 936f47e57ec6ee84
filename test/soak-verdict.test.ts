// The soak's judgements on recorded data (bench/soak-verdict.ts) and its response checker
// (bench/response-reader.ts): the parts that decide pass or fail, on inputs whose answer is known.
import { describe, it, expect } from 'vitest';
import { judgeRss, verdict, isSettled, FD_TOLERANCE, type RssPoint } from '../bench/soak-verdict.js';
import { ResponseReader } from '../bench/response-reader.js';

const MiB = 2 ** 20;

/** A sawtooth (what V8's heap does under load) around `base`, plus `slope` bytes per second. */
function sawtooth(seconds: number, base: number, slope: number): RssPoint[] {
  return Array.from({ length: seconds }, (_, s) => ({ sec: s + 0.5, peakBytes: base + ((s % 40) / 40) * 60 * MiB + slope * s }));
}

describe('soak RSS judgement', () => {
  it('passes a sawtooth that does not grow, fails one that grows, over 30 minutes', () => {
    const flat = judgeRss(sawtooth(1800, 150 * MiB, 0), 1800, 20);
    expect(flat.judged).toBe(true);
    expect(flat.warmupEndSec).toBe(360);
    expect(Math.abs(flat.growth)).toBeLessThan(0.05);
    expect(verdict({ rss: flat, idle: { requested: 1, attempted: 1, openAtSec: 20, replaced: 0, closedByServer: 0, failed: 0, failures: {} } })).toEqual([]);
    const leaking = judgeRss(sawtooth(1800, 150 * MiB, 30 * 1024), 1800, 20); // 30 KiB/s: ~53 MiB over the run
    expect(leaking.growth).toBeGreaterThan(0.1);
    expect(verdict({ rss: leaking, idle: { requested: 1, attempted: 1, openAtSec: 20, replaced: 0, closedByServer: 0, failed: 0, failures: {} } }).join('\n')).toMatch(/^rss: /);
  });

  it('does not judge runs too short for a warm-up and two windows', () => {
    const r = judgeRss(sawtooth(60, 150 * MiB, 1024 * 1024), 60, 10);
    expect(r.judged).toBe(false);
    expect(r.note).toMatch(/too short/);
  });
});

describe('soak verdict', () => {
  const idle = { requested: 10, attempted: 10, openAtSec: 5, replaced: 5, closedByServer: 0, failed: 0, failures: {} };
  it('reports only the crash after a crash', () => {
    expect(verdict({ crash: 'portico exited (1)', idle: { ...idle, failed: 10 } })).toEqual(['crash: portico exited (1)']);
  });

  it('fails on steady-load errors, non-2xx and failed idle GETs', () => {
    const steady = { requests: 100, seconds: 1, rps: 100, bytes: 0, bytesPerSec: 0, p50Ms: 1, p99Ms: 1, maxMs: 1, errors: 1, errorDetail: { connect: 0, read: 1, write: 0, timeout: 0 }, non2xx: 2 };
    const out = verdict({ steady, idle: { ...idle, failed: 1, failures: { ECONNRESET: 1 } } });
    expect(out).toHaveLength(3);
    expect(out.every((l) => l.startsWith('failed: '))).toBe(true);
  });

  it('settled means within the tolerance and nothing in CLOSE_WAIT', () => {
    const base = { fds: 21, sockets: 4, tcp: { LISTEN: 2 } };
    expect(isSettled(base, { fds: 21 + FD_TOLERANCE, sockets: 4, tcp: { LISTEN: 2 } })).toBe(true);
    expect(isSettled(base, { fds: 22 + FD_TOLERANCE, sockets: 4, tcp: { LISTEN: 2 } })).toBe(false);
    expect(isSettled(base, { fds: 22, sockets: 5, tcp: { LISTEN: 2, CLOSE_WAIT: 1 } })).toBe(false);
  });
});

describe('soak response reader', () => {
  it('reads pipelined responses with HEAD framing', () => {
    const r = new ResponseReader();
    for (const m of ['GET', 'HEAD', 'OPTIONS']) r.expect(m);
    const bytes = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
    const got = [...bytes].flatMap((c) => r.feed(Buffer.from(c, 'latin1'))); // one byte at a time
    expect(got.map((x) => [x.status, x.body.toString()])).toEqual([[200, 'hello'], [200, ''], [200, '']]);
    expect(r.outstanding).toBe(0);
  });

  it('a body after a HEAD answer is an error, not a skipped byte', () => {
    const r = new ResponseReader();
    r.expect('HEAD');
    r.expect('GET');
    expect(() => r.feed(Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbadHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 'latin1'))).toThrow(/not a response|bad status line/);
  });

  it('chunked bodies, and a close inside a response is an error', () => {
    const r = new ResponseReader();
    r.expect('GET');
    expect(r.feed(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 'latin1'))[0].body.toString()).toBe('abc');
    r.expect('GET');
    r.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc', 'latin1'));
    expect(() => r.end()).toThrow(/closed inside a response/);
  });
});
