// Set-up of the route history tests on the file store: an admin app over a config file in a
// temporary directory, restartable on the same file (a restart of `portico`).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../admin/api/app.js';
import { h, makeConfig, makeContext, tempDir, type TestContext } from '../admin/helpers.js';

export const A = { id: 'a', pathPrefix: '/a', upstreams: ['http://127.0.0.1:8081'] };
export const B = { id: 'b', pathPrefix: '/b', upstreams: ['http://127.0.0.1:8082'] };
export const C = { id: 'c', pathPrefix: '/c', upstreams: ['http://127.0.0.1:8083'], stripPrefix: true };

export interface FileAdmin {
  app: FastifyInstance;
  ctx: TestContext;
  path: string;
  dir: string;
  /** Closes the app and starts a new one on the config file as it is now. */
  restart(): Promise<void>;
  close(): Promise<void>;
  inject(method: string, url: string, payload?: unknown, headers?: Record<string, string>): Promise<{ statusCode: number; headers: Record<string, unknown>; json<T = unknown>(): T; body: string }>;
}

/** `extra`: config members besides the routes (e.g. history: { keep: 3 }). */
export async function startFileAdmin(routes: unknown[], extra: Record<string, unknown> = {}): Promise<FileAdmin> {
  const tmp = tempDir();
  const path = join(tmp.dir, 'portico.json');
  writeFileSync(path, JSON.stringify({ ...extra, routes }, null, 2));
  const boot = async () => {
    const ctx = makeContext({ config: makeConfig(JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>), configPath: path });
    const app = buildAdminApp(ctx, { defaultMetrics: false });
    await app.ready();
    return { ctx, app };
  };
  const self: FileAdmin = {
    ...(await boot()),
    path,
    dir: tmp.dir,
    async restart() {
      await self.app.close();
      Object.assign(self, await boot());
    },
    async close() {
      await self.app.close();
      tmp.cleanup();
    },
    inject(method, url, payload, headers = {}) {
      return self.app.inject({
        method: method as 'GET', url,
        headers: h({ ...(payload !== undefined ? { 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' } : {}), ...headers }),
        ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
      });
    },
  };
  return self;
}

/** A header value carrying UTF-8 bytes (Node reads header values as latin1). */
export function utf8Header(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}
