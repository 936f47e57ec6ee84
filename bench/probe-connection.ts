// A client connection of its own for probing a proxy: opened once, then GETs one after another on
// it (keep-alive), each answered with its body and timings. bench:history opens several per port,
// finds which worker accepted each (bench/socket-owner.ts reads the connection's local port), and
// then probes every worker through connections it knows to be that worker's.
import { connect, type Socket } from 'node:net';
import { ResponseReader } from './response-reader.js';

export interface ProbeAnswer {
  /** performance.now() when the request was written, and when the whole response had arrived. */
  sentAt: number;
  endAt: number;
  status: number;
  body: string;
}

export class ProbeConnection {
  readonly #socket: Socket;
  readonly #reader = new ResponseReader();
  readonly #host: string;
  #pending: { resolve(a: ProbeAnswer): void; reject(e: Error): void; sentAt: number; timer: NodeJS.Timeout } | undefined;
  #error: Error | undefined;

  private constructor(socket: Socket, host: string) {
    this.#socket = socket;
    this.#host = host;
    socket.on('data', (b: Buffer) => this.#data(b));
    socket.on('error', (e) => this.#fail(e));
    socket.on('close', () => this.#fail(new Error('connection closed')));
  }

  /** The connection's local port (the server sees it as the remote port). */
  get localPort(): number {
    return this.#socket.localPort ?? 0;
  }

  get usable(): boolean {
    return this.#error === undefined;
  }

  static open(port: number, host: string, timeoutMs = 10_000): Promise<ProbeConnection> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(new ProbeConnection(s, host));
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  get(path: string, timeoutMs = 10_000): Promise<ProbeAnswer> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#pending) return Promise.reject(new Error('one request at a time'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      this.#pending = { resolve, reject, sentAt: performance.now(), timer };
      this.#reader.expect('GET');
      this.#socket.write(`GET ${path} HTTP/1.1\r\nHost: ${this.#host}\r\n\r\n`);
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #data(b: Buffer): void {
    let got;
    try {
      got = this.#reader.feed(b);
    } catch (e) {
      return this.#fail(e as Error);
    }
    const p = this.#pending;
    if (got.length === 0 || !p) return;
    clearTimeout(p.timer);
    this.#pending = undefined;
    const r = got[0];
    if (r.close) this.#error = new Error('the server closes the connection');
    p.resolve({ sentAt: p.sentAt, endAt: performance.now(), status: r.status, body: r.body.toString('utf8') });
  }

  #fail(e: Error): void {
    this.#error ??= e;
    const p = this.#pending;
    this.#pending = undefined;
    if (p) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.#socket.destroy();
  }
}
