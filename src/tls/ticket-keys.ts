// TLS session tickets (RFC 5077; TLS 1.3: RFC 8446 §4.6.1 NewSessionTicket, resumed with a PSK):
// the server encrypts the session state into a ticket the client keeps and presents on its next
// connection, which then skips the certificate, its signature and the key exchange's verification
// (a resumed handshake). The ticket keys decide who can resume: keys shared by every worker and,
// with an etcd store, by the fleet (admin/tls/ticket-key-rotation.ts, admin/stores/etcd-ticket-keys.ts) let a client resume on any
// process behind the address; keys rotated (the newest encrypts, the one before still decrypts
// for one more period) bound how long a stolen key exposes past sessions.
//
// A TicketKeySet is plain data (it crosses the workers' IPC and lives in etcd as JSON). A
// TicketKeyRing is a process's view of the latest set, installed on its TLS servers with Node's
// ticket key callback: OpenSSL calls it with the ticket's key name (16 bytes) to decrypt, or to
// encrypt a new ticket, and it answers with the HMAC-SHA256 and AES-128-CBC keys (the layout of
// Node's setTicketKeys: name | HMAC key | AES key, 16 bytes each). setTicketKeys holds one key
// only, so the previous key could not decrypt after a rotation: the callback (SecureContext
// .enableTicketKeyCallback, Node's own since v0.11, not a documented API) does; where it is
// missing, the newest key is installed with setTicketKeys. The callback runs inside OpenSSL's
// handshake: it must never throw, and must always answer with two 16-byte buffers (Node asserts
// on anything else and aborts the process), so an unknown key name gets zero keys and return 0
// ("no such key": a full handshake and a new ticket).
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

const ZERO = Buffer.alloc(PART);
/** OpenSSL's ticket key callback results: 1 key found (encrypt), 2 key found and a new ticket
 *  sent (decrypt), 0 no such key, -1 failure. */
const FOUND = 1;
/** Every resumed session gets a new ticket, under the newest key: TLS 1.3 clients use a ticket
 *  once (RFC 8446 §C.4), so without one a client resumes every other connection only (1 would
 *  do that: wrk measured 50% resumed against it, 100% with 2, as against nginx). */
const FOUND_RENEW = 2;
const UNKNOWN = 0;
const FAILED = -1;

/** Node's native secure context, as far as this file uses it. */
interface NativeContext {
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: (name: Buffer, iv: Buffer, encrypt: boolean) => unknown[];
}

export class TicketKeyRing {
  #keys: Key[] = [];
  #set: TicketKeySet;
  /** The IV of a new ticket: copied in per ticket, copied out by Node before the callback
   *  returns. Random IVs come from a pool filled 256 at a time (one randomFillSync per ticket was
   *  ~6 µs of a full handshake's JavaScript, two tickets each). */
  readonly #iv = Buffer.alloc(PART);
  readonly #ivPool = Buffer.alloc(PART * 256);
  #ivAt = this.#ivPool.length;
  readonly #servers = new Set<tls.Server>();

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
    for (const s of this.#servers) if (!callbackOf(s)) s.setTicketKeys(Buffer.from(set.keys[0], 'hex'));
  }

  /** Installs the ring on `server`'s own context. Again after every server.setSecureContext
   *  (a certificate change makes a new one). The ticket keys are the server context's: a
   *  handshake whose certificate comes from SNICallback still uses them (OpenSSL takes them
   *  from the session context, the server's). */
  install(server: tls.Server): void {
    if (!this.#servers.has(server)) {
      this.#servers.add(server);
      server.once('close', () => this.#servers.delete(server));
    }
    if (!callbackOf(server)) {
      server.setTicketKeys(Buffer.from(this.#set.keys[0], 'hex'));
      return;
    }
    const context = nativeContext(server);
    context.enableTicketKeyCallback!();
    context.onticketkeycallback = this.#callback;
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
        if (keys[i].name.equals(name)) return [FOUND_RENEW, keys[i].hmac, keys[i].aes];
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

/** Whether this Node has the ticket key callback (else: setTicketKeys, newest key only). */
function callbackOf(server: tls.Server): boolean {
  return typeof nativeContext(server)?.enableTicketKeyCallback === 'function';
}
