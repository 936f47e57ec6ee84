// The benchmark origin: a small raw node:net HTTP/1.1 server, run as its own process, so that the origin
// costs as little CPU as possible and the numbers are about the proxy.
//   GET  (any path not containing "/big")  -> 200, 13-byte text body
//   GET  path containing "/big"            -> 200, 1 MiB body
//   POST/PUT                               -> reads the whole body (Content-Length or chunked), 200 with
//                                             the byte count as the body
//   GET  /__stats                          -> JSON counters (requests, body bytes read, bad requests)
//   HEAD                                   -> the GET response's head without its body (RFC 9110 §9.3.2)
// Keep-alive per HTTP/1.1 and HTTP/1.0 rules, pipelining, Expect: 100-continue.
// Usage: node dist/bench/origin.js [--host 127.0.0.1] [--port 0]; prints "origin listening on HOST:PORT".
import { createServer, type Socket } from 'node:net';

const SMALL_BODY = 'hello, world\n';
export const BIG_SIZE = 1024 * 1024;

function response(body: Buffer, conn: '' | 'keep-alive' | 'close'): Buffer {
  const head =
    'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n' +
    `Content-Length: ${body.length}\r\n` +
    (conn ? `Connection: ${conn}\r\n` : '') +
    '\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

type ConnMode = 0 | 1 | 2; // 0: HTTP/1.1 keep-alive (no header), 1: HTTP/1.0 keep-alive, 2: close
const MODES: ('' | 'keep-alive' | 'close')[] = ['', 'keep-alive', 'close'];
const smallBody = Buffer.from(SMALL_BODY, 'latin1');
const bigBody = Buffer.alloc(BIG_SIZE, 'x');
const SMALL = MODES.map((m) => response(smallBody, m));
const BIG = MODES.map((m) => response(bigBody, m));
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
const BAD = Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', 'latin1');
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const MAX_HEAD = 64 * 1024;
const EMPTY = Buffer.alloc(0);

const stats = { requests: 0, bodyBytes: 0, badRequests: 0, connections: 0 };

const enum St {
  Head,
  Body,
  ChunkSize,
  ChunkData,
  Trailer,
}

class Conn {
  private pending: Buffer = EMPTY;
  private st = St.Head;
  private left = 0;
  private method = '';
  private target = '';
  private mode: ConnMode = 0;
  private bodyBytes = 0;
  private closed = false;

  constructor(private readonly sock: Socket) {
    sock.setNoDelay(true);
    sock.on('data', (b: Buffer) => this.onData(b));
    sock.on('error', () => undefined);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = EMPTY;
    let off = 0;
    this.sock.cork();
    try {
      while (off < data.length && !this.closed) {
        if (this.st === St.Head) {
          const end = data.indexOf(CRLFCRLF, off);
          if (end < 0) {
            if (data.length - off > MAX_HEAD) return this.bad();
            this.pending = data.subarray(off);
            break;
          }
          if (!this.parseHead(data.toString('latin1', off, end))) return this.bad();
          off = end + 4;
          if (this.st === St.Head) this.respond();
        } else if (this.st === St.Body || this.st === St.ChunkData) {
          const take = Math.min(this.left, data.length - off);
          this.left -= take;
          off += take;
          this.bodyBytes += take;
          if (this.left === 0) {
            if (this.st === St.Body) {
              this.st = St.Head;
              this.respond();
            } else {
              this.bodyBytes -= 2; // the CRLF after the chunk data
              this.st = St.ChunkSize;
            }
          }
        } else {
          const eol = data.indexOf('\r\n', off, 'latin1');
          if (eol < 0) {
            if (data.length - off > MAX_HEAD) return this.bad();
            this.pending = data.subarray(off);
            break;
          }
          const line = data.toString('latin1', off, eol);
          off = eol + 2;
          if (this.st === St.ChunkSize) {
            const size = parseInt(line.split(';')[0].trim(), 16);
            if (!Number.isFinite(size) || size < 0) return this.bad();
            if (size === 0) this.st = St.Trailer;
            else {
              this.st = St.ChunkData;
              this.left = size + 2;
            }
          } else if (line === '') {
            this.st = St.Head;
            this.respond();
          }
        }
      }
    } finally {
      if (!this.closed) this.sock.uncork();
    }
  }

  private parseHead(head: string): boolean {
    const lines = head.split('\r\n');
    const first = (lines[0] ?? '').split(' ');
    if (first.length !== 3) return false;
    const [method, target, version] = first as [string, string, string];
    let cl = -1;
    let chunked = false;
    let connection = '';
    let expect = false;
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i];
      const c = l.indexOf(':');
      if (c <= 0) return false;
      const name = l.slice(0, c).toLowerCase();
      const value = l.slice(c + 1).trim();
      if (name === 'content-length') {
        if (!/^\d+$/.test(value)) return false;
        cl = Number(value);
      } else if (name === 'transfer-encoding') chunked = /chunked\s*$/i.test(value);
      else if (name === 'connection') connection += ',' + value.toLowerCase();
      else if (name === 'expect') expect = /100-continue/i.test(value);
    }
    this.method = method;
    this.target = target;
    if (version === 'HTTP/1.1') this.mode = /\bclose\b/.test(connection) ? 2 : 0;
    else if (version === 'HTTP/1.0') this.mode = /\bkeep-alive\b/.test(connection) ? 1 : 2;
    else return false;
    this.bodyBytes = 0;
    if (chunked) {
      this.st = St.ChunkSize;
    } else if (cl > 0) {
      this.st = St.Body;
      this.left = cl;
    } else this.st = St.Head;
    if (expect && this.st !== St.Head) this.sock.write(CONTINUE);
    return true;
  }

  private respond(): void {
    stats.requests++;
    stats.bodyBytes += this.bodyBytes;
    let out: Buffer;
    if (this.method === 'POST' || this.method === 'PUT') {
      out = response(Buffer.from(`${this.bodyBytes}\n`, 'latin1'), MODES[this.mode]);
    } else if (this.target.includes('/big')) {
      out = BIG[this.mode]!;
    } else if (this.target.endsWith('/__stats')) {
      out = response(Buffer.from(JSON.stringify(stats)), MODES[this.mode]);
    } else {
      out = SMALL[this.mode]!;
    }
    if (this.method === 'HEAD') out = out.subarray(0, out.indexOf(CRLFCRLF) + 4);
    if (this.mode === 2) {
      this.closed = true;
      this.sock.uncork();
      this.sock.end(out);
    } else this.sock.write(out);
  }

  private bad(): void {
    stats.badRequests++;
    this.closed = true;
    this.sock.uncork();
    this.sock.end(BAD);
  }
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
}

const host = arg('--host', '127.0.0.1');
const port = Number(arg('--port', '0'));
const server = createServer((sock) => {
  stats.connections++;
  new Conn(sock);
});
server.on('error', (err) => {
  process.stderr.write(`origin: ${err.message}\n`);
  process.exit(1);
});
server.listen({ host, port, backlog: 4096 }, () => {
  const a = server.address();
  const p = typeof a === 'object' && a ? a.port : port;
  process.stdout.write(`origin listening on ${host}:${p}\n`);
});
process.on('SIGTERM', () => process.exit(0));
