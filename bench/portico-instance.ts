// The built `portico` bin as a tracked child process (bench/procs.ts: stopped by its pid) on
// fixed loopback ports, so that it can be killed and started again where its clients expect it;
// with the admin API on and a token. Used by bench/etcd-fleet.ts and bench/history.ts.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { spawnTracked, type Tracked } from './procs.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(ROOT, 'dist/admin/cli/portico.js');
export const ADMIN_TOKEN = 'bench-token-0123456789abcdef';

export interface InstanceSpec {
  name: string;
  /** What the routes come from: ['--config', FILE] or ['--store', 'etcd://...']. */
  source: string[];
  /** Other arguments (e.g. ['--workers', '2']). */
  extra?: string[];
  /** Fixed ports (a restart passes the previous ones); free ones from the OS when absent. */
  port?: number;
  adminPort?: number;
}

export interface Instance {
  spec: Required<InstanceSpec>;
  proc: Tracked;
  port: number;
  admin: string;
  /** An admin API request with the token; JSON body. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; text: string }>;
}

export async function startInstance(s: InstanceSpec, timeoutMs = 60_000): Promise<Instance> {
  const spec: Required<InstanceSpec> = { extra: [], ...s, port: s.port ?? await freePort(), adminPort: s.adminPort ?? await freePort() };
  const proc = spawnTracked(spec.name, process.execPath, [BIN, ...spec.source, '--listen', `127.0.0.1:${spec.port}`, '--admin', `127.0.0.1:${spec.adminPort}`, '--log-level', 'warn', ...spec.extra],
    { env: { ...process.env, PORTICO_ADMIN_TOKEN: ADMIN_TOKEN } });
  await proc.waitForLine(/admin API on/, timeoutMs);
  const admin = `http://127.0.0.1:${spec.adminPort}`;
  return {
    spec, proc, port: spec.port, admin,
    async call(method, path, body, headers = {}) {
      const res = await fetch(admin + path, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(30_000),
      });
      return { status: res.status, headers: res.headers, text: await res.text() };
    },
  };
}
