// `portico --workers 2` with a TLS listener: each worker serves it, and a certificate swap through
// the admin API (PUT /v1/tls/:listener/certificates) runs in both workers before the answer, and
// in a worker started after it. Real processes, real certificates (openssl), real handshakes.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import https from 'node:https';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { TestPki, type IssuedCert } from '../helpers/certs.js';
import { startHttpOrigin } from '../helpers/harness.js';
import { ensureBuilt } from '../helpers/built.js';
import { BIN, killAll, spreadOverWorkers, startPortico, until, type Portico } from './helpers.js';
import { tlsGet } from '../helpers/tls-session.js';

let pki: TestPki;
let first: IssuedCert;
let second: IssuedCert;
let third: IssuedCert;
let origin: Awaited<ReturnType<typeof startHttpOrigin>>;

beforeAll(async () => {
  ensureBuilt(BIN, ['src', 'admin']);
  pki = new TestPki();
  first = pki.issue({ names: ['localhost'], ips: ['127.0.0.1'], stem: 'first' });
  second = pki.issue({ names: ['localhost'], ips: ['127.0.0.1'], stem: 'second' });
  third = pki.issue({ names: ['localhost'], ips: ['127.0.0.1'], stem: 'third' });
  origin = await startHttpOrigin((req, res) => {
    const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
    req.resume();
    req.on('end', () => setTimeout(() => res.end('ok'), delay));
  });
}, 180_000);

afterEach(() => killAll());

afterAll(async () => {
  await origin?.close();
  pki?.close();
});

const fingerprint = (c: IssuedCert) => new X509Certificate(c.certPem).fingerprint256;

/** A new connection and handshake (no agent: no session reuse), one slow request: the
 *  fingerprint of the certificate the server presented. */
function handshake(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/slow?delay=1500', servername: 'localhost', ca: pki.caPem, agent: false, timeout: 20_000 }, (res) => {
      const seen = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(seen) : reject(new Error(`status ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function servedBy(p: Portico, port: number): Promise<Set<string>> {
  return new Set(await spreadOverWorkers(p, () => handshake(port)));
}

describe('portico --workers 2 with a TLS listener', () => {
  it('both workers serve it; renewed files and a swap through the admin API reach both (the swap before the answer), and a replacement worker', async () => {
    // the listener's files, renewed in place below
    const cert = join(pki.dir, 'live.pem');
    const key = join(pki.dir, 'live.key');
    copyFileSync(first.cert, cert);
    copyFileSync(first.key, key);
    const p = await startPortico(['--workers', '2', '--route', `/=http://127.0.0.1:${origin.port}`, '--tls-listen', '127.0.0.1:0', '--tls-cert', cert, '--tls-key', key, '--log-level', 'warn']);
    const tlsPort = Number(/https:\/\/127\.0\.0\.1:(\d+)/.exec(p.stderr())![1]);
    expect(await servedBy(p, tlsPort)).toEqual(new Set([fingerprint(first)]));

    // a renewal: the primary sees the new files and both workers switch
    copyFileSync(third.key, key);
    copyFileSync(third.cert, cert);
    let seen = new Set<string>();
    for (let i = 0; i < 15 && !(seen.size === 1 && seen.has(fingerprint(third))); i++) seen = await servedBy(p, tlsPort);
    expect(seen).toEqual(new Set([fingerprint(third)]));

    const listed = JSON.parse((await p.call('GET', '/v1/tls')).body) as { listeners: Array<{ id: string; certificates: Array<{ fingerprint256: string }> }> };
    expect(listed.listeners).toHaveLength(1);
    const id = listed.listeners[0].id;
    expect(listed.listeners[0].certificates.map((c) => c.fingerprint256)).toEqual([fingerprint(third)]);

    // a bad pair changes nothing anywhere (422 from the primary's check)
    const bad = await p.call('PUT', `/v1/tls/${id}/certificates`, { certificates: [{ cert: second.certPem, key: first.keyPem }] });
    expect(bad.status, bad.body).toBe(422);

    // PEM upload: the workers have no files of it; the answer comes once both run it
    const swapped = await p.call('PUT', `/v1/tls/${id}/certificates`, { certificates: [{ cert: second.certPem, key: second.keyPem }] });
    expect(swapped.status, swapped.body).toBe(200);
    expect(await servedBy(p, tlsPort)).toEqual(new Set([fingerprint(second)]));
    expect((JSON.parse((await p.call('GET', '/v1/tls')).body) as { listeners: Array<{ certificates: Array<{ fingerprint256: string }> }> }).listeners[0].certificates[0].fingerprint256).toBe(fingerprint(second));

    // a worker started after the swap (its config names the first files) serves the second too
    const before = await p.status();
    const victim = before.workers[0];
    process.kill(victim.pid!, 'SIGKILL');
    const after = await until(() => p.status(), (s) => s.workers.length === 2 && s.workers.every((w) => w.state === 'ready' && w.pid !== victim.pid), 60_000);
    expect(after.workers.map((w) => w.pid)).not.toContain(victim.pid);
    expect(await servedBy(p, tlsPort)).toEqual(new Set([fingerprint(second)]));
  }, 180_000);

  it('a client resumes its TLS session on either worker: the primary hands both the same ticket keys', async () => {
    const p = await startPortico(['--workers', '2', '--route', `/=http://127.0.0.1:${origin.port}`, '--tls-listen', '127.0.0.1:0', '--tls-cert', first.cert, '--tls-key', first.key, '--log-level', 'warn']);
    const tlsPort = Number(/https:\/\/127\.0\.0\.1:(\d+)/.exec(p.stderr())![1]);
    const initial = await tlsGet(tlsPort, { ca: pki.caPem });
    expect(initial).toMatchObject({ reused: false, status: 200 });
    // the same ticket on connections held open on both workers at once: both resume it
    const resumed = await spreadOverWorkers(p, () => tlsGet(tlsPort, { ca: pki.caPem, session: initial.session, path: '/slow?delay=1500' }));
    expect(resumed.map((r) => [r.reused, r.status])).toEqual(resumed.map(() => [true, 200]));
  }, 180_000);
});
