// Backpressure and memory: pipelined input beyond pipelineBufferBytes stops the proxy reading the
// client; a slow client stops the proxy reading the upstream; a slow upstream stops the proxy
// reading the request body; large uploads stream byte-exact with flat memory. The proxy runs in
// this process, so "the proxy is not buffering" is observed from the peers' write queues (bytes
// a socket could not hand to the kernel) and from this process' memory.
import { describe, it, expect } from 'vitest';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { startHttpOrigin, startRawOrigin, RawClient, sleep, proxyTo, useCleanups } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const cleanups = useCleanups();

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;


async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(10);
  return cond();
}

/** 1 MiB blocks that differ from each other (so a lost, duplicated or reordered block changes the hash). */
const base = randomBytes(MiB);
function block(i: number): Buffer {
  const b = Buffer.from(base);
  b.writeUInt32BE(i, 0);
  b.writeUInt32BE(i * 2654435761 >>> 0, MiB - 4);
  return b;
}

/** Writes with backpressure (waits for 'drain'). */
async function writeAll(s: net.Socket, b: Buffer): Promise<void> {
  if (!s.write(b)) await new Promise<void>((r, j) => { s.once('drain', r); s.once('close', () => j(new Error('socket closed while writing'))); });
}

/** Reads one response with a Content-Length body from a raw socket, hashing the body. */
function readBigResponse(s: net.Socket): Promise<{ status: number; head: string; length: number; sha1: string; complete: boolean; small: string }> {
  return new Promise((resolve) => {
    let head: string | undefined;
    let pre = Buffer.alloc(0);
    let want = -1;
    let got = 0;
    const h = createHash('sha1');
    const small: Buffer[] = []; // bodies up to 64 KiB are also kept
    let done = false;
    const finish = (complete: boolean) => {
      if (done) return;
      done = true;
      resolve({ status: head ? Number(head.slice(9, 12)) : 0, head: head ?? '', length: got, sha1: h.digest('hex'), complete, small: Buffer.concat(small).toString() });
    };
    const body = (b: Buffer) => {
      const take = Math.min(b.length, want - got);
      h.update(b.subarray(0, take));
      if (want <= 65536) small.push(b.subarray(0, take));
      got += take;
      if (got === want) finish(true);
    };
    s.on('data', (d: Buffer) => {
      if (head === undefined) {
        pre = Buffer.concat([pre, d]);
        const end = pre.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = pre.subarray(0, end).toString('latin1');
        const m = /\r\ncontent-length: *(\d+)/i.exec(head);
        want = m ? Number(m[1]) : 0;
        const rest = pre.subarray(end + 4);
        pre = Buffer.alloc(0);
        if (want === 0) finish(true);
        else body(rest);
      } else body(d);
    });
    s.on('close', () => finish(false));
  });
}

/** Samples (after a full GC) heap and array-buffer memory of this process until stopped. */
function memorySampler() {
  gc();
  const m0 = process.memoryUsage();
  let heap = 0;
  let total = 0;
  const t = setInterval(() => {
    gc();
    const m = process.memoryUsage();
    heap = Math.max(heap, m.heapUsed - m0.heapUsed);
    total = Math.max(total, m.heapUsed + m.arrayBuffers - m0.heapUsed - m0.arrayBuffers);
  }, 100);
  return { stop: () => { clearInterval(t); return { heapGrowth: heap, totalGrowth: total }; } };
}

/** An origin that hashes request bodies, reading slowly (pauses `pauseMs` every `everyBytes`). */
async function hashingOrigin(everyBytes: number, pauseMs: number) {
  const o = await startHttpOrigin((req, res) => {
    const h = createHash('sha1');
    let n = 0;
    let sincePause = 0;
    req.on('data', (d: Buffer) => {
      h.update(d);
      n += d.length;
      sincePause += d.length;
      if (sincePause >= everyBytes) {
        sincePause = 0;
        req.pause();
        setTimeout(() => req.resume(), pauseMs);
      }
    });
    req.on('end', () => res.end(JSON.stringify({ url: req.url, n, sha1: h.digest('hex') })));
  });
  cleanups.push(() => o.close());
  return o;
}

describe('pipelining: the proxy stops reading beyond pipelineBufferBytes', () => {
  it('leaves 64 MiB of pipelined input in the client while a request is in flight, then finishes everything', async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((r) => { release = r; });
    const seen: string[] = [];
    const o = await startHttpOrigin((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === '/slow') { void released.then(() => res.end('slow done')); return; }
      const h = createHash('sha1');
      let n = 0;
      req.on('data', (d: Buffer) => { h.update(d); n += d.length; });
      req.on('end', () => res.end(JSON.stringify({ n, sha1: h.digest('hex') })));
    });
    cleanups.push(() => o.close());
    const p = await proxyTo(cleanups, o.port, { limits: { pipelineBufferBytes: 16384 } });
    const c = await RawClient.connect(p.port);
    cleanups.push(() => c.destroy());
    const size = 64 * MiB;
    c.send(`GET /slow HTTP/1.1\r\nHost: x\r\n\r\nPOST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`, 'GET', 'POST');
    const sent = createHash('sha1');
    for (let i = 0; i < 64; i++) {
      const b = block(i);
      sent.update(b);
      c.socket.write(b); // no waiting: whatever the proxy does not read stays queued here
    }
    expect(await waitFor(() => seen.length === 1, 5000)).toBe(true);
    await sleep(700);
    // the proxy read at most its pipeline buffer; the kernel buffers hold a few MiB at most
    expect(c.socket.writableLength).toBeGreaterThan(32 * MiB);
    expect(seen).toEqual(['GET /slow']);
    release();
    const rs = await c.read(2, 30_000);
    expect(rs[0]?.status).toBe(200);
    expect(rs[0].body.toString()).toBe('slow done');
    expect(rs[1]?.status).toBe(200);
    expect(JSON.parse(rs[1].body.toString())).toEqual({ n: size, sha1: sent.digest('hex') });
    expect(c.socket.writableLength).toBe(0);
  });
});

describe('slow client: the proxy stops reading the upstream', () => {
  it('makes the origin\'s writes of a 64 MiB response block while the client does not read', async () => {
    const size = 64 * MiB;
    const sent = createHash('sha1');
    let originSocket: net.Socket | undefined;
    let drained = false;
    const origin = await startRawOrigin((s) => {
      originSocket = s;
      s.on('drain', () => { drained = true; });
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
      for (let i = 0; i < 64; i++) {
        const b = block(i);
        sent.update(b);
        s.write(b);
      }
    });
    cleanups.push(() => origin.close());
    const p = await proxyTo(cleanups, origin.port);
    const c = net.connect({ port: p.port, host: '127.0.0.1' });
    cleanups.push(() => { c.destroy(); });
    c.on('error', () => {});
    await new Promise<void>((r) => c.once('connect', () => r()));
    const response = readBigResponse(c); // attaches the 'data' listener...
    c.pause(); // ...but the client does not read
    c.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await waitFor(() => originSocket !== undefined, 5000)).toBe(true);
    await sleep(800);
    // at most the kernel buffers (a few MiB each way) and the proxy's socket buffers moved
    expect(originSocket!.writableLength).toBeGreaterThan(32 * MiB);
    expect(drained).toBe(false);
    const before = originSocket!.writableLength;
    await sleep(300);
    expect(originSocket!.writableLength).toBe(before); // stalled, not just slow
    c.resume();
    const r = await response;
    expect(r.status).toBe(200);
    expect(r.complete).toBe(true);
    expect(r.length).toBe(size);
    expect(r.sha1).toBe(sent.digest('hex'));
    expect(await waitFor(() => drained, 5000)).toBe(true);
  });
});

describe('slow client and the upstream idle timer', () => {
  // Regression: the upstream idle timer must not run while the proxy itself paused the upstream
  // socket because the client is slow (fixed in exchange.ts #writeClient / resumeUpstream).
  it('does not abort a response paused by a slow client (the upstream is not idle, the proxy stopped reading)', async () => {
    const size = 32 * MiB;
    const sent = createHash('sha1');
    let originSocket: net.Socket | undefined;
    const origin = await startRawOrigin((s) => {
      originSocket = s;
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
      for (let i = 0; i < 32; i++) {
        const b = block(i);
        sent.update(b);
        s.write(b);
      }
    });
    cleanups.push(() => origin.close());
    const p = await proxyTo(cleanups, origin.port, { timeouts: { upstreamIdleMs: 400 } });
    const c = net.connect({ port: p.port, host: '127.0.0.1' });
    cleanups.push(() => { c.destroy(); });
    c.on('error', () => {});
    await new Promise<void>((r) => c.once('connect', () => r()));
    const response = readBigResponse(c);
    c.pause();
    c.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await waitFor(() => originSocket !== undefined, 5000)).toBe(true);
    await sleep(1200); // 3x upstreamIdleMs without the client reading
    c.resume();
    const r = await response;
    expect(r.complete).toBe(true);
    expect(r.length).toBe(size);
    expect(r.sha1).toBe(sent.digest('hex'));
  });
});

describe('slow upstream: the proxy stops reading the request body', () => {
  it('leaves most of a 64 MiB upload in the client while the origin does not read', async () => {
    const size = 64 * MiB;
    let originSocket: net.Socket | undefined;
    let received = 0;
    const origin = await startRawOrigin((s, d) => {
      if (!originSocket) {
        originSocket = s;
        s.pause();
      }
      received += d.length;
    });
    cleanups.push(() => origin.close());
    const p = await proxyTo(cleanups, origin.port, { timeouts: { bodyIdleMs: 60_000 } });
    const c = await RawClient.connect(p.port);
    cleanups.push(() => c.destroy());
    c.send(`PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`, 'PUT');
    for (let i = 0; i < 64; i++) c.socket.write(block(i));
    expect(await waitFor(() => originSocket !== undefined, 5000)).toBe(true);
    await sleep(800);
    expect(c.socket.writableLength).toBeGreaterThan(32 * MiB);
    expect(received).toBeLessThan(1 * MiB);
    // now the origin reads everything and answers
    const headLen = Buffer.byteLength(`PUT /up HTTP/1.1\r\n`);
    originSocket!.on('data', () => {
      if (received >= size + headLen) originSocket!.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone');
    });
    originSocket!.resume();
    const [r] = await c.read(1, 30_000);
    expect(r?.status).toBe(200);
    expect(r.body.toString()).toBe('done');
    expect(received).toBeGreaterThan(size);
  });
});

describe('slow upstream: chunked request body', () => {
  it('leaves most of a 64 MiB chunked upload in the client while the origin does not read', async () => {
    const size = 64 * MiB;
    let originSocket: net.Socket | undefined;
    let received = 0;
    const origin = await startRawOrigin((s, d) => {
      if (!originSocket) {
        originSocket = s;
        s.pause();
      }
      received += d.length;
    });
    cleanups.push(() => origin.close());
    const p = await proxyTo(cleanups, origin.port, { timeouts: { bodyIdleMs: 60_000 } });
    const c = await RawClient.connect(p.port);
    cleanups.push(() => c.destroy());
    c.send('PUT /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', 'PUT');
    for (let i = 0; i < 64; i++) c.socket.write(Buffer.concat([Buffer.from('100000\r\n'), block(i), Buffer.from('\r\n')]));
    c.socket.write('0\r\n\r\n');
    expect(await waitFor(() => originSocket !== undefined, 5000)).toBe(true);
    await sleep(800);
    expect(c.socket.writableLength).toBeGreaterThan(32 * MiB);
    expect(received).toBeLessThan(1 * MiB);
    originSocket!.on('data', (d: Buffer) => {
      if (d.subarray(-5).toString() === '0\r\n\r\n') originSocket!.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone');
    });
    originSocket!.resume();
    const [r] = await c.read(1, 30_000);
    expect(r?.status).toBe(200);
    expect(r.body.toString()).toBe('done');
    expect(received).toBeGreaterThan(size);
  });
});

describe('large uploads stream with flat memory', () => {
  it('relays a 256 MiB Content-Length upload byte-exact to an origin that reads slowly', async () => {
    const size = 256 * MiB;
    const o = await hashingOrigin(8 * MiB, 25);
    const p = await proxyTo(cleanups, o.port);
    const c = net.connect({ port: p.port, host: '127.0.0.1' });
    cleanups.push(() => { c.destroy(); });
    c.on('error', () => {});
    await new Promise<void>((r) => c.once('connect', () => r()));
    const response = readBigResponse(c);
    const mem = memorySampler();
    const sent = createHash('sha1');
    await writeAll(c, Buffer.from(`POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`));
    for (let i = 0; i < 256; i++) {
      const b = block(i);
      sent.update(b);
      await writeAll(c, b);
    }
    const r = await response;
    const { heapGrowth, totalGrowth } = mem.stop();
    expect(r.status).toBe(200);
    const body: unknown = JSON.parse(r.small);
    expect(body).toEqual({ url: '/big', n: size, sha1: sent.digest('hex') });
    expect(heapGrowth).toBeLessThan(64 * MiB);
    expect(totalGrowth).toBeLessThan(128 * MiB);
  }, 60_000);

  it('relays a 256 MiB chunked upload byte-exact (re-framed) to an origin that reads slowly', async () => {
    const size = 256 * MiB;
    const o = await hashingOrigin(8 * MiB, 25);
    const p = await proxyTo(cleanups, o.port);
    const c = net.connect({ port: p.port, host: '127.0.0.1' });
    cleanups.push(() => { c.destroy(); });
    c.on('error', () => {});
    await new Promise<void>((r) => c.once('connect', () => r()));
    const response = readBigResponse(c);
    const mem = memorySampler();
    const sent = createHash('sha1');
    await writeAll(c, Buffer.from('POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'));
    for (let i = 0; i < 256; i++) {
      const b = block(i);
      sent.update(b);
      // two chunks per block, of uneven sizes
      const cut = 1000 + (i * 7919) % (MiB - 2000);
      await writeAll(c, Buffer.concat([Buffer.from(`${cut.toString(16)}\r\n`), b.subarray(0, cut), Buffer.from(`\r\n${(MiB - cut).toString(16)}\r\n`), b.subarray(cut), Buffer.from('\r\n')]));
    }
    await writeAll(c, Buffer.from('0\r\n\r\n'));
    const r = await response;
    const { heapGrowth, totalGrowth } = mem.stop();
    expect(r.status).toBe(200);
    const body: unknown = JSON.parse(r.small);
    expect(body).toEqual({ url: '/chunked', n: size, sha1: sent.digest('hex') });
    expect(heapGrowth).toBeLessThan(64 * MiB);
    expect(totalGrowth).toBeLessThan(128 * MiB);
  }, 60_000);
});
