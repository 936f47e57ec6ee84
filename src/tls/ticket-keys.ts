// TLS session tickets (RFC 5077; TLS 1.3: RFC 8446 §4.6.1 NewSessionTicket, resumed with a PSK):
// the server encrypts the session state into a ticket the client keeps and presents on its next
// connection, which then skips the certificate, its signature and the key exchange's verification
// (a resumed handshake). The ticket keys decide who can resume: keys shared by every worker and,
// with an etcd store, by the fleet (admin/tls/ticket-key-rotation.ts, admin/stores/etcd-ticket-keys.ts) let a client resume on any
// process behind the address; keys rotated (the newest encrypts, the one before still decrypts
// for one more period) bound how long a stolen key exposes past sessions.
//
// A TicketKeySet is plain data (it crosses the workers' IPC and lives in etcd as JSON). A
// TicketKeyRing is a process's view of the latest set on its TLS servers: the current key with
// setTicketKeys (native, one key), and, while the previous key's tickets can still be valid (the
// session lifetime after a rotation), every key through Node's ticket key callback: OpenSSL calls
// it with the ticket's key name (16 bytes) to decrypt, or to encrypt a new ticket, and it answers
// with the HMAC-SHA256 and AES-128-CBC keys (setTicketKeys' layout: name | HMAC key | AES key, 16
// bytes each). The callback (SecureContext.enableTicketKeyCallback, Node's own, not a documented
// API; where it is missing the previous key does not decrypt) runs inside OpenSSL's handshake: it
// must never throw, and must always answer with two 16-byte buffers (Node asserts on anything else
// and aborts the process), so an unknown key name gets zero keys and 0 ("no such key": a full
// handshake).
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import type tls from 'node:tls';

/** Bytes of one ticket key: name, HMAC key and AES key, 16 each (Node's setTicketKeys). */
export const TICKET_KEY_BYTES = 48;
const PART = 16;

/** The ticket keys a process or fleet uses: `keys[0]` encrypts new tickets, every key decrypts
 *  (hex, TICKET_KEY_BYTES each, newest first, at most two); `rotatedAt`: when keys[0] was made
 *  (ms since the epoch: shared by the fleet, so wall-clock time). */
export interface TicketKeySet {
  keys: string[];
  rotatedAt: number;
}

export function newTicketKeySet(now = Date.now()): TicketKeySet {
  return { keys: [randomBytes(TICKET_KEY_BYTES).toString('hex')], rotatedAt: now };
}

/** A new key for new tickets; the one it replaces still decrypts (one period); older ones go. */
export function rotateTicketKeys(set: TicketKeySet, now = Date.now()): TicketKeySet {
  return { keys: [randomBytes(TICKET_KEY_BYTES).toString('hex'), set.keys[0]], rotatedAt: now };
}

/** When `set` is due for its next rotation. */
export function rotationDue(set: TicketKeySet, rotateMs: number): number {
  return set.rotatedAt + rotateMs;
}

/** A TicketKeySet read from elsewhere (etcd, IPC), checked; undefined when it is not one. */
export function parseTicketKeySet(v: unknown): TicketKeySet | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { keys, rotatedAt } = v as Partial<TicketKeySet>;
  if (!Array.isArray(keys) || keys.length < 1 || keys.length > 2 || typeof rotatedAt !== 'number' || !Number.isFinite(rotatedAt)) return undefined;
  if (!keys.every((k) => typeof k === 'string' && /^[0-9a-f]+$/.test(k) && k.length === TICKET_KEY_BYTES * 2)) return undefined;
  return { keys: [...keys], rotatedAt };
}

export function sameTicketKeys(a: TicketKeySet | undefined, b: TicketKeySet | undefined): boolean {
  return a?.rotatedAt === b?.rotatedAt && a?.keys.join() === b?.keys.join();
}

/** The session id context of a listener: a session resumes only on a listener with the same id
 *  (OpenSSL checks it on every resumption; Node's default, a hash of the process's argv, differs
 *  between the primary's workers and the fleet's instances). At most 32 bytes (OpenSSL). */
export function sessionIdContext(listenerId: string): string {
  return createHash('sha256').update(`portico listener ${listenerId}`).digest('hex').slice(0, 32);
}

interface Key { name: Buffer; hmac: Buffer; aes: Buffer }

/** How long after a rotation the previous key still decrypts: a ticket is worth no more than its
 *  session, which resumes for 300 s after its full handshake (Node's sessionTimeout, as nginx's
 *  ssl_session_timeout), plus a minute for the fleet's instances to take a rotation at slightly
 *  different moments. */
export const PREVIOUS_KEY_GRACE_MS = 360_000;

const ZERO = Buffer.alloc(PART);
/** OpenSSL's ticket key callback results: 1 key found, 2 key found and a new ticket sent
 *  (decrypt), 0 no such key, -1 failure. */
const FOUND = 1;
/** A ticket under the previous key gets a new one under the current key. */
const FOUND_RENEW = 2;
const UNKNOWN = 0;
const FAILED = -1;

/** Node's native secure context, as far as this file uses it. */
interface NativeContext {
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: (name: Buffer, iv: Buffer, encrypt: boolean) => unknown[];
}

/** A server the ring is installed on, and how to give it a fresh own context (a context keeps
 *  the JavaScript callback once enabled: going back to native keys takes a new one). */
interface Installed { server: tls.Server; freshContext: () => void }

/**
 * The ticket keys of a process, on every TLS server it is installed on. Two ways to hand them to
 * OpenSSL, both measured (bench/RESULTS.md, "TLS (issue 23)", instructions per handshake):
 * - native (setTicketKeys: the current key only): no JavaScript per ticket;
 * - the ticket key callback: every key, at the cost of a call into JavaScript per ticket issued
 *   or presented (~250,000 instructions per full handshake, two tickets, ~6%), so it is on only
 *   while the previous key's tickets can still be valid, for PREVIOUS_KEY_GRACE_MS after a
 *   rotation, then the servers go back to native keys.
 * A resumed session gets no new ticket under the current key (OpenSSL's and Node's default; a
 * TLS 1.3 client that uses each ticket once, RFC 8446 §C.4, then resumes two connections of
 * three with the two tickets of a full handshake): renewing every ticket was measured to cost
 * more instructions per resumed handshake than the full handshakes it saves (with an ECDSA P-256
 * certificate, a full TLS 1.3 handshake costs Portico only ~12-16% more than a resumed one).
 */
export class TicketKeyRing {
  #keys: Key[] = [];
  #set: TicketKeySet;
  /** The IV of a new ticket: copied in per ticket, copied out by Node before the callback
   *  returns. Random IVs come from a pool filled 256 at a time (one randomFillSync per ticket). */
  readonly #iv = Buffer.alloc(PART);
  readonly #ivPool = Buffer.alloc(PART * 256);
  #ivAt = this.#ivPool.length;
  readonly #servers = new Map<tls.Server, Installed>();
  /** Native contexts whose ticket key callback is on (it cannot be turned off again). */
  readonly #withCallback = new WeakSet<object>();
  /** Ends the previous key's grace. */
  #graceTimer: NodeJS.Timeout | undefined;

  constructor(set: TicketKeySet = newTicketKeySet()) {
    this.#set = set;
    this.set(set);
  }

  current(): TicketKeySet {
    return this.#set;
  }

  /** Takes a new set for every server it is installed on (new tickets use its first key). */
  set(set: TicketKeySet): void {
    this.#keys = set.keys.map((hex) => {
      const b = Buffer.from(hex, 'hex');
      return { name: b.subarray(0, PART), hmac: b.subarray(PART, 2 * PART), aes: b.subarray(2 * PART, 3 * PART) };
    });
    this.#set = set;
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    if (this.#previousDecrypts()) {
      this.#graceTimer = setTimeout(() => {
        this.#graceTimer = undefined;
        for (const i of this.#servers.values()) this.#apply(i);
      }, set.rotatedAt + PREVIOUS_KEY_GRACE_MS - Date.now() + 1);
      this.#graceTimer.unref();
    }
    for (const i of this.#servers.values()) this.#apply(i);
  }

  /** Installs the ring on `server`'s own context; again after every server.setSecureContext (a
   *  certificate change makes a new one). `freshContext` gives the server a new own context (the
   *  same options). The ticket keys are the server context's: a handshake whose certificate
   *  comes from SNICallback still uses them (OpenSSL takes them from the session context). */
  install(server: tls.Server, freshContext: () => void): void {
    let installed = this.#servers.get(server);
    if (installed === undefined) {
      this.#servers.set(server, installed = { server, freshContext });
      server.once('close', () => {
        this.#servers.delete(server);
        if (this.#servers.size === 0) clearTimeout(this.#graceTimer);
      });
    }
    this.#apply(installed);
  }

  /** Whether the previous key is within its grace (and this Node can use it at all). */
  #previousDecrypts(): boolean {
    return this.#keys.length > 1 && Date.now() < this.#set.rotatedAt + PREVIOUS_KEY_GRACE_MS;
  }

  #apply(i: Installed): void {
    const context = nativeContext(i.server);
    if (this.#previousDecrypts() && typeof context.enableTicketKeyCallback === 'function') {
      if (!this.#withCallback.has(context)) {
        context.enableTicketKeyCallback();
        context.onticketkeycallback = this.#callback;
        this.#withCallback.add(context);
      }
      return;
    }
    // a context keeps the callback once enabled: back to native keys on a new one
    if (this.#withCallback.has(context)) i.freshContext();
    i.server.setTicketKeys(Buffer.from(this.#set.keys[0], 'hex'));
  }

  readonly #callback = (name: Buffer, _iv: Buffer, encrypt: boolean): unknown[] => {
    try {
      const keys = this.#keys;
      if (encrypt) {
        const k = keys[0];
        if (this.#ivAt === this.#ivPool.length) {
          randomFillSync(this.#ivPool);
          this.#ivAt = 0;
        }
        this.#ivPool.copy(this.#iv, 0, this.#ivAt, this.#ivAt += PART);
        return [FOUND, k.hmac, k.aes, k.name, this.#iv];
      }
      for (let i = 0; i < keys.length; i++) {
        if (keys[i].name.equals(name)) return [i === 0 ? FOUND : FOUND_RENEW, keys[i].hmac, keys[i].aes];
      }
      return [UNKNOWN, ZERO, ZERO];
    } catch {
      return [FAILED, ZERO, ZERO];
    }
  };
}

function nativeContext(server: tls.Server): NativeContext {
  return (server as unknown as { _sharedCreds: tls.SecureContext })._sharedCreds.context as NativeContext;
}
