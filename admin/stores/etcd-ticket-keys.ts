// The fleet's TLS session ticket keys in the etcd store (src/tls/ticket-keys.ts): one key,
//   PREFIX/tls/ticket-keys   {"keys": [hex, hex?], "rotatedAt": ms}   (newest key first)
// created once by the first instance (a create-if-absent transaction; the others read the
// winner's), followed by every instance with a watch, and rotated by whichever instance finds it
// due first (a transaction on the key's mod_revision: one rotation per period; the others get it
// from the watch). Each instance hands the keys to its data plane (every worker), so a client
// resumes its session on any instance and worker behind the address.
// etcd unreachable at start: the instance starts with keys of its own (its clients resume on it
// only) and tries again every RETRY_MS; a failed rotation is retried the same way while the keys
// in use keep working. The keys are secrets: protect the prefix with etcd's TLS and
// authentication (store.tls, store.auth), as for the ACME keys stored there.
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { storeUrl, type EtcdStoreConfig } from '../../src/config/store-config.js';
import { newTicketKeySet, parseTicketKeySet, rotateTicketKeys, rotationDue, sameTicketKeys, type TicketKeySet } from '../../src/tls/ticket-keys.js';
import type { ApplyTicketKeys, TicketKeySource } from '../tls/ticket-key-rotation.js';
import { connectEtcd } from './etcd-routes.js';

const RETRY_MS = 10_000;
/** Rotations wait up to this long past the due time, so the fleet does not race for each one. */
const JITTER_MS = 2_000;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function ticketKeysKey(prefix: string): string {
  return `${prefix}/tls/ticket-keys`;
}

export class EtcdTicketKeys implements TicketKeySource {
  readonly #client: Etcd3;
  readonly #key: string;
  readonly #where: string;
  #set: TicketKeySet | undefined;
  /** mod_revision of the key as last read (0: absent); a rotation compares it. */
  #mod = 0;
  #watcher: Watcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(cfg: EtcdStoreConfig, readonly rotateMs: number, readonly apply: ApplyTicketKeys, readonly logger: Logger) {
    this.#client = connectEtcd(cfg);
    this.#key = ticketKeysKey(cfg.prefix);
    this.#where = `${storeUrl(cfg)}/tls/ticket-keys`;
  }

  async start(): Promise<void> {
    try {
      await this.#sync();
    } catch (e) {
      this.logger.warn({ store: this.#where, err: message(e) }, 'TLS session ticket keys: etcd unreachable; this instance uses keys of its own until it can read the fleet\'s');
      this.#set = newTicketKeySet();
      await this.apply(this.#set);
      this.#later(RETRY_MS, () => this.#sync());
    }
    this.#watch();
  }

  current(): TicketKeySet | undefined {
    return this.#set;
  }

  /** Reads the key, creates it when absent (or unusable), hands it on, schedules the rotation. */
  async #sync(): Promise<void> {
    const res = await this.#client.get(this.#key).exec();
    const kv = res.kvs[0];
    const stored = kv ? this.#parse(kv) : undefined;
    if (stored) return this.#take(stored, Number(kv.mod_revision));
    // absent (or not ours to read): made once; a lost race reads the winner's
    const fresh = newTicketKeySet();
    const txn = await this.#client.if(this.#key, 'Mod', '==', kv ? kv.mod_revision : '0').then(this.#client.put(this.#key).value(JSON.stringify(fresh))).commit();
    if (!txn.succeeded) return this.#sync();
    await this.#take(fresh, Number(txn.header.revision));
  }

  #parse(kv: IKeyValue): TicketKeySet | undefined {
    let set: TicketKeySet | undefined;
    try {
      set = parseTicketKeySet(JSON.parse(kv.value.toString('utf8')));
    } catch { /* not JSON */ }
    if (!set) this.logger.warn({ store: this.#where }, 'TLS session ticket keys: the stored value is not a key set; replacing it');
    return set;
  }

  async #take(set: TicketKeySet, mod: number): Promise<void> {
    if (mod < this.#mod) return; // an older read than the watch's
    this.#mod = mod;
    if (!sameTicketKeys(this.#set, set)) {
      this.#set = set;
      await this.apply(set);
    }
    const wait = rotationDue(set, this.rotateMs) - Date.now() + Math.random() * JITTER_MS;
    this.#later(Math.max(0, wait), () => this.#rotate());
  }

  async #rotate(): Promise<void> {
    const next = rotateTicketKeys(this.#set!);
    const txn = await this.#client.if(this.#key, 'Mod', '==', String(this.#mod)).then(this.#client.put(this.#key).value(JSON.stringify(next))).commit();
    if (txn.succeeded) {
      this.logger.info({ store: this.#where }, 'TLS session ticket keys rotated for the fleet');
      await this.#take(next, Number(txn.header.revision));
    } else {
      await this.#sync(); // another instance rotated first
    }
  }

  /** Runs `task` after `ms`; on failure, the whole read again after RETRY_MS. */
  #later(ms: number, task: () => Promise<void>): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      task().catch((e) => {
        this.logger.warn({ store: this.#where, err: message(e) }, 'TLS session ticket keys: etcd call failed; the keys in use stay, retrying');
        this.#later(RETRY_MS, () => this.#sync());
      });
    }, ms);
    this.#timer.unref();
  }

  #watch(): void {
    const watcher = this.#client.watch().key(this.#key).watcher();
    this.#watcher = watcher;
    watcher.on('put', (kv: IKeyValue) => {
      const set = this.#parse(kv);
      if (set) this.#take(set, Number(kv.mod_revision)).catch((e: Error) => this.logger.error({ err: e.message }, 'TLS session ticket keys: not applied everywhere'));
      else this.#later(0, () => this.#sync());
    });
    // deleted by hand: made again
    watcher.on('delete', () => this.#later(0, () => this.#sync()));
    // cancelled by etcd (e.g. compaction): read again and watch again
    watcher.on('error', () => {
      if (this.#watcher !== watcher) return;
      void watcher.cancel().catch(() => {});
      this.#later(RETRY_MS, async () => {
        await this.#sync();
        if (!this.#closed) this.#watch();
      });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#watcher?.cancel().catch(() => {});
    this.#client.close();
  }
}
