// Strong ETags and If-Match evaluation (RFC 9110 13.1.1, strong comparison).
import { createHash } from 'node:crypto';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import { AdminProblem } from './problem.js';

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function digest(text: string, chars: number): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, chars);
}

/** Per-route strong ETag: a hash of the route's canonical JSON. */
export function routeEtag(spec: Readonly<RouteSpec>): string {
  return `"${digest(canonicalJson(spec), 22)}"`;
}

/** Global ETag (GET /v1/config, GET /v1/routes): the revision, plus a hash of the route list so an
 *  ETag from before a restart (revisions restart at 1) cannot match a different route list. */
export function configEtag(revision: number, specs: ReadonlyArray<Readonly<RouteSpec>>): string {
  return `"${revision}-${digest(canonicalJson(specs), 12)}"`;
}

const ENTITY_TAG = /^(W\/)?"[\x21\x23-\x7e\x80-\xff]*"$/;

/** Parses If-Match / If-None-Match: '*' or a list of entity-tags; 400 when malformed. */
export function parseEtagList(header: string, name: string): '*' | Array<{ weak: boolean; tag: string }> {
  const v = header.trim();
  if (v === '*') return '*';
  const out: Array<{ weak: boolean; tag: string }> = [];
  for (const part of v.split(',')) {
    const t = part.trim();
    if (t === '') continue;
    if (!ENTITY_TAG.test(t)) throw new AdminProblem(400, 'bad-request', `${name}: ${JSON.stringify(t)} is not an entity-tag (expected "..." as sent in ETag)`, { in: 'headers', pointer: `/${name.toLowerCase()}` });
    out.push({ weak: t.startsWith('W/'), tag: t.startsWith('W/') ? t.slice(2) : t });
  }
  if (out.length === 0) throw new AdminProblem(400, 'bad-request', `${name} is empty`, { in: 'headers', pointer: `/${name.toLowerCase()}` });
  return out;
}

/** Throws 412 unless If-Match (when sent) matches `current` (undefined: the resource does not
 *  exist; a function: computed only when the header is there). */
export function checkIfMatch(header: string | string[] | undefined, currentTag: string | undefined | (() => string), what: string): void {
  if (header === undefined) return;
  const current = typeof currentTag === 'function' ? currentTag() : currentTag;
  const list = parseEtagList(Array.isArray(header) ? header.join(',') : header, 'If-Match');
  const ok = list === '*' ? current !== undefined : current !== undefined && list.some((e) => !e.weak && e.tag === current);
  if (!ok) {
    throw new AdminProblem(412, 'precondition-failed', current === undefined
      ? `${what} does not exist, so If-Match cannot match`
      : `${what} has changed: its ETag is now ${current} (GET it again and retry)`, { in: 'headers', pointer: '/if-match' });
  }
}

/** True when If-None-Match (on a GET) matches `current`: answer 304. */
export function ifNoneMatchHits(header: string | string[] | undefined, current: string): boolean {
  if (header === undefined) return false;
  let list;
  try {
    list = parseEtagList(Array.isArray(header) ? header.join(',') : header, 'If-None-Match');
  } catch {
    return false;
  }
  // weak comparison for If-None-Match
  return list === '*' || list.some((e) => e.tag === current);
}
