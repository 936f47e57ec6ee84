// TLS session resumption on a TLS listener (docs/tls.md, "Session resumption"): tickets on by
// default, a client resumes its session on the next connection (TLS 1.3 and 1.2), on another
// process with the same ticket keys (the workers, the fleet), after a certificate change, and
// after one key rotation but not two; off with sessionTickets.enabled false. Real certificates
// (openssl), real handshakes on loopback.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { TestPki, type IssuedCert } from '../helpers/certs.js';
import { startProxy, startHttpOrigin, type Started } from '../helpers/harness.js';
import { tlsGet } from '../helpers/tls-session.js';
import { pino } from 'pino';
import { PREVIOUS_KEY_GRACE_MS, newTicketKeySet, rotateTicketKeys, type TicketKeySet } from '../../src/tls/ticket-keys.js';
import { LocalTicketKeys } from '../../admin/tls/ticket-key-rotation.js';
import { sleep } from '../helpers/harness.js';

let pki: TestPki;
let a: IssuedCert;
let b: IssuedCert;
let origin: Awaited<ReturnType<typeof startHttpOrigin>>;

beforeAll(async () => {
  pki = new TestPki();
  a = pki.issue({ names: ['a.test'], ips: ['127.0.0.1'] });
  b = pki.issue({ names: ['b.test'] });
  origin = await startHttpOrigin((req, res) => res.end(`hello ${req.url}`));
});

afterAll(async () => {
  await origin.close();
  pki.close();
});

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

async function tlsProxy(extra: Record<string, unknown> = {}): Promise<Started> {
  const p = await startProxy({
    listen: false,
    listeners: [{ id: 'web', listen: '127.0.0.1:0', tls: { certificates: [a, b].map((c) => ({ cert: c.cert, key: c.key })) } }],
    routes: [{ id: 'all', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }],
    ...extra,
  });
  stops.push(() => p.close());
  return p;
}

const get = (port: number, session?: Buffer, maxVersion?: 'TLSv1.2' | 'TLSv1.3', servername = 'b.test') => tlsGet(port, { servername, ca: pki.caPem, session, maxVersion });

describe('TLS session resumption', () => {
  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`a client resumes its session on its next connection (${version}), with the certificate SNI chose`, async () => {
      const p = await tlsProxy();
      const first = await get(p.port, undefined, version);
      expect(first).toMatchObject({ reused: false, status: 200, body: 'hello /' });
      expect(first.session).toBeDefined();
      const second = await get(p.port, first.session, version);
      expect(second).toMatchObject({ reused: true, status: 200, body: 'hello /' });
    });
  }

  it('a client that offers its ticket again resumes every time', async () => {
    const p = await tlsProxy();
    const first = await get(p.port);
    for (let i = 0; i < 3; i++) expect((await get(p.port, first.session)).reused).toBe(true);
  });

  it('resumes on another process with the same ticket keys, and only there', async () => {
    const [p, q, other] = [await tlsProxy(), await tlsProxy(), await tlsProxy()];
    const keys = newTicketKeySet();
    p.proxy.setTicketKeys(keys);
    q.proxy.setTicketKeys(keys);
    const first = await get(p.port);
    expect((await get(q.port, first.session)).reused).toBe(true);
    expect((await get(other.port, first.session)).reused).toBe(false);
  });

  it('a key rotation keeps the tickets of the previous key valid while their sessions can be (then they get a new one), not after', async () => {
    const p = await tlsProxy();
    const k1 = newTicketKeySet();
    p.proxy.setTicketKeys(k1);
    const old = await get(p.port);
    const k2 = rotateTicketKeys(k1);
    p.proxy.setTicketKeys(k2);
    const afterOne = await get(p.port, old.session);
    expect(afterOne.reused).toBe(true);
    // ... and the client got a ticket under the new key, which survives the next rotation
    expect(afterOne.session).toBeDefined();
    p.proxy.setTicketKeys(rotateTicketKeys(k2));
    expect((await get(p.port, old.session)).reused).toBe(false);
    expect((await get(p.port, afterOne.session)).reused).toBe(true);
    // a rotation longer ago than the sessions last: the previous key decrypts nothing any more
    const k4 = newTicketKeySet();
    p.proxy.setTicketKeys(k4);
    const under4 = await get(p.port);
    p.proxy.setTicketKeys(rotateTicketKeys(k4, Date.now() - PREVIOUS_KEY_GRACE_MS - 1));
    expect((await get(p.port, under4.session)).reused).toBe(false);
    // and back within a grace (a certificate change in between keeps it)
    const k6 = newTicketKeySet();
    p.proxy.setTicketKeys(k6);
    const under6 = await get(p.port);
    p.proxy.setTicketKeys(rotateTicketKeys(k6));
    p.proxy.certificateStore('web')!.replace([a, b].map((c) => ({ cert: c.certPem, key: c.keyPem })));
    expect((await get(p.port, under6.session)).reused).toBe(true);
  });

  it('still resumes after a certificate change (the new server context gets the keys and the session id context)', async () => {
    const p = await tlsProxy();
    const first = await get(p.port);
    p.proxy.certificateStore('web')!.replace([b, a].map((c) => ({ cert: c.certPem, key: c.keyPem })));
    const second = await get(p.port, first.session);
    expect(second).toMatchObject({ reused: true, status: 200 });
  });

  it('sessionTickets.enabled false: no resumption', async () => {
    const p = await tlsProxy({ sessionTickets: { enabled: false } });
    const first = await get(p.port);
    expect((await get(p.port, first.session)).reused).toBe(false);
    expect(p.proxy.ticketKeys()).toBeUndefined();
  });
});

describe('LocalTicketKeys (one process, or the primary of --workers)', () => {
  it('hands the data plane a set at start, then a rotated one each period with the previous key second', async () => {
    const applied: TicketKeySet[] = [];
    const keys = new LocalTicketKeys(30, async (s) => { applied.push(s); }, pino({ level: 'silent' }));
    await keys.start();
    expect(applied).toHaveLength(1);
    for (let i = 0; i < 200 && applied.length < 3; i++) await sleep(20);
    await keys.close();
    expect(applied.length).toBeGreaterThanOrEqual(3);
    expect(applied[1].keys).toEqual([expect.any(String), applied[0].keys[0]]);
    expect(applied[2].keys).toEqual([expect.any(String), applied[1].keys[0]]);
    expect(new Set(applied.map((s) => s.keys[0])).size).toBe(applied.length);
  });
});
