// `portico routes list|get|add|rm` against a running admin API, and the built `portico` bin end
// to end (when dist/ has been built: `npm run build`, as CI does).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import net from 'node:net';
import { ProxyServer } from '../../src/server/proxy-server.js';
import { InProcessDataPlane } from '../../admin/cluster/in-process.js';
import { startAdmin } from '../../admin/api/start-admin.js';
import { runRoutesClient, routesTable, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE } from '../../admin/cli/routes-cli.js';
import type { AdminHandle } from '../../admin/api/admin-context.js';
import { TOKEN, makeConfig, silent, startAdminWith, startOrigin, tempDir } from './helpers.js';
import { TestPki } from '../helpers/certs.js';

function io(env: Record<string, string> = {}) {
  const o = { out: '', err: '', env: env as NodeJS.ProcessEnv };
  return { ...o, io: { env: o.env, out: (s: string) => { o.out += s; }, err: (s: string) => { o.err += s; } }, get: () => o };
}

describe('portico routes (client)', () => {
  let admin: AdminHandle;
  let proxy: ProxyServer;
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const c = io(env);
    const code = await runRoutesClient([...args, '--admin', admin.url], c.io);
    return { code, ...c.get() };
  };

  beforeAll(async () => {
    proxy = new ProxyServer(makeConfig(), silent);
    admin = await startAdmin({ dataPlane: new InProcessDataPlane(proxy), config: makeConfig(), configPath: undefined, listen: '127.0.0.1:0', token: TOKEN, logger: silent });
  });
  afterAll(async () => {
    await admin?.close();
  });

  it('add, list (table and JSON), get, rm', async () => {
    let r = await run(['list']);
    expect(r).toMatchObject({ code: EXIT_OK, out: 'no routes (revision 1)\n' });
    r = await run(['add', '--id', 'api', '--prefix', '/api', '--upstream', 'http://127.0.0.1:8081', '--upstream', 'http://127.0.0.1:8082,3', '--strip', '--token', TOKEN]);
    expect(r.code, r.err).toBe(EXIT_OK);
    expect(r.out).toBe('added route api: */api -> http://127.0.0.1:8081, http://127.0.0.1:8082 (x3)\n');
    r = await run(['add', '--id', 'web', '--prefix', '/', '--host', 'www.example.com', '--method', 'get', '--upstream', 'http://127.0.0.1:8083'], { PORTICO_ADMIN_TOKEN: TOKEN });
    expect(r.code, r.err).toBe(EXIT_OK);
    r = await run(['list']);
    expect(r.out).toBe([
      'ID   HOST             PREFIX  UPSTREAMS                                          OPTIONS',
      'api  *                /api    http://127.0.0.1:8081, http://127.0.0.1:8082 (x3)  strip',
      'web  www.example.com  /       http://127.0.0.1:8083                              methods=GET',
      '',
    ].join('\n'));
    r = await run(['list', '--json']);
    expect((JSON.parse(r.out) as { routes: Array<{ id: string }> }).routes.map((x: { id: string }) => x.id)).toEqual(['api', 'web']);
    r = await run(['get', 'web']);
    expect(JSON.parse(r.out)).toMatchObject({ id: 'web', host: 'www.example.com', methods: ['GET'] });
    r = await run(['rm', 'web', '--dry-run', '--token', TOKEN]);
    expect(r.out).toContain('dry run');
    expect(proxy.routes.current.get('web')).toBeDefined();
    r = await run(['rm', 'web', '--token', TOKEN]);
    expect(r).toMatchObject({ code: EXIT_OK, out: 'removed route web\n' });
    expect(proxy.routes.current.routes.map((x) => x.id)).toEqual(['api']);
  });

  it('API refusals exit 1 with the problem detail and the offending field', async () => {
    let r = await run(['add', '--id', 'api', '--prefix', '/x', '--upstream', 'http://127.0.0.1:1', '--token', TOKEN]);
    expect(r.code).toBe(EXIT_REFUSED);
    expect(r.err).toMatch(/already exists.*\(at \/id\) \[HTTP 409\]/);
    r = await run(['add', '--id', 'bad', '--prefix', '/bad', '--upstream', 'ftp://files.example', '--token', TOKEN]);
    expect(r.code).toBe(EXIT_REFUSED);
    expect(r.err).toMatch(/unsupported scheme ftp:.*\(at \/upstreams\/0\) \[HTTP 422\]/);
    r = await run(['add', '--id', 'nope', '--prefix', '/nope', '--upstream', 'http://127.0.0.1:1']);
    expect(r.code).toBe(EXIT_REFUSED);
    expect(r.err).toMatch(/bearer token.*\[HTTP 401\].*|PORTICO_ADMIN_TOKEN/);
    expect(r.err).toContain('PORTICO_ADMIN_TOKEN');
    r = await run(['rm', 'nope', '--token', 'wrong-token-wrong-token']);
    expect(r.code).toBe(EXIT_REFUSED);
    expect(r.err).toContain('[HTTP 401]');
    r = await run(['get', 'nope']);
    expect(r.code).toBe(EXIT_REFUSED);
    expect(r.err).toContain('[HTTP 404]');
  });

  it('usage errors exit 2; an unreachable admin API exits 3', async () => {
    for (const args of [[], ['frob'], ['add', '--id', 'x'], ['get'], ['get', 'a', 'b'], ['list', '--strip'], ['list', '--bogus'], ['get', 'x', '--dry-run']]) {
      const c = io();
      expect(await runRoutesClient(args, c.io), args.join(' ')).toBe(EXIT_USAGE);
      expect(c.get().err).toMatch(/portico routes|Usage/);
    }
    const help = io();
    expect(await runRoutesClient(['--help'], help.io)).toBe(EXIT_OK);
    expect(help.get().out).toContain('portico routes add --id api');
    // a port nothing listens on
    const free = await new Promise<number>((res) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => res(p)); }); });
    const c = io();
    expect(await runRoutesClient(['list', '--admin', `http://127.0.0.1:${free}`], c.io)).toBe(EXIT_UNREACHABLE);
    expect(c.get().err).toContain(`cannot reach the admin API at http://127.0.0.1:${free}: ECONNREFUSED`);
    const bad = io();
    expect(await runRoutesClient(['list', '--admin', 'not a url'], bad.io)).toBe(EXIT_USAGE);
  });

  it('routesTable shows weights, rewrites, conditions', () => {
    expect(routesTable([{ id: 'a', pathPrefix: '/a', upstreams: [{ url: 'http://h:1', weight: 1 }], rewritePrefix: '/b', headers: { 'x-v': '2' }, preserveHost: true }]))
      .toBe('ID  HOST  PREFIX  UPSTREAMS   OPTIONS\na   *     /a      http://h:1  rewrite=/b headers=x-v preserve-host\n');
  });
});

describe('portico routes against an admin API over TLS with closed reads', () => {
  let pki: TestPki;
  let tmp: ReturnType<typeof tempDir>;
  let admin: Awaited<ReturnType<typeof startAdminWith>>;
  let tokenFile: string;
  let readTokenFile: string;
  let client: { cert: string; key: string };
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const c = io(env);
    const code = await runRoutesClient([...args, '--admin', admin.url], c.io);
    return { code, ...c.get() };
  };

  beforeAll(async () => {
    pki = new TestPki();
    tmp = tempDir();
    const server = pki.issue({ names: ['localhost'], ips: ['127.0.0.1'] });
    client = pki.issue({ names: ['ci-bot'] });
    tokenFile = join(tmp.dir, 'admin.token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    readTokenFile = join(tmp.dir, 'read.token');
    writeFileSync(readTokenFile, 'read-only-token-0123456789');
    admin = await startAdminWith({
      openReads: false,
      tokens: [{ name: 'dashboard', role: 'read', tokenFile: readTokenFile }],
      tls: { certificates: [{ cert: server.cert, key: server.key }], watchFiles: false, clientCertificates: { ca: pki.caFile, clients: [{ commonName: 'ci-bot', role: 'admin' }] } },
    });
  });
  afterAll(async () => {
    await admin?.close();
    pki?.close();
    tmp?.cleanup();
  });

  it('--cacert and --token-file: list, add, rm; a read token lists but cannot add (403)', async () => {
    let r = await run(['add', '--id', 'api', '--prefix', '/api', '--upstream', 'http://127.0.0.1:8081', '--cacert', pki.caFile, '--token-file', tokenFile]);
    expect(r.code, r.err).toBe(EXIT_OK);
    r = await run(['list', '--cacert', pki.caFile, '--token-file', readTokenFile]);
    expect(r.code, r.err).toBe(EXIT_OK);
    expect(r.out).toMatch(/^ID\s+HOST\s+PREFIX[^\n]*\napi /);
    r = await run(['rm', 'api', '--cacert', pki.caFile, '--token-file', readTokenFile]);
    expect(r).toMatchObject({ code: EXIT_REFUSED });
    expect(r.err).toContain('"dashboard" may only read (role "read"): DELETE needs an admin token [HTTP 403]');
    r = await run(['list', '--cacert', pki.caFile]);
    expect(r.code).toBe(EXIT_REFUSED);
    expect(r.err).toContain('GET needs a token (read or admin) on this listener (Authorization: Bearer <token>); pass --token-file FILE');
  });

  it('--cert and --key: a client certificate instead of a token', async () => {
    const r = await run(['rm', 'api', '--cacert', pki.caFile, '--cert', client.cert, '--key', client.key]);
    expect(r.code, r.err).toBe(EXIT_OK);
  });

  it('without --cacert the certificate is not trusted: exit 3 saying to pass --cacert', async () => {
    const r = await run(['list', '--token-file', tokenFile]);
    expect(r.code).toBe(EXIT_UNREACHABLE);
    expect(r.err).toMatch(/cannot reach the admin API at https:\/\/127\.0\.0\.1:\d+: \w+: the admin API's certificate is not trusted \(pass --cacert FILE/);
  });

  it('bad combinations and unreadable files are usage errors (exit 2) naming the flag', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['list', '--token', TOKEN, '--token-file', tokenFile], /--token and --token-file: give one of them/],
      [['list', '--token-file', join(tmp.dir, 'missing')], /--token-file .*missing: cannot read it: ENOENT/],
      [['list', '--cacert', join(tmp.dir, 'missing')], /--cacert .*missing: cannot read it: ENOENT/],
      [['list', '--cacert', pki.caFile, '--cert', client.cert], /--cert and --key go together/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(EXIT_USAGE);
      expect(r.err).toMatch(message);
    }
    writeFileSync(join(tmp.dir, 'empty'), '\n');
    expect((await run(['list', '--token-file', join(tmp.dir, 'empty')])).err).toMatch(/--token-file .*empty is empty/);
    const c = io();
    expect(await runRoutesClient(['list', '--admin', 'http://127.0.0.1:9', '--cacert', pki.caFile], c.io)).toBe(EXIT_USAGE);
    expect(c.get().err).toContain('--cacert is for an admin API over TLS: give an https:// --admin URL');
  });
});

const root = resolve(import.meta.dirname, '..', '..');
const bin = join(root, 'dist', 'admin', 'cli', 'portico.js');
const built = existsSync(bin);

describe.skipIf(!built)(`the portico bin end to end${built ? '' : ' (skipped: dist/ is not built; npm run build)'}`, () => {
  it('serves, takes route changes from `portico routes`, persists them to a new --config file', async () => {
    const origin = await startOrigin('O');
    const tmp = tempDir();
    const config = join(tmp.dir, 'portico.json');
    const child = spawn(process.execPath, [bin, '--config', config, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-level', 'error'], {
      env: { ...process.env, PORTICO_ADMIN_TOKEN: TOKEN },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      const { proxyUrl, adminUrl } = await new Promise<{ proxyUrl: string; adminUrl: string }>((res, rej) => {
        let seen = '';
        const t = setTimeout(() => rej(new Error(`portico did not start: ${seen}`)), 15_000);
        child.stderr.on('data', (d) => {
          seen += d;
          const p = /listening on (http:\/\/\S+)/.exec(seen);
          const a = /admin API on (http:\/\/[^\s,)]+)/.exec(seen);
          if (p && a) { clearTimeout(t); res({ proxyUrl: p[1], adminUrl: a[1] }); }
        });
        child.once('exit', (code) => { clearTimeout(t); rej(new Error(`portico exited with ${code}: ${seen}`)); });
      });
      const cli = (...args: string[]) => promisify(execFile)(process.execPath, [bin, 'routes', ...args, '--admin', adminUrl], { env: { ...process.env, PORTICO_ADMIN_TOKEN: TOKEN } });
      const added = await cli('add', '--id', 'o', '--prefix', '/o', '--upstream', origin.url, '--strip');
      expect(added.stdout).toContain('added route o');
      const res = await fetch(`${proxyUrl}/o/hello`);
      expect(await res.text()).toBe('O /hello');
      expect((await cli('list')).stdout).toMatch(/^ID\s+HOST\s+PREFIX/);
      expect((JSON.parse(readFileSync(config, 'utf8')) as { routes: unknown }).routes).toEqual([{ id: 'o', pathPrefix: '/o', upstreams: [origin.url], stripPrefix: true, preserveHost: false }]);
      await expect(cli('rm', 'missing')).rejects.toMatchObject({ code: EXIT_REFUSED });
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await origin.close();
      tmp.cleanup();
    }
  });
});
