// The shared head read buffer (src/net/owned-reads.ts) is read into for every connection of the
// process in turn: one missed copy would put one client's bytes into another client's request,
// the worst failure a proxy can have. This test makes that failure show: hundreds of concurrent
// connections pipeline requests whose path, a header and the body all carry the same marker,
// written in small random fragments with random pauses, so heads and bodies of different
// connections interleave in the proxy's reads (and partial heads, pipelined remainders and body
// bytes that arrive with a head all sit in the shared buffer between reads). The origin echoes
// what it saw; an answer whose parts disagree, or that names another request's marker, fails.
// (Checked: it fails when the copy of unprocessed bytes in Http1Connection#read, or the copy of
// the request head in #startRequest, is removed. The copy of body bytes that came with a head
// (#forBody) matters only when the upstream socket queues them, which loopback origins rarely
// make happen: owned-reads.test.ts covers lending.)
import { describe, it, expect } from 'vitest';
import net from 'node:net';
import { proxyTo, startHttpOrigin, useCleanups } from '../helpers/harness.js';

const cleanups = useCleanups();

/** mulberry32: a small seeded generator, so a failure can be replayed with its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One request carrying `marker` in its path, an X-Marker field and its body (Content-Length or
 *  chunked, 0-3000 bytes), and the echo the origin must send for it. A chunked one also has
 *  trailers: X-Trailer-Marker (forwarded) and X-Hop (named by the head's Connection field, so
 *  dropped: that rule reads the request head long after it arrived, when other connections have
 *  been read into the shared buffer many times). */
function request(marker: string, rnd: () => number): { bytes: Buffer; echo: string } {
  const body = marker.repeat(Math.floor(rnd() * (3000 / marker.length)));
  const head = `POST /m/${marker} HTTP/1.1\r\nHost: stress.test\r\nX-Marker: ${marker}\r\nX-Pad: ${'p'.repeat(Math.floor(rnd() * 600))}\r\n`;
  if (rnd() < 0.3 && body.length > 0) {
    const cut = Math.floor(body.length / 2);
    const chunks = [body.slice(0, cut), body.slice(cut)].filter((c) => c.length > 0);
    const framed = chunks.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('');
    const bytes = `${head}Connection: x-hop\r\nTransfer-Encoding: chunked\r\n\r\n${framed}0\r\nX-Hop: ${marker}\r\nX-Trailer-Marker: ${marker}\r\n\r\n`;
    return { bytes: Buffer.from(bytes, 'latin1'), echo: `200 /m/${marker}|${marker}|${body}|${marker}|undefined` };
  }
  return { bytes: Buffer.from(`${head}Content-Length: ${body.length}\r\n\r\n${body}`, 'latin1'), echo: `200 /m/${marker}|${marker}|${body}|undefined|undefined` };
}

/** Reads `n` Content-Length responses (the origin's echo) from a socket. */
function readResponses(socket: net.Socket, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const out: string[] = [];
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1];
        const cl = /\r\ncontent-length: (\d+)/i.exec(head)?.[1];
        if (cl === undefined) { reject(new Error(`response without Content-Length: ${head}`)); return; }
        if (buf.length < end + 4 + Number(cl)) return;
        out.push(`${status} ${buf.subarray(end + 4, end + 4 + Number(cl)).toString('latin1')}`);
        buf = buf.subarray(end + 4 + Number(cl));
        if (out.length === n) { resolve(out); return; }
      }
    });
    socket.on('error', reject);
    socket.on('close', () => { if (out.length < n) reject(new Error(`connection closed after ${out.length} of ${n} responses`)); });
  });
}

describe('the shared head read buffer never mixes connections', () => {
  it('300 connections pipelining marked requests in random fragments: every answer echoes its own marker, path, field and body', async () => {
    const origin = await startHttpOrigin((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        const echo = `${req.url}|${String(req.headers['x-marker'])}|${Buffer.concat(parts).toString('latin1')}|${String(req.trailers['x-trailer-marker'])}|${String(req.trailers['x-hop'])}`;
        res.writeHead(200, { 'content-length': Buffer.byteLength(echo, 'latin1') });
        res.end(echo, 'latin1');
      });
    });
    cleanups.push(() => origin.close());
    const { port } = await proxyTo(cleanups, origin.port, { upstream: { maxSockets: 64 } });
    const seed = Number(process.env.PORTICO_STRESS_SEED ?? Date.now() % 1_000_000);
    const rnd = random(seed);
    const CONNECTIONS = 300;
    const PER_CONNECTION = 4;

    const clients = Array.from({ length: CONNECTIONS }, async (_, c) => {
      const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
      await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
      const requests = Array.from({ length: PER_CONNECTION }, (_, r) => request(`c${c}r${r}x${Math.floor(rnd() * 1e6)}-`, rnd));
      const answers = readResponses(socket, PER_CONNECTION);
      const bytes = Buffer.concat(requests.map((r) => r.bytes));
      // random fragments (half of them small, so heads span reads; half up to 4 KiB, so whole
      // heads and the body bytes behind them arrive in one read) with random pauses: other
      // connections' reads come in between
      for (let off = 0; off < bytes.length;) {
        const size = rnd() < 0.5 ? 1 + Math.floor(rnd() * 64) : 64 + Math.floor(rnd() * 4000);
        socket.write(bytes.subarray(off, off + size));
        off += size;
        if (rnd() < 0.3) await new Promise((r) => setTimeout(r, Math.floor(rnd() * 3)));
        else if (rnd() < 0.5) await new Promise((r) => setImmediate(r));
      }
      const got = await answers;
      socket.destroy();
      return requests.map((r, i) => ({ expected: r.echo, got: got[i] }));
    });
    const results = (await Promise.all(clients)).flat();
    const wrong = results.filter((r) => r.got !== r.expected);
    expect(wrong.map((w) => ({ expected: w.expected.slice(0, 80), got: w.got?.slice(0, 80) })), `seed ${seed}`).toEqual([]);
    expect(results).toHaveLength(CONNECTIONS * PER_CONNECTION);
  }, 120_000);
});
