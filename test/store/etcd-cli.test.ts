// The `portico` bin with an etcd store (real processes, real etcd): `portico store import|export`,
// start-up from etcd, a restart while etcd is down (the cache file, or a refusal to start), and
// the configuration checks of `--store`.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdServer } from '../helpers/etcd.js';
import { BIN, binBuilt, runPortico, spawnPortico, startedPortico, type PorticoProcess } from '../helpers/portico-process.js';
import { TOKEN, startOrigin, tempDir } from '../admin/helpers.js';
import { until } from './fleet.js';

let etcd: EtcdServer;
let origin: Awaited<ReturnType<typeof startOrigin>>;
let tmp: ReturnType<typeof tempDir>;
const running: PorticoProcess[] = [];

beforeAll(async () => {
  etcd = await EtcdServer.start();
  origin = await startOrigin('O');
  tmp = tempDir();
}, 60_000);

afterEach(() => {
  for (const p of running.splice(0)) p.kill();
});

afterAll(async () => {
  await origin?.close();
  await etcd?.stop();
  tmp?.cleanup();
});

const env = { PORTICO_ADMIN_TOKEN: TOKEN };

function start(args: string[]): PorticoProcess {
  const p = spawnPortico(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-level', 'error', ...args], env);
  running.push(p);
  return p;
}

async function status(adminUrl: string) {
  return (await (await fetch(`${adminUrl}/v1/status`)).json()) as { revision: number; store: { connected: boolean; since: string } };
}

describe.skipIf(!binBuilt)(`portico with an etcd store${binBuilt ? '' : ` (skipped: ${BIN} not built)`}`, () => {
  it('store import seeds etcd from a file, an instance serves it, store export writes it back', async () => {
    const url = `etcd://${etcd.endpoint}/import-test`;
    const file = join(tmp.dir, 'seed.json');
    writeFileSync(file, JSON.stringify({ routes: [{ id: 'o', pathPrefix: '/o', upstreams: [origin.url], stripPrefix: true }] }));
    let r = await runPortico(['store', 'import', '--store', url, file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/imported 1 route\(s\) into .*import-test at revision \d+/);

    const p = start(['--store', url]);
    const { proxyUrl, adminUrl } = await startedPortico(p, true);
    expect(p.stderr()).toContain('(1 route(s))');
    expect(await (await fetch(`${proxyUrl}/o/hi`)).text()).toBe('O /hi');
    expect((await status(adminUrl!)).store).toMatchObject({ type: 'etcd', connected: true });

    const out = join(tmp.dir, 'exported.json');
    writeFileSync(out, JSON.stringify({ listen: '127.0.0.1:8080', routes: [] }));
    r = await runPortico(['store', 'export', '--store', url, out]);
    expect(r.code, r.stderr).toBe(0);
    // the rest of the file is kept
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({ listen: '127.0.0.1:8080', routes: [{ id: 'o', pathPrefix: '/o', upstreams: [origin.url], stripPrefix: true, preserveHost: false }] });

    const bad = join(tmp.dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ routes: [{ id: 'x', pathPrefix: '/x', upstreams: ['ftp://nope'] }] }));
    r = await runPortico(['store', 'import', '--store', url, bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ftp');
    r = await runPortico(['store', 'frobnicate', '--store', url]);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown command "frobnicate"') as string });
  }, 60_000);

  it('restarted while etcd is down: serves the cached table and resynchronises when etcd is back; without a cache it refuses to start', async () => {
    const url = `etcd://${etcd.endpoint}/restart-test`;
    const cache = join(tmp.dir, 'routes-cache.json');
    const file = join(tmp.dir, 'seed2.json');
    writeFileSync(file, JSON.stringify({ routes: [{ id: 'o', pathPrefix: '/o', upstreams: [origin.url] }] }));
    expect((await runPortico(['store', 'import', '--store', url, file])).code).toBe(0);

    let p = start(['--store', url, '--store-cache', cache]);
    let { adminUrl } = await startedPortico(p, true);
    let proxyUrl: string;
    expect(await until(() => existsSync(cache))).toBeDefined();
    const revision = (await status(adminUrl!)).revision;
    p.kill();
    await p.exit;

    await etcd.kill();
    try {
      const refused = await runPortico(['--store', url, '--listen', '127.0.0.1:0', '--admin', 'off']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/cannot read the routes from .*restart-test.*no cache file is configured \(--store-cache\): not starting without routes/);

      p = start(['--store', url, '--store-cache', cache]);
      ({ proxyUrl, adminUrl } = await startedPortico(p, true));
      expect(p.stderr()).toMatch(new RegExp(`cannot be reached .*: serving the cached routes of revision ${revision} from .*routes-cache\\.json`));
      expect(await (await fetch(`${proxyUrl}/o/x`)).text()).toBe('O /o/x');
      expect(await status(adminUrl!)).toMatchObject({ revision, store: { connected: false } });
      const write = await fetch(`${adminUrl}/v1/routes/o`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
      expect(write.status).toBe(503);
    } finally {
      await etcd.start();
    }
    expect(await until(async () => (await status(adminUrl!)).store.connected, 30_000)).toBeDefined();
    expect(await until(async () => (await fetch(`${adminUrl}/v1/routes/o`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })).status === 204, 30_000)).toBeDefined();
    expect((await fetch(`${proxyUrl}/o/x`)).status).toBe(404);
  }, 120_000);

  it('configuration checks: a bad --store URL and routes beside an etcd store exit 2 with the reason', async () => {
    let r = await runPortico(['--store', 'etcd://127.0.0.1:2379', '--check']);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining('expected etcd://HOST:PORT[,HOST:PORT...]/PREFIX') as string });
    r = await runPortico(['--store', `etcd://${etcd.endpoint}/x`, '--route', `/a=${origin.url}`, '--check']);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining('with an etcd store the routes live in etcd') as string });
    const cfg = join(tmp.dir, 'etcd-config.json');
    writeFileSync(cfg, JSON.stringify({ store: { type: 'etcd', endpoints: [etcd.endpoint], prefix: 'no-slash' } }));
    r = await runPortico(['--config', cfg, '--check']);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining('/store') as string });
  }, 60_000);
});
