// docs/admin-security.md lists every admin endpoint with what it needs, and only those: its table
// is compared with the routes of the real app and the access each one gets (admin/api/access-policy.ts),
// in both directions, so a new endpoint cannot go undocumented.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAdminApp } from '../../admin/api/app.js';
import { accessOf, type Access, type AccessRouteConfig } from '../../admin/api/access-policy.js';
import { makeContext } from './helpers.js';

const DOC = join(import.meta.dirname, '..', '..', 'docs', 'admin-security.md');

const NEEDS: Record<Access, string> = {
  public: 'none',
  metrics: 'read (none with `admin.metricsAuth: false`)',
  read: 'read',
  admin: 'admin',
};

function documented(): string[] {
  const m = /<!-- admin-endpoints:start -->\n([\s\S]*?)<!-- admin-endpoints:end -->/.exec(readFileSync(DOC, 'utf8'));
  if (!m) throw new Error('docs/admin-security.md has no admin-endpoints table');
  return m[1].trim().split('\n').slice(2).map((line) => {
    const [method, path, needs] = line.split(' | ').map((c) => c.replace(/^\| ?/, '').trim());
    return `${method} ${path.replace(/`/g, '')} ${needs}`;
  });
}

describe('docs/admin-security.md', () => {
  it('lists every endpoint of the admin API with the access it needs', async () => {
    const app = buildAdminApp(makeContext(), { defaultMetrics: false });
    const routes: string[] = [];
    app.addHook('onRoute', (r) => {
      // HEAD routes mirror GET; arrays of methods are the 405 answers (./problem.ts methodNotAllowed)
      if (typeof r.method !== 'string' || r.method === 'HEAD') return;
      routes.push(`${r.method} ${r.url} ${NEEDS[accessOf(r.method, r.config as AccessRouteConfig | undefined)]}`);
    });
    await app.ready();
    await app.close();
    expect(routes.length).toBeGreaterThan(10);
    expect(documented().sort()).toEqual(routes.sort());
  });
});
