// What an admin write says about itself, for the route history: who (the token's name), why
// (X-Portico-Change-Message) and whether it asks to be guarded (?guard=30s, guardMaxErrorRate,
// guardMinRequests; admin/guard/).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ChangeMeta, ChangeSource, GuardRequest } from '../history/revision-log.js';
import { AdminProblem } from '../protocol/problem.js';
import { GUARD_DEFAULTS, MAX_GUARD_MS, MAX_MESSAGE_CHARS, MESSAGE_HEADER, MIN_GUARD_MS } from '../protocol/history-schemas.js';

export { MESSAGE_HEADER };

type GuardQuery = { guard?: string; guardMaxErrorRate?: number; guardMinRequests?: number };

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `30s`, `2m`, `1h`, `1500ms`, `30` (seconds) -> milliseconds. */
export function parseDuration(text: string): number {
  const m = /^([0-9]+)(ms|s|m|h)?$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * UNIT_MS[m[2] ?? 's'];
}

function guardOf(query: GuardQuery): GuardRequest | undefined {
  if (query.guard === undefined) {
    const stray = query.guardMaxErrorRate !== undefined ? 'guardMaxErrorRate' : query.guardMinRequests !== undefined ? 'guardMinRequests' : undefined;
    if (stray) throw new AdminProblem(400, 'schema', `querystring: ${stray} needs guard (e.g. ?guard=30s&${stray}=...)`, { in: 'querystring', pointer: `/${stray}` });
    return undefined;
  }
  const windowMs = parseDuration(query.guard);
  if (!(windowMs >= MIN_GUARD_MS && windowMs <= MAX_GUARD_MS)) {
    throw new AdminProblem(400, 'schema', `querystring: guard must be between 1s and 1h (got ${JSON.stringify(query.guard)})`, { in: 'querystring', pointer: '/guard' });
  }
  return {
    windowMs,
    maxErrorRate: query.guardMaxErrorRate ?? GUARD_DEFAULTS.maxErrorRate,
    minRequests: query.guardMinRequests ?? GUARD_DEFAULTS.minRequests,
  };
}

/** The change message: the header's bytes as UTF-8 (Node hands header values over as latin1). */
function messageOf(request: FastifyRequest): string | undefined {
  const raw = request.headers[MESSAGE_HEADER];
  if (raw === undefined) return undefined;
  const bytes = Buffer.from(Array.isArray(raw) ? raw.join(', ') : raw, 'latin1');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new AdminProblem(400, 'bad-request', `${MESSAGE_HEADER} is not UTF-8`, { in: 'headers', pointer: `/${MESSAGE_HEADER}` });
  }
  text = text.trim();
  if ([...text].length > MAX_MESSAGE_CHARS) {
    throw new AdminProblem(400, 'bad-request', `${MESSAGE_HEADER} is longer than ${MAX_MESSAGE_CHARS} characters`, { in: 'headers', pointer: `/${MESSAGE_HEADER}` });
  }
  return text === '' ? undefined : text;
}

/** The token that made the request, by name (`anonymous` where auth is off). */
export function tokenName(request: FastifyRequest): string {
  return request.principal?.name ?? 'anonymous';
}

const META = Symbol('changeMeta');
type WithMeta = FastifyRequest & { [META]?: ChangeMeta };

/** The meta of a write (source: an admin change unless `source` says otherwise). Remembered on
 *  the request, so the reply can say what became of its guard (guardHeader). */
export function changeMeta(request: FastifyRequest, source?: ChangeSource): ChangeMeta {
  const meta: ChangeMeta = { source: source ?? { kind: 'admin', token: tokenName(request) } };
  const message = messageOf(request);
  if (message !== undefined) meta.message = message;
  const guard = guardOf(request.query ?? {});
  if (guard) meta.guard = guard;
  (request as WithMeta)[META] = meta;
  return meta;
}

/** onSend: a guarded write's answer says that a guard watches it (X-Portico-Guard). */
export async function guardHeader(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const meta = (request as WithMeta)[META];
  if (meta?.guardStarted) reply.header('x-portico-guard', meta.guardStarted);
}
