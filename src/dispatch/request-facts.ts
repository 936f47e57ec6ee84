// Facts about a request that the traffic policy asks for: whether its method is idempotent, and
// its consistent-hash key.
import { MethodId } from '../../asm/shared/constants.js';
import type { RequestHead } from '../http/request-head.js';
import type { HashOn } from '../upstream/policy.js';
import type { ClientPeer } from './client-peer.js';

/** RFC 9110 §9.2.2: methods whose intended effect of several identical requests is that of one. */
const IDEMPOTENT = new Set<number>([MethodId.GET, MethodId.HEAD, MethodId.OPTIONS, MethodId.TRACE, MethodId.PUT, MethodId.DELETE]);

export function isIdempotent(methodId: number): boolean {
  return IDEMPOTENT.has(methodId);
}

/** The request's consistent-hash key: the header's first value, the cookie's value (RFC 6265
 *  §5.4 cookie-string: `name=value` pairs separated by "; "), or the client address; undefined
 *  when the request has none (the route balances it round robin). */
export function hashKeyOf(on: HashOn, head: RequestHead, peer: ClientPeer): string | undefined {
  if ('header' in on) return head.values(on.header)[0];
  if ('cookie' in on) {
    const prefix = `${on.cookie}=`;
    for (const line of head.values('cookie')) {
      for (const pair of line.split(';')) {
        const p = pair.trim();
        if (p.startsWith(prefix)) return p.slice(prefix.length);
      }
    }
    return undefined;
  }
  return peer.plain;
}
