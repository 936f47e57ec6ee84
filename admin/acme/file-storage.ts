// ACME storage for the file route store: a directory next to the config file (portico.json ->
// portico.acme/), private to its owner (directories 0700, files 0600, written atomically:
// admin/stores/atomic-file.ts):
//   CA/account.json              the account key and URL
//   CA/certificates/NAME.json    one certificate chain and its key per name
//   CA/locks/NAME.lock           held while a process orders NAME (O_EXCL create)
// Several processes may share the directory (an old and a new instance during a deploy): the
// lock makes one of them order, and each reads the others' certificates (a stat of the directory
// every few seconds). A lock is stale when its process is gone (same host) or when it has not been
// refreshed for a minute (the holder touches it every 10 s), and is then taken over.
// Validations are answered by this process only: processes on one machine cannot share a port.
import { mkdir, open, readFile, readdir, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../stores/atomic-file.js';
import { caNamespace, instanceId, type AcmeLock, type AcmeStorage, type LockHeld, type StorageEvents, type StoredAccount, type StoredCertificate } from './acme-storage.js';

const LOCK_REFRESH_MS = 10_000;
const LOCK_STALE_MS = 60_000;
const POLL_MS = 3_000;

/** The directory next to `configPath` that holds the ACME data. */
export function acmeDirectoryFor(configPath: string): string {
  const ext = extname(configPath);
  const stem = basename(configPath, ext === '.json' ? ext : '');
  return join(dirname(configPath), `${stem}.acme`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class FileAcmeStorage implements AcmeStorage {
  readonly where: string;
  readonly instance = instanceId(hostname(), process.pid, randomBytes(3).toString('hex'));
  readonly #dir: string;
  readonly #certs: string;
  readonly #locks: string;
  #poll: NodeJS.Timeout | undefined;
  /** mtime of each certificate file last read or written by this process. */
  readonly #seen = new Map<string, number>();
  #closed = false;

  constructor(root: string, directory: string) {
    this.#dir = join(root, caNamespace(directory));
    this.where = this.#dir;
    this.#certs = join(this.#dir, 'certificates');
    this.#locks = join(this.#dir, 'locks');
  }

  async #ensureDirs(): Promise<void> {
    for (const d of [dirname(this.#dir), this.#dir, this.#certs, this.#locks]) await mkdir(d, { recursive: true, mode: 0o700 });
  }

  async #readJson<T>(file: string): Promise<T | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new Error(`${file}: not JSON (${(e as Error).message})`, { cause: e });
    }
  }

  loadAccount(): Promise<StoredAccount | undefined> {
    return this.#readJson<StoredAccount>(join(this.#dir, 'account.json'));
  }

  async saveAccount(account: StoredAccount): Promise<void> {
    await this.#ensureDirs();
    await writeFileAtomic(join(this.#dir, 'account.json'), JSON.stringify(account, null, 2) + '\n');
  }

  #certFile(name: string): string {
    return join(this.#certs, `${name}.json`);
  }

  async loadCertificate(name: string): Promise<StoredCertificate | undefined> {
    const file = this.#certFile(name);
    const c = await this.#readJson<StoredCertificate>(file);
    if (c) this.#seen.set(name, (await stat(file)).mtimeMs);
    return c;
  }

  async loadCertificates(): Promise<StoredCertificate[]> {
    let files: string[];
    try {
      files = await readdir(this.#certs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: StoredCertificate[] = [];
    for (const f of files.filter((x) => x.endsWith('.json'))) {
      const c = await this.loadCertificate(f.slice(0, -'.json'.length));
      if (c) out.push(c);
    }
    return out;
  }

  async saveCertificate(c: StoredCertificate): Promise<void> {
    await this.#ensureDirs();
    const file = this.#certFile(c.name);
    await writeFileAtomic(file, JSON.stringify(c, null, 2) + '\n');
    this.#seen.set(c.name, (await stat(file)).mtimeMs);
  }

  async tryLock(key: string): Promise<AcmeLock | LockHeld> {
    await this.#ensureDirs();
    const file = join(this.#locks, `${key}.lock`);
    const held = (): AcmeLock => {
      const refresh = setInterval(() => { const now = new Date(); utimes(file, now, now).catch(() => {}); }, LOCK_REFRESH_MS);
      refresh.unref();
      return { release: async () => { clearInterval(refresh); await rm(file, { force: true }); } };
    };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(file, 'wx', 0o600);
        await fh.writeFile(JSON.stringify({ instance: this.instance, host: hostname(), pid: process.pid, at: new Date().toISOString() }));
        await fh.close();
        return held();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = await this.#readJson<{ instance?: string; host?: string; pid?: number }>(file).catch(() => undefined);
      // ours already (an earlier release failed; this process runs one order per name at a time)
      if (holder?.instance === this.instance) return held();
      const mtime = await stat(file).then((s) => s.mtimeMs, () => 0);
      const gone = holder?.host === hostname() && typeof holder.pid === 'number' && !alive(holder.pid);
      if (!gone && Date.now() - mtime < LOCK_STALE_MS) return { heldBy: holder?.instance ?? 'another process' };
      await rm(file, { force: true }); // stale: its holder is gone
    }
    return { heldBy: 'another process' };
  }

  // one process per machine answers on its ports: nothing to share
  async shareChallenge(): Promise<void> {}
  async withdrawChallenge(): Promise<void> {}

  follow(events: StorageEvents): void {
    const scan = async () => {
      let files: string[] = [];
      try {
        files = (await readdir(this.#certs)).filter((x) => x.endsWith('.json'));
      } catch { /* not created yet */ }
      for (const f of files) {
        const name = f.slice(0, -'.json'.length);
        const mtime = await stat(join(this.#certs, f)).then((s) => s.mtimeMs, () => undefined);
        if (mtime === undefined || this.#seen.get(name) === mtime) continue;
        const c = await this.loadCertificate(name).catch(() => undefined);
        if (c) events.certificate(c);
      }
    };
    const tick = () => {
      if (this.#closed) return;
      void scan().finally(() => {
        if (!this.#closed) this.#poll = setTimeout(tick, POLL_MS).unref();
      });
    };
    this.#poll = setTimeout(tick, POLL_MS).unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#poll);
  }
}
