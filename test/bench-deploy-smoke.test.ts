// Keeps `npm run bench:deploy` from rotting: runs it with --smoke from dist (built by `npm ci` via the
// prepare script; this test builds nothing) against Portico and whichever of nginx and HAProxy are
// installed, and checks that every scenario produced a row with traffic for every target that was not
// skipped (a target not installed; a missing dist/ fails the test). The figures themselves (failed requests, attempts, shares) are not asserted: they are what the
// bench measures, on a machine that may be busy.
import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeployResults } from '../bench/deploy-report.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const main = join(root, 'dist', 'admin', 'cli', 'portico.js');
const runner = join(root, 'dist', 'bench', 'deploy.js');
const ready = existsSync(main) && existsSync(runner);

describe('bench:deploy smoke (npm run bench:deploy -- --smoke)', () => {
  it(
    'runs one deploy per stop kind, the outage and the slow upstream against every available target, with traffic',
    async () => {
      // a missing build fails here rather than skip the smoke run (npm ci builds dist/)
      expect(ready, 'dist/admin/cli/portico.js or dist/bench/deploy.js is missing: run `npm run build`').toBe(true);
      const out = mkdtempSync(join(tmpdir(), 'portico-deploy-smoke-'));
      try {
        const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          execFile(
            process.execPath,
            [runner, '--smoke', '--targets', 'portico,nginx,haproxy', '--out', out],
            { cwd: root, timeout: 280_000, maxBuffer: 16 << 20 },
            (err, so, se) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: so, stderr: se }),
          );
        });
        expect(code, `bench:deploy exited ${code}\n${stdout}\n${stderr}`).toBe(0);
        const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as DeployResults;
        const ran = results.targets.filter((t) => !t.skipped).map((t) => t.name);
        expect(ran).toContain('portico');
        const why = `notes:\n${results.notes.join('\n')}`;
        for (const t of ran) {
          for (const stop of ['kill', 'term'] as const) {
            const r = results.deploy.find((x) => x.target === t && x.stop === stop);
            expect(r, `no deploy row for ${t} (${stop}); ${why}`).toBeDefined();
            expect(r!.error, `${t} (${stop})`).toBeUndefined();
            expect(r!.deploys).toHaveLength(1);
            expect(r!.deploys[0].requests, `${t} (${stop}) requests during the deploy`).toBeGreaterThan(0);
            expect(r!.deploys[0].posts, `${t} (${stop}) POSTs during the deploy`).toBeGreaterThan(0);
            expect(r!.postsReceived, `${t} (${stop}) POST ids recorded by the origins`).toBeGreaterThan(0);
          }
          const o = results.outage.find((x) => x.target === t);
          expect(o?.error, `${t} outage`).toBeUndefined();
          expect(o?.clientRequests, `${t} outage requests; ${why}`).toBeGreaterThan(0);
          const s = results.slow.find((x) => x.target === t);
          expect(s?.error, `${t} slow`).toBeUndefined();
          expect(s?.perUpstream.reduce((a, b) => a + b, 0), `${t} slow: requests the upstreams received; ${why}`).toBeGreaterThan(0);
        }
        const md = readFileSync(join(out, 'results.md'), 'utf8');
        expect(md).toContain('## Rolling deploys');
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
    300_000,
  );
});
