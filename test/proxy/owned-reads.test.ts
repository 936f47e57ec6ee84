// Client connections read into Portico's buffers (src/net/owned-reads.ts): a shared 4 KiB
// buffer between requests and per-connection 64 KiB body buffers, reused. These check that the
// path is really taken on this Node (else every other test would only cover the fallback), and
// that what it delivers is byte-exact where views of reused buffers could leak: bodies that
// arrive with their head, pipelined requests split across reads, bodies larger than a body
// buffer, uploads that wait for a slow origin, and many connections interleaving.
import { describe, it, expect } from 'vitest';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { ownedReadStats } from '../../src/net/owned-reads.js';
import { startHttpOrigin, proxyTo, sleep, useCleanups } from '../helpers/harness.js';

const cleanups = useCleanups();

/** An origin that answers each POST with the sha1 of its body (reading it slowly when asked). */
async function hashingOrigin(slow = false) {
  const o = await startHttpOrigin((req, res) => {
    const h = createHash('sha1');
    req.on('data', (d: Buffer) => {
      h.update(d);
      if (slow) { req.pause(); setTimeout(() => req.resume(), 1); }
    });
    req.on('end', () => res.end(h.digest('hex')));
  });
  cleanups.push(() => o.close());
  return o;
}

/** Sends raw bytes in the given pieces (pausing between them) and collects `count` responses' bodies. */
async function exchange(port: number, pieces: Buffer[], count: number): Promise<string[]> {
  const s = net.connect(port, '127.0.0.1');
  cleanups.push(() => s.destroy());
  let got = Buffer.alloc(0);
  const bodies: string[] = [];
  const done = new Promise<void>((resolve, reject) => {
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      for (;;) {
        const end = got.indexOf('\r\n\r\n');
        if (end < 0) break;
        const m = /content-length: (\d+)/i.exec(got.subarray(0, end).toString('latin1'));
        const len = m ? Number(m[1]) : 0;
        if (got.length < end + 4 + len) break;
        bodies.push(got.subarray(end + 4, end + 4 + len).toString('latin1'));
        got = got.subarray(end + 4 + len);
      }
      if (bodies.length >= count) resolve();
    });
  });
  await new Promise<void>((r) => s.once('connect', () => r()));
  for (const p of pieces) { s.write(p); await sleep(5); }
  await done;
  return bodies;
}

const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');
const post = (body: Buffer) => Buffer.concat([Buffer.from(`POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\n\r\n`), body]);

describe('owned client reads', () => {
  it('are used for plain TCP client connections on this Node', async () => {
    const o = await hashingOrigin();
    const p = await proxyTo(cleanups, o.port);
    const before = ownedReadStats.clientInstalled;
    const body = randomBytes(100);
    expect(await exchange(p.port, [post(body)], 1)).toEqual([sha1(body)]);
    expect(ownedReadStats.clientInstalled).toBe(before + 1);
  });

  it('relay pipelined uploads of every size byte-exact, whole and split at awkward places', async () => {
    const o = await hashingOrigin();
    const p = await proxyTo(cleanups, o.port);
    const bodies = [0, 1, 100, 4000, 4096, 5000, 65_536, 70_000, 200_000, 3].map((n) => randomBytes(n));
    const stream = Buffer.concat(bodies.map(post));
    const want = bodies.map(sha1);
    expect(await exchange(p.port, [stream], bodies.length)).toEqual(want);
    // split into pieces of odd sizes so heads, bodies and the next head share reads
    const pieces: Buffer[] = [];
    for (let at = 0, i = 0; at < stream.length; i++) { const n = [7, 4093, 1, 65_537, 300, 12_345][i % 6]; pieces.push(stream.subarray(at, at + n)); at += n; }
    expect(await exchange(p.port, pieces, bodies.length)).toEqual(want);
  });

  it('relay 6 concurrent 8 MiB uploads to a slow origin byte-exact (body buffers lent while the upstream queues them)', async () => {
    const o = await hashingOrigin(true);
    const p = await proxyTo(cleanups, o.port);
    const lentBefore = ownedReadStats.clientLent;
    const bodies = Array.from({ length: 6 }, (_, i) => randomBytes(8 * 1024 * 1024 + i * 977));
    const results = await Promise.all(bodies.map((b) => exchange(p.port, [post(b)], 1)));
    expect(results.map((r) => r[0])).toEqual(bodies.map(sha1));
    expect(ownedReadStats.clientLent).toBeGreaterThan(lentBefore);
  });
});
