// The `portico` command as a user runs it: `node dist/admin/cli/portico.js` (built by `npm run build`;
// rebuilt here with tsc when src/ is newer than dist/). Every child is killed by pid afterwards.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import net from 'node:net';
import { startHttpOrigin, RawClient, sleep } from '../helpers/harness.js';
import { ensureBuilt, spawnNode, type Captured } from '../helpers/built.js';
import { TestPki } from '../helpers/certs.js';
import https from 'node:https';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'dist/admin/cli/portico.js');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

beforeAll(() => {
  ensureBuilt(BIN, ['src', 'admin']);
  expect(existsSync(BIN)).toBe(true);
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

interface Spawn { env?: NodeJS.ProcessEnv }

function portico(args: string[], opts: Spawn = {}): Run {
  const env = { ...process.env, ...opts.env };
  if (opts.env && !('PORTICO_ADMIN_TOKEN' in opts.env)) delete env.PORTICO_ADMIN_TOKEN;
  const run = spawnNode([BIN, ...args], env);
  children.push(run.child);
  return run;
}

async function finished(args: string[], ms = 10_000, opts: Spawn = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = portico(args, opts);
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
async function running(args: string[], env: Record<string, string> = {}): Promise<{ run: Run; port: number }> {
  const run = portico(['--listen', '127.0.0.1:0', '--admin', 'off', ...args], { env });
  const re = /listening on http:\/\/127\.0\.0\.1:(\d+)/;
  const ok = await waitFor(() => re.test(run.stderr()) || run.child.exitCode !== null, 10_000);
  const m = re.exec(run.stderr());
  if (!ok || !m) throw new Error(`portico did not start: ${run.stderr()}`);
  return { run, port: Number(m[1]) };
}

/** Portico routing / to an origin that answers "ok", and a client connected to it. */
async function proxyToOkOrigin(logLevel: string): Promise<{ run: Run; c: RawClient }> {
  const o = await startHttpOrigin((_req, res) => res.end('ok'));
  cleanups.push(() => o.close());
  const { run, port } = await running(['--route', `/=http://127.0.0.1:${o.port}`, '--log-level', logLevel]);
  const c = await RawClient.connect(port);
  cleanups.push(() => c.destroy());
  return { run, c };
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

describe('portico command: first-run mistakes are found before anything listens', () => {
  const noToken: Spawn = { env: {} };
  /** Runs with and without --check: both exit 2 with the same message, and nothing listened. */
  async function refused(args: string[], message: string | RegExp, opts: Spawn = noToken): Promise<string> {
    const checked = await finished(['--check', ...args], 10_000, opts);
    const started = await finished(args, 10_000, opts);
    for (const r of [checked, started]) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain('listening');
    }
    return started.stderr;
  }

  it('a short admin token in the file or in PORTICO_ADMIN_TOKEN: exit 2 naming where it came from', async () => {
    const file = configFile({ admin: { listen: '127.0.0.1:0', token: 'short' } });
    const err = await refused(['--config', file, '--listen', '127.0.0.1:0'], /\/admin\/token is too short \(at least 16 characters\)/);
    expect(err).not.toContain('equal to constant');
    await refused(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], /PORTICO_ADMIN_TOKEN is too short \(5 characters; at least 16/, { env: { PORTICO_ADMIN_TOKEN: 'short' } });
  });

  it('a non-loopback admin listener without a token: exit 2 (no generated token there)', async () => {
    await refused(['--listen', '127.0.0.1:0', '--admin', '0.0.0.0:0'], /0\.0\.0\.0:0 \(not a loopback address\) needs a token/);
  });

  it('--config in a directory that does not exist: exit 2 naming the directory', async () => {
    tmp ??= mkdtempSync(join(tmpdir(), 'portico-cli-'));
    const missing = join(tmp, 'no-such-dir', 'portico.json');
    await refused(['--config', missing, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], /the directory .*no-such-dir does not exist/);
  });

  it('--config FILE that does not exist, where nothing would create it (admin API off, or an etcd store): exit 2 naming the file', async () => {
    tmp ??= mkdtempSync(join(tmpdir(), 'portico-cli-'));
    const typo = join(tmp, 'portico.jsn');
    const err = await refused(['--config', typo, '--listen', '127.0.0.1:0', '--admin', 'off'], /--config .*portico\.jsn: no such file/);
    expect(err).toContain('--admin off');
    await refused(['--config', typo, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--store', 'etcd://127.0.0.1:1/portico'], /--config .*portico\.jsn: no such file/);
    expect(existsSync(typo)).toBe(false);
  });

  it('a JSON syntax error: exit 2 with its line and column', async () => {
    const file = configFile('{\n  "listen": "127.0.0.1:0",\n  "admin": false,\n}\n');
    await refused(['--config', file], /is not valid JSON: line 4, column 1: expected a name in double quotes/);
    await refused(['--config', configFile('{\n  "listen": \'127.0.0.1:0\'\n}')], /line 2, column 13: unexpected character/);
  });

  it('workers: a bad count (flag or file), a bad TLS file with workers: exit 2 before any worker starts', async () => {
    await refused(['--workers', '0', '--listen', '127.0.0.1:0', '--admin', 'off'], /--workers "0": expected a number of processes from 1 to 256, or "auto"/);
    await refused(['--config', configFile({ workers: 300, admin: false }), '--listen', '127.0.0.1:0'], /\/workers/);
    tmp ??= mkdtempSync(join(tmpdir(), 'portico-cli-'));
    const missing = join(tmp, 'no-such-cert.pem');
    await refused(['--workers', '2', '--listen', '127.0.0.1:0', '--admin', 'off', '--tls-listen', '127.0.0.1:0', '--tls-cert', missing, '--tls-key', missing], /no-such-cert\.pem/);
  });

  it('--listen with a port out of range: exit 2 saying so', async () => {
    await refused(['--listen', '127.0.0.1:80808', '--admin', 'off'], /\/listen \(--listen\): port 80808 in "127\.0\.0\.1:80808" is out of range/);
  });

  it('--route without a scheme: exit 2 suggesting http://', async () => {
    await refused(['--listen', '127.0.0.1:0', '--admin', 'off', '--route', '/=localhost:3000'], /\/routes\/0\/upstreams\/0 \(route "cli-1"\): .*did you mean "http:\/\/localhost:3000"\?/);
  });

  it('upstream URLs and rewrite prefixes that would reach the wire altered: exit 2 naming the field', async () => {
    const route = { id: 'r', pathPrefix: '/', upstreams: ['http://127.0.0.1:9/x HTTP/1.1\r\nHost: a\r\n\r\nGET /smuggled'] };
    await refused(['--config', configFile({ admin: false, routes: [route] })], /\/routes\/0\/upstreams\/0 \(route "r"\): .*a space at position 20/);
    await refused(['--config', configFile({ admin: false, routes: [{ ...route, upstreams: ['http://127.0.0.1:9/base/%2e%2e/admin'] }] })], /\/routes\/0\/upstreams\/0 .*dot segment/);
    await refused(['--config', configFile({ admin: false, routes: [{ ...route, upstreams: ['http://127.0.0.1:9'], rewritePrefix: '/v2/..' }] })], /\/routes\/0\/rewritePrefix .*dot segment/);
  });

  it('a misspelt key: exit 2 naming it once, with the likely intended key', async () => {
    const err = await refused(['--config', configFile({ listen: '127.0.0.1:0', admin: false, logLevl: 'debug' })], /\/logLevl is not a known setting \(did you mean "logLevel"\?\)/);
    expect(err).not.toContain('//logLevl');
    await refused(['--config', configFile({ admin: false, limits: { maxLineByte: 100 } })], /\/limits\/maxLineByte is not a known setting \(did you mean "maxLineBytes"\?\)/);
  });

  it('a busy admin port: exit 1 before any "listening" line', async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
    const busy = (s.address() as net.AddressInfo).port;
    const r = await finished(['--listen', '127.0.0.1:0', '--admin', `127.0.0.1:${busy}`, '--route', '/=http://127.0.0.1:1'], 10_000, noToken);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`127.0.0.1:${busy} is already in use`);
    expect(r.stderr).not.toMatch(/listening|curl/);
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

  it('writes the access log line of a single request to stdout promptly (not after 4 KiB of log)', async () => {
    const { run, c } = await proxyToOkOrigin('info');
    c.send('GET /first-request HTTP/1.1\r\nHost: example.test\r\n\r\n');
    const [r] = await c.read(1, 5000);
    expect(r?.status).toBe(200);
    // the periodic flush is well under a second; 5 s leaves room for a loaded machine
    expect(await waitFor(() => run.stdout().includes('"target":"/first-request"'), 5000)).toBe(true);
    expect(JSON.parse(run.stdout().trim().split('\n').find((l) => l.includes('/first-request'))!)).toMatchObject({ msg: 'request', status: 200, method: 'GET' });
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
    const { run, c } = await proxyToOkOrigin('silent');
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

describe('portico command: TLS', () => {
  let pki: TestPki;
  beforeAll(() => { pki = new TestPki(); });
  afterAll(() => pki.close());

  it('--tls-listen with --tls-cert/--tls-key pairs serves HTTPS with the certificate chosen by SNI', async () => {
    const a = pki.issue({ names: ['a.test'] });
    const b = pki.issue({ names: ['b.test'] });
    const origin = await startHttpOrigin((req, res) => res.end(`tls ${String(req.headers['x-forwarded-proto'])}`));
    cleanups.push(() => origin.close());
    const { run } = await running(['--tls-listen', '127.0.0.1:0', '--tls-cert', a.cert, '--tls-key', a.key, '--tls-cert', b.cert, '--tls-key', b.key, '--route', `/=http://127.0.0.1:${origin.port}`]);
    const port = Number(/https:\/\/127\.0\.0\.1:(\d+)/.exec(run.stderr())![1]);
    for (const name of ['a.test', 'b.test']) {
      const { stdout } = await promisify(execFile)('curl', ['-sS', '--cacert', pki.caFile, '--resolve', `${name}:${port}:127.0.0.1`, `https://${name}:${port}/`]);
      expect(stdout).toBe('tls https');
    }
  });

  it('an unreadable, invalid or mismatched certificate/key exits 2 naming the file', async () => {
    const a = pki.issue({ names: ['a.test'] });
    const b = pki.issue({ names: ['b.test'] });
    const bad = join(pki.dir, 'garbage.pem');
    writeFileSync(bad, '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n');
    const cases: Array<[string[], string]> = [
      [['--tls-cert', join(pki.dir, 'missing.pem'), '--tls-key', a.key], `${join(pki.dir, 'missing.pem')}: ENOENT`],
      [['--tls-cert', bad, '--tls-key', a.key], `certificate file ${bad} is not a valid PEM certificate`],
      [['--tls-cert', a.cert, '--tls-key', b.key], `key file ${b.key} does not match certificate file ${a.cert}`],
      [['--tls-cert', a.cert], '--tls-cert and --tls-key come in pairs'],
    ];
    for (const [flags, message] of cases) {
      const r = await finished(['--listen', '127.0.0.1:0', '--admin', 'off', '--tls-listen', '127.0.0.1:0', ...flags]);
      expect(r.code, message).toBe(2);
      expect(r.stderr).toContain(message);
    }
  });

  it('https:// upstreams are verified against Node\'s CA store, which honours NODE_EXTRA_CA_CERTS', async () => {
    const c = pki.issue({ names: ['localhost'], ips: ['127.0.0.1'] });
    const server = https.createServer({ cert: c.certPem, key: c.keyPem }, (_req, res) => res.end('verified'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
    const up = `/=https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const trusted = await running(['--route', up], { NODE_EXTRA_CA_CERTS: pki.caFile });
    const ok = await RawClient.connect(trusted.port);
    ok.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'GET');
    await ok.read(1, 10_000);
    ok.destroy();
    expect(ok.responses[0].status).toBe(200);
    expect(ok.responses[0].body.toString()).toBe('verified');
    const plain = await running(['--route', up]);
    const no = await RawClient.connect(plain.port);
    no.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'GET');
    await no.read(1, 10_000);
    no.destroy();
    expect(no.responses[0].status).toBe(502);
  });
});
