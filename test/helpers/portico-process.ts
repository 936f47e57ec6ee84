// The built `portico` bin (dist/admin/cli/portico.js) as a child process: started, waited for, killed by
// pid. Needs `npm run build` (CI builds before testing).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sleep } from './harness.js';

export const BIN = join(resolve(import.meta.dirname, '../..'), 'dist/admin/cli/portico.js');
export const binBuilt = existsSync(BIN);

export interface PorticoProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exit: Promise<number | null>;
  /** SIGKILL by pid (no-op once it has exited). */
  kill(): void;
}

export function spawnPortico(args: string[], env: Record<string, string> = {}): PorticoProcess {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return {
    child, exit, stdout: () => out, stderr: () => err,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
      }
    },
  };
}

/** Runs a command that exits by itself (bounded). */
export async function runPortico(args: string[], env: Record<string, string> = {}, ms = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnPortico(args, env);
  const code = await Promise.race([p.exit, sleep(ms).then(() => 'timeout' as const)]);
  if (code === 'timeout') {
    p.kill();
    throw new Error(`portico ${args.join(' ')} did not exit within ${ms} ms; stderr: ${p.stderr()}`);
  }
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** Waits for the "listening on" (and, unless --admin off, "admin API on") lines. */
export async function startedPortico(p: PorticoProcess, withAdmin: boolean, ms = 20_000): Promise<{ proxyUrl: string; adminUrl?: string }> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && p.child.exitCode === null) {
    const proxy = /listening on (http:\/\/\S+)/.exec(p.stderr());
    const admin = /admin API on (https?:\/\/[^\s,)]+)/.exec(p.stderr());
    if (proxy && (admin || !withAdmin)) return { proxyUrl: proxy[1], adminUrl: admin?.[1] };
    await sleep(20);
  }
  throw new Error(`portico did not start: ${p.stderr()}`);
}
