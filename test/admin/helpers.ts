// Shared set-up for the admin API tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { resolveConfig, type Config } from '../../src/config/config.js';
import { ProxyServer } from '../../src/server/proxy-server.js';
import type { Problem } from '../../admin/protocol/problem.js';
import type { AdminContext } from '../../admin/api/admin-context.js';
import { InProcessDataPlane } from '../../admin/cluster/in-process.js';

export const TOKEN = 'test-token-0123456789abcdef';
export const silent = pino({ level: 'silent' });

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'portico-admin-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function makeConfig(raw: Record<string, unknown> = {}): Config {
  return resolveConfig({ listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:9090' }, logLevel: 'silent', ...structuredClone(raw) });
}

/** An admin context on an in-process proxy (`proxy`: the same ProxyServer, for assertions). */
export type TestContext = AdminContext & { proxy: ProxyServer };

export function makeContext(opts: { config?: Config; configPath?: string; token?: string | null; listen?: string } = {}): TestContext {
  const config = opts.config ?? makeConfig();
  const proxy = new ProxyServer(config, silent);
  return {
    proxy,
    dataPlane: new InProcessDataPlane(proxy),
    config,
    configPath: opts.configPath,
    listen: opts.listen ?? '127.0.0.1:9090',
    token: opts.token === null ? undefined : (opts.token ?? TOKEN),
    logger: silent,
  };
}

/** Headers for an inject() call against an app whose listen address is 127.0.0.1:9090. */
export function h(extra: Record<string, string> = {}, auth = true): Record<string, string> {
  return { host: '127.0.0.1:9090', ...(auth ? { authorization: `Bearer ${TOKEN}` } : {}), ...extra };
}

/** A tiny origin that answers `name path` (and waits ?delay=ms first). */
export async function startOrigin(name: string): Promise<{ server: http.Server; url: string; port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const delay = Number(u.searchParams.get('delay') ?? 0);
    const answer = () => {
      const body = `${name} ${u.pathname}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    req.resume();
    req.on('end', () => (delay ? setTimeout(answer, delay) : answer()));
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

export interface AdminReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The body parsed (a problem document unless told otherwise). */
  json<T = Problem>(): T;
}

export interface AdminCallOptions {
  method?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** https: the CA to verify the admin API's certificate with, a client certificate and key. */
  ca?: string;
  cert?: string;
  key?: string;
  /** The client's own address (another 127.0.0.0/8 address counts as another client). */
  localAddress?: string;
  /** Ask for a persistent connection (so that the answer says whether the server closes it). */
  keepAlive?: boolean;
  /** TLS SNI (none by default: the URL's host is an IP address). */
  servername?: string;
}

/** One request on a new connection to a running admin API (http: or https: URL). */
export function adminCall(url: string, o: AdminCallOptions = {}): Promise<AdminReply> {
  const u = new URL(url);
  const headers: Record<string, string> = { ...(o.token !== undefined ? { authorization: `Bearer ${o.token}` } : {}), ...o.headers };
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  if (payload !== undefined) headers['content-type'] ??= 'application/json';
  const mod = u.protocol === 'https:' ? https : http;
  const agent = o.keepAlive ? new mod.Agent({ keepAlive: true }) : false;
  const options: https.RequestOptions = {
    method: o.method ?? 'GET', host: u.hostname, port: u.port, path: u.pathname + u.search, headers, agent,
    localAddress: o.localAddress, ca: o.ca, cert: o.cert, key: o.key, servername: o.servername, timeout: 20_000,
  };
  return new Promise((resolve, reject) => {
    const req = mod.request(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => {
        if (agent) agent.destroy();
        resolve({ status: res.statusCode!, headers: res.headers, body, json: <T>() => JSON.parse(body) as T });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${options.method} ${url}: no answer in 20 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** A logger whose JSON lines are kept (to check what the admin API logs). */
export function capturingLogger(): { logger: pino.Logger; lines: () => Array<Record<string, unknown>>; text: () => string } {
  let text = '';
  const logger = pino({ level: 'debug' }, { write: (s: string) => { text += s; } });
  return { logger, text: () => text, lines: () => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** The admin API on 127.0.0.1:0 (with `admin` settings) in front of an in-process proxy. */
export async function startAdminWith(admin: Record<string, unknown>, o: { token?: string | null; logger?: pino.Logger } = {}): Promise<{ url: string; proxy: ProxyServer; close: () => Promise<void> }> {
  const { startAdmin } = await import('../../admin/api/start-admin.js');
  const config = makeConfig({ admin: { listen: '127.0.0.1:0', ...admin } });
  const proxy = new ProxyServer(config, silent);
  await proxy.listen();
  try {
    const handle = await startAdmin({ dataPlane: new InProcessDataPlane(proxy), config, configPath: undefined, listen: '127.0.0.1:0', token: o.token === null ? undefined : (o.token ?? TOKEN), logger: o.logger ?? silent });
    return { url: handle.url, proxy, close: async () => { await handle.close(); await proxy.close(0); } };
  } catch (e) {
    await proxy.close(0);
    throw e;
  }
}
