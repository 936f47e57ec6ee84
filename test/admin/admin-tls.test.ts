// The admin API over TLS (admin.tls), on 127.0.0.1 with a test CA made by openssl: curl --cacert,
// certificates reloaded when their files change, client certificates as credentials (a role by
// subject CN, without a token) or as a gate (required: no connection without one), the client CA
// reloaded too.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { TestPki, type IssuedCert } from '../helpers/certs.js';
import { sleep } from '../helpers/harness.js';
import { TOKEN, adminCall, capturingLogger, startAdminWith, tempDir } from './helpers.js';

const execFileP = promisify(execFile);

async function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await execFileP('curl', ['-sS', '--max-time', '10', ...args]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** The subject CN of the certificate a new handshake gets. */
async function servedCn(url: string, ca: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: u.hostname, port: Number(u.port), ca, servername: 'localhost' }, () => {
      const cn = s.getPeerCertificate().subject.CN as string;
      s.destroy();
      resolve(cn);
    });
    s.on('error', reject);
  });
}

/** Polls (bounded) until `probe` returns true. */
async function eventually(probe: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

const ROUTE = { id: 'api', pathPrefix: '/api', upstreams: ['http://127.0.0.1:9'] };

let pki: TestPki;
let otherPki: TestPki;
let tmp: ReturnType<typeof tempDir>;
let server: IssuedCert;
let renewed: IssuedCert;
const client: Record<string, IssuedCert> = {};

beforeAll(() => {
  pki = new TestPki();
  otherPki = new TestPki('Another CA');
  tmp = tempDir();
  server = pki.issue({ names: ['localhost'], ips: ['127.0.0.1'] });
  renewed = pki.issue({ names: ['renewed.localhost', 'localhost'], ips: ['127.0.0.1'] });
  for (const cn of ['deploy-bot', 'scraper', 'stranger']) client[cn] = pki.issue({ names: [cn] });
  client.foreign = otherPki.issue({ names: ['deploy-bot'], stem: 'foreign' });
});
afterAll(() => {
  pki?.close();
  otherPki?.close();
  tmp?.cleanup();
});

describe('admin.tls', () => {
  it('serves HTTPS: curl --cacert verifies it; without the CA, or in plain HTTP, nothing is served', async () => {
    const admin = await startAdminWith({ openReads: false, tls: { certificates: [{ cert: server.cert, key: server.key }], watchFiles: false } });
    try {
      expect(admin.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const ok = await curl(['--cacert', pki.caFile, '-H', `Authorization: Bearer ${TOKEN}`, `${admin.url}/v1/routes`]);
      expect(ok).toMatchObject({ code: 0 });
      expect(JSON.parse(ok.stdout)).toEqual({ revision: 1, routes: [] });
      const anonymous = await curl(['--cacert', pki.caFile, '-o', '/dev/null', '-w', '%{http_code}', `${admin.url}/v1/routes`]);
      expect(anonymous.stdout).toBe('401');
      expect((await curl([`${admin.url}/healthz`])).code).toBe(60); // peer certificate cannot be authenticated
      expect((await curl([admin.url.replace('https:', 'http:') + '/healthz'])).code).not.toBe(0);
    } finally {
      await admin.close();
    }
  });

  it('reloads its certificate when the files change (a renewal), without a restart', async () => {
    const cert = join(tmp.dir, 'admin.pem');
    const key = join(tmp.dir, 'admin.key');
    copyFileSync(server.cert, cert);
    copyFileSync(server.key, key);
    const admin = await startAdminWith({ tls: { certificates: [{ cert, key }], watchIntervalMs: 100 } });
    try {
      expect(await servedCn(admin.url, pki.caPem)).toBe('localhost');
      copyFileSync(renewed.key, key);
      copyFileSync(renewed.cert, cert);
      await eventually(async () => (await servedCn(admin.url, pki.caPem)) === 'renewed.localhost', 'the renewed certificate is served');
      expect((await adminCall(`${admin.url}/healthz`, { ca: pki.caPem })).status).toBe(200);
    } finally {
      await admin.close();
    }
  });
});

describe('client certificates (admin.tls.clientCertificates)', () => {
  let admin: Awaited<ReturnType<typeof startAdminWith>>;
  const log = capturingLogger();
  const as = (cn: string) => ({ ca: pki.caPem, cert: readFileSync(client[cn].cert, 'utf8'), key: readFileSync(client[cn].key, 'utf8') });

  beforeAll(async () => {
    admin = await startAdminWith({
      openReads: false,
      tls: {
        certificates: [{ cert: server.cert, key: server.key }],
        watchFiles: false,
        clientCertificates: { ca: pki.caFile, clients: [{ commonName: 'deploy-bot', role: 'admin' }, { commonName: 'scraper', role: 'read' }] },
      },
    }, { logger: log.logger });
  });
  afterAll(async () => { await admin?.close(); });

  it('a listed certificate acts with its role without a token (admin: changes; read: 403 on a change); the log names its CN', async () => {
    expect((await adminCall(`${admin.url}/v1/routes`, { method: 'POST', body: ROUTE, ...as('deploy-bot') })).status).toBe(201);
    expect((await adminCall(`${admin.url}/v1/routes`, as('scraper'))).status).toBe(200);
    const refused = await adminCall(`${admin.url}/v1/routes/api`, { method: 'DELETE', ...as('scraper') });
    expect(refused.status).toBe(403);
    expect(refused.json().detail).toBe('"scraper" may only read (role "read"): DELETE needs an admin token');
    // a token, when sent, decides
    expect((await adminCall(`${admin.url}/v1/routes/api`, { method: 'DELETE', token: TOKEN, ...as('scraper') })).status).toBe(204);
    expect((await adminCall(`${admin.url}/v1/routes`, { token: 'not-a-token-of-this-proxy', ...as('deploy-bot') })).status).toBe(401);
    const changes = log.lines().filter((l) => l.msg === 'admin request').map((l) => [l.method, l.status, l.principal]);
    expect(changes).toEqual([['POST', 201, 'deploy-bot'], ['DELETE', 403, 'scraper'], ['DELETE', 204, 'admin']]);
  });

  it('curl with --cert and --key', async () => {
    const r = await curl(['--cacert', pki.caFile, '--cert', client['deploy-bot'].cert, '--key', client['deploy-bot'].key, `${admin.url}/v1/status`]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty('revision');
  });

  it('no certificate, one not listed, or one from another CA: 401 saying why', async () => {
    const none = await adminCall(`${admin.url}/v1/routes`, { ca: pki.caPem });
    expect(none.status).toBe(401);
    expect(none.json().detail).toBe('GET needs a token (read or admin) on this listener (Authorization: Bearer <token>)');
    const stranger = await adminCall(`${admin.url}/v1/routes`, as('stranger'));
    expect(stranger.status).toBe(401);
    expect(stranger.json().detail).toMatch(/the client certificate CN=stranger is not in admin\.tls\.clientCertificates\.clients$/);
    const foreign = await adminCall(`${admin.url}/v1/routes`, as('foreign'));
    expect(foreign.status).toBe(401);
    expect(foreign.json().detail).toMatch(/the client certificate \(CN=deploy-bot\) was not accepted: /);
    expect((await adminCall(`${admin.url}/healthz`, { ca: pki.caPem })).status).toBe(200);
  });
});

describe('required client certificates', () => {
  it('no connection without a valid certificate; with one, a token may still be needed; the client CA is reloaded from its file', async () => {
    const ca = join(tmp.dir, 'clients-ca.pem');
    copyFileSync(pki.caFile, ca);
    const admin = await startAdminWith({
      tls: { certificates: [{ cert: server.cert, key: server.key }], watchIntervalMs: 100, clientCertificates: { ca, required: true } },
      openReads: false,
    });
    try {
      await expect(adminCall(`${admin.url}/healthz`, { ca: pki.caPem })).rejects.toThrow();
      await expect(adminCall(`${admin.url}/healthz`, { ca: pki.caPem, cert: readFileSync(client.foreign.cert, 'utf8'), key: readFileSync(client.foreign.key, 'utf8') })).rejects.toThrow();
      const stranger = { ca: pki.caPem, cert: readFileSync(client.stranger.cert, 'utf8'), key: readFileSync(client.stranger.key, 'utf8') };
      expect((await adminCall(`${admin.url}/healthz`, stranger)).status).toBe(200);
      expect((await adminCall(`${admin.url}/v1/routes`, stranger)).status).toBe(401);
      expect((await adminCall(`${admin.url}/v1/routes`, { ...stranger, token: TOKEN })).status).toBe(200);
      // with SNI the handshake uses the certificate store's context for the name: it verifies too
      expect((await adminCall(`${admin.url}/healthz`, { ...stranger, servername: 'localhost' })).status).toBe(200);
      await expect(adminCall(`${admin.url}/healthz`, { ca: pki.caPem, servername: 'localhost' })).rejects.toThrow();
      // the clients' CA changes (another CA's certificates are now the valid ones)
      copyFileSync(otherPki.caFile, ca);
      const foreign = { ca: pki.caPem, cert: readFileSync(client.foreign.cert, 'utf8'), key: readFileSync(client.foreign.key, 'utf8') };
      await eventually(async () => (await adminCall(`${admin.url}/healthz`, foreign)).status === 200, 'a certificate of the new client CA is accepted');
      await expect(adminCall(`${admin.url}/healthz`, stranger)).rejects.toThrow();
    } finally {
      await admin.close();
    }
  });
});
