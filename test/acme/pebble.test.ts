// Automatic HTTPS against a real ACME CA: Debian's pebble and pebble-challtestsrv on loopback, their
// validation ports pointed at the listeners of a real `portico` process (file store: the config
// file's directory). Every wait polls GET /v1/tls for a condition with a generous bound; nothing
// asserts how long something took.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../bench/ports.js';
import { ensureBuilt } from '../helpers/built.js';
import { startHttpOrigin, sleep } from '../helpers/harness.js';
import { Pebble } from '../helpers/pebble.js';
import { BIN, metricSum, spreadOverWorkers } from '../cluster/helpers.js';
import { httpsGet, killAcmePorticos, startAcmePortico, waitFor } from './helpers.js';

let origin: Awaited<ReturnType<typeof startHttpOrigin>>;
const stops: Array<() => unknown> = [];

beforeAll(async () => {
  ensureBuilt(BIN, ['src', 'admin']);
  origin = await startHttpOrigin((req, res) => {
    const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
    req.resume();
    req.on('end', () => setTimeout(() => res.end(`hello ${String(req.headers['x-forwarded-host'] ?? req.headers.host)}`), delay));
  });
}, 180_000);

afterEach(async () => {
  killAcmePorticos();
  for (const s of stops.splice(0).reverse()) await s();
});

afterAll(async () => {
  await origin?.close();
});

/** A directory for the config file (and so the ACME data), with pebble's TLS certificate in it. */
function workDir(pebble: Pebble): string {
  const dir = mkdtempSync(join(tmpdir(), 'portico-acme-'));
  copyFileSync(pebble.tlsCaFile, join(dir, 'pebble-tls.pem'));
  stops.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startPebble(o: Parameters<typeof Pebble.start>[0]): Promise<Pebble> {
  const pebble = await Pebble.start(o);
  stops.push(() => pebble.stop());
  return pebble;
}

const route = (id: string, host: string) => ({ id, host, pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] });

describe('automatic HTTPS with pebble', () => {
  it("the issue's example configuration: a route host gets a certificate by HTTP-01 that verifies against pebble's root, kept next to the config file (0600) and served after a restart without a new order", async () => {
    const httpPort = await freePort();
    const tlsPort = await freePort();
    const pebble = await startPebble({ httpPort, tlsPort });
    const dir = workDir(pebble);
    // issue 24's example, with loopback addresses and free ports in place of 0.0.0.0:80 and :443,
    // pebble's directory, and the test's origin (`--listen`: the default main listener's port
    // 8080 may be taken on a shared machine)
    const config = {
      acme: { directory: pebble.directory, email: 'ops@a.test', caFile: 'pebble-tls.pem' },
      listeners: [{ listen: `127.0.0.1:${httpPort}` }, { listen: `127.0.0.1:${tlsPort}`, tls: { acme: true } }],
      routes: [route('a', 'a.test')],
    };
    let p = await startAcmePortico(dir, config, ['--listen', '127.0.0.1:0']);
    const issued = (await waitFor('a.test issued', () => p.name('a.test'), (n) => n?.status === 'valid'))!;
    expect(issued).toMatchObject({ listeners: ['tls-1'], failures: 0, challenge: 'http-01' });
    expect(issued.issuer).toMatch(/Pebble Intermediate CA/);
    expect(Date.parse(issued.nextRenewal!)).toBeLessThan(Date.parse(issued.notAfter!));
    const got = await httpsGet(tlsPort, 'a.test', pebble.root);
    expect(got).toEqual({ fingerprint: issued.fingerprint256, status: 200, body: 'hello a.test' });
    expect(pebble.log()).toMatch(/Attempting to validate w\/ HTTP: http:\/\/a\.test:\d+\/\.well-known\/acme-challenge\//);

    // kept next to the config file, readable by its owner only
    const state = await p.acme();
    expect(state.account?.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
    expect(state.storage.startsWith(join(dir, 'portico.acme'))).toBe(true);
    const certFile = join(state.storage, 'certificates', 'a.test.json');
    const accountFile = join(state.storage, 'account.json');
    for (const f of [certFile, accountFile]) expect(statSync(f).mode & 0o777, f).toBe(0o600);
    for (const d of [join(dir, 'portico.acme'), state.storage]) expect(statSync(d).mode & 0o777, d).toBe(0o700);
    const account = readFileSync(accountFile, 'utf8');

    const metrics = await (await fetch(`${p.admin}/metrics`)).text();
    expect(metricSum(metrics, 'portico_acme_certificate_expiry_days', 'name="a.test"')).toBeGreaterThan(30);
    expect(metricSum(metrics, 'portico_acme_orders_total', 'result="issued"')).toBe(1);
    expect(metricSum(metrics, 'portico_acme_renewal_failures', 'name="a.test"')).toBe(0);
    expect(pebble.orders()).toBe(1);

    // a restart serves the stored certificate at once, orders nothing, keeps the account
    await p.kill();
    p = await startAcmePortico(dir, config, ['--listen', '127.0.0.1:0']);
    expect((await p.name('a.test'))?.status).toBe('valid');
    expect((await httpsGet(tlsPort, 'a.test', pebble.root)).fingerprint).toBe(issued.fingerprint256);
    await sleep(1000);
    expect(pebble.orders()).toBe(1);
    expect(readFileSync(accountFile, 'utf8')).toBe(account);
  }, 240_000);

  it('TLS-ALPN-01 with --workers 2: route hosts and acmeNames get certificates through the TLS listener alone, and both workers serve them', async () => {
    const tlsPort = await freePort();
    const pebble = await startPebble({ httpPort: await freePort(), tlsPort });
    const dir = workDir(pebble);
    const p = await startAcmePortico(dir, {
      acme: { directory: pebble.directory, caFile: 'pebble-tls.pem', challenges: ['tls-alpn-01'] },
      listen: false,
      listeners: [{ id: 'web', listen: `127.0.0.1:${tlsPort}`, tls: { acme: true, acmeNames: ['www.b.test'] } }],
      routes: [route('b', 'b.test'), route('wild', '*.w.test'), route('ip', '127.0.0.1')],
    }, ['--workers', '2']);
    for (const name of ['b.test', 'www.b.test']) {
      const n = (await waitFor(`${name} issued`, () => p.name(name), (x) => x?.status === 'valid'))!;
      expect(n.challenge).toBe('tls-alpn-01');
    }
    // answered by the workers' TLS listener (pebble validates from 3 perspectives), never over HTTP
    // (log lines leave in batches, at least every 0.5 s)
    await waitFor('the validations logged', async () => p.lines().filter((l) => l.msg === 'ACME TLS-ALPN-01 validation answered').length, (n) => n >= 2, 10_000);
    expect(pebble.log()).not.toMatch(/validate w\/ HTTP/);
    // skipped with the reason
    const skipped = (await p.acme()).skipped.map((s) => [s.name, s.reason]);
    expect(skipped).toEqual([['*.w.test', expect.stringMatching(/DNS-01/)], ['127.0.0.1', expect.stringMatching(/IP address/)]]);
    const expected = (await p.name('b.test'))!.fingerprint256;
    const seen = await spreadOverWorkers(p, () => httpsGet(tlsPort, 'b.test', pebble.root, '/slow?delay=1500'));
    expect(new Set(seen.map((s) => `${s.status} ${s.fingerprint}`))).toEqual(new Set([`200 ${expected}`]));
  }, 240_000);

  it('renewal under load (30 s certificates, --workers 2): certificates are replaced several times and not one handshake fails', async () => {
    const httpPort = await freePort();
    const tlsPort = await freePort();
    const pebble = await startPebble({ httpPort, tlsPort, validitySeconds: 30 });
    const dir = workDir(pebble);
    const p = await startAcmePortico(dir, {
      acme: { directory: pebble.directory, caFile: 'pebble-tls.pem' },
      listen: false,
      listeners: [{ listen: `127.0.0.1:${httpPort}` }, { listen: `127.0.0.1:${tlsPort}`, tls: { acme: true } }],
      routes: [route('a', 'a.test')],
    }, ['--workers', '2']);
    const first = (await waitFor('a.test issued', () => p.name('a.test'), (n) => n?.status === 'valid'))!;
    // new connections (a full handshake each, verified against pebble's root) from 4 clients
    const load = { ok: 0, failed: [] as string[], fingerprints: new Set<string>() };
    let running = true;
    const clients = Array.from({ length: 4 }, async () => {
      while (running) {
        try {
          const r = await httpsGet(tlsPort, 'a.test', pebble.root);
          if (r.status !== 200) throw new Error(`status ${r.status}`);
          load.ok++;
          load.fingerprints.add(r.fingerprint);
        } catch (e) {
          load.failed.push((e as Error).message);
        }
      }
    });
    try {
      await waitFor('two renewals served', async () => load.fingerprints.size, (n) => n >= 3, 150_000);
    } finally {
      running = false;
      await Promise.all(clients);
    }
    expect(load.failed).toEqual([]);
    expect(load.ok).toBeGreaterThan(20);
    expect(load.fingerprints.has(first.fingerprint256!)).toBe(true);
    const now = (await p.name('a.test'))!;
    expect(now.failures).toBe(0);
    expect(pebble.orders()).toBeGreaterThanOrEqual(3);
  }, 240_000);

  it('pebble down: the certificate keeps being served, the renewal is retried and the state says why; a new name fails its handshakes with a warning; pebble back: renewed with the same account key', async () => {
    const httpPort = await freePort();
    const tlsPort = await freePort();
    const pebble = await startPebble({ httpPort, tlsPort, validitySeconds: 60 });
    const dir = workDir(pebble);
    const p = await startAcmePortico(dir, {
      acme: { directory: pebble.directory, caFile: 'pebble-tls.pem', renewBefore: '50%' },
      listen: false,
      listeners: [{ listen: `127.0.0.1:${httpPort}` }, { listen: `127.0.0.1:${tlsPort}`, tls: { acme: true } }],
      routes: [route('a', 'a.test')],
    });
    const first = (await waitFor('a.test issued', () => p.name('a.test'), (n) => n?.status === 'valid'))!;
    const firstRoot = pebble.root;
    const storage = (await p.acme()).storage;
    const accountBefore = JSON.parse(readFileSync(join(storage, 'account.json'), 'utf8')) as { keyPem: string; url: string };
    await pebble.kill();

    // a name added while the CA is away: no certificate, so its handshakes fail (and say why)
    expect((await p.call('POST', '/v1/routes', route('c', 'c.test'))).status).toBe(201);
    const c = (await waitFor('c.test failed', () => p.name('c.test'), (n) => (n?.failures ?? 0) >= 1))!;
    expect(c).toMatchObject({ status: 'failed', lastError: { code: 'PRX_ERR_ACME' } });
    expect(c.lastError!.message).toMatch(/did not answer .*ECONNREFUSED/);
    expect(c.nextAttempt).toBeDefined();
    await expect(httpsGet(tlsPort, 'c.test', firstRoot)).rejects.toThrow();
    await waitFor('the refused handshake logged', async () => p.lines().some((l) => l.code === 'PRX_TLS_NO_CERTIFICATE' && l.servername === 'c.test' && l.level === 40), (x) => x, 10_000);

    // a.test's renewal (due at half its 60 s life) fails and is retried; the old certificate stays
    const failing = (await waitFor('a.test renewal retried', () => p.name('a.test'), (n) => (n?.failures ?? 0) >= 2, 120_000))!;
    expect(failing).toMatchObject({ status: 'failed', fingerprint256: first.fingerprint256, notAfter: first.notAfter, lastError: { code: 'PRX_ERR_ACME' } });
    expect(failing.lastError!.message).toMatch(/ECONNREFUSED/);
    expect(Date.parse(failing.nextAttempt!)).toBeGreaterThan(Date.parse(failing.lastError!.at));
    if (Date.now() < Date.parse(first.notAfter!) - 2000) expect((await httpsGet(tlsPort, 'a.test', firstRoot)).fingerprint).toBe(first.fingerprint256);
    const warned = await waitFor('the failures logged', async () => p.lines().filter((l) => l.msg === 'acme: order failed; retrying later' && l.name === 'a.test'), (w) => w.length >= 2, 10_000);
    expect(warned[0]).toMatchObject({ level: 40, code: 'PRX_ERR_ACME' });
    const metrics = await (await fetch(`${p.admin}/metrics`)).text();
    expect(metricSum(metrics, 'portico_acme_renewal_failures', 'name="a.test"')).toBeGreaterThanOrEqual(2);

    // the CA is back (a new root, and it forgot the account): renewed, the account key kept
    await pebble.start();
    const renewed = (await waitFor('a.test renewed', () => p.name('a.test'), (n) => n?.status === 'valid' && n.fingerprint256 !== first.fingerprint256, 120_000))!;
    expect(renewed.failures).toBe(0);
    expect((await httpsGet(tlsPort, 'a.test', pebble.root)).fingerprint).toBe(renewed.fingerprint256);
    const accountAfter = JSON.parse(readFileSync(join(storage, 'account.json'), 'utf8')) as { keyPem: string; url: string };
    expect(accountAfter.keyPem).toBe(accountBefore.keyPem);
    await waitFor('the new registration logged', async () => p.lines().some((l) => l.msg === 'acme: the CA does not know the account any more; registering the same key again'), (x) => x, 10_000);
  }, 300_000);

  it('a rate-limit answer (429, Retry-After) is honoured: no new order before the time the CA gave, then the certificate', async () => {
    const httpPort = await freePort();
    const tlsPort = await freePort();
    const pebble = await startPebble({ httpPort, tlsPort });
    const dir = workDir(pebble);
    // an HTTPS relay in front of pebble (same certificate; Host kept, so pebble's URLs name the
    // relay) that refuses the first new order as Let's Encrypt does when a limit is reached
    const orders: number[] = [];
    const relay = https.createServer({ cert: readFileSync(pebble.tlsCaFile), key: readFileSync(join(pebble.dir, 'pebble-tls.key')) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        if (req.method === 'POST' && req.url === '/order-plz') {
          orders.push(Date.now());
          if (orders.length === 1) {
            res.writeHead(429, { 'content-type': 'application/problem+json', 'retry-after': '4' });
            res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many new orders recently', status: 429 }));
            return;
          }
        }
        const up = https.request({ host: '127.0.0.1', port: pebble.port, method: req.method, path: req.url, headers: req.headers, ca: readFileSync(pebble.tlsCaFile), servername: 'localhost' }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        up.on('error', () => res.destroy());
        up.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
    stops.push(() => new Promise<void>((r) => { relay.closeAllConnections(); relay.close(() => r()); }));
    const relayPort = (relay.address() as { port: number }).port;
    const p = await startAcmePortico(dir, {
      acme: { directory: `https://127.0.0.1:${relayPort}/dir`, caFile: 'pebble-tls.pem' },
      listen: false,
      listeners: [{ listen: `127.0.0.1:${httpPort}` }, { listen: `127.0.0.1:${tlsPort}`, tls: { acme: true } }],
      routes: [route('a', 'a.test')],
    });
    const limited = (await waitFor('rate limited', () => p.name('a.test'), (n) => n?.lastError !== undefined || n?.status === 'valid'))!;
    expect(limited).toMatchObject({ status: 'failed', lastError: { code: 'PRX_ERR_ACME_RATE_LIMITED' } });
    expect(limited.lastError!.message).toMatch(/too many new orders recently/);
    expect(Date.parse(limited.nextAttempt!) - orders[0]).toBeGreaterThanOrEqual(3500);
    await waitFor('a.test issued after the limit', () => p.name('a.test'), (n) => n?.status === 'valid');
    expect(orders).toHaveLength(2);
    expect(orders[1] - orders[0]).toBeGreaterThanOrEqual(3500);
    const metrics = await (await fetch(`${p.admin}/metrics`)).text();
    expect(metricSum(metrics, 'portico_acme_orders_total', 'result="rate_limited"')).toBe(1);
    expect((await httpsGet(tlsPort, 'a.test', pebble.root)).status).toBe(200);
  }, 240_000);
});
