// Failed authentication is cheap and bounded: each client address has a small budget of failures
// answered at once; beyond it failures are answered late (429, Retry-After), at most a few held at
// once per address (the rest answered at once and their connection closed), counted in metrics, and
// a valid token is never held, even from the address that is failing. Over real HTTP on loopback
// (127.0.0.2 is another client); the budget's arithmetic on a fake clock.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { DEFAULT_BUDGET_LIMITS, FailedAuthBudget, addressKey } from '../../admin/api/failed-auth-budget.js';
import { TOKEN, adminCall, capturingLogger, startAdminWith, type AdminReply } from './helpers.js';

const WRONG = 'not-a-token-of-this-proxy';
const HELD_PER_ADDRESS = DEFAULT_BUDGET_LIMITS.maxHeldPerAddress;

describe('FailedAuthBudget (fake clock)', () => {
  it('allows `burst` failures, then one per refillMs; Retry-After says when the next is allowed', () => {
    let now = 1_000_000;
    const b = new FailedAuthBudget({ burst: 3, refillMs: 10_000 }, { maxAddresses: 100, maxHeldPerAddress: 2, maxHeld: 3 }, () => now);
    for (let i = 0; i < 3; i++) expect(b.fail('a').over).toBe(false);
    expect(b.fail('a')).toEqual({ over: true, retryAfterS: 10, firstOver: true });
    now += 4_000;
    expect(b.fail('a')).toEqual({ over: true, retryAfterS: 6, firstOver: false });
    expect(b.fail('b').over).toBe(false); // another address has its own budget
    now += 6_000;
    expect(b.fail('a').over).toBe(false); // one regained
    expect(b.fail('a').over).toBe(true);
    // quiet long enough: the whole budget again, and a new warning when it is used up
    now += 60_000;
    for (let i = 0; i < 3; i++) expect(b.fail('a').over).toBe(false);
    expect(b.fail('a').firstOver).toBe(true);
  });

  it('holds at most maxHeldPerAddress per address and maxHeld in all', () => {
    const b = new FailedAuthBudget({ burst: 1, refillMs: 1000 }, { maxAddresses: 100, maxHeldPerAddress: 2, maxHeld: 3 });
    const a1 = b.hold('a');
    const a2 = b.hold('a');
    expect(a1 && a2).toBeTruthy();
    expect(b.hold('a')).toBeUndefined();
    const c1 = b.hold('c');
    expect(c1).toBeTruthy();
    expect(b.hold('d')).toBeUndefined(); // 3 held in all
    a1!();
    a1!(); // releasing twice frees one slot only
    expect(b.hold('d')).toBeTruthy();
    expect(b.hold('e')).toBeUndefined();
  });

  it('remembers at most maxAddresses (the least recently failing is forgotten)', () => {
    const b = new FailedAuthBudget({ burst: 1, refillMs: 60_000 }, { maxAddresses: 3, maxHeldPerAddress: 1, maxHeld: 1 });
    for (const k of ['a', 'b', 'c', 'd']) b.fail(k);
    expect(b.size).toBe(3);
    expect(b.fail('a').over).toBe(false); // forgotten: a fresh budget
    expect(b.fail('d').over).toBe(true);
  });

  it('counts IPv6 clients per /64 and IPv4-mapped ones as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:DB8:0001:0002::9')).toBe('2001:db8:1:2::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('10.1.2.3')).toBe('10.1.2.3');
  });
});

describe('failed authentication over real HTTP', () => {
  let admin: Awaited<ReturnType<typeof startAdminWith>>;
  const log = capturingLogger();
  const DELAY_MS = 4_000;

  beforeAll(async () => {
    admin = await startAdminWith({ openReads: false, failedAuth: { burst: 3, refillMs: 600_000, delayMs: DELAY_MS } }, { logger: log.logger });
  });
  afterAll(async () => { await admin?.close(); });

  it('beyond the budget, failures are answered late with 429 (a few held, the rest at once and closed); a valid token is answered meanwhile', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await adminCall(`${admin.url}/v1/routes`, { token: WRONG });
      expect(r.status).toBe(401);
    }
    // 66 more failures at once, each on its own connection: 64 held (maxHeldPerAddress), 2 refused
    const settled: string[] = [];
    const failures = Array.from({ length: HELD_PER_ADDRESS + 2 }, (_, i) => adminCall(`${admin.url}/v1/routes`, { token: WRONG, keepAlive: true }).then((r) => { settled.push(`fail-${i}`); return r; }));
    // the valid token from the same address, sent while the failures are held
    const valid = await adminCall(`${admin.url}/v1/routes`, { token: TOKEN });
    settled.push('valid');
    expect(valid.status).toBe(200);
    const replies: AdminReply[] = await Promise.all(failures);
    expect(new Set(replies.map((r) => r.status))).toEqual(new Set([429]));
    for (const r of replies) expect(Number(r.headers['retry-after'])).toBeGreaterThan(500);
    const held = replies.map((r, i) => ({ r, i })).filter(({ r }) => r.headers.connection !== 'close');
    const refused = replies.map((r, i) => ({ r, i })).filter(({ r }) => r.headers.connection === 'close');
    expect([held.length, refused.length]).toEqual([HELD_PER_ADDRESS, 2]);
    // neither the valid request nor the refused ones waited for the held failures
    const at = (name: string) => settled.indexOf(name);
    for (const { i } of held) {
      expect(at(`fail-${i}`)).toBeGreaterThan(at('valid'));
      for (const x of refused) expect(at(`fail-${i}`)).toBeGreaterThan(at(`fail-${x.i}`));
    }
    expect(replies[0].json()).toMatchObject({ status: 429, type: 'urn:portico:problem:too-many-failures' });
    expect(replies[0].json().detail).toMatch(/^the bearer token is wrong; too many failed authentications from this address/);

    // another client address has its own budget
    const other = await adminCall(`${admin.url}/v1/routes`, { token: WRONG, localAddress: '127.0.0.2' });
    expect(other.status).toBe(401);

    const metrics = (await adminCall(`${admin.url}/metrics`, { token: TOKEN })).body;
    expect(metrics).toMatch(new RegExp(`^portico_admin_auth_failures_total\\{reason="invalid"\\} ${3 + HELD_PER_ADDRESS + 2 + 1}$`, 'm'));
    expect(metrics).toMatch(new RegExp(`^portico_admin_auth_throttled_total\\{action="delayed"\\} ${HELD_PER_ADDRESS}$`, 'm'));
    expect(metrics).toMatch(/^portico_admin_auth_throttled_total\{action="refused"\} 2$/m);
    // one warning for the address, not one line per failure
    const warnings = log.lines().filter((l) => typeof l.msg === 'string' && l.msg.includes('too many failed authentications'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, client: '127.0.0.1' });
    expect(log.text()).not.toContain(WRONG);
  }, 30_000);
});
