// Loopback servers and clients for the forward-proxy tests.
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { execFile } from 'node:child_process';
import type { ProxyServer } from '../../src/server/proxy-server.js';
import { startProxy } from '../helpers/harness.js';
import type { TestCert } from '../helpers/certs.js';

export const LOOPBACK = ['127.0.0.0/8', '::1/128'];

export interface Seen { method: string; url: string; headers: Record<string, string | string[] | undefined>; rawHeaders: string[]; body: string }

/** An origin that answers every request with a JSON echo of what it received. */
export async function startOrigin(host = '127.0.0.1'): Promise<{ server: http.Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = { method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString() };
      seen.push(s);
      const body = JSON.stringify(s);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await listen(server, host);
  return { server, port: (server.address() as AddressInfo).port, seen };
}

export async function startTlsOrigin(cert: TestCert): Promise<{ server: https.Server; port: number }> {
  const server = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    const body = `secure ${req.method} ${req.url} via ${req.headers.host}`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await listen(server, '127.0.0.1');
  return { server, port: (server.address() as AddressInfo).port };
}

/** A raw TCP echo server. */
export async function startEcho(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await listen(server, '127.0.0.1');
  return { server, port: (server.address() as AddressInfo).port };
}

export function listen(server: net.Server, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
}

export function close(server: net.Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  (server as http.Server).closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A forward proxy (the harness's proxy with forwardProxy enabled) and its http:// URL. */
export async function startForwardProxy(forwardProxy: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<{ proxy: ProxyServer; port: number; url: string }> {
  const { proxy, port } = await startProxy({ forwardProxy: { enabled: true, ...forwardProxy }, ...extra });
  return { proxy, port, url: `http://127.0.0.1:${port}` };
}

export interface CurlResult { code: number | null; status: number; headers: string; body: string; stderr: string }

/** Runs curl through the proxy (`-x`); NO_PROXY in the environment is overridden. */
export function curl(proxyUrl: string, args: string[]): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '15', '--noproxy', '', '-x', proxyUrl, '-D', '-', ...args], { encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      // with -D - and CONNECT, the proxy's "200 Connection Established" head comes first
      const heads: string[] = [];
      let rest = stdout;
      while (/^HTTP\/\S+ \d{3}/.test(rest)) {
        const end = rest.indexOf('\r\n\r\n');
        if (end < 0) break;
        heads.push(rest.slice(0, end));
        rest = rest.slice(end + 4);
      }
      const last = heads[heads.length - 1] ?? '';
      resolve({
        code: err ? (typeof err.code === 'number' ? err.code : 1) : 0,
        status: Number(/^HTTP\/\S+ (\d{3})/.exec(last)?.[1] ?? 0),
        headers: heads.join('\r\n\r\n'),
        body: rest,
        stderr,
      });
    });
  });
}

/** Sends raw bytes to the proxy and collects everything until the proxy closes. */
export function rawExchange(port: number, bytes: string | Buffer, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.setTimeout(10_000, () => s.destroy(new Error('raw exchange timed out')));
    s.write(bytes);
  });
}

/** Reads from a socket until `predicate(all bytes so far)` holds. */
export function readUntil(s: net.Socket, predicate: (b: Buffer) => boolean, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out; got ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`)); }, timeoutMs);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (predicate(buf)) { cleanup(); resolve(buf); }
    };
    const onEnd = () => { cleanup(); reject(new Error(`connection ended; got ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`)); };
    const cleanup = () => { clearTimeout(timer); s.off('data', onData); s.off('end', onEnd); s.off('close', onEnd); };
    s.on('data', onData);
    s.on('end', onEnd);
    s.on('close', onEnd);
  });
}

export function statusOf(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
}

export function ipv6Available(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}
