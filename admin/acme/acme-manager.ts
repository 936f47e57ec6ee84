// Automatic HTTPS: the control-plane side. For every name the `tls.acme` listeners serve
// (./acme-names.ts), the manager keeps a certificate from the ACME CA:
//   - at start, certificates stored earlier (./file-storage.ts, ./etcd-storage.ts) are served at
//     once; names without one are ordered at once, the others when their renewal is due
//     (./renewal.ts);
//   - one order per name across the fleet and the workers: the manager runs in the primary only
//     (workers never order), and an order holds the name's lock in the storage (etcd lease or
//     lock file); an instance that finds the lock held waits, and takes the certificate from the
//     storage when the other instance has written it (the etcd watch, or the directory poll);
//   - an order's validation answer is sent to the data plane (every worker, DataPlane
//     .setAcmeChallenges) and to the other instances before the CA is told to validate;
//   - a new certificate is saved, then sent to every worker of this instance through the same
//     path as any certificate change (DataPlane.replaceIssuedCertificates: the primary's broadcast),
//     and the other instances pick it up from the storage;
//   - a failed order keeps the current certificate, is logged at warn, and is retried with backoff
//     (a rate limit waits for the CA's Retry-After); GET /v1/tls and /metrics show the state;
//   - route changes add and drop names; a certificate configured by hand for a name wins.
import { X509Certificate, randomInt } from 'node:crypto';
import * as acme from 'acme-client';
import type { Logger } from 'pino';
import type { AcmeChallengeType, AcmeConfig } from '../../src/config/acme-schema.js';
import type { DataPlane, TlsListenerView } from '../../src/contract/data-plane.js';
import type { AcmeChallengeSet } from '../../src/acme/challenge-answers.js';
import { checkKeyPair } from '../../src/tls/pem.js';
import { ProxyError, type PorticoErrorCode } from '../../src/errors.js';
import { SerialQueue } from '../stores/route-store.js';
import { planNames, type SkippedName } from './acme-names.js';
import { AcmeCaError, installAcmeHttp, trustForDirectory } from './acme-http.js';
import { orderCertificate } from './acme-order.js';
import { parseRenewBefore, renewalTime, retryDelayMs, type RenewBefore } from './renewal.js';
import type { AcmeStorage, SharedChallenge, StoredAccount, StoredCertificate } from './acme-storage.js';

/** Orders running at once (a fleet start with many names does not flood the CA). */
const MAX_CONCURRENT_ORDERS = 4;
/** Another instance holds the name's lock: look again after this (plus up to 5 s), unless its
 *  certificate arrives first. */
const LOCK_RETRY_MS = 10_000;
/** How long the other instances get to take up a validation before the CA is asked anyway. */
const SHARE_WAIT_MS = 10_000;
/** Another instance is registering the account: wait this long for it. */
const ACCOUNT_WAIT_MS = 60_000;
/** setTimeout's limit is ~24.8 days: longer waits are taken in steps. */
const MAX_TIMER_MS = 86_400_000;
/** Polling of an order's state by acme-client: 1 s, 2 s, 4 s, then every 8 s, 12 tries. */
const POLL = { backoffAttempts: 12, backoffMin: 1000, backoffMax: 8000 } as const;

export type AcmeNameStatus = 'pending' | 'ordering' | 'renewing' | 'valid' | 'waiting' | 'failed';

interface Held {
  cert: string;
  key: string;
  notBefore: number;
  notAfter: number;
  issuer: string;
  fingerprint256: string;
  issuedAt: string;
}

interface Managed {
  readonly name: string;
  listeners: string[];
  cert: Held | undefined;
  status: AcmeNameStatus;
  failures: number;
  /** When the current run of failures began. */
  failingSince: number | undefined;
  lastError: { code: PorticoErrorCode; message: string; at: string } | undefined;
  nextAttemptAt: number | undefined;
  timer: NodeJS.Timeout | undefined;
  inFlight: Promise<void> | undefined;
  /** The instance that holds the lock while this one waits. */
  heldBy: string | undefined;
  /** The challenge type of the last attempt (a failed one goes last next time). */
  lastChallenge: AcmeChallengeType | undefined;
  lastAttemptFailedOn: AcmeChallengeType | undefined;
}

export interface AcmeNameView {
  name: string;
  listeners: string[];
  status: AcmeNameStatus;
  issuer?: string;
  notBefore?: string;
  notAfter?: string;
  fingerprint256?: string;
  issuedAt?: string;
  nextRenewal?: string;
  nextAttempt?: string;
  failures: number;
  lastError?: { code: string; message: string; at: string };
  heldBy?: string;
  challenge?: string;
}

/** GET /v1/tls `acme`. */
export interface AcmeStatus {
  directory: string;
  email?: string;
  challenges: string[];
  storage: string;
  instance: string;
  account: { url: string; createdAt: string } | null;
  storageError?: string;
  names: AcmeNameView[];
  skipped: SkippedName[];
}

export interface AcmeMetricsView {
  /** Days until notAfter per name with a certificate (negative once expired). */
  expiryDays: Array<{ name: string; days: number }>;
  /** Failed attempts in a row per name. */
  failures: Array<{ name: string; failures: number }>;
  orders: { issued: number; failed: number; rateLimited: number };
}

export interface AcmeManagerOptions {
  config: AcmeConfig;
  /** PEM of acme.caFile (trusted for the directory's origin). */
  caPem?: string;
  plane: DataPlane;
  storage: AcmeStorage;
  logger: Logger;
  /** A plain listener serves routes, so HTTP-01 can be answered. */
  http01: boolean;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class AcmeManager {
  readonly #config: AcmeConfig;
  readonly #plane: DataPlane;
  readonly #storage: AcmeStorage;
  readonly #logger: Logger;
  readonly #rule: RenewBefore;
  readonly #types: AcmeChallengeType[];
  readonly #names = new Map<string, Managed>();
  #skipped: SkippedName[] = [];
  #warned = new Set<string>();
  #account: { client: acme.Client; stored: StoredAccount } | undefined;
  /** The stored account as read at start (shown before the first order uses it). */
  #storedAccount: StoredAccount | undefined;
  #accountReady: Promise<{ client: acme.Client; stored: StoredAccount }> | undefined;
  /** This instance's validations in progress, by token; and the other instances'. */
  readonly #local = new Map<string, SharedChallenge>();
  #fleet: SharedChallenge[] = [];
  readonly #challengeQueue = new SerialQueue();
  readonly #publishQueue = new SerialQueue();
  readonly #published = new Map<string, string>();
  /** name -> issuedAt of the last certificate this instance wrote (told apart from the fleet's). */
  readonly #written = new Map<string, string>();
  /** Configured certificates per listener (fingerprints), to tell their changes from ours. */
  readonly #configured = new Map<string, string>();
  #running = 0;
  readonly #slots: Array<() => void> = [];
  #storageError: string | undefined;
  readonly #orders = { issued: 0, failed: 0, rateLimited: 0 };
  readonly #unsubscribe: Array<() => void> = [];
  #closed = false;

  constructor(o: AcmeManagerOptions) {
    this.#config = o.config;
    this.#plane = o.plane;
    this.#storage = o.storage;
    this.#logger = o.logger.child({ component: 'acme' });
    this.#rule = parseRenewBefore(o.config.renewBefore);
    this.#types = o.config.challenges.filter((t) => t !== 'http-01' || o.http01);
    installAcmeHttp();
    trustForDirectory(o.config.directory, o.caPem);
  }

  #acmeListeners(): TlsListenerView[] {
    return this.#plane.tlsListeners().filter((l) => l.acmeNames !== undefined);
  }

  /** Serves the stored certificates, then orders what is missing and schedules renewals. */
  async start(): Promise<void> {
    if (this.#types.length === 0) {
      throw new ProxyError('PRX_ERR_BAD_CONFIG', '/acme/challenges: only http-01 is allowed, but no plain listener serves routes to answer it (add one, or allow tls-alpn-01)', '/acme/challenges');
    }
    for (const l of this.#acmeListeners()) {
      this.#configured.set(l.id, this.#configuredSignature(l));
      this.#unsubscribe.push(l.store.onChange(() => {
        const sig = this.#configuredSignature(l);
        if (sig === this.#configured.get(l.id)) return; // our own publication
        this.#configured.set(l.id, sig);
        this.#replan();
      }));
    }
    this.#plan();
    try {
      this.#storedAccount = await this.#storage.loadAccount();
      for (const c of await this.#storage.loadCertificates()) this.#adopt(c);
    } catch (e) {
      this.#storageError = message(e);
      this.#logger.warn({ storage: this.#storage.where, err: message(e) }, 'acme: cannot read the stored certificates; ordering as needed');
    }
    await this.#publish();
    this.#storage.follow({
      certificate: (c) => this.#fromFleet(c),
      challenges: async (list) => {
        this.#fleet = list;
        await this.#pushChallenges();
      },
      trouble: (reason) => {
        if (reason !== this.#storageError && reason !== undefined) this.#logger.warn({ storage: this.#storage.where, err: reason }, 'acme: storage unreachable; serving the certificates held');
        this.#storageError = reason;
      },
    });
    this.#unsubscribe.push(this.#plane.routes.onReplace(() => this.#replan()));
    for (const m of this.#names.values()) this.#schedule(m, this.#dueAt(m));
    this.#logger.info({ directory: this.#config.directory, names: [...this.#names.keys()], storage: this.#storage.where }, 'acme: managing certificates');
  }

  #configuredSignature(l: TlsListenerView): string {
    return l.store.list().filter((c) => c.source !== 'acme').map((c) => c.fingerprint256).join();
  }

  /** Recomputes the names; returns the new ones. */
  #plan(): Managed[] {
    const plan = planNames(this.#plane.routes.current.routes.map((r) => r.spec), this.#acmeListeners());
    const added: Managed[] = [];
    for (const [name, listeners] of plan.names) {
      let m = this.#names.get(name);
      if (!m) {
        m = {
          name, listeners, cert: undefined, status: 'pending', failures: 0, failingSince: undefined, lastError: undefined, nextAttemptAt: undefined,
          timer: undefined, inFlight: undefined, heldBy: undefined, lastChallenge: undefined, lastAttemptFailedOn: undefined,
        };
        this.#names.set(name, m);
        added.push(m);
      }
      m.listeners = listeners;
    }
    for (const [name, m] of this.#names) {
      if (plan.names.has(name)) continue;
      clearTimeout(m.timer);
      this.#names.delete(name);
      this.#logger.info({ name }, 'acme: name no longer served; its certificate is kept in the storage but not renewed');
    }
    this.#skipped = plan.skipped;
    for (const s of plan.skipped) {
      const key = `${s.name}\n${s.reason}`;
      if (this.#warned.has(key)) continue;
      this.#warned.add(key);
      this.#logger[s.warn ? 'warn' : 'info']({ name: s.name, listeners: s.listeners, reason: s.reason }, 'acme: no certificate ordered for this name');
    }
    return added;
  }

  #replan(): void {
    if (this.#closed) return;
    const added = this.#plan();
    this.#publish().catch((e: unknown) => this.#logger.error({ err: message(e) }, 'acme: the certificates of the new names could not be sent to the listeners'));
    for (const m of added) {
      this.#logger.info({ name: m.name }, 'acme: new name');
      this.#schedule(m, Date.now());
    }
  }

  /** When `m` should be ordered: now without a certificate, else at its renewal time. */
  #dueAt(m: Managed): number {
    return m.cert ? renewalTime(m.cert.notBefore, m.cert.notAfter, this.#rule) : Date.now();
  }

  #schedule(m: Managed, at: number): void {
    clearTimeout(m.timer);
    if (this.#closed || this.#names.get(m.name) !== m) return;
    m.nextAttemptAt = at;
    const wait = Math.max(0, at - Date.now());
    m.timer = setTimeout(() => {
      m.timer = undefined;
      if (wait > MAX_TIMER_MS) this.#schedule(m, at);
      else this.#attempt(m);
    }, Math.min(wait, MAX_TIMER_MS));
    m.timer.unref();
  }

  #attempt(m: Managed): void {
    if (m.inFlight || this.#closed || this.#names.get(m.name) !== m) return;
    m.inFlight = this.#limited(() => this.#order(m))
      .catch((e: unknown) => this.#failed(m, e))
      .finally(() => { m.inFlight = undefined; });
  }

  async #limited(task: () => Promise<void>): Promise<void> {
    while (this.#running >= MAX_CONCURRENT_ORDERS) await new Promise<void>((r) => this.#slots.push(r));
    this.#running++;
    try {
      await task();
    } finally {
      this.#running--;
      this.#slots.shift()?.();
    }
  }

  async #order(m: Managed): Promise<void> {
    if (this.#closed || this.#names.get(m.name) !== m) return;
    const lock = await this.#storage.tryLock(m.name);
    if ('heldBy' in lock) {
      m.status = 'waiting';
      m.heldBy = lock.heldBy;
      this.#logger.info({ name: m.name, heldBy: lock.heldBy }, 'acme: another instance is ordering this name; waiting for its certificate');
      this.#schedule(m, Date.now() + LOCK_RETRY_MS + randomInt(5000));
      return;
    }
    m.heldBy = undefined;
    try {
      // another instance (or an earlier run) may have written a newer certificate meanwhile
      const stored = await this.#storage.loadCertificate(m.name);
      if (stored && this.#adopt(stored)) await this.#publish();
      if (m.cert && this.#dueAt(m) > Date.now()) {
        m.status = 'valid';
        this.#schedule(m, this.#dueAt(m));
        return;
      }
      const renewing = m.cert !== undefined;
      m.status = renewing ? 'renewing' : 'ordering';
      this.#logger.info({ name: m.name, renewing }, renewing ? 'acme: renewing the certificate' : 'acme: ordering a certificate');
      let ordered: { cert: string; key: string } | undefined;
      for (let tries = 0; ordered === undefined; tries++) {
        const client = await this.#client();
        try {
          ordered = await orderCertificate({
            client, name: m.name, challengeTypes: this.#challengeTypes(m), keyType: this.#config.keyType, logger: this.#logger,
            publish: (c) => this.#addChallenge(c), withdraw: (c) => this.#removeChallenge(c),
            onChallenge: (t) => { m.lastChallenge = t; },
          });
        } catch (e) {
          // the CA forgot the account (a restarted test CA; a deactivation): register the same key again
          if (tries > 0 || !(e instanceof AcmeCaError) || !e.accountDoesNotExist) throw e;
          this.#logger.warn({ url: this.#account?.stored.url }, 'acme: the CA does not know the account any more; registering the same key again');
          this.#account = undefined;
          await this.#client(true);
        }
      }
      const issuedAt = Date.now();
      const saved: StoredCertificate = { name: m.name, cert: ordered.cert, key: ordered.key, issuedAt: new Date(issuedAt).toISOString() };
      // stored first: a restart, and the other instances, serve it too
      this.#written.set(saved.name, saved.issuedAt);
      await this.#storage.saveCertificate(saved);
      this.#adopt(saved);
      await this.#publish();
      m.failures = 0;
      m.failingSince = undefined;
      m.lastError = undefined;
      m.lastAttemptFailedOn = undefined;
      m.status = 'valid';
      this.#orders.issued++;
      // servedAfterMs: from the certificate's download to every worker serving it
      this.#logger.info({ name: m.name, notAfter: new Date(m.cert!.notAfter).toISOString(), challenge: m.lastChallenge, fingerprint256: m.cert!.fingerprint256, servedAfterMs: Date.now() - issuedAt }, 'acme: certificate issued and served');
      this.#schedule(m, this.#dueAt(m));
    } finally {
      await lock.release().catch((e: unknown) => this.#logger.warn({ name: m.name, err: message(e) }, 'acme: could not release the lock (it expires by itself)'));
    }
  }

  #failed(m: Managed, e: unknown): void {
    if (this.#closed || this.#names.get(m.name) !== m) return;
    m.failures++;
    const rateLimited = e instanceof AcmeCaError && e.rateLimited;
    const code: PorticoErrorCode = rateLimited ? 'PRX_ERR_ACME_RATE_LIMITED' : 'PRX_ERR_ACME';
    m.lastError = { code, message: message(e), at: new Date().toISOString() };
    m.lastAttemptFailedOn = m.lastChallenge;
    m.status = 'failed';
    if (rateLimited) this.#orders.rateLimited++;
    else this.#orders.failed++;
    const now = Date.now();
    m.failingSince ??= now;
    const validFor = m.cert ? m.cert.notAfter - now : undefined;
    const at = rateLimited && e.retryAt !== undefined ? e.retryAt : now + retryDelayMs(now - m.failingSince, validFor);
    this.#logger.warn({
      name: m.name, code, err: m.lastError.message, failures: m.failures, nextAttempt: new Date(at).toISOString(),
      serving: m.cert ? `the current certificate (valid until ${new Date(m.cert.notAfter).toISOString()})` : 'nothing (handshakes for this name fail)',
    }, rateLimited ? 'acme: rate-limited by the CA; waiting for its Retry-After' : 'acme: order failed; retrying later');
    this.#schedule(m, at);
  }

  /** The allowed challenge types, the one that failed last time put last. */
  #challengeTypes(m: Managed): AcmeChallengeType[] {
    const failed = m.lastAttemptFailedOn;
    if (!failed || this.#types.length < 2) return this.#types;
    return [...this.#types.filter((t) => t !== failed), failed];
  }

  /** The ACME client with this instance's account (registered on first use, key kept). */
  async #client(register = false): Promise<acme.Client> {
    if (this.#account && !register) return this.#account.client;
    this.#accountReady ??= this.#loadAccount(register).finally(() => { this.#accountReady = undefined; });
    this.#account = await this.#accountReady;
    return this.#account.client;
  }

  #newClient(keyPem: string, url?: string): acme.Client {
    return new acme.Client({
      directoryUrl: this.#config.directory, accountKey: keyPem, ...(url ? { accountUrl: url } : {}), ...POLL,
      ...(this.#config.externalAccountBinding ? { externalAccountBinding: this.#config.externalAccountBinding } : {}),
    });
  }

  #contact(): string[] {
    return this.#config.email ? [`mailto:${this.#config.email}`] : [];
  }

  async #loadAccount(register: boolean): Promise<{ client: acme.Client; stored: StoredAccount }> {
    const existing = await this.#storage.loadAccount();
    if (existing && !register) {
      const client = this.#newClient(existing.keyPem, existing.url);
      if (existing.contact.join() !== this.#contact().join()) {
        await client.updateAccount({ contact: this.#contact() });
        const stored = { ...existing, contact: this.#contact() };
        await this.#storage.saveAccount(stored);
        this.#logger.info({ contact: stored.contact }, 'acme: account contact updated');
        return { client, stored };
      }
      return { client, stored: existing };
    }
    const lock = await this.#storage.tryLock('account');
    if ('heldBy' in lock) {
      // another instance registers it: use its account
      const deadline = Date.now() + ACCOUNT_WAIT_MS;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        const found = await this.#storage.loadAccount();
        if (found && found.url !== existing?.url) return { client: this.#newClient(found.keyPem, found.url), stored: found };
      }
      throw new ProxyError('PRX_ERR_ACME', `another instance (${lock.heldBy}) is registering the ACME account and has not finished`);
    }
    try {
      const current = await this.#storage.loadAccount();
      if (current && !register) return { client: this.#newClient(current.keyPem, current.url), stored: current };
      // the key is created once and kept: registering again (a CA that forgot the account) reuses it
      const keyPem = current?.keyPem ?? (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
      const client = this.#newClient(keyPem);
      await client.createAccount({ termsOfServiceAgreed: true, contact: this.#contact() });
      const stored: StoredAccount = { directory: this.#config.directory, keyPem, url: client.getAccountUrl(), contact: this.#contact(), createdAt: current?.createdAt ?? new Date().toISOString() };
      await this.#storage.saveAccount(stored);
      this.#logger.info({ url: stored.url, directory: this.#config.directory }, 'acme: account registered');
      return { client, stored };
    } finally {
      await lock.release().catch(() => {});
    }
  }

  /** Takes a stored certificate for a managed name if it is valid and newer than the one held. */
  #adopt(c: StoredCertificate): boolean {
    const m = this.#names.get(c.name);
    if (!m) return false;
    let leaf: X509Certificate;
    try {
      leaf = checkKeyPair({ cert: c.cert, key: c.key }, `/acme/${c.name}`);
      if (leaf.checkHost(c.name) === undefined) throw new Error(`it does not name ${c.name}`);
    } catch (e) {
      this.#logger.warn({ name: c.name, storage: this.#storage.where, err: message(e) }, 'acme: a stored certificate is not usable; ignored');
      return false;
    }
    const held: Held = {
      cert: c.cert, key: c.key, notBefore: Date.parse(leaf.validFrom), notAfter: Date.parse(leaf.validTo),
      issuer: leaf.issuer.replace(/\n/g, ', '), fingerprint256: leaf.fingerprint256, issuedAt: c.issuedAt,
    };
    if (m.cert && (m.cert.fingerprint256 === held.fingerprint256 || held.notAfter < m.cert.notAfter)) return false;
    m.cert = held;
    if (m.status === 'pending' || m.status === 'waiting') m.status = 'valid';
    return true;
  }

  /** A certificate another instance wrote. */
  #fromFleet(c: StoredCertificate): void {
    // this instance's own writes come back through the watch too: its order adopts those itself
    if (this.#closed || this.#written.get(c.name) === c.issuedAt || !this.#adopt(c)) return;
    const m = this.#names.get(c.name)!;
    const fingerprint256 = m.cert!.fingerprint256;
    // servedAfterMs: from its issue by the other instance to every worker here serving it
    void this.#publish().then(
      () => this.#logger.info({ name: c.name, fingerprint256, servedAfterMs: Date.now() - Date.parse(c.issuedAt) }, 'acme: certificate taken from the storage (ordered by another instance) and served'),
      (e: unknown) => this.#logger.error({ name: c.name, err: message(e) }, 'acme: certificate from the storage not served'),
    );
    if (m.inFlight) return; // an attempt of this instance is under way (its lock check will see this one)
    m.status = 'valid';
    m.heldBy = undefined;
    m.failures = 0;
    m.failingSince = undefined;
    m.lastError = undefined;
    this.#schedule(m, this.#dueAt(m));
  }

  /** Sends every acme listener's issued certificates to the data plane, where they changed. */
  #publish(): Promise<void> {
    return this.#publishQueue.run(async () => {
      for (const l of this.#acmeListeners()) {
        if (this.#closed) return;
        const names = [...this.#names.values()].filter((m) => m.listeners.includes(l.id));
        const signature = JSON.stringify(names.map((m) => [m.name, m.cert?.fingerprint256]));
        if (this.#published.get(l.id) === signature) continue;
        await this.#plane.replaceIssuedCertificates(l.id, {
          pairs: names.flatMap((m) => (m.cert ? [{ cert: m.cert.cert, key: m.cert.key }] : [])),
          names: names.map((m) => m.name),
        });
        this.#published.set(l.id, signature);
      }
    });
  }

  async #addChallenge(c: SharedChallenge): Promise<void> {
    this.#local.set(c.token, c);
    await this.#pushChallenges();
    await this.#storage.shareChallenge(c, SHARE_WAIT_MS);
  }

  async #removeChallenge(c: SharedChallenge): Promise<void> {
    this.#local.delete(c.token);
    await this.#pushChallenges().catch((e: unknown) => this.#logger.warn({ err: message(e) }, 'acme: could not withdraw a validation answer'));
    await this.#storage.withdrawChallenge(c).catch((e: unknown) => this.#logger.warn({ err: message(e) }, 'acme: could not withdraw a shared validation (it expires with the lease)'));
  }

  /** The data plane answers this instance's validations and the other instances'. */
  #pushChallenges(): Promise<void> {
    return this.#challengeQueue.run(async () => {
      const set: AcmeChallengeSet = { http01: {}, tlsAlpn01: {} };
      for (const c of [...this.#fleet, ...this.#local.values()]) {
        if (c.type === 'http-01') set.http01[c.token] = { name: c.name, keyAuthorization: c.keyAuthorization };
        else set.tlsAlpn01[c.name] = { cert: c.cert, key: c.key };
      }
      await this.#plane.setAcmeChallenges(set);
    });
  }

  status(): AcmeStatus {
    const now = Date.now();
    const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
    const account = this.#account?.stored ?? this.#storedAccount;
    return {
      directory: this.#config.directory,
      ...(this.#config.email ? { email: this.#config.email } : {}),
      challenges: this.#types,
      storage: this.#storage.where,
      instance: this.#storage.instance,
      account: account ? { url: account.url, createdAt: account.createdAt } : null,
      ...(this.#storageError ? { storageError: this.#storageError } : {}),
      names: [...this.#names.values()].map((m) => ({
        name: m.name,
        listeners: m.listeners,
        status: m.status,
        ...(m.cert ? {
          issuer: m.cert.issuer, notBefore: iso(m.cert.notBefore), notAfter: iso(m.cert.notAfter), fingerprint256: m.cert.fingerprint256,
          issuedAt: m.cert.issuedAt, nextRenewal: iso(Math.max(now, this.#dueAt(m))),
        } : {}),
        ...(m.nextAttemptAt !== undefined && !m.inFlight && (m.status !== 'valid' || !m.cert) ? { nextAttempt: iso(Math.max(now, m.nextAttemptAt)) } : {}),
        failures: m.failures,
        ...(m.lastError ? { lastError: m.lastError } : {}),
        ...(m.status === 'waiting' && m.heldBy ? { heldBy: m.heldBy } : {}),
        ...(m.lastChallenge ? { challenge: m.lastChallenge } : {}),
      })),
      skipped: this.#skipped,
    };
  }

  metrics(): AcmeMetricsView {
    const now = Date.now();
    const names = [...this.#names.values()];
    return {
      expiryDays: names.flatMap((m) => (m.cert ? [{ name: m.name, days: (m.cert.notAfter - now) / 86_400_000 }] : [])),
      failures: names.map((m) => ({ name: m.name, failures: m.failures })),
      orders: { ...this.#orders },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const u of this.#unsubscribe.splice(0)) u();
    for (const m of this.#names.values()) clearTimeout(m.timer);
    await this.#storage.close();
  }
}
