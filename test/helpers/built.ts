// Tests of the `portico` command run dist/: build it when it is missing or older than the sources.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestMtime(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** Builds everything when the wasm is missing, else reruns tsc when `entry` is older than any
 *  .ts file under `sourceDirs` (relative to the repository root). */
export function ensureBuilt(entry: string, sourceDirs: string[]): void {
  if (!existsSync(join(ROOT, 'build/portico.wasm'))) {
    spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
  } else if (!existsSync(entry) || statSync(entry).mtimeMs < Math.max(...sourceDirs.map((d) => newestMtime(join(ROOT, d))))) {
    // type errors elsewhere (work in progress) do not stop tsc from emitting
    spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'ignore' });
  }
}

export interface Captured { child: ChildProcess; stdout: () => string; stderr: () => string; exit: Promise<number | null> }

/** `node ARGS...` from the repository root, its output collected. */
export function spawnNode(args: string[], env?: NodeJS.ProcessEnv): Captured {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}
