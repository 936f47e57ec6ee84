// Basic proxy authentication (RFC 9110 §11.7.1, RFC 7617): 407 with Proxy-Authenticate until the
// client sends Proxy-Authorization: Basic base64(user:password). Passwords are compared as
// SHA-256 digests with timingSafeEqual, and an unknown user costs the same as a wrong password.
import { createHash, timingSafeEqual } from 'node:crypto';

export type AuthResult = { ok: true; user: string } | { ok: false; reason: string; missing: boolean };

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
const DUMMY = digest('\u0000portico-no-such-user');

/** A quoted-string (RFC 9110 §5.6.4) with `"` and `\` escaped; CTLs are dropped. */
function quoted(s: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${s.replace(/[\u0000-\u001f\u007f]/g, '').replace(/["\\]/g, '\\$&')}"`;
}

export class ProxyAuth {
  readonly #users = new Map<string, Buffer>();
  /** The complete Proxy-Authenticate field line for a 407. */
  readonly challenge: string;

  constructor(realm: string, users: Record<string, string>) {
    for (const [name, password] of Object.entries(users)) this.#users.set(name, digest(password));
    this.challenge = `Proxy-Authenticate: Basic realm=${quoted(realm)}, charset="UTF-8"\r\n`;
  }

  /** Checks the Proxy-Authorization values of a request. */
  check(values: readonly string[]): AuthResult {
    if (values.length === 0) return { ok: false, reason: 'proxy authentication required', missing: true };
    if (values.length > 1) return { ok: false, reason: 'more than one Proxy-Authorization field', missing: false };
    const m = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(values[0]);
    if (!m) return { ok: false, reason: 'Proxy-Authorization is not Basic credentials', missing: false };
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { ok: false, reason: 'malformed Basic credentials', missing: false };
    const user = decoded.slice(0, colon);
    const expected = this.#users.get(user);
    const same = timingSafeEqual(expected ?? DUMMY, digest(decoded.slice(colon + 1)));
    if (!same || expected === undefined) return { ok: false, reason: `bad credentials for user ${JSON.stringify(user)}`, missing: false };
    return { ok: true, user };
  }
}
