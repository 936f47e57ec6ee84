// HTTP/1.1 over TLS reads into Portico's buffers (src/net/owned-reads.ts, issue 23): TLSWrap copies
// each decrypted read into the buffer the connection gives, as a plain socket's reads land there.
// Pipelined requests and request bodies that span many reads (the shared head buffer, then a body
// buffer), on a real TLS listener.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { TestPki, type IssuedCert } from '../helpers/certs.js';
import { startProxy, startHttpOrigin, RawClient, type Started } from '../helpers/harness.js';
import { ownedReadStats } from '../../src/net/owned-reads.js';

let pki: TestPki;
let cert: IssuedCert;
let origin: Awaited<ReturnType<typeof startHttpOrigin>>;
let proxy: Started;

beforeAll(async () => {
  pki = new TestPki();
  cert = pki.issue({ names: ['localhost'], ips: ['127.0.0.1'] });
  // answers with the length and SHA-256 of the body it read
  origin = await startHttpOrigin((req, res) => {
    const hash = createHash('sha256');
    let n = 0;
    req.on('data', (d: Buffer) => { n += d.length; hash.update(d); });
    req.on('end', () => res.end(`${req.method} ${req.url} ${n} ${hash.digest('hex')}`));
  });
  proxy = await startProxy({
    listen: false,
    listeners: [{ listen: '127.0.0.1:0', tls: { certificates: [{ cert: cert.cert, key: cert.key }] }, protocols: ['http/1.1'] }],
    routes: [{ id: 'all', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }],
  });
});

afterAll(async () => {
  await proxy?.close();
  await origin?.close();
  pki?.close();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('HTTP/1.1 over TLS with owned reads', () => {
  it('installs them on TLS connections; pipelined requests and a 1 MiB upload in one write arrive intact', async () => {
    const before = ownedReadStats.clientInstalled;
    const c = await RawClient.connectTls(proxy.port, { servername: 'localhost', ca: pki.caPem });
    const body = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 11)) & 0xff;
    const get = (p: string) => `GET ${p} HTTP/1.1\r\nHost: localhost\r\n\r\n`;
    c.send(Buffer.concat([
      Buffer.from(get('/one') + get('/two'), 'latin1'),
      Buffer.from(`POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1'), body,
      Buffer.from(get('/three'), 'latin1'),
    ]), 'GET', 'GET', 'POST', 'GET');
    const responses = await c.read(4, 20_000);
    expect(responses.map((r) => r.body.toString('latin1'))).toEqual([
      `GET /one 0 ${sha(Buffer.alloc(0))}`,
      `GET /two 0 ${sha(Buffer.alloc(0))}`,
      `POST /up ${body.length} ${sha(body)}`,
      `GET /three 0 ${sha(Buffer.alloc(0))}`,
    ]);
    expect(ownedReadStats.clientInstalled).toBe(before + 1);
    c.destroy();
  });
});
