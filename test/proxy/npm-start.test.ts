// `npm start` as a first-time user (and a service manager) runs it: the demo's state goes to a
// git-ignored copy of portico.config.json, and SIGTERM to npm stops Portico (npm forwards the
// signal to its child only, so the script must exec Portico rather than leave a shell between).
// Runs in a scratch directory holding the package.json, dist/ and a port-0 demo config.
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sleep } from '../helpers/harness.js';

const ROOT = resolve(import.meta.dirname, '../..');

let dir: string | undefined;
let npm: ChildProcess | undefined;
let tree: number[] = [];

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

/** pid and every descendant (Linux /proc). */
function descendants(pid: number): number[] {
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch { /* gone */ }
  return [pid, ...kids.flatMap(descendants)];
}

afterEach(() => {
  for (const pid of [...tree].reverse()) if (alive(pid)) process.kill(pid, 'SIGKILL');
  tree = [];
  npm = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('npm start', () => {
  it.skipIf(process.platform !== 'linux')('copies the demo config to a git-ignored file, and SIGTERM to npm stops Portico', async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-npm-start-'));
    copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    symlinkSync(join(ROOT, 'dist'), join(dir, 'dist'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const demo = { listen: '127.0.0.1:0', admin: false, logLevel: 'info', routes: [{ id: 'demo', pathPrefix: '/', upstreams: ['http://127.0.0.1:1'] }] };
    writeFileSync(join(dir, 'portico.config.json'), JSON.stringify(demo));
    let err = '';
    npm = spawn('npm', ['start', '--silent'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    npm.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<void>((r) => npm!.on('exit', () => r()));
    for (let i = 0; i < 300 && !err.includes('listening on'); i++) await sleep(50);
    expect(err).toContain('listening on');
    tree = descendants(npm.pid!);
    expect(tree.length).toBeGreaterThan(1);
    // the state file is the copy; the tracked demo config stays as it is
    expect(existsSync(join(dir, 'portico.local.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'portico.local.json'), 'utf8'))).toEqual(demo);
    const ignored = readFileSync(join(ROOT, '.gitignore'), 'utf8').split('\n');
    expect(ignored).toContain('portico.local.json');

    npm.kill('SIGTERM');
    await exited;
    for (let i = 0; i < 200 && tree.some(alive); i++) await sleep(50);
    expect(tree.filter(alive), 'processes left running after SIGTERM to npm').toEqual([]);
  }, 30_000);
});
