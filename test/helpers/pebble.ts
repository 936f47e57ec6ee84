// Debian's `pebble` (Let's Encrypt's test ACME CA) and `pebble-challtestsrv` (its DNS, which answers
// every name with 127.0.0.1), started on loopback for the automatic HTTPS tests, stopped by pid.
// The Debian package ships no certificate for pebble's own HTTPS listener, so one is made here with
// openssl (the `caFile` Portico trusts); pebble's issuing root is made by pebble at each start and
// read from its management interface (/roots/0), which is what the issued certificates verify
// against. Pebble's validation ports (`httpPort`, `tlsPort`) point at the Portico listeners under
// test. Its randomness is turned off for deterministic tests: no sleep before a validation, no
// rejected nonces, no reuse of valid authorizations (each order validates).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { freePort } from '../../bench/ports.js';
import { sleep } from './harness.js';

export const PEBBLE_INSTALLED = (() => {
  try {
    execFileSync('pebble', ['-h'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    // `pebble -h` exits 2 after printing its usage: it is there
    return (e as { status?: number }).status === 2;
  }
})();

export interface PebbleOptions {
  /** Portico's plain listener port (HTTP-01 validations go there). */
  httpPort: number;
  /** Portico's TLS listener port (TLS-ALPN-01 validations go there). */
  tlsPort: number;
  /** Seconds the issued certificates are valid (default pebble's five years). */
  validitySeconds?: number;
}

/** pebble-challtestsrv: DNS on loopback that answers every A query with 127.0.0.1 (no AAAA). */
export class ChallTestSrv {
  #child: ChildProcess | undefined;
  private constructor(readonly dnsPort: number) {}

  static async start(): Promise<ChallTestSrv> {
    const srv = new ChallTestSrv(await freePort());
    const child = spawn('pebble-challtestsrv', [
      '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${srv.dnsPort}`,
      '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${await freePort()}`,
    ], { stdio: 'ignore' });
    srv.#child = child;
    await sleep(300); // it binds at once; a DNS query before that is retried by pebble anyway
    if (child.exitCode !== null) throw new Error(`pebble-challtestsrv exited with ${child.exitCode}`);
    return srv;
  }

  stop(): void {
    const pid = this.#child?.pid;
    if (pid !== undefined && this.#child!.exitCode === null) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
}

export class Pebble {
  readonly dir = mkdtempSync(join(tmpdir(), 'portico-pebble-'));
  /** The certificate of pebble's own HTTPS listener (Portico's acme.caFile). */
  readonly tlsCaFile = join(this.dir, 'pebble-tls.pem');
  #child: ChildProcess | undefined;
  #log = '';
  /** pebble's issuing root of the current run (PEM). */
  root = '';

  private constructor(readonly port: number, readonly managementPort: number, readonly options: PebbleOptions, readonly dns: ChallTestSrv) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=pebble', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(this.dir, 'pebble-tls.key'), '-out', this.tlsCaFile], { stdio: 'ignore' });
    writeFileSync(join(this.dir, 'pebble.json'), JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`, managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: this.tlsCaFile, privateKey: join(this.dir, 'pebble-tls.key'),
        httpPort: options.httpPort, tlsPort: options.tlsPort, ocspResponderURL: '', externalAccountBindingRequired: false,
        ...(options.validitySeconds ? { certificateValidityPeriod: options.validitySeconds } : {}),
      },
    }));
  }

  static async start(options: PebbleOptions): Promise<Pebble> {
    const p = new Pebble(await freePort(), await freePort(), options, await ChallTestSrv.start());
    await p.start();
    return p;
  }

  /** The ACME directory URL. */
  get directory(): string {
    return `https://127.0.0.1:${this.port}/dir`;
  }

  /** Everything pebble logged (all its runs). */
  log(): string {
    return this.#log;
  }

  /** New orders pebble received (all its runs). */
  orders(): number {
    return (this.#log.match(/POST \/order-plz/g) ?? []).length;
  }

  /** Starts (again, on the same ports: a new root, no accounts); resolves once it answers. */
  async start(): Promise<void> {
    const child = spawn('pebble', ['-config', join(this.dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${this.dns.dnsPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    });
    const collect = (d: Buffer) => { this.#log += d.toString(); };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    this.#child = child;
    const ca = readFileSync(this.tlsCaFile, 'utf8');
    const agent = new Agent({ connect: { ca } });
    try {
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`pebble exited with ${child.exitCode}: ${this.#log}`);
        try {
          const res = await request(`https://127.0.0.1:${this.managementPort}/roots/0`, { dispatcher: agent });
          this.root = await res.body.text();
          if (res.statusCode === 200 && this.root.includes('BEGIN CERTIFICATE')) return;
        } catch { /* not listening yet */ }
        if (Date.now() > deadline) throw new Error(`pebble did not start: ${this.#log}`);
        await sleep(100);
      }
    } finally {
      await agent.close();
    }
  }

  /** SIGKILL (the CA goes away); resolves once it is gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.pid === undefined) return;
    const gone = new Promise((r) => child.once('exit', r));
    process.kill(child.pid, 'SIGKILL');
    await gone;
  }

  async stop(): Promise<void> {
    await this.kill();
    this.dns.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
