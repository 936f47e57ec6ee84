// Shared set-up for the admin API tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { resolveConfig, type Config } from '../../src/config/config.js';
import { ProxyServer } from '../../src/server/proxy-server.js';
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
