// The `portico` command as a user runs it: `node dist/src/cli/main.js` (built by `npm run build`;
// rebuilt here with tsc when src/ is newer than dist/). Every child is killed by pid afterwards.
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import net from 'node:net';
import { startHttpOrigin, RawClient, sleep } from '../helpers/harness.js';
import { ensureBuilt, spawnNode, type Captured } from '../helpers/built.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist/src/cli/main.js');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

beforeAll(() => {
  ensureBuilt(MAIN, ['src']);
  expect(existsSync(MAIN)).toBe(true);
}, 120_000);

const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
let tmp: string | undefined;
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try { process.kill(c.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }
  for (const c of cleanups.splice(0).reverse()) await c();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
});

type Run = Captured;

function portico(args: string[]): Run {
  const run = spawnNode([MAIN, ...args]);
  children.push(run.child);
  return run;
}

async function finished(args: string[], ms = 10_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = portico(args);
  const code = await Promise.race([r.exit, sleep(ms).then(() => 'timeout' as const)]);
  if (code === 'timeout') throw new Error(`portico ${args.join(' ')} did not exit within ${ms} ms; stderr: ${r.stderr()}`);
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

function configFile(content: unknown): string {
  tmp ??= mkdtempSync(join(tmpdir(), 'portico-cli-'));
  const p = join(tmp, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(20);
  return cond();
}

/** Starts portico on an ephemeral port and returns the port it printed. */
async function running(args: string[]): Promise<{ run: Run; port: number }> {
  const run = portico(['--listen', '127.0.0.1:0', '--admin', 'off', ...args]);
  const re = /listening on http:\/\/127\.0\.0\.1:(\d+)/;
  const ok = await waitFor(() => re.test(run.stderr()) || run.child.exitCode !== null, 10_000);
  const m = re.exec(run.stderr());
  if (!ok || !m) throw new Error(`portico did not start: ${run.stderr()}`);
  return { run, port: Number(m[1]) };
}

describe('portico command: usage and validation', () => {
  it('--help prints the usage and exits 0', async () => {
    const r = await finished(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: portico/);
    expect(r.stdout).toContain('--route PREFIX=URL');
    expect(r.stdout).toContain('Exit codes');
  });

  it('--version prints the package version and exits 0', async () => {
    const r = await finished(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`portico ${VERSION}`);
  });

  it('an unknown flag exits 2 naming the flag', async () => {
    const r = await finished(['--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--bogus');
    expect(r.stderr).toContain('Usage: portico');
  });

  it('a stray positional argument exits 2', async () => {
    const r = await finished(['serve']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('serve');
  });

  it('--check with a bad field exits 2 naming the field and why', async () => {
    const r = await finished(['--check', '--config', configFile({ limits: { maxLineBytes: 10 } })]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/limits/maxLineBytes');
    expect(r.stderr).toMatch(/>= 64/);
  });

  it('--check with an unknown setting exits 2 naming it', async () => {
    const r = await finished(['--check', '--config', configFile({ timeouts: { idelMs: 5 } })]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/timeouts/idelMs');
    expect(r.stderr).toContain('not a known setting');
  });

  it('--check with a file that is not JSON exits 2', async () => {
    const r = await finished(['--check', '--config', configFile('{"listen": ')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not valid JSON/);
  });

  it('--check with a valid config exits 0', async () => {
    const file = configFile({ listen: '127.0.0.1:0', admin: false, routes: [{ id: 'a', pathPrefix: '/api', upstreams: ['http://127.0.0.1:3000'] }] });
    const r = await finished(['--check', '--config', file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('configuration OK (1 route(s))');
  });

  it('a --route with a bad URL exits 2 naming the route', async () => {
    const r = await finished(['--listen', '127.0.0.1:0', '--admin', 'off', '--route', '/api=ftp://127.0.0.1:1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/routes/0/upstreams/0');
    expect(r.stderr).toContain('unsupported scheme');
  });

  it('a --route without PREFIX=URL exits 2', async () => {
    const r = await finished(['--listen', '127.0.0.1:0', '--admin', 'off', '--route', 'http://127.0.0.1:1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('PREFIX=URL');
  });

  it('a busy --listen port exits 1 with "already in use"', async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
    const port = (s.address() as net.AddressInfo).port;
    const r = await finished(['--listen', `127.0.0.1:${port}`, '--admin', 'off', '--log-level', 'silent']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('already in use');
    expect(r.stderr).toContain(String(port));
  });
});

describe('portico command: running', () => {
  it('prints where it listens and forwards a request; SIGTERM exits 0', async () => {
    const o = await startHttpOrigin((req, res) => res.end(`origin saw ${req.url}`));
    cleanups.push(() => o.close());
    const { run, port } = await running(['--route', `/api=http://127.0.0.1:${o.port}`, '--log-level', 'silent']);
    expect(run.stderr()).toContain('curl');
    const c = await RawClient.connect(port);
    cleanups.push(() => c.destroy());
    c.send('GET /api/x?y=1 HTTP/1.1\r\nHost: example.test\r\n\r\n');
    const [r] = await c.read(1, 5000);
    expect(r?.status).toBe(200);
    expect(r.body.toString()).toBe('origin saw /api/x?y=1');
    c.destroy();
    run.child.kill('SIGTERM');
    expect(await Promise.race([run.exit, sleep(5000).then(() => 'timeout')])).toBe(0);
  });

  it('SIGTERM lets an in-flight request finish, then exits 0', async () => {
    let got = false;
    const o = await startHttpOrigin((req, res) => {
      got = true;
      setTimeout(() => res.end('finished after SIGTERM'), 800);
    });
    cleanups.push(() => o.close());
    const { run, port } = await running(['--route', `/=http://127.0.0.1:${o.port}`, '--log-level', 'silent']);
    const c = await RawClient.connect(port);
    cleanups.push(() => c.destroy());
    c.send('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await waitFor(() => got, 5000)).toBe(true);
    run.child.kill('SIGTERM');
    const [r] = await c.read(1, 5000);
    expect(r?.status).toBe(200);
    expect(r.complete).toBe(true);
    expect(r.body.toString()).toBe('finished after SIGTERM');
    expect(await Promise.race([run.exit, sleep(5000).then(() => 'timeout')])).toBe(0);
    expect(run.stderr()).toContain('SIGTERM');
  });

  it('SIGTERM stops accepting new connections while a request is in flight', async () => {
    let got = false;
    const o = await startHttpOrigin((_req, res) => {
      got = true;
      setTimeout(() => res.end('done'), 800);
    });
    cleanups.push(() => o.close());
    const { run, port } = await running(['--route', `/=http://127.0.0.1:${o.port}`, '--log-level', 'silent']);
    const c = await RawClient.connect(port);
    cleanups.push(() => c.destroy());
    c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await waitFor(() => got, 5000)).toBe(true);
    run.child.kill('SIGTERM');
    expect(await waitFor(() => run.stderr().includes('SIGTERM'), 3000)).toBe(true);
    const refused = await new Promise<string>((r) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.once('connect', () => { s.destroy(); r('connected'); });
      s.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? e.message));
    });
    expect(refused).toBe('ECONNREFUSED');
    expect((await c.read(1, 5000))[0]?.status).toBe(200);
    expect(await Promise.race([run.exit, sleep(5000).then(() => 'timeout')])).toBe(0);
  });

  it('SIGTERM closes idle keep-alive connections at once and exits promptly', async () => {
    const o = await startHttpOrigin((_req, res) => res.end('ok'));
    cleanups.push(() => o.close());
    const { run, port } = await running(['--route', `/=http://127.0.0.1:${o.port}`, '--log-level', 'silent']);
    const c = await RawClient.connect(port);
    cleanups.push(() => c.destroy());
    c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await c.read(1))[0]?.status).toBe(200);
    const t0 = Date.now();
    run.child.kill('SIGTERM');
    expect(await c.waitClose(3000)).toBe(true);
    expect(await Promise.race([run.exit, sleep(5000).then(() => 'timeout')])).toBe(0);
    expect(Date.now() - t0).toBeLessThan(4000); // not the 10 s shutdown deadline
  });

  it('SIGTERM exits by timeouts.shutdownMs when a request does not finish', async () => {
    let got = false;
    const o = await startHttpOrigin(() => { got = true; /* never answers */ });
    cleanups.push(() => o.close());
    const file = configFile({ timeouts: { shutdownMs: 500 }, routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${o.port}`] }] });
    const { run, port } = await running(['--config', file, '--log-level', 'silent']);
    const c = await RawClient.connect(port);
    cleanups.push(() => c.destroy());
    c.send('GET /forever HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await waitFor(() => got, 5000)).toBe(true);
    const t0 = Date.now();
    run.child.kill('SIGTERM');
    expect(await Promise.race([run.exit, sleep(6000).then(() => 'timeout')])).toBe(0);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(await c.waitClose(2000)).toBe(true);
    expect(c.responses.filter((r) => r.complete)).toHaveLength(0);
  });
});
