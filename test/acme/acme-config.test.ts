// Automatic HTTPS settings that cannot work are configuration errors: `portico --check` (and a
// start) exits 2 naming the setting, before anything listens.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt } from '../helpers/built.js';
import { BIN, runPortico } from '../helpers/portico-process.js';
import { makeCert } from '../helpers/certs.js';

let dir: string;
const ACME = { directory: 'https://acme.test/dir' };

beforeAll(() => {
  ensureBuilt(BIN, ['src', 'admin']);
  dir = mkdtempSync(join(tmpdir(), 'portico-acme-config-'));
  const { cert, key } = makeCert();
  writeFileSync(join(dir, 'c.pem'), cert);
  writeFileSync(join(dir, 'c.key'), key);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function check(config: Record<string, unknown>): Promise<{ code: number | null; stderr: string }> {
  const file = join(dir, 'portico.json');
  writeFileSync(file, JSON.stringify({ admin: false, ...config }));
  return runPortico(['--config', file, '--check']);
}

describe('acme settings', () => {
  it.each([
    ['tls.acme without the top-level acme', { listeners: [{ listen: '127.0.0.1:0', tls: { acme: true } }] }, /\/listeners\/0\/tls\/acme needs the top-level "acme" setting/],
    ['acmeNames without tls.acme', { acme: ACME, listeners: [{ listen: '127.0.0.1:0', tls: { certificates: [{ cert: 'c.pem', key: 'c.key' }], acmeNames: ['a.test'] } }] }, /\/listeners\/0\/tls\/acmeNames is for listeners with "acme": true/],
    ['a TLS listener with neither certificates nor acme', { listeners: [{ listen: '127.0.0.1:0', tls: {} }] }, /\/listeners\/0\/tls needs "certificates" \(or "acme": true\)/],
    ['http-01 alone without a plain listener', { acme: { ...ACME, challenges: ['http-01'] }, listen: false, listeners: [{ listen: '127.0.0.1:0', tls: { acme: true } }] }, /\/acme\/challenges: only http-01 is allowed, but no plain listener/],
    ['a directory that is not https://', { acme: { directory: 'http://acme.test/dir' } }, /\/acme\/directory/],
    ['an unknown challenge type', { acme: { ...ACME, challenges: ['dns-01'] } }, /\/acme\/challenges\/0 must be one of \["http-01","tls-alpn-01"\]/],
    ['a renewBefore that is not a duration or a share', { acme: { ...ACME, renewBefore: '2w' } }, /\/acme\/renewBefore/],
    ['a renewBefore of 100%', { acme: { ...ACME, renewBefore: '100%' } }, /\/acme\/renewBefore: 100% must be between 0% and 100%/],
    ['a CA file that does not exist', { acme: { ...ACME, caFile: 'missing.pem' } }, /\/acme\/caFile|missing\.pem/],
  ])('%s: exit 2 naming the setting', async (_what, config, message) => {
    const r = await check(config);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('a complete configuration checks out', async () => {
    const r = await check({ acme: { ...ACME, email: 'ops@a.test', renewBefore: '30d' }, listeners: [{ listen: '127.0.0.1:0' }, { listen: '127.0.0.1:0', tls: { acme: true, acmeNames: ['www.a.test'] } }] });
    expect(r.code, r.stderr).toBe(0);
  });
});
