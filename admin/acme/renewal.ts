// When a certificate is renewed, and when a failed order is tried again.
//   - Renewal: `acme.renewBefore` before notAfter ("30d", "12h", "90m", "600s"), or when that share
//     of the lifetime is left ("33%"); by default when a third of the lifetime is left (Let's
//     Encrypt's advice for its 90-day certificates: renew at 60 days). A duration longer than half
//     the certificate's lifetime is cut to half, so short-lived certificates (Let's Encrypt's
//     6-day ones, a test CA's minutes) are not renewed in a loop.
//   - Retries: after 1 min, then as long again as the name has been failing (1, 1, 2, 4, 8 ...
//     min), up to 1 h between attempts (certmagic and Caddy wait about as long; Let's Encrypt
//     allows 5 failed validations per name per hour); but a certificate that is still valid is
//     retried at least every eighth of the time it has left (not more often than every 5 s), so a
//     renewal that keeps failing gets more chances before expiry. The backoff follows the time
//     spent failing, not the number of attempts: the quick retries before an expiry do not push
//     the next ones an hour away. A rate limit answer's Retry-After is used as it is (RFC 8555
//     §6.6).
import { ProxyError } from '../../src/errors.js';

export const FIRST_RETRY_MS = 60_000;
export const MAX_RETRY_MS = 3_600_000;
export const MIN_RETRY_MS = 5_000;

export type RenewBefore = { kind: 'duration'; ms: number } | { kind: 'share'; share: number };

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 } as const;

/** Parses `acme.renewBefore` (absent: a third of the lifetime). */
export function parseRenewBefore(text: string | undefined): RenewBefore {
  if (text === undefined) return { kind: 'share', share: 1 / 3 };
  const m = /^([0-9]+(?:\.[0-9]+)?)(d|h|m|s|%)$/.exec(text);
  if (!m) throw new ProxyError('PRX_ERR_BAD_CONFIG', `/acme/renewBefore: ${JSON.stringify(text)} is not a duration ("30d", "12h", "90m", "600s") or a share of the lifetime ("33%")`, '/acme/renewBefore');
  const n = Number(m[1]);
  if (m[2] === '%') {
    if (n <= 0 || n >= 100) throw new ProxyError('PRX_ERR_BAD_CONFIG', `/acme/renewBefore: ${text} must be between 0% and 100%`, '/acme/renewBefore');
    return { kind: 'share', share: n / 100 };
  }
  if (n <= 0) throw new ProxyError('PRX_ERR_BAD_CONFIG', `/acme/renewBefore: ${text} must be more than 0`, '/acme/renewBefore');
  return { kind: 'duration', ms: n * UNIT_MS[m[2] as keyof typeof UNIT_MS] };
}

/** The time (epoch ms) at which a certificate valid from `notBefore` to `notAfter` is renewed. */
export function renewalTime(notBefore: number, notAfter: number, rule: RenewBefore): number {
  const lifetime = Math.max(0, notAfter - notBefore);
  const before = rule.kind === 'share' ? lifetime * rule.share : Math.min(rule.ms, lifetime / 2);
  return notAfter - before;
}

/** The wait before the next attempt of a name that has been failing for `failingForMs` (0 at its
 *  first failure); `validForMs`: what the current certificate has left (undefined: none). */
export function retryDelayMs(failingForMs: number, validForMs: number | undefined): number {
  const backoff = Math.min(MAX_RETRY_MS, Math.max(FIRST_RETRY_MS, failingForMs));
  if (validForMs === undefined || validForMs <= 0) return backoff;
  return Math.max(MIN_RETRY_MS, Math.min(backoff, validForMs / 8));
}
