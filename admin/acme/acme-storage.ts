// Where the ACME account and the issued certificates are kept: with the route store, so that a
// restart serves what was issued and a fleet shares one certificate per name.
//   - file store (file-storage.ts): a directory next to the config file, files mode 0600;
//   - etcd store (etcd-storage.ts): keys under the route store's prefix, shared by the fleet.
// Both keep one namespace per CA directory URL (as Caddy does), so switching from a staging CA to
// a production one orders new certificates instead of serving the untrusted ones, and both give
// the lock that makes one instance order a name while the others wait for its result.
import type { AcmeChallengeType } from '../../src/config/acme-schema.js';

export interface StoredAccount {
  /** The CA directory this account belongs to. */
  directory: string;
  /** PEM private key (created once and kept). */
  keyPem: string;
  /** The account URL the CA gave (RFC 8555 §7.3). */
  url: string;
  contact: string[];
  createdAt: string;
}

export interface StoredCertificate {
  name: string;
  /** PEM chain, leaf first, as the CA sent it. */
  cert: string;
  /** PEM private key. */
  key: string;
  issuedAt: string;
}

/** A validation in progress, shared with the fleet (etcd) so that whichever instance the CA's
 *  request reaches answers it. */
export type SharedChallenge =
  | { type: Extract<AcmeChallengeType, 'http-01'>; name: string; token: string; keyAuthorization: string }
  | { type: Extract<AcmeChallengeType, 'tls-alpn-01'>; name: string; token: string; cert: string; key: string };

export interface AcmeLock {
  release(): Promise<void>;
}

/** Another instance (or process) holds the lock. */
export interface LockHeld {
  heldBy: string;
}

export interface StorageEvents {
  /** A certificate written by another instance (or process). */
  certificate(c: StoredCertificate): void;
  /** The validations other instances have in progress, whole; resolves once this instance's data
   *  plane answers them (then the storage acknowledges them to the ordering instance). */
  challenges(list: SharedChallenge[]): Promise<void>;
  /** The storage cannot be reached (or can again: undefined). */
  trouble(reason: string | undefined): void;
}

export interface AcmeStorage {
  /** For logs and GET /v1/tls: the directory, or etcd://HOST:PORT/PREFIX/acme/CA. */
  readonly where: string;
  /** This instance's id in locks and acknowledgements. */
  readonly instance: string;
  loadAccount(): Promise<StoredAccount | undefined>;
  saveAccount(account: StoredAccount): Promise<void>;
  loadCertificate(name: string): Promise<StoredCertificate | undefined>;
  loadCertificates(): Promise<StoredCertificate[]>;
  saveCertificate(c: StoredCertificate): Promise<void>;
  /** Takes the lock `key` (a DNS name, or "account") unless another instance holds it. */
  tryLock(key: string): Promise<AcmeLock | LockHeld>;
  /** Shares a validation with the other instances; resolves once every live instance answers it
   *  (bounded: after `waitMs` it resolves anyway). */
  shareChallenge(c: SharedChallenge, waitMs: number): Promise<void>;
  withdrawChallenge(c: SharedChallenge): Promise<void>;
  /** Starts reporting other instances' writes. */
  follow(events: StorageEvents): void;
  close(): Promise<void>;
}

/** The namespace of a CA: its directory URL's host, port and path ("acme-v02.api.letsencrypt.org-directory"). */
export function caNamespace(directory: string): string {
  const u = new URL(directory);
  return `${u.host}${u.pathname}`.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '') || 'ca';
}

/** An id for this process among the fleet's instances. */
export function instanceId(hostname: string, pid: number, random: string): string {
  return `${hostname}-${pid}-${random}`;
}
