// scripts/provision-test-deps.mjs, the `pretest` step of `npm test`: what it decides for each case,
// and the script itself run as a user who is not root with a PATH that lacks a tool (a directory
// of links to the real tools but one), so nothing is uninstalled to test it.
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TOOLS, onPath, plan } from '../scripts/provision-test-deps.mjs';

const SCRIPT = resolve(import.meta.dirname, '../scripts/provision-test-deps.mjs');
const NOBODY = 65534;
const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const tool = (command: string) => TOOLS.find((t) => t.command === command)!;

/** Where `command` is on this machine's PATH. */
function located(command: string): string {
  const dir = (process.env.PATH ?? '').split(':').find((d) => d !== '' && onPath(command, d));
  if (!dir) throw new Error(`${command} is not installed here (npm test's pretest installs it)`);
  return join(dir, command);
}

/** A directory holding links to the real `commands` only, to use as PATH. */
function pathWith(commands: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'portico-path-'));
  dirs.push(dir);
  chmodSync(dir, 0o755);
  for (const c of commands) symlinkSync(located(c), join(dir, c));
  return dir;
}

/** The script run by node with `path` as PATH, as a user who is not root. */
function runAsUser(path: string) {
  const asNobody = process.getuid?.() === 0 ? { uid: NOBODY, gid: NOBODY } : {};
  return spawnSync(process.execPath, [SCRIPT], { env: { PATH: path, HOME: tmpdir() }, encoding: 'utf8', timeout: 30_000, ...asNobody });
}

describe('provision-test-deps: what it decides', () => {
  it('nothing to do when every tool is there', () => {
    expect(plan({ missing: [], isRoot: false, hasAptGet: true })).toEqual({ action: 'none' });
  });

  it('root with apt-get: installs the packages of the missing tools, each package once, and says so in one line', () => {
    const step = plan({ missing: [tool('etcd'), tool('pebble'), tool('pebble-challtestsrv')], isRoot: true, hasAptGet: true });
    expect(step).toMatchObject({ action: 'install', packages: ['etcd-server', 'pebble'] });
    expect(step.action === 'install' && step.line).toMatch(/^npm test: installing etcd-server pebble with apt-get for etcd \(the etcd store tests\), pebble/);
  });

  it('not root: stops with the one apt-get command to run', () => {
    const step = plan({ missing: [tool('h2load'), tool('chromium')], isRoot: false, hasAptGet: true });
    expect(step.action).toBe('stop');
    expect(step.action === 'stop' && step.line).toContain('run `sudo apt-get install -y nghttp2-client chromium`, then run npm test again');
  });

  it('no apt-get (root or not): stops naming the tools and their Debian packages', () => {
    for (const isRoot of [true, false]) {
      const step = plan({ missing: [tool('wrk')], isRoot, hasAptGet: false });
      expect(step.action === 'stop' && step.line).toBe('npm test needs wrk (the soak test), not installed, and there is no apt-get here: install wrk (Debian/Ubuntu packages: wrk), then run npm test again');
    }
  });

  it('lists every tool the suites start, with its Debian package', () => {
    expect(TOOLS.map((t) => `${t.command}:${t.pkg}`)).toEqual([
      'etcd:etcd-server', 'openssl:openssl', 'curl:curl', 'wrk:wrk', 'h2load:nghttp2-client',
      'pebble:pebble', 'pebble-challtestsrv:pebble', 'chromium:chromium',
    ]);
  });
});

describe('provision-test-deps: the script', () => {
  const all = TOOLS.map((t) => t.command);

  it('with every tool on PATH: exit 0, silent', () => {
    const r = runAsUser(pathWith([...all, 'apt-get']));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toBe('');
  });

  it('without h2load, not root: exit 1 at once with one line naming the command to run', () => {
    const r = runAsUser(pathWith([...all.filter((c) => c !== 'h2load'), 'apt-get']));
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      'npm test needs h2load (the HTTP/2 tests), not installed: run `sudo apt-get install -y nghttp2-client`, then run npm test again',
    ]);
  });
});
