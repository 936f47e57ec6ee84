// TLS session tickets shared by a fleet through a real etcd (admin/stores/etcd-ticket-keys.ts):
// a client resumes on another instance of the fleet (two `portico` processes on one prefix), not
// on an instance of another prefix; the key is created once when instances start together, a
// rotation by one reaches the others (the previous key kept), and a deleted key is made again.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { Etcd3 } from 'etcd3';
import { EtcdServer } from '../helpers/etcd.js';
import { ensureBuilt } from '../helpers/built.js';
import { TestPki, type IssuedCert } from '../helpers/certs.js';
import { startHttpOrigin } from '../helpers/harness.js';
import { tlsGet } from '../helpers/tls-session.js';
import { silent } from '../admin/helpers.js';
import { BIN, killAll, startPortico, until } from '../cluster/helpers.js';
import { EtcdTicketKeys, ticketKeysKey } from '../../admin/stores/etcd-ticket-keys.js';
import { etcdStore } from './fleet.js';
import type { TicketKeySet } from '../../src/tls/ticket-keys.js';

let etcd: EtcdServer;
let pki: TestPki;
let cert: IssuedCert;
let origin: Awaited<ReturnType<typeof startHttpOrigin>>;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  ensureBuilt(BIN, ['src', 'admin']);
  etcd = await EtcdServer.start();
  pki = new TestPki();
  cert = pki.issue({ names: ['localhost'], ips: ['127.0.0.1'] });
  origin = await startHttpOrigin((req, res) => res.end('ok'));
}, 180_000);

afterEach(async () => {
  killAll();
  for (const c of closers.splice(0).reverse()) await c();
});

afterAll(async () => {
  await origin?.close();
  pki?.close();
  await etcd?.stop();
});

async function instance(prefix: string) {
  const p = await startPortico(['--store', `etcd://${etcd.endpoint}${prefix}`, '--tls-listen', '127.0.0.1:0', '--tls-cert', cert.cert, '--tls-key', cert.key, '--log-level', 'warn']);
  const tlsPort = Number(/https:\/\/127\.0\.0\.1:(\d+)/.exec(p.stderr())![1]);
  return { p, tlsPort };
}

/** An EtcdTicketKeys on `prefix` that records every set it hands on. */
async function keySource(prefix: string, rotateMs = 3_600_000) {
  const applied: TicketKeySet[] = [];
  const source = new EtcdTicketKeys(etcdStore(etcd.endpoint, prefix), rotateMs, async (s) => { applied.push(s); }, silent);
  closers.push(() => source.close());
  await source.start();
  return { source, applied };
}

describe('TLS session tickets across a fleet on etcd', () => {
  it('a client resumes its session on another instance of the fleet, not on another fleet\'s', async () => {
    const [a, b, other] = await Promise.all([instance('/tickets-fleet'), instance('/tickets-fleet'), instance('/tickets-other')]);
    // the store holds no route: 404 over TLS, the handshake is what counts
    const first = await tlsGet(a.tlsPort, { ca: pki.caPem });
    expect(first).toMatchObject({ reused: false, status: 404 });
    expect(await tlsGet(b.tlsPort, { ca: pki.caPem, session: first.session })).toMatchObject({ reused: true, status: 404 });
    expect(await tlsGet(a.tlsPort, { ca: pki.caPem, session: first.session })).toMatchObject({ reused: true, status: 404 });
    expect(await tlsGet(other.tlsPort, { ca: pki.caPem, session: first.session })).toMatchObject({ reused: false, status: 404 });
  }, 120_000);

  it('the key is made once by instances starting together; a rotation reaches every instance with the previous key kept; a deleted key is made again', async () => {
    const [x, y] = await Promise.all([keySource('/tickets-rotate'), keySource('/tickets-rotate')]);
    expect(x.source.current()).toEqual(y.source.current());
    const before = x.source.current()!;

    // a short period: whichever rotates first, both end up on the same new set
    const fast = await keySource('/tickets-rotate', 1000);
    const rotated = await until(async () => [x.source.current(), y.source.current(), fast.source.current()], (sets) => sets.every((s) => s?.keys[1] === before.keys[0]), 15_000);
    expect(rotated[0]).toEqual(rotated[1]);
    expect(rotated[0]!.keys).toHaveLength(2);
    await fast.source.close();

    const client = new Etcd3({ hosts: `http://${etcd.endpoint}` });
    closers.push(async () => client.close());
    await client.delete().key(ticketKeysKey('/tickets-rotate'));
    const remade = await until(async () => [x.source.current(), y.source.current()], (sets) => sets.every((s) => s?.keys.length === 1 && s.keys[0] !== before.keys[0]) && sets[0]?.keys[0] === sets[1]?.keys[0], 15_000);
    expect(remade[0]).toEqual(remade[1]);
    expect(await client.get(ticketKeysKey('/tickets-rotate')).string()).toBe(JSON.stringify(remade[0]));
  }, 60_000);
});
