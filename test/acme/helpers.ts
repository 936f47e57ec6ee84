// The `portico` bin as a user runs it for automatic HTTPS: a config file in a directory of its own
// (the ACME account and certificates are kept next to it), started from that directory, with its
// TLS listener's state read from GET /v1/tls. Every process started (and its workers, by pid) is
// killed by killAcmePorticos().
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { sleep } from '../helpers/harness.js';
import { BIN, type Status } from '../cluster/helpers.js';
import type { AcmeNameView, AcmeStatus } from '../../admin/acme/acme-manager.js';

export const TOKEN = 'acme-test-token-0123456789';

const pids = new Set<number>();

export function killAcmePorticos(): void {
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  pids.clear();
}

export type NameState = AcmeNameView;
export type AcmeState = AcmeStatus;

export interface AcmePortico {
  child: ChildProcess;
  admin: string;
  stderr(): string;
  stdout(): string;
  /** JSON log lines (stdout). */
  lines(): Array<Record<string, unknown>>;
  acme(): Promise<AcmeState>;
  name(name: string): Promise<NameState | undefined>;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }>;
  status(): Promise<Status>;
  /** SIGKILL the primary and its workers. */
  kill(): Promise<void>;
}

/** Writes `config` to DIR/portico.json and starts `portico --config portico.json` in DIR. */
export async function startAcmePortico(dir: string, config: Record<string, unknown>, args: string[] = []): Promise<AcmePortico> {
  writeFileSync(join(dir, 'portico.json'), JSON.stringify(config, null, 2));
  const child = spawn(process.execPath, ['--max-semi-space-size=2', BIN, '--config', 'portico.json', '--admin', '127.0.0.1:0', ...args], {
    cwd: dir, env: { ...process.env, PORTICO_ADMIN_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid !== undefined) pids.add(child.pid);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  const deadline = Date.now() + 60_000;
  while (!/admin API on (\S+)/.test(err)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`portico did not start: ${err}`);
    await sleep(50);
  }
  const admin = /admin API on (\S+)/.exec(err)![1];
  const call: AcmePortico['call'] = async (method, path, body) => {
    const res = await fetch(admin + path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: await res.text() };
  };
  const acme = async () => (JSON.parse((await call('GET', '/v1/tls')).body) as { acme: AcmeState }).acme;
  const status: AcmePortico['status'] = async () => {
    const s = JSON.parse((await call('GET', '/v1/status')).body) as Status;
    for (const w of s.workers) if (w.pid !== null) pids.add(w.pid);
    return s;
  };
  await status();
  return {
    child, admin, call, acme, status,
    stderr: () => err,
    stdout: () => out,
    lines: () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>),
    name: async (name) => (await acme()).names.find((n) => n.name === name),
    kill: async () => {
      const { workers } = await status().catch(() => ({ workers: [] as Status['workers'] }));
      for (const pid of [child.pid, ...workers.map((w) => w.pid)]) {
        if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
      await exited;
    },
  };
}

/** Polls `get` until `cond` holds; throws with the last value after `ms`. */
export async function waitFor<T>(what: string, get: () => Promise<T>, cond: (v: T) => boolean, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await get();
  while (!cond(v)) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${ms} ms; last: ${JSON.stringify(v)}`);
    await sleep(200);
    v = await get();
  }
  return v;
}

/** One HTTPS request on a new connection, verifying the server against `ca` for `servername`:
 *  the fingerprint of the certificate presented, and the status. */
export function httpsGet(port: number, servername: string, ca: string, path = '/', ms = 20_000): Promise<{ fingerprint: string; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, servername, headers: { host: servername }, ca, agent: false, timeout: ms }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ fingerprint, status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
