// When certificates are renewed and failed orders retried (admin/acme/renewal.ts), Retry-After as
// the CA may send it (admin/acme/acme-http.ts), and which names get certificates
// (admin/acme/acme-names.ts).
import { describe, it, expect } from 'vitest';
import { parseRenewBefore, renewalTime, retryDelayMs, FIRST_RETRY_MS, MAX_RETRY_MS, MIN_RETRY_MS } from '../../admin/acme/renewal.js';
import { retryAfterTime } from '../../admin/acme/acme-http.js';
import { planNames } from '../../admin/acme/acme-names.js';
import { CertificateStore } from '../../src/tls/certificate-store.js';
import { TestPki } from '../helpers/certs.js';
import type { RouteSpec } from '../../src/routing/route-spec.js';

const DAY = 86_400_000;

describe('renewal and retries', () => {
  it('renews when a third of the lifetime is left by default, or as renewBefore says (a duration cut to half the lifetime, or a share)', () => {
    const t0 = Date.UTC(2026, 0, 1);
    expect(renewalTime(t0, t0 + 90 * DAY, parseRenewBefore(undefined))).toBe(t0 + 60 * DAY);
    expect(renewalTime(t0, t0 + 90 * DAY, parseRenewBefore('30d'))).toBe(t0 + 60 * DAY);
    expect(renewalTime(t0, t0 + 90 * DAY, parseRenewBefore('12h'))).toBe(t0 + 90 * DAY - 12 * 3_600_000);
    expect(renewalTime(t0, t0 + 90 * DAY, parseRenewBefore('50%'))).toBe(t0 + 45 * DAY);
    // a 6-day certificate with renewBefore 30d is renewed at half its life, not at once in a loop
    expect(renewalTime(t0, t0 + 6 * DAY, parseRenewBefore('30d'))).toBe(t0 + 3 * DAY);
    expect(renewalTime(t0, t0 + 60_000, parseRenewBefore('90s'))).toBe(t0 + 30_000);
    expect(() => parseRenewBefore('0%')).toThrow(/between 0% and 100%/);
    expect(() => parseRenewBefore('100%')).toThrow(/between 0% and 100%/);
    expect(() => parseRenewBefore('0s')).toThrow(/more than 0/);
    expect(() => parseRenewBefore('1w')).toThrow(/not a duration/);
  });

  it('waits 1 min, then as long as the name has been failing (1, 1, 2, 4 ... min) up to 1 h; more often while the held certificate runs out, never under 5 s', () => {
    // the attempts of a name failing from t = 0 on, without a certificate
    const times = [0];
    while (times.length < 8) times.push(times.at(-1)! + retryDelayMs(times.at(-1)!, undefined));
    expect(times.map((t) => t / FIRST_RETRY_MS)).toEqual([0, 1, 2, 4, 8, 16, 32, 64]);
    expect(retryDelayMs(10 * 3_600_000, undefined)).toBe(MAX_RETRY_MS);
    expect(retryDelayMs(16 * FIRST_RETRY_MS, 30 * DAY)).toBe(16 * FIRST_RETRY_MS);
    expect(retryDelayMs(16 * FIRST_RETRY_MS, 80_000)).toBe(10_000);
    expect(retryDelayMs(16 * FIRST_RETRY_MS, 8_000)).toBe(MIN_RETRY_MS);
    // once expired: as without a certificate, counted from the first failure (the quick retries
    // before the expiry do not push the next attempt an hour away)
    expect(retryDelayMs(40_000, -5)).toBe(FIRST_RETRY_MS);
  });

  it('reads Retry-After as seconds or as an HTTP date (RFC 9110 §10.2.3)', () => {
    const now = Date.UTC(2026, 0, 1, 12);
    expect(retryAfterTime('120', now)).toBe(now + 120_000);
    expect(retryAfterTime('Thu, 01 Jan 2026 13:00:00 GMT', now)).toBe(now + 3_600_000);
    expect(retryAfterTime('Thu, 01 Jan 2026 11:00:00 GMT', now)).toBe(now);
    expect(retryAfterTime('soon', now)).toBeUndefined();
    expect(retryAfterTime(undefined, now)).toBeUndefined();
  });
});

describe('names that get certificates', () => {
  it('takes exact route hosts and acmeNames; skips wildcards, IPs, localhost, single labels, and names a configured certificate covers', () => {
    const pki = new TestPki();
    try {
      const wild = pki.issue({ names: ['*.covered.test'] });
      const withFile = new CertificateStore('web', [{ cert: wild.certPem, key: wild.keyPem }], '', undefined, { acme: true });
      const bare = new CertificateStore('other', [], '', undefined, { acme: true });
      const route = (id: string, host?: string) => ({ id, pathPrefix: '/', upstreams: ['http://127.0.0.1:1'], ...(host ? { host } : {}) }) as RouteSpec;
      const plan = planNames(
        [route('a', 'A.test'), route('b', '*.w.test'), route('c', '127.0.0.1'), route('d', 'localhost'), route('e', 'intranet'), route('f'), route('g', 'x.covered.test')],
        [
          { id: 'web', listen: '', store: withFile, acmeNames: ['www.a.test'] },
          { id: 'other', listen: '', store: bare, acmeNames: [] },
          { id: 'files-only', listen: '', store: bare },
        ],
      );
      expect([...plan.names]).toEqual([['a.test', ['web', 'other']], ['www.a.test', ['web']], ['x.covered.test', ['other']]]);
      const skipped = Object.fromEntries(plan.skipped.map((s) => [`${s.name} ${s.listeners.join(',')}`, s.reason]));
      expect(Object.keys(skipped).sort()).toEqual(['*.w.test web,other', '127.0.0.1 web,other', 'intranet web,other', 'localhost web,other', 'x.covered.test web']);
      expect(skipped['*.w.test web,other']).toMatch(/DNS-01/);
      expect(skipped['x.covered.test web']).toMatch(/configured certificate/);
      expect(plan.skipped.find((s) => s.name === 'x.covered.test')!.warn).toBe(false);
    } finally {
      pki.close();
    }
  });
});
