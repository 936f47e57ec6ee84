// Reloads a listener's certificates when their files change (renewals: certbot, cert-manager,
// acme.sh write new files or swap a symlink). Polling with fs.watchFile follows a path across
// renames and symlink swaps, which fs.watch does not. A change is applied after a short settle
// time (a renewal writes the certificate and the key one after the other); a pair that does not
// load or match yet is logged and the running certificates stay until the next change. A client
// CA bundle read from a file (mutual TLS, the admin API's listener) is followed the same way.
import { watchFile, unwatchFile, type Stats } from 'node:fs';
import type { Logger } from 'pino';
import type { CertificateStore } from './certificate-store.js';
import { readCaBundle, readKeyPair, type KeyPair } from './pem.js';

const SETTLE_MS = 200;

export class CertificateWatcher {
  readonly #store: CertificateStore;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  readonly #watched = new Map<string, (curr: Stats, prev: Stats) => void>();
  #timer: NodeJS.Timeout | undefined;
  readonly #unsubscribe: () => void;

  constructor(store: CertificateStore, intervalMs: number, logger: Logger) {
    this.#store = store;
    this.#intervalMs = intervalMs;
    this.#logger = logger;
    // the admin API may point the store at other files: follow them
    this.#unsubscribe = store.onChange(() => this.#sync());
    this.#sync();
  }

  #files(): Set<string> {
    const files = new Set<string>();
    for (const p of this.#store.pairs()) if (p.certFile && p.keyFile) { files.add(p.certFile); files.add(p.keyFile); }
    const caFile = this.#store.clientCa()?.file;
    if (caFile) files.add(caFile);
    return files;
  }

  #sync(): void {
    const wanted = this.#files();
    for (const [f, l] of this.#watched) if (!wanted.has(f)) { unwatchFile(f, l); this.#watched.delete(f); }
    for (const f of wanted) {
      if (this.#watched.has(f)) continue;
      const l = (curr: Stats, prev: Stats) => {
        if (curr.mtimeMs === prev.mtimeMs && curr.ino === prev.ino && curr.size === prev.size) return;
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => this.#reload(), SETTLE_MS);
      };
      watchFile(f, { interval: this.#intervalMs, persistent: false }, l);
      this.#watched.set(f, l);
    }
  }

  #reload(): void {
    this.#timer = undefined;
    try {
      const pairs: KeyPair[] = this.#store.pairs().map((p, i) => (p.certFile && p.keyFile ? readKeyPair(p.certFile, p.keyFile, `/${i}`) : p));
      const ca = this.#store.clientCa();
      const infos = this.#store.replace(pairs, '', ca?.file ? { pem: readCaBundle(ca.file, '/clientCertificates/ca'), file: ca.file } : ca);
      this.#logger.info({ listener: this.#store.id, certificates: infos.map((c) => ({ names: c.names, validTo: c.validTo })) }, 'TLS certificates reloaded from their files');
    } catch (e) {
      this.#logger.warn({ listener: this.#store.id, reason: (e as Error).message }, 'TLS certificate files changed but do not load; keeping the running certificates');
    }
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#unsubscribe();
    for (const [f, l] of this.#watched) unwatchFile(f, l);
    this.#watched.clear();
  }
}
