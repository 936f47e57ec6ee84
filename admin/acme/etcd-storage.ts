// ACME storage for the etcd route store: keys under the store's prefix, shared by the fleet.
//   PREFIX/acme/CA/account                 the account key and URL (JSON)
//   PREFIX/acme/CA/certificates/NAME       one certificate chain and its key per name (JSON)
//   PREFIX/acme/CA/locks/NAME              the instance ordering NAME        (with its lease)
//   PREFIX/acme/CA/instances/ID            every live instance               (with its lease)
//   PREFIX/acme/CA/challenges/TOKEN        a validation in progress (JSON)   (with its lease)
//   PREFIX/acme/CA/acks/TOKEN/ID           instance ID answers it now        (with its lease)
// Each instance holds one lease (TTL 15 s, kept alive by the client): when an instance dies, its
// locks, validations and registration go with it, and another instance takes the name over.
// One order per name: the lock is a create-if-absent transaction (create_revision == 0); the
// instances that find it held wait, and the watch brings them the certificate once it is written.
// A validation request from the CA may reach any instance (they sit behind one address), so the
// ordering instance shares each challenge and tells the CA to validate only once every live
// instance acknowledges that its data plane answers it (bounded). Private keys are stored as
// they are: protect the prefix with etcd's TLS and authentication (store.tls, store.auth).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Etcd3, IWatchResponse, Lease, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { storeUrl, type EtcdStoreConfig } from '../../src/config/store-config.js';
import { connectEtcd } from '../stores/etcd-routes.js';
import { caNamespace, instanceId, type AcmeLock, type AcmeStorage, type LockHeld, type SharedChallenge, type StorageEvents, type StoredAccount, type StoredCertificate } from './acme-storage.js';

const LEASE_TTL_S = 15;
const CALL_TIMEOUT_MS = 10_000;
const ACK_POLL_MS = 100;
const RESYNC_MS = 1000;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class EtcdAcmeStorage implements AcmeStorage {
  readonly where: string;
  readonly instance = instanceId(hostname(), process.pid, randomBytes(3).toString('hex'));
  readonly #client: Etcd3;
  readonly #base: string;
  readonly #logger: Logger;
  #lease: Lease | undefined;
  #leaseId: Promise<string> | undefined;
  #watcher: Watcher | undefined;
  #events: StorageEvents | undefined;
  /** Other instances' validations in progress, by token. */
  readonly #challenges = new Map<string, SharedChallenge>();
  /** Tokens of this instance's own validations. */
  readonly #own = new Set<string>();
  #queue: Promise<void> = Promise.resolve();
  #resync: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(cfg: EtcdStoreConfig, directory: string, logger: Logger) {
    // no admin request waits on these calls: a busy etcd gets longer than store.timeoutMs
    this.#client = connectEtcd({ ...cfg, timeoutMs: Math.max(cfg.timeoutMs, CALL_TIMEOUT_MS) });
    this.#base = `${cfg.prefix}/acme/${caNamespace(directory)}/`;
    this.where = `${storeUrl(cfg)}/acme/${caNamespace(directory)}`;
    this.#logger = logger;
  }

  #key(...parts: string[]): string {
    return this.#base + parts.join('/');
  }

  /** This instance's lease (granted on first use; granted again when it was lost). */
  #grant(): Promise<string> {
    this.#leaseId ??= (async () => {
      const lease = this.#client.lease(LEASE_TTL_S);
      lease.on('lost', (err) => {
        if (this.#lease !== lease || this.#closed) return;
        this.#logger.warn({ err: message(err) }, 'acme: etcd lease lost (locks and shared validations of this instance are gone); taking a new one');
        this.#lease = undefined;
        this.#leaseId = undefined;
        this.#register().catch(() => {});
      });
      this.#lease = lease;
      try {
        const id = await lease.grant();
        await this.#client.put(this.#key('instances', this.instance)).value(new Date().toISOString()).lease(id);
        return id;
      } catch (e) {
        this.#lease = undefined;
        this.#leaseId = undefined;
        lease.release();
        throw e;
      }
    })();
    return this.#leaseId;
  }

  async #register(): Promise<void> {
    if (!this.#closed) await this.#grant();
  }

  async #getJson<T>(key: string): Promise<T | undefined> {
    const text = await this.#client.get(key).string();
    if (text === null) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new Error(`${key}: not JSON (${message(e)})`, { cause: e });
    }
  }

  loadAccount(): Promise<StoredAccount | undefined> {
    return this.#getJson<StoredAccount>(this.#key('account'));
  }

  async saveAccount(account: StoredAccount): Promise<void> {
    await this.#client.put(this.#key('account')).value(JSON.stringify(account));
  }

  loadCertificate(name: string): Promise<StoredCertificate | undefined> {
    return this.#getJson<StoredCertificate>(this.#key('certificates', name));
  }

  async loadCertificates(): Promise<StoredCertificate[]> {
    const all = await this.#client.getAll().prefix(this.#key('certificates', '')).strings();
    return Object.values(all).flatMap((text) => {
      try {
        return [JSON.parse(text) as StoredCertificate];
      } catch {
        return [];
      }
    });
  }

  async saveCertificate(c: StoredCertificate): Promise<void> {
    await this.#client.put(this.#key('certificates', c.name)).value(JSON.stringify(c));
  }

  async tryLock(key: string): Promise<AcmeLock | LockHeld> {
    const lockKey = this.#key('locks', key);
    const id = await this.#grant();
    const res = await this.#client.if(lockKey, 'Create', '==', 0).then(this.#client.put(lockKey).value(this.instance).lease(id)).commit();
    if (!res.succeeded) {
      const holder = await this.#client.get(lockKey).string();
      // ours already: an earlier attempt's transaction that timed out here but went through there
      // (this instance runs one order per name at a time)
      if (holder !== this.instance) return { heldBy: holder ?? 'another instance' };
    }
    return {
      release: async () => {
        // only our own lock (it may have gone with a lost lease and been taken since)
        await this.#client.if(lockKey, 'Value', '==', this.instance).then(this.#client.delete().key(lockKey)).commit();
      },
    };
  }

  async shareChallenge(c: SharedChallenge, waitMs: number): Promise<void> {
    const id = await this.#grant();
    this.#own.add(c.token);
    await this.#client.put(this.#key('challenges', c.token)).value(JSON.stringify(c)).lease(id);
    // every live instance (registered with a lease) answers it: then the CA may ask any of them
    const deadline = Date.now() + waitMs;
    for (;;) {
      const instances = (await this.#children('instances')).filter((i) => i !== this.instance);
      const acked = new Set(await this.#children('acks', c.token));
      const missing = instances.filter((i) => !acked.has(i));
      if (missing.length === 0) return;
      if (Date.now() >= deadline) {
        this.#logger.warn({ name: c.name, type: c.type, missing }, 'acme: not every instance acknowledged the validation in time; asking the CA anyway');
        return;
      }
      await new Promise((r) => setTimeout(r, ACK_POLL_MS));
    }
  }

  /** The last key segments under PREFIX/acme/CA/...parts/. */
  async #children(...parts: string[]): Promise<string[]> {
    const dir = this.#key(...parts, '');
    return (await this.#client.getAll().prefix(dir).keys()).map((k) => k.slice(dir.length));
  }

  async withdrawChallenge(c: SharedChallenge): Promise<void> {
    this.#own.delete(c.token);
    await this.#client.delete().key(this.#key('challenges', c.token));
    await this.#client.delete().prefix(this.#key('acks', c.token, ''));
  }

  follow(events: StorageEvents): void {
    this.#events = events;
    void this.#start();
  }

  /** Reads the validations in progress, then watches the namespace from there. */
  async #start(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#register();
      const res = await this.#client.getAll().prefix(this.#key('challenges', '')).exec();
      this.#challenges.clear();
      for (const kv of res.kvs) this.#setChallenge(kv.key.toString('utf8'), kv.value.toString('utf8'));
      this.#enqueueChallenges();
      this.#watch(Number(res.header.revision) + 1);
      this.#events?.trouble(undefined);
    } catch (e) {
      this.#events?.trouble(`etcd: ${message(e)}`);
      this.#scheduleResync();
    }
  }

  #scheduleResync(): void {
    if (this.#closed) return;
    clearTimeout(this.#resync);
    this.#resync = setTimeout(() => void this.#start(), RESYNC_MS);
    this.#resync.unref();
  }

  #watch(fromRevision: number): void {
    const watcher = this.#client.watch().prefix(this.#base).startRevision(String(fromRevision)).watcher();
    this.#watcher = watcher;
    watcher.on('connected', () => this.#events?.trouble(undefined));
    watcher.on('disconnected', (err: unknown) => this.#events?.trouble(`etcd: ${message(err)}`));
    watcher.on('data', (res: IWatchResponse) => this.#onEvents(res));
    watcher.on('error', (err: unknown) => {
      if (this.#watcher !== watcher) return;
      this.#logger.warn({ err: message(err) }, 'acme: etcd watch cancelled; reading again');
      this.#watcher = undefined;
      void watcher.cancel().catch(() => {});
      this.#scheduleResync();
    });
  }

  #onEvents(res: IWatchResponse): void {
    let challengesChanged = false;
    for (const ev of res.events) {
      const key = ev.kv.key.toString('utf8');
      const value = ev.type === 'Delete' ? undefined : ev.kv.value.toString('utf8');
      if (key.startsWith(this.#key('certificates', '')) && value !== undefined) {
        try {
          this.#events?.certificate(JSON.parse(value) as StoredCertificate);
        } catch (e) {
          this.#logger.warn({ key, err: message(e) }, 'acme: a stored certificate is not JSON; ignored');
        }
      } else if (key.startsWith(this.#key('challenges', ''))) {
        this.#setChallenge(key, value);
        challengesChanged = true;
      }
    }
    if (challengesChanged) this.#enqueueChallenges();
  }

  #setChallenge(key: string, value: string | undefined): void {
    const token = key.slice(this.#key('challenges', '').length);
    if (value === undefined || this.#own.has(token)) {
      this.#challenges.delete(token);
      return;
    }
    try {
      this.#challenges.set(token, JSON.parse(value) as SharedChallenge);
    } catch {
      this.#challenges.delete(token);
    }
  }

  /** Hands the current validations to the manager (in order), then acknowledges those that are
   *  answered now. */
  #enqueueChallenges(): void {
    const list = [...this.#challenges.values()];
    this.#queue = this.#queue.then(async () => {
      if (!this.#events || this.#closed) return;
      await this.#events.challenges(list);
      const id = await this.#grant();
      await Promise.all(list.map((c) => this.#client.put(this.#key('acks', c.token, this.instance)).value('1').lease(id)));
    }).catch((e: unknown) => {
      this.#logger.warn({ err: message(e) }, 'acme: could not take up the validations of another instance');
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#resync);
    await this.#watcher?.cancel().catch(() => {});
    await this.#queue;
    // our locks, validations and registration go at once (not after the TTL)
    await this.#lease?.revoke().catch(() => {});
    this.#client.close();
  }
}
