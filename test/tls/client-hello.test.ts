// The ClientHello reader (src/tls/client-hello.ts) on real ClientHellos: written by node:tls and by
// `openssl s_client` to a loopback socket that records the first bytes, then parsed whole, in
// every prefix, and re-framed into several TLS records; and on arbitrary bytes, which must never
// make it throw.
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import fc from 'fast-check';
import { parseClientHello, MAX_CLIENT_HELLO_BYTES } from '../../src/tls/client-hello.js';

/** The bytes a client sends first (until it has sent a whole record and waits). */
async function capture(connect: (port: number) => () => void): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const got = new Promise<Buffer>((resolve) => {
    server.once('connection', (s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) { resolve(buf); s.destroy(); }
      });
    });
  });
  const stop = connect(port);
  const hello = await got;
  stop();
  server.close();
  return hello;
}

const fromNode = (servername: string | undefined, ALPNProtocols: string[] | undefined) => capture((port) => {
  const c = tls.connect({ port, host: '127.0.0.1', ...(servername ? { servername } : {}), ...(ALPNProtocols ? { ALPNProtocols } : {}), rejectUnauthorized: false });
  c.on('error', () => {});
  return () => c.destroy();
});

const fromOpenssl = (servername: string, alpn: string) => capture((port) => {
  const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername, '-alpn', alpn], { stdio: ['pipe', 'ignore', 'ignore'] });
  return () => { if (p.pid !== undefined && p.exitCode === null) process.kill(p.pid, 'SIGKILL'); };
});

/** The same handshake message in records of at most `size` bytes each. */
function reframe(hello: Buffer, size: number): Buffer {
  const message = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const records: Buffer[] = [];
  for (let off = 0; off < message.length; off += size) {
    const part = message.subarray(off, off + size);
    const header = Buffer.from([22, 3, 1, 0, 0]);
    header.writeUInt16BE(part.length, 3);
    records.push(header, part);
  }
  return Buffer.concat(records);
}

let acmeHello: Buffer;
let browserLike: Buffer;
let noSni: Buffer;
let opensslHello: Buffer;

beforeAll(async () => {
  acmeHello = await fromNode('a.test', ['acme-tls/1']);
  browserLike = await fromNode('Www.Example.COM', ['h2', 'http/1.1']);
  noSni = await fromNode(undefined, undefined);
  opensslHello = await fromOpenssl('b.test', 'acme-tls/1');
});

describe('ClientHello reader', () => {
  it('reads the server name and the ALPN list of real ClientHellos (node:tls, openssl s_client)', () => {
    expect(parseClientHello(acmeHello)).toEqual({ kind: 'client-hello', hello: { serverName: 'a.test', alpn: ['acme-tls/1'] } });
    expect(parseClientHello(browserLike)).toEqual({ kind: 'client-hello', hello: { serverName: 'www.example.com', alpn: ['h2', 'http/1.1'] } });
    expect(parseClientHello(noSni)).toEqual({ kind: 'client-hello', hello: { serverName: undefined, alpn: [] } });
    expect(parseClientHello(opensslHello)).toEqual({ kind: 'client-hello', hello: { serverName: 'b.test', alpn: ['acme-tls/1'] } });
  });

  it('asks for more on every prefix of a ClientHello, and reads it whole however it is split into records', () => {
    for (const hello of [acmeHello, opensslHello]) {
      for (let n = 0; n < hello.length; n++) expect(parseClientHello(hello.subarray(0, n)).kind, `prefix ${n}`).toBe('incomplete');
      for (const size of [1, 7, 100, 512]) {
        const split = reframe(hello, size);
        expect(parseClientHello(split), `records of ${size}`).toEqual(parseClientHello(hello));
        expect(parseClientHello(split.subarray(0, split.length - 1)).kind).toBe('incomplete');
      }
    }
  });

  it('says "not a ClientHello" for other bytes: plaintext HTTP, another record type, a malformed hello', () => {
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')).kind).toBe('not-client-hello');
    expect(parseClientHello(Buffer.from([21, 3, 3, 0, 2, 2, 40])).kind).toBe('not-client-hello'); // an alert
    const serverHelloType = Buffer.from(acmeHello);
    serverHelloType[5] = 2;
    expect(parseClientHello(serverHelloType).kind).toBe('not-client-hello');
    // an extensions length running past the message
    const bad = Buffer.from(acmeHello);
    const sessionLen = bad[5 + 4 + 34];
    let off = 5 + 4 + 35 + sessionLen;
    off += 2 + bad.readUInt16BE(off);
    off += 1 + bad[off];
    bad.writeUInt16BE(0xffff, off);
    expect(parseClientHello(bad).kind).toBe('not-client-hello');
  });

  it('never throws and never asks for more than a ClientHello can hold, whatever the bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, handshakeStart) => {
      const b = Buffer.from(bytes);
      if (handshakeStart && b.length >= 6) { b[0] = 22; b[1] = 3; b[5] = 1; }
      const r = parseClientHello(b);
      expect(['incomplete', 'not-client-hello', 'client-hello']).toContain(r.kind);
    }), { numRuns: 2000 });
    // a record header announcing more than a ClientHello may hold, then bytes past the bound
    const huge = Buffer.concat([Buffer.from([22, 3, 1, 0x40, 0x00, 1, 0xff, 0xff, 0xff]), Buffer.alloc(MAX_CLIENT_HELLO_BYTES)]);
    expect(parseClientHello(huge).kind).toBe('not-client-hello');
  });
});
