// Automatic HTTPS in a fleet: two `portico --workers 2` instances on one real etcd (Debian's
// etcd-server) and one real ACME CA (pebble). pebble's validation ports point at instance A only,
// as a load balancer would send the CA's request to any one instance: an order placed by B is
// validated through A, which answers it from the validation B shared in etcd. One order per name
// across the fleet; the certificate reaches all four workers.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../bench/ports.js';
import { ensureBuilt } from '../helpers/built.js';
import { startHttpOrigin } from '../helpers/harness.js';
import { EtcdServer } from '../helpers/etcd.js';
import { Pebble } from '../helpers/pebble.js';
import { BIN, spreadOverWorkers } from '../cluster/helpers.js';
import { httpsGet, killAcmePorticos, startAcmePortico, waitFor, type AcmePortico } from './helpers.js';

let origin: Awaited<ReturnType<typeof startHttpOrigin>>;
let etcd: EtcdServer;
const dirs: string[] = [];

beforeAll(async () => {
  ensureBuilt(BIN, ['src', 'admin']);
  origin = await startHttpOrigin((req, res) => {
    const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
    req.resume();
    req.on('end', () => setTimeout(() => res.end(`hello ${String(req.headers['x-forwarded-host'])}`), delay));
  });
  etcd = await EtcdServer.start();
}, 180_000);

afterEach(() => killAcmePorticos());

afterAll(async () => {
  await origin?.close();
  await etcd?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('automatic HTTPS in a fleet on etcd', () => {
  it('two instances with --workers 2: exactly one order per name, validated by whichever instance the CA reaches, served by all four workers', async () => {
    const [httpA, tlsA, httpB, tlsB] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const pebble = await Pebble.start({ httpPort: httpA, tlsPort: tlsA });
    try {
      const instance = async (httpPort: number, tlsPort: number, acmeNames: string[]): Promise<AcmePortico> => {
        const dir = mkdtempSync(join(tmpdir(), 'portico-fleet-'));
        dirs.push(dir);
        copyFileSync(pebble.tlsCaFile, join(dir, 'pebble-tls.pem'));
        return startAcmePortico(dir, {
          acme: { directory: pebble.directory, caFile: 'pebble-tls.pem', challenges: ['http-01'] },
          listen: false,
          listeners: [{ listen: `127.0.0.1:${httpPort}` }, { id: 'web', listen: `127.0.0.1:${tlsPort}`, tls: { acme: true, acmeNames } }],
          store: { type: 'etcd', endpoints: [etcd.endpoint], prefix: '/fleet' },
        }, ['--workers', '2']);
      };
      const [a, b] = await Promise.all([instance(httpA, tlsA, []), instance(httpB, tlsB, ['b-only.test'])]);

      // a name only B serves: B orders it, the CA asks A (pebble's ports), A answers from etcd
      const bOnly = (await waitFor('b-only.test issued by B', () => b.name('b-only.test'), (n) => n?.status === 'valid'))!;
      expect(bOnly.challenge).toBe('http-01');
      expect(pebble.log()).toContain(`http://b-only.test:${httpA}/.well-known/acme-challenge/`);
      expect(await a.name('b-only.test')).toBeUndefined();
      expect(pebble.orders()).toBe(1);

      // a route added through A reaches both instances: one of them orders, both serve the result
      expect((await a.call('POST', '/v1/routes', { id: 'a', host: 'a.test', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] })).status).toBe(201);
      const routeRevision = (JSON.parse((await a.call('GET', '/v1/routes')).body) as { revision: number }).revision;
      const onA = (await waitFor('a.test on A', () => a.name('a.test'), (n) => n?.status === 'valid'))!;
      const onB = (await waitFor('a.test on B', () => b.name('a.test'), (n) => n?.status === 'valid'))!;
      expect(onB.fingerprint256).toBe(onA.fingerprint256);
      expect(pebble.orders()).toBe(2);
      const orderedBy = await waitFor('the order logged', async () => [a, b].map((p) => p.lines().filter((l) => l.msg === 'acme: ordering a certificate' && l.name === 'a.test').length), (n) => n[0] + n[1] >= 1, 10_000);
      expect([...orderedBy].sort()).toEqual([0, 1]);
      // the other one took it from etcd and serves it in its workers
      const other = orderedBy[0] === 0 ? a : b;
      await waitFor('taken from etcd', async () => other.lines().some((l) => l.msg === 'acme: certificate taken from the storage (ordered by another instance) and served' && l.name === 'a.test'), (x) => x, 10_000);
      // certificates, locks and validations under the prefix are not routes: no new route revision
      for (const p of [a, b]) expect((JSON.parse((await p.call('GET', '/v1/routes')).body) as { revision: number }).revision).toBe(routeRevision);

      // all four workers serve it (each handshake verified against pebble's root)
      for (const [p, port] of [[a, tlsA], [b, tlsB]] as const) {
        const seen = await spreadOverWorkers(p, () => httpsGet(port, 'a.test', pebble.root, '/slow?delay=1500'));
        expect(new Set(seen.map((s) => `${s.status} ${s.fingerprint} ${s.body}`))).toEqual(new Set([`200 ${onA.fingerprint256} hello a.test`]));
      }
    } finally {
      await pebble.stop();
    }
  }, 300_000);
});
