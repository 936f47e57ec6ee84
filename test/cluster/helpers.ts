// `portico --workers N` as a user runs it: the package bin (dist/admin/cli/portico.js) in a child process,
// with real origins and real clients on loopback. Every process (primary and workers, by pid) is
// killed afterwards.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Pool } from 'undici';
import { httpGet, sleep } from '../helpers/harness.js';
import { ROOT, spawnNode } from '../helpers/built.js';

export const BIN = join(ROOT, 'dist/admin/cli/portico.js');
export const TOKEN = 'cluster-test-token-0123456789';

export interface WorkerEntry { slot: number; pid: number | null; state: string; revision: number | null; uptimeS: number; connections: number | null; restarts: number; crashes?: number; nextStartInMs?: number }
export interface Status { revision: number; mode: string; workers: WorkerEntry[]; rollingRestart?: { state: string; error?: string }; store: { type: string; connected: boolean; revision: number } }

/** Every pid seen (primaries and workers), killed by `killAll`. */
const pids = new Set<number>();
const children: ChildProcess[] = [];

export function killAll(): void {
  for (const c of children.splice(0)) if (c.pid !== undefined) pids.add(c.pid);
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  pids.clear();
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface Portico {
  child: ChildProcess;
  /** Proxy port and admin base URL. */
  port: number;
  admin: string;
  stdout(): string;
  stderr(): string;
  exit: Promise<number | null>;
  status(): Promise<Status>;
  /** An admin request with the token; JSON body. */
  call(method: string, path: string, body?: unknown, type?: string): Promise<{ status: number; headers: Headers; body: string }>;
}

export async function startPortico(args: string[]): Promise<Portico> {
  const { child, stdout, stderr, exit } = spawnNode(['--max-semi-space-size=2', BIN, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...args], { ...process.env, PORTICO_ADMIN_TOKEN: TOKEN });
  children.push(child);
  const deadline = Date.now() + 60_000;
  while (!/admin API on (\S+)/.test(stderr())) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`portico did not start: ${stderr()}`);
    await sleep(50);
  }
  const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr())![1]);
  const admin = /admin API on (\S+)/.exec(stderr())![1];
  const call: Portico['call'] = async (method, path, body, type = 'application/json') => {
    const res = await fetch(admin + path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': type } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, headers: res.headers, body: await res.text() };
  };
  const status = async () => {
    const s = (await (await fetch(`${admin}/v1/status`)).json()) as Status;
    for (const w of s.workers) if (w.pid !== null) pids.add(w.pid);
    return s;
  };
  const p: Portico = { child, port, admin, stdout, stderr, exit, status, call };
  await status();
  return p;
}

/** Requests that the origin answers after a delay, each on a connection of its own, sent until
 *  both workers hold some at once (which one accepts is the kernel's choice: up to 40 are sent):
 *  resolves with all their results, so both workers served some of them. */
export async function spreadOverWorkers<T>(p: Pick<Portico, 'status'>, send: () => Promise<T>): Promise<T[]> {
  const inFlight: Array<Promise<T>> = [];
  const open = (st: Pick<Status, 'workers'>) => st.workers.map((w) => w.connections ?? 0);
  let both = false;
  while (!both && inFlight.length < 40) {
    const batch = inFlight.length === 0 ? 8 : 2;
    for (let i = 0; i < batch; i++) inFlight.push(send());
    const st = await until(() => p.status(), (s) => open(s).reduce((a, b) => a + b, 0) === inFlight.length, 10_000);
    both = open(st).every((n) => n > 0);
  }
  const results = await Promise.all(inFlight);
  if (!both) throw new Error(`${inFlight.length} connections did not reach both workers`);
  return results;
}

/** Polls until `cond` holds (or `ms` pass); returns the last value. */
export async function until<T>(get: () => Promise<T>, cond: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await get();
  while (!cond(v) && Date.now() < deadline) {
    await sleep(50);
    v = await get();
  }
  return v;
}

/** One request on a connection of its own (no keep-alive): a new accept for every call. */
export function getFresh(port: number, path: string, ms = 20_000): Promise<{ status: number; body: string }> {
  return httpGet(port, path, false, ms);
}

export interface Load { ok: number; failed: number; failures: Array<{ at: number; error: string }>; stop(): Promise<void> }

/** Keep-alive load: `connections` loops of GET `path` until stopped. A failed request is counted
 *  (with its time) and the loop goes on. */
export function startLoad(port: number, path: string, connections: number): Load {
  // bounded waits: a request that never gets an answer is a failure, not a hung test
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections, pipelining: 1, headersTimeout: 15_000, bodyTimeout: 15_000 });
  let running = true;
  const load: Load = { ok: 0, failed: 0, failures: [], stop: async () => {} };
  const loops = Array.from({ length: connections }, async () => {
    while (running) {
      try {
        const res = await pool.request({ path, method: 'GET' });
        const text = await res.body.text();
        if (res.statusCode === 200) load.ok++;
        else throw new Error(`${res.statusCode} ${text}`);
      } catch (e) {
        load.failed++;
        load.failures.push({ at: Date.now(), error: (e as Error).message });
        await sleep(10);
      }
    }
  });
  load.stop = async () => {
    running = false;
    await Promise.all(loops);
    await pool.close();
  };
  return load;
}

/** Total of a Prometheus series (all label sets whose text contains `labels`). */
export function metricSum(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (labels && !rest.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
