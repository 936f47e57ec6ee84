// `portico routes history|diff|rollback` (and --message on writes) against a running admin API on
// the file store; usage mistakes exit 2, refusals 1 with the problem's detail.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAdmin } from '../../admin/api/start-admin.js';
import type { AdminHandle } from '../../admin/api/admin-context.js';
import { runRoutesClient, EXIT_OK, EXIT_REFUSED, EXIT_USAGE } from '../../admin/cli/routes-cli.js';
import { TOKEN, makeConfig, makeContext, tempDir } from '../admin/helpers.js';
import { parseAs, type Page } from './api-types.js';

const tmp = tempDir();
let admin: AdminHandle;

async function run(args: string[]) {
  const o = { out: '', err: '' };
  const code = await runRoutesClient([...args, '--admin', admin.url], { env: { PORTICO_ADMIN_TOKEN: TOKEN }, out: (s) => { o.out += s; }, err: (s) => { o.err += s; } });
  return { code, ...o };
}

beforeAll(async () => {
  const path = join(tmp.dir, 'portico.json');
  const file = { routes: [{ id: 'api', pathPrefix: '/api', upstreams: ['http://127.0.0.1:8081'] }] };
  writeFileSync(path, JSON.stringify(file));
  admin = await startAdmin(makeContext({ config: makeConfig(file), configPath: path, listen: '127.0.0.1:0' }));
});

afterAll(async () => {
  await admin?.close();
  tmp.cleanup();
});

describe('portico routes history | diff | rollback', () => {
  it('history lists the revisions with their source and message; diff tells what changed; rollback makes a new revision', async () => {
    let r = await run(['add', '--id', 'web', '--prefix', '/', '--upstream', 'http://127.0.0.1:8082', '--message', 'site — v2']);
    expect(r.code, r.err).toBe(EXIT_OK);
    r = await run(['rm', 'api', '--message', 'api retired']);
    expect(r.code, r.err).toBe(EXIT_OK);

    r = await run(['history']);
    expect(r.code, r.err).toBe(EXIT_OK);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\s+REV\s+TIME\s+SOURCE\s+CHANGES\s+MESSAGE$/);
    expect(lines[1]).toMatch(/^\*\s+3\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+admin API \(admin\)\s+\+0 -1 ~0\s+api retired$/);
    expect(lines[2]).toMatch(/^\s+2\s+.*admin API \(admin\)\s+\+1 -0 ~0\s+site — v2$/);
    expect(lines[3]).toMatch(/^\s+1\s+.*config file\s+first \(1 routes\)$/);
    r = await run(['history', '--limit', '1']);
    expect(r.out).toContain('(older: portico routes history --before 3)');
    r = await run(['history', '--before', '3', '--json']);
    expect(parseAs<Page>(r.out).revisions.map((x) => x.revision)).toEqual([2, 1]);

    r = await run(['diff', '3']);
    expect(r.out).toBe('revision 3 (from 2): 0 added, 1 removed, 0 changed\n- api  */api -> http://127.0.0.1:8081\n');
    r = await run(['diff', '3', '--from', '1']);
    expect(r.out).toBe('revision 3 (from 1): 1 added, 1 removed, 0 changed\n+ web  */ -> http://127.0.0.1:8082\n- api  */api -> http://127.0.0.1:8081\n');

    r = await run(['rollback', '2', '--dry-run']);
    expect(r.code, r.err).toBe(EXIT_OK);
    expect(r.out).toBe('dry run: rolling back to revision 2 would make revision 4 (1 added, 0 removed, 0 changed); nothing changed\n+ api  */api -> http://127.0.0.1:8081\n');
    r = await run(['rollback', '2', '--message', 'api is back']);
    expect(r.out).toBe('rolled back to revision 2: revision 4 runs (1 added, 0 removed, 0 changed)\n+ api  */api -> http://127.0.0.1:8081\n');
    r = await run(['rollback', '2']);
    expect(r.out).toBe('revision 4 has the routes of revision 2 already: nothing changed\n');
    r = await run(['history', '--limit', '1', '--json']);
    expect(parseAs<Page>(r.out).revisions[0]).toMatchObject({ revision: 4, message: 'api is back', source: { kind: 'rollback', to: 2, token: 'admin' } });
    // a changed route shows each member that changed
    await run(['rm', 'web']);
    await run(['add', '--id', 'web', '--prefix', '/', '--upstream', 'http://127.0.0.1:9999', '--strip']);
    r = await run(['diff', '6', '--from', '4']);
    expect(r.out).toBe('revision 6 (from 4): 0 added, 0 removed, 1 changed\n~ web  stripPrefix: false -> true\n       upstreams: ["http://127.0.0.1:8082"] -> ["http://127.0.0.1:9999"]\n');
  });

  it('refusals exit 1 with the detail; usage mistakes exit 2', async () => {
    let r = await run(['rollback', '999']);
    expect(r.code).toBe(EXIT_REFUSED);
    expect(r.err).toMatch(/no revision 999 in the route history.*\(at \/rev\) \[HTTP 404\]/);
    r = await run(['rollback', '1', '--if-match', '"1-stale"']);
    expect(r.code).toBe(EXIT_REFUSED);
    expect(r.err).toContain('[HTTP 412]');
    for (const args of [['diff'], ['diff', 'x'], ['rollback', '0'], ['history', '3'], ['history', '--from', '2'], ['add', '--id', 'x', '--prefix', '/x', '--upstream', 'http://h:1', '--limit', '2'], ['list', '--message', 'm'], ['history', '--limit', 'ten'], ['diff', '2', '--if-match', 'x']]) {
      r = await run(args);
      expect(r.code, args.join(' ')).toBe(EXIT_USAGE);
    }
    r = await run(['history', '--from', '2']);
    expect(r.err).toContain('--from is only for "diff"');
  });
});
