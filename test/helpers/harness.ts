// Test harness: a real Portico (in-process ProxyServer on 127.0.0.1:0), real origins on loopback,
// and a raw TCP client that reads responses with a tiny independent HTTP/1.1 reader (so the tests
// do not trust the codec they test).
import net from 'node:net';
import http from 'node:http';
import tls from 'node:tls';
import { afterEach } from 'vitest';
import { pino, type Logger } from 'pino';
import { ProxyServer } from '../../src/server/proxy-server.js';
import { resolveConfig } from '../../src/config/config.js';
import type { Clock } from '../../src/clock.js';

/** Cleanups (stop a proxy, an origin, a client) run after each test, last registered first.
 *  Call once per test file, at the top level. */
export function useCleanups(): Array<() => unknown> {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return cleanups;
}

/** `track(x)`: registers x.close() as a cleanup and returns x. */
export const tracker = (cleanups: Array<() => unknown>) => <T extends { close(): Promise<void> | void }>(x: T): T => {
  cleanups.push(() => x.close());
  return x;
};

/** Routes every request to the given origins (one route, prefix /). */
export const routeTo = (...ports: number[]) => [{ id: 'r', pathPrefix: '/', upstreams: ports.map((p) => `http://127.0.0.1:${p}`) }];

/** A proxy in front of the origin on `originPort`, stopped after the test. */
export async function proxyTo(cleanups: Array<() => unknown>, originPort: number, extra: Record<string, unknown> = {}, options: StartProxyOptions = {}): Promise<Started> {
  const p = await startProxy({ routes: routeTo(originPort), ...extra }, options);
  cleanups.push(() => p.proxy.close(0));
  return p;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export interface Started {
  proxy: ProxyServer;
  port: number;
  close(): Promise<void>;
}

/** Starts a proxy with `config` (JSON as in the config file) on an ephemeral loopback port. */
export interface StartProxyOptions {
  logger?: Logger;
  /** The data path's clock (a FakeClock for timeout tests). */
  clock?: Clock;
}

export async function startProxy(config: Record<string, unknown>, options: StartProxyOptions = {}): Promise<Started> {
  const logger = options.logger ?? pino({ level: process.env.PORTICO_TEST_LOG ?? 'silent' });
  const proxy = new ProxyServer(resolveConfig({ listen: '127.0.0.1:0', admin: false, ...config }), logger, { clock: options.clock });
  await proxy.listen();
  return { proxy, port: proxy.addresses()[0].port, close: () => proxy.close(200) };
}

/** A node:http origin; `handler` answers, every request is recorded. */
export async function startHttpOrigin(handler: http.RequestListener): Promise<{ port: number; server: http.Server; close(): Promise<void> }> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 5000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return { port, server, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

export interface RawRequest {
  raw: Buffer;
  /** connection number (order of accept) */
  conn: number;
}

/** A raw TCP origin: `respond(request head+body so far, socket, connection number)` decides. The
 *  origin records every chunk it receives per connection. */
export async function startRawOrigin(onData: (socket: net.Socket, data: Buffer, conn: number) => void): Promise<{ port: number; received: Buffer[][]; connections: net.Socket[]; close(): Promise<void> }> {
  const received: Buffer[][] = [];
  const connections: net.Socket[] = [];
  const server = net.createServer((s) => {
    const conn = connections.length;
    connections.push(s);
    received.push([]);
    s.on('data', (d) => { received[conn].push(d); onData(s, d, conn); });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port, received, connections,
    close: () => new Promise<void>((r) => { for (const c of connections) c.destroy(); server.close(() => r()); }),
  };
}

export interface Response {
  status: number;
  version: string;
  reason: string;
  /** [name, value] pairs as received. */
  headers: Array<[string, string]>;
  body: Buffer;
  rawHead: string;
  /** How the body was delimited. */
  framing: 'length' | 'chunked' | 'close' | 'none';
  complete: boolean;
}

export const header = (r: Response, name: string): string[] => r.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);

/** A raw client connection with an incremental response reader. */
export class RawClient {
  readonly socket: net.Socket;
  #buf = Buffer.alloc(0);
  closed = false;
  readonly responses: Response[] = [];
  readonly interim: Response[] = [];
  #methods: string[] = [];
  #waiters: Array<() => void> = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => { this.#buf = Buffer.concat([this.#buf, d]); this.#parse(); this.#wake(); });
    socket.on('close', () => { this.closed = true; this.#parse(true); this.#wake(); });
    socket.on('error', () => {});
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** A TLS connection (options: servername, ca...); resolves once the handshake is done. */
  static connectTls(port: number, options: tls.ConnectionOptions = {}): Promise<RawClient & { socket: tls.TLSSocket }> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ port, host: '127.0.0.1', ...options }, () => resolve(new RawClient(s) as RawClient & { socket: tls.TLSSocket }));
      s.once('error', reject);
    });
  }

  /** Sends raw bytes; `methods` are the request methods in order (HEAD responses have no body). */
  send(data: string | Buffer, ...methods: string[]): void {
    this.#methods.push(...(methods.length ? methods : ['GET']));
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Waits until `n` responses arrived (or the connection closed, or `ms` passed). */
  async read(n = 1, ms = 5000): Promise<Response[]> {
    const deadline = Date.now() + ms;
    while (this.responses.length < n && !this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => { this.#waiters.push(r); setTimeout(r, Math.max(1, deadline - Date.now())); });
    }
    return this.responses;
  }

  async waitClose(ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise<void>((r) => { this.#waiters.push(r); setTimeout(r, Math.max(1, deadline - Date.now())); });
    return this.closed;
  }

  get pendingBytes(): number { return this.#buf.length; }

  destroy(): void { this.socket.destroy(); }

  #parse(atClose = false): void {
    for (;;) {
      const end = this.#buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const rawHead = this.#buf.subarray(0, end).toString('latin1');
      const [statusLine, ...lines] = rawHead.split('\r\n');
      const m = /^HTTP\/(\d\.\d) (\d{3}) ?(.*)$/.exec(statusLine);
      if (!m) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
      const headers = lines.map((l) => { const i = l.indexOf(':'); return [l.slice(0, i), l.slice(i + 1).trim()] as [string, string]; });
      const status = Number(m[2]);
      const r: Response = { status, version: m[1], reason: m[3], headers, body: Buffer.alloc(0), rawHead, framing: 'none', complete: false };
      let rest = this.#buf.subarray(end + 4);
      if (status < 200 && status !== 101) {
        this.interim.push({ ...r, complete: true });
        this.#buf = rest;
        continue;
      }
      const method = this.#methods[this.responses.length] ?? 'GET';
      const cl = header(r, 'content-length')[0];
      const te = header(r, 'transfer-encoding')[0];
      if (method === 'HEAD' || status === 204 || status === 304 || status === 101) {
        r.complete = true;
      } else if (te && /chunked$/i.test(te)) {
        r.framing = 'chunked';
        const parts: Buffer[] = [];
        let p = 0;
        for (;;) {
          const le = rest.indexOf('\r\n', p);
          if (le < 0) break;
          const size = parseInt(rest.subarray(p, le).toString('latin1'), 16);
          if (Number.isNaN(size)) throw new Error('bad chunk size from proxy');
          if (size === 0) {
            const te2 = rest.indexOf('\r\n\r\n', le - 2 < p ? p : le - 2);
            if (te2 < 0) break;
            p = te2 + 4;
            r.complete = true;
            break;
          }
          if (rest.length < le + 2 + size + 2) break;
          parts.push(rest.subarray(le + 2, le + 2 + size));
          p = le + 2 + size + 2;
        }
        r.body = Buffer.concat(parts);
        if (!r.complete) {
          if (atClose) { this.responses.push(r); this.#buf = Buffer.alloc(0); }
          return;
        }
        rest = rest.subarray(p);
      } else if (cl !== undefined) {
        r.framing = 'length';
        const n = Number(cl);
        if (rest.length < n) {
          if (atClose) { r.body = rest; this.responses.push(r); this.#buf = Buffer.alloc(0); }
          return;
        }
        r.body = rest.subarray(0, n);
        r.complete = true;
        rest = rest.subarray(n);
      } else {
        r.framing = 'close';
        if (!atClose) return;
        r.body = rest;
        r.complete = true;
        rest = Buffer.alloc(0);
      }
      this.responses.push(r);
      this.#buf = rest;
    }
  }
}

/** A loopback port on which nothing listens (bound, then released). */
export async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** GET through node:http on loopback: status and body. `agent: false`: a connection of its own
 *  (a new accept for every call). */
export function httpGet(port: number, path: string, agent: http.Agent | false, ms = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: ms }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One request on a new connection; returns the response. */
export async function request(port: number, raw: string | Buffer, method = 'GET', ms = 5000): Promise<Response & { client: RawClient }> {
  const c = await RawClient.connect(port);
  c.send(raw, method);
  await c.read(1, ms);
  const r = c.responses[0];
  c.destroy();
  if (!r) throw new Error(`no response (closed=${c.closed})`);
  return { ...r, client: c };
}
