// Trailer fields: forwarded to HTTP/1.1 clients when the response is relayed chunked, dropped where
// the message is re-framed (HTTP/1.0 client); in both directions without the fields RFC 9110
// §6.5.1 keeps out of trailers (framing, routing, authentication, controls, content format),
// hop-by-hop ones, and those named by the message's Connection header.
import { describe, it, expect } from 'vitest';
import net from 'node:net';
import { startProxy, startRawOrigin, RawClient, sleep, useCleanups } from '../helpers/harness.js';

const cleanups = useCleanups();

const TRAILERS = 'X-Checksum: abc\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=b\r\nHost: evil\r\nX-Secret: s\r\ngrpc-status: 0\r\n';
const RESPONSE = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: X-Secret\r\nTrailer: X-Checksum\r\n\r\n5\r\nhello\r\n0\r\n${TRAILERS}\r\n`;

async function setup() {
  const origin = await startRawOrigin((s, d) => { if (d.includes('\r\n\r\n') && d.includes('GET')) s.write(RESPONSE); });
  cleanups.push(() => origin.close());
  const p = await startProxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }] });
  cleanups.push(() => p.close());
  return { origin, port: p.port };
}

/** Raw bytes received until the proxy closes the connection. */
async function rawExchange(port: number, raw: string): Promise<string> {
  const s = net.connect(port, '127.0.0.1');
  cleanups.push(() => s.destroy());
  const chunks: Buffer[] = [];
  s.on('data', (d) => chunks.push(d));
  s.write(raw);
  await new Promise<void>((r) => { s.on('close', () => r()); setTimeout(r, 5000); });
  return Buffer.concat(chunks).toString('latin1');
}

describe('trailers', () => {
  it('forwards the allowed response trailers to an HTTP/1.1 client, and the connection goes on', async () => {
    const { port } = await setup();
    const got = await rawExchange(port, 'GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    const first = got.indexOf('HTTP/1.1 200');
    const second = got.indexOf('HTTP/1.1 200', first + 1);
    expect(second).toBeGreaterThan(0);
    expect(got.slice(got.indexOf('\r\n\r\n', first) + 4, second)).toBe('5\r\nhello\r\n0\r\nX-Checksum: abc\r\ngrpc-status: 0\r\n\r\n');
    expect(got.endsWith('0\r\nX-Checksum: abc\r\ngrpc-status: 0\r\n\r\n')).toBe(true);
  });

  it('drops them for an HTTP/1.0 client (the body is sent raw)', async () => {
    const { port } = await setup();
    const got = await rawExchange(port, 'GET /a HTTP/1.0\r\n\r\n');
    expect(got.slice(got.indexOf('\r\n\r\n') + 4)).toBe('hello');
  });

  it('keeps the same fields out of request trailers forwarded upstream', async () => {
    const origin = await startRawOrigin(() => {});
    cleanups.push(() => origin.close());
    const p = await startProxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }] });
    cleanups.push(() => p.close());
    const c = await RawClient.connect(p.port);
    cleanups.push(() => c.destroy());
    c.send(`POST /u HTTP/1.1\r\nHost: h\r\nConnection: X-Secret\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n${TRAILERS}Authorization: x\r\n\r\n`, 'POST');
    const body = () => { const got = Buffer.concat(origin.received[0] ?? []).toString('latin1'); return got.slice(got.indexOf('\r\n\r\n') + 4); };
    for (let i = 0; i < 250 && !(body().includes('0\r\n') && body().endsWith('\r\n\r\n')); i++) await sleep(20);
    expect(body()).toBe('5\r\nhello\r\n0\r\nX-Checksum: abc\r\ngrpc-status: 0\r\n\r\n');
  });

  it('applies the request head\'s Connection rules to trailers that arrive after other connections\' reads (the head is kept as a copy, not in the reused read buffer)', async () => {
    const origin = await startRawOrigin((s, d) => { if (d.includes('GET /other')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'); });
    cleanups.push(() => origin.close());
    const p = await startProxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }] });
    cleanups.push(() => p.close());
    const c = await RawClient.connect(p.port);
    cleanups.push(() => c.destroy());
    c.send('POST /u HTTP/1.1\r\nHost: h\r\nConnection: X-Secret\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', 'POST');
    for (let i = 0; i < 250 && origin.received.length === 0; i++) await sleep(20);
    // other connections' heads are read (into the same shared buffer) while this request waits
    for (let i = 0; i < 3; i++) {
      const other = await rawExchange(p.port, `GET /other HTTP/1.1\r\nHost: ${'z'.repeat(300)}\r\nX-Filler: ${'y'.repeat(900 + i)}\r\nConnection: close\r\n\r\n`);
      expect(other.startsWith('HTTP/1.1 200')).toBe(true);
    }
    c.send('0\r\nX-Secret: s\r\nX-Checksum: abc\r\n\r\n', 'POST');
    const body = () => { const got = Buffer.concat(origin.received[0] ?? []).toString('latin1'); return got.slice(got.indexOf('\r\n\r\n') + 4); };
    for (let i = 0; i < 250 && !(body().includes('0\r\n') && body().endsWith('\r\n\r\n')); i++) await sleep(20);
    expect(body()).toBe('5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n');
  });
});
