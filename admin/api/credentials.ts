// The bearer tokens the admin API accepts, each with a name and a role (docs/admin-security.md):
// the admin token (admin.token, PORTICO_ADMIN_TOKEN, or the one `portico` generates for a run on
// loopback) is named "admin"; admin.tokens adds more, given in the file or in a token file.
// Only SHA-256 digests of the tokens are kept, and a presented token is compared with every one of
// them in constant time (crypto.timingSafeEqual over equal-length digests), so neither which
// token matched nor how long the tokens are shows in the answer's timing.
// No Fastify here: the start-up checks (admin/cli/preflight.ts) use this before Fastify is loaded.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MIN_ADMIN_TOKEN_LENGTH, type AdminConfig, type AdminRole } from '../../src/config/admin-schema.js';
import { ProxyError } from '../../src/errors.js';

export type { AdminRole };

/** Who a request acts as: a token's name, or a client certificate's common name. */
export interface Principal {
  name: string;
  role: AdminRole;
}

export interface NamedToken extends Principal {
  token: string;
  /** Where it was configured, for messages: a JSON pointer or PORTICO_ADMIN_TOKEN. */
  from: string;
}

/** Name of the admin token (admin.token / PORTICO_ADMIN_TOKEN / generated). */
export const ADMIN_TOKEN_NAME = 'admin';

const invalid = (message: string, path?: string) => new ProxyError('PRX_ERR_BAD_CONFIG', message, path);

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function readTokenFile(file: string, where: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw invalid(`${where}: cannot read the token file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, where);
  }
  // a file written by `echo` or an editor ends with a newline that is not part of the token
  return text.trim();
}

/**
 * The tokens a configuration gives: `adminToken` (admin.token or PORTICO_ADMIN_TOKEN, already
 * chosen by the caller; `adminTokenFrom` says which) named "admin", then admin.tokens with their
 * token files read now. Throws ProxyError PRX_ERR_BAD_CONFIG naming the setting: a token shorter
 * than MIN_ADMIN_TOKEN_LENGTH, an entry with both or neither of token and tokenFile, an unreadable
 * token file, two tokens with one name or one value.
 */
export function configuredTokens(admin: Pick<AdminConfig, 'tokens'>, adminToken: string | undefined, adminTokenFrom = '/admin/token'): NamedToken[] {
  const tokens: NamedToken[] = [];
  if (adminToken !== undefined) tokens.push({ name: ADMIN_TOKEN_NAME, role: 'admin', token: adminToken, from: adminTokenFrom });
  (admin.tokens ?? []).forEach((t, i) => {
    const where = `/admin/tokens/${i}`;
    if ((t.token === undefined) === (t.tokenFile === undefined)) {
      throw invalid(`${where} (${JSON.stringify(t.name)}) needs exactly one of "token" and "tokenFile"`, where);
    }
    const from = t.token !== undefined ? `${where}/token` : `${where}/tokenFile`;
    tokens.push({ name: t.name, role: t.role, token: t.token ?? readTokenFile(t.tokenFile!, from), from });
  });
  const names = new Map<string, string>();
  const digests: Array<{ digest: Buffer; from: string }> = [];
  for (const t of tokens) {
    if (t.token.length < MIN_ADMIN_TOKEN_LENGTH) {
      throw invalid(`${t.from} is too short (${t.token.length} characters; at least ${MIN_ADMIN_TOKEN_LENGTH}, e.g. from: openssl rand -base64 24)`, t.from);
    }
    const other = names.get(t.name);
    if (other !== undefined) throw invalid(`${t.from}: the name ${JSON.stringify(t.name)} is already taken by ${other} (names tell who made a change: each must be unique)`, t.from);
    names.set(t.name, t.from);
    const digest = sha256(t.token);
    const same = digests.find((d) => d.digest.equals(digest));
    if (same) throw invalid(`${t.from} is the same token as ${same.from} (each name needs its own token)`, t.from);
    digests.push({ digest, from: t.from });
  }
  return tokens;
}

/** The accepted tokens, as digests. */
export class TokenSet {
  readonly #entries: ReadonlyArray<{ digest: Buffer; principal: Principal }>;

  constructor(tokens: ReadonlyArray<Pick<NamedToken, 'name' | 'role' | 'token'>>) {
    this.#entries = tokens.map((t) => ({ digest: sha256(t.token), principal: Object.freeze({ name: t.name, role: t.role }) }));
  }

  get size(): number {
    return this.#entries.length;
  }

  hasRole(role: AdminRole): boolean {
    return this.#entries.some((e) => e.principal.role === role);
  }

  /** The principal whose token `presented` is. Every digest is compared (no early exit). */
  match(presented: string): Principal | undefined {
    const digest = sha256(presented);
    let found: Principal | undefined;
    for (const e of this.#entries) {
      if (timingSafeEqual(digest, e.digest)) found ??= e.principal;
    }
    return found;
  }
}
