// An etcd store over TLS with client certificates, with etcd authentication on: the `store.tls`
// and `store.auth` settings reach the client (real etcd, throw-away certificate).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdServer } from '../helpers/etcd.js';
import { makeCert } from '../helpers/certs.js';
import { silent, startOrigin } from '../admin/helpers.js';
import { EtcdRouteStore } from '../../admin/stores/etcd-store.js';
import { api, etcdStore, get, startInstance, until } from './fleet.js';
import { sleep } from '../helpers/harness.js';
import { binBuilt, runPortico } from '../helpers/portico-process.js';

const PASSWORD = 'etcd-root-password';
let etcd: EtcdServer;
let dir: string;
let tls: { ca: string; cert: string; key: string };
let origin: Awaited<ReturnType<typeof startOrigin>>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portico-etcd-tls-'));
  // one self-signed certificate (CN localhost, SAN 127.0.0.1) is the server's, the client's and the CA
  const c = makeCert();
  tls = { ca: join(dir, 'ca.pem'), cert: join(dir, 'ca.pem'), key: join(dir, 'key.pem') };
  writeFileSync(tls.ca, c.cert);
  writeFileSync(tls.key, c.key);
  etcd = await EtcdServer.start({ cert: tls.cert, key: tls.key, clientCa: tls.ca });
  origin = await startOrigin('T');
  const admin = new Etcd3({ hosts: `https://${etcd.endpoint}`, credentials: { rootCertificate: readFileSync(tls.ca), certChain: readFileSync(tls.cert), privateKey: readFileSync(tls.key) } });
  try {
    // etcd may accept connections a moment before it serves
    for (let i = 0; ; i++) {
      try { await admin.get('x').exec(); break; } catch (e) { if (i > 100) throw e; await sleep(100); }
    }
    await admin.role('root').create();
    await (await admin.user('root').create(PASSWORD)).addRole('root');
    await admin.auth.authEnable();
  } finally {
    admin.close();
  }
}, 60_000);

afterAll(async () => {
  await origin?.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('etcd store with TLS and authentication', () => {
  it('an instance with the CA, a client certificate and the credentials follows the store', async () => {
    const inst = await startInstance(etcdStore(etcd.endpoint, '/tls', { tls, auth: { username: 'root', password: PASSWORD }, timeoutMs: 4000 }));
    try {
      const r = await api(inst, 'POST', '/v1/routes', { id: 't', pathPrefix: '/t', upstreams: [origin.url] });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(await until(async () => (await get(inst.port, '/t/1')).body === 'T /t/1')).toBeDefined();
      expect((await api(inst, 'GET', '/v1/status')).body?.store).toMatchObject({ connected: true });
      // the etcd password is a secret: not served, and a GET -> PUT round trip keeps it
      const config = await api(inst, 'GET', '/v1/config');
      expect(config.body?.config?.store).toMatchObject({ type: 'etcd', auth: { username: 'root' } });
      expect(JSON.stringify(config.body)).not.toContain(PASSWORD);
      const put = await api(inst, 'PUT', '/v1/config', { ...config.body?.config, routes: [] }, { 'if-match': config.headers.get('etag')! });
      expect(put.status, JSON.stringify(put.body)).toBe(200);
      expect(await until(async () => (await get(inst.port, '/t/1')).status === 404)).toBeDefined();
    } finally {
      await inst.close();
    }
  }, 60_000);

  it.skipIf(!binBuilt)('portico store import/export with --cacert, --cert, --key and --password-file (no password in argv)', async () => {
    const passwordFile = join(dir, 'etcd.password');
    writeFileSync(passwordFile, `${PASSWORD}\n`);
    const routes = join(dir, 'routes.json');
    writeFileSync(routes, JSON.stringify({ routes: [{ id: 'cli', pathPrefix: '/cli', upstreams: [origin.url] }] }));
    const url = `etcd://root@${etcd.endpoint}/store-cli`;
    const tlsFlags = ['--cacert', tls.ca, '--cert', tls.cert, '--key', tls.key];
    let r = await runPortico(['store', 'import', '--store', url, ...tlsFlags, '--password-file', passwordFile, routes]);
    expect(r.code, r.stderr).toBe(0);
    r = await runPortico(['store', 'export', '--store', url, ...tlsFlags, '--password-file', passwordFile]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { routes: Array<{ id: string }> }).routes.map((x: { id: string }) => x.id)).toEqual(['cli']);
    // without the password, etcd refuses
    r = await runPortico(['store', 'export', '--store', url, ...tlsFlags]);
    expect(r.code).toBe(1);
  }, 60_000);

  it('a wrong password or no TLS fails at start-up with the reason', async () => {
    await expect(EtcdRouteStore.open(etcdStore(etcd.endpoint, '/tls', { tls, auth: { username: 'root', password: 'wrong-password' } }), silent))
      .rejects.toThrow(/cannot read the routes from etcd:\/\/.*\/tls .*(authentication failed|invalid)/i);
    await expect(EtcdRouteStore.open(etcdStore(etcd.endpoint, '/tls', { auth: { username: 'root', password: PASSWORD } }), silent))
      .rejects.toThrow(/cannot read the routes from etcd:\/\//);
  }, 60_000);
});
