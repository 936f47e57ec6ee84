// One GET on a connection of its own (a new accept each time, so that over many probes every
// worker behind a shared listener is reached), answered body and timings; the connection stays
// open until close() so that its accepting process can still be found (bench/socket-owner.ts).
import { connect, type Socket } from 'node:net';
import { ResponseReader } from './response-reader.js';

export interface Probe {
  /** performance.now() when the connection was opened, and when the whole response had arrived. */
  sentAt: number;
  endAt: number;
  status: number;
  body: string;
  /** The connection's local port (the server sees it as the remote port). */
  localPort: number;
  close(): void;
}

export function probeFresh(port: number, path: string, host: string, timeoutMs = 10_000): Promise<Probe> {
  const sentAt = performance.now();
  return new Promise((resolve, reject) => {
    const s: Socket = connect({ host: '127.0.0.1', port });
    const reader = new ResponseReader();
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      s.destroy();
      reject(e);
    };
    s.on('connect', () => {
      reader.expect('GET');
      s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    });
    s.on('data', (b: Buffer) => {
      let got;
      try {
        got = reader.feed(b);
      } catch (e) {
        return fail(e as Error);
      }
      if (got.length === 0) return;
      clearTimeout(timer);
      const r = got[0];
      resolve({ sentAt, endAt: performance.now(), status: r.status, body: r.body.toString('utf8'), localPort: s.localPort ?? 0, close: () => s.destroy() });
    });
    s.on('error', fail);
    s.on('end', () => fail(new Error('closed before an answer')));
  });
}
