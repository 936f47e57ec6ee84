// The `portico` bin and the admin settings: what it says at start-up about an admin listener
// beyond loopback (with --check, which listens on nothing: tests use loopback only), the checks of
// admin.tokens and admin.tls before anything listens (exit 2 naming the setting), a run with admin
// TLS, and `portico store`'s answer to the admin API's flags.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, binBuilt, runPortico, spawnPortico, startedPortico } from '../helpers/portico-process.js';
import { TestPki } from '../helpers/certs.js';
import { TOKEN, adminCall, tempDir } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => { tmp = tempDir(); });
afterAll(() => tmp?.cleanup());

function configFile(content: unknown): string {
  const p = join(tmp.dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, JSON.stringify(content));
  return p;
}

// (the tests' environment has no PORTICO_ADMIN_TOKEN; an empty one is a token too short)
const NO_ENV_TOKEN = {};

describe.skipIf(!binBuilt)(`portico and the admin settings${binBuilt ? '' : ` (skipped: ${BIN} not built)`}`, () => {
  it('an admin listener beyond loopback: the start says in plain words that reads now need a token, and that tokens cross in clear', async () => {
    const r = await runPortico(['--check', '--listen', '127.0.0.1:0', '--admin', '0.0.0.0:9090'], { PORTICO_ADMIN_TOKEN: TOKEN });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^portico: warning: the admin API on 0\.0\.0\.0:9090 \(not a loopback address\) answers only requests with a token, reads included .*dashboards and scrapers without a token now get 401/);
    expect(lines[1]).toMatch(/^portico: warning: the admin API on 0\.0\.0\.0:9090 .*is plain HTTP: bearer tokens cross the network in clear text/);
    expect(lines[2]).toMatch(/^portico: configuration OK/);
    // an explicit choice silences the first; open reads are warned about instead
    const open = await runPortico(['--check', '--listen', '127.0.0.1:0', '--config', configFile({ admin: { listen: '0.0.0.0:9090', openReads: true } })], { PORTICO_ADMIN_TOKEN: TOKEN });
    expect(open.stderr).toMatch(/warning: admin\.openReads is true: the admin API on 0\.0\.0\.0:9090/);
    expect(open.stderr).not.toContain('answers only requests with a token');
    // on loopback: nothing to say
    expect((await runPortico(['--check', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:9090'])).stderr).not.toContain('warning');
  });

  it('a non-loopback admin listener with read tokens only is valid (read-only); without any credential it is not', async () => {
    const readOnly = await runPortico(['--check', '--listen', '127.0.0.1:0', '--config', configFile({ admin: { listen: '0.0.0.0:9090', openReads: false, tokens: [{ name: 'grafana', role: 'read', token: 'read-only-token-0123456789' }] } })], NO_ENV_TOKEN);
    expect(readOnly.code, readOnly.stderr).toBe(0);
    const none = await runPortico(['--check', '--listen', '127.0.0.1:0', '--admin', '0.0.0.0:9090'], NO_ENV_TOKEN);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/0\.0\.0\.0:9090 \(not a loopback address\) needs a token/);
  });

  it('wrong token and TLS settings: exit 2 naming the setting, before anything listens', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ tokens: [{ name: 'ci', role: 'admin', tokenFile: join(tmp.dir, 'missing.token') }] }, /\/admin\/tokens\/0\/tokenFile: cannot read the token file .*missing\.token: ENOENT/],
      [{ tokens: [{ name: 'ci', role: 'admin' }] }, /\/admin\/tokens\/0 \("ci"\) needs exactly one of "token" and "tokenFile"/],
      [{ tokens: [{ name: 'ci', role: 'admin', token: 'x'.repeat(16), tokenFile: 'f' }] }, /needs exactly one of "token" and "tokenFile"/],
      [{ token: TOKEN, tokens: [{ name: 'admin', role: 'read', token: 'y'.repeat(20) }] }, /\/admin\/tokens\/0\/token: the name "admin" is already taken by \/admin\/token/],
      [{ tokens: [{ name: 'a', role: 'read', token: 'z'.repeat(20) }, { name: 'b', role: 'admin', token: 'z'.repeat(20) }] }, /\/admin\/tokens\/1\/token is the same token as \/admin\/tokens\/0\/token/],
      [{ tokens: [{ name: 'ci', role: 'owner', token: 'x'.repeat(20) }] }, /\/admin\/tokens\/0\/role must be one of \["admin","read"\]/],
      [{ tls: { certificates: [{ cert: join(tmp.dir, 'none.pem'), key: join(tmp.dir, 'none.key') }] } }, /\/admin\/tls\/certificates\/0\/cert: cannot read certificate file .*none\.pem: ENOENT/],
      [{ openReads: 'yes' }, /\/admin\/openReads must be boolean/],
      [{ failedAuth: { delayMs: 60_000 } }, /\/admin\/failedAuth\/delayMs must be <= 5000/],
    ];
    for (const [admin, message] of cases) {
      const r = await runPortico(['--check', '--listen', '127.0.0.1:0', '--config', configFile({ admin: { listen: '127.0.0.1:0', ...admin } })], NO_ENV_TOKEN);
      expect(r.code, JSON.stringify(admin)).toBe(2);
      expect(r.stderr, JSON.stringify(admin)).toMatch(message);
    }
  });

  it('a client certificate\'s CN may not take a token\'s name', async () => {
    const pki = new TestPki();
    try {
      const server = pki.issue({ names: ['localhost'], ips: ['127.0.0.1'] });
      const r = await runPortico(['--check', '--listen', '127.0.0.1:0', '--config', configFile({
        admin: {
          listen: '127.0.0.1:0', tokens: [{ name: 'ci', role: 'read', token: 'read-only-token-0123456789' }],
          tls: { certificates: [{ cert: server.cert, key: server.key }], clientCertificates: { ca: pki.caFile, clients: [{ commonName: 'ci', role: 'admin' }] } },
        },
      })], NO_ENV_TOKEN);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/\/admin\/tls\/clientCertificates\/clients\/0\/commonName: the name "ci" is already taken/);
    } finally {
      pki.close();
    }
  });

  it('runs with admin TLS: announces an https:// URL that answers with the CA; no generated token when a token file gives one', async () => {
    const pki = new TestPki();
    const server = pki.issue({ names: ['localhost'], ips: ['127.0.0.1'] });
    const tokenFile = join(tmp.dir, 'ci.token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    const p = spawnPortico(['--listen', '127.0.0.1:0', '--log-level', 'silent', '--config', configFile({
      admin: { listen: '127.0.0.1:0', openReads: false, tokens: [{ name: 'ci', role: 'admin', tokenFile }], tls: { certificates: [{ cert: server.cert, key: server.key }] } },
    })], NO_ENV_TOKEN);
    try {
      const { adminUrl } = await startedPortico(p, true);
      expect(adminUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(p.stderr()).not.toContain('generated token');
      expect((await adminCall(`${adminUrl}/v1/status`, { ca: pki.caPem })).status).toBe(401);
      expect((await adminCall(`${adminUrl}/v1/status`, { ca: pki.caPem, token: TOKEN })).status).toBe(200);
    } finally {
      p.kill();
      await p.exit;
      pki.close();
    }
  });

  it('portico store answers the admin API\'s flags with where they belong', async () => {
    for (const flag of ['--token-file', '--token']) {
      const r = await runPortico(['store', 'export', '--store', 'etcd://127.0.0.1:9/p', flag, 'x']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${flag}: portico store talks to etcd, not to the admin API (for etcd's password: --password-file FILE; for the admin API: portico routes ${flag} ...)`);
    }
    const noUser = await runPortico(['store', 'export', '--store', 'etcd://127.0.0.1:9/p', '--password-file', join(tmp.dir, 'pw')]);
    expect(noUser.code).toBe(2);
    expect(noUser.stderr).toContain('--password-file needs an etcd user: --store etcd://USER@HOST:PORT/PREFIX');
  });
});
