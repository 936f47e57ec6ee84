// A real etcd (Debian's etcd-server, `etcd` on PATH) on loopback with a temporary data dir and free
// ports, for the etcd store tests and benchmarks. Stopped by pid; kill() + start() again keeps the
// data dir and ports (an outage and a recovery).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { etcdArgs } from '../../bench/etcd.js';
import { freePort } from '../../bench/ports.js';

async function healthy(clientPort: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${clientPort}/health`, { signal: AbortSignal.timeout(1000) });
    return res.ok && ((await res.json()) as { health: string }).health === 'true';
  } catch {
    return false;
  }
}

/** With TLS (a test certificate) /health needs a TLS client: accepting TCP is enough there. */
function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export class EtcdServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'portico-etcd-'));
  #child: ChildProcess | undefined;
  #log = '';

  private constructor(readonly clientPort: number, readonly peerPort: number, readonly tls?: { cert: string; key: string; clientCa?: string }) {}

  /** HOST:PORT of the client listener. */
  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  static async start(tls?: { cert: string; key: string; clientCa?: string }): Promise<EtcdServer> {
    const e = new EtcdServer(await freePort(), await freePort(), tls);
    await e.start();
    return e;
  }

  /** Starts (again) on the same ports and data dir; resolves once /health says true. */
  async start(ms = 30_000): Promise<void> {
    const child = spawn('etcd', etcdArgs(this.dir, this.clientPort, this.peerPort, this.tls), { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => { this.#log = (this.#log + d.toString()).slice(-4000); });
    this.#child = child;
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}: ${this.#log}`);
      if (this.tls ? await accepting(this.clientPort) : await healthy(this.clientPort)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`etcd did not become healthy within ${ms} ms: ${this.#log}`);
  }

  /** SIGKILL (an outage); resolves when the process is gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const gone = new Promise((r) => child.once('exit', r));
    process.kill(child.pid, 'SIGKILL');
    await gone;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
