// Keeps `npm run bench:history` from rotting: runs it with --smoke from dist (built by `npm ci` via
// the prepare script; this test builds nothing) and checks what the bench found that is not a
// timing: every write's event arrived once, in order, across the restart; after every rollback
// every worker and instance served the old route, and no worker served the new one after the
// answer; the guarded change was rolled back by the guard.
// The times themselves are not asserted: they are what the bench measures, on a busy machine.
import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HistoryResults } from '../bench/history.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const main = join(root, 'dist', 'admin', 'cli', 'portico.js');
const runner = join(root, 'dist', 'bench', 'history.js');
const ready = existsSync(main) && existsSync(runner);

describe('bench:history smoke (npm run bench:history -- --smoke)', () => {
  it('feed across a restart, rollback with workers and on an etcd fleet, the guard', async () => {
    // a missing build fails here rather than skip the smoke run (npm ci builds dist/)
    expect(ready, 'dist/admin/cli/portico.js or dist/bench/history.js is missing: run `npm run build`').toBe(true);
    const out = mkdtempSync(join(tmpdir(), 'portico-history-smoke-'));
    try {
      const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [runner, '--smoke', '--writes', '40', '--rollbacks', '2', '--out', out],
          { cwd: root, timeout: 200_000, maxBuffer: 16 << 20 },
          (err, so, se) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: so, stderr: se }),
        );
      });
      expect(code, `bench:history exited ${code}\n${stdout}\n${stderr}`).toBe(0);
      const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as HistoryResults;
      const f = r.feed!;
      expect(f.writes).toBe(40);
      expect({ events: f.events, gaps: f.gaps, duplicates: f.duplicates, order: f.orderViolations, missing: f.missing, resets: f.extraResets, unexpected: f.unexpected })
        .toEqual({ events: 40, gaps: 0, duplicates: 0, order: 0, missing: 0, resets: 0, unexpected: 0 });
      expect(f.restart?.atWrite).toBe(20);
      expect(f.connections).toBeGreaterThanOrEqual(2);
      expect(f.history.bySource.admin.n).toBe(40);

      const workers = r.rollback.find((s) => s.setup === 'workers');
      expect(workers, stdout).toBeDefined();
      expect(workers!.targets).toEqual(['worker 0', 'worker 1']);
      expect({ notConverged: workers!.notConverged, stale: workers!.staleProbes }).toEqual({ notConverged: 0, stale: 0 });
      const fleet = r.rollback.find((s) => s.setup === 'fleet');
      // etcd is provisioned by npm test's pretest step: a fleet that did not run is a failure
      expect(fleet, r.notes.join('\n')).toBeDefined();
      expect(fleet!.notConverged).toBe(0);
      expect(fleet!.history.bySource.rollback.n).toBe(2);

      expect(r.guard.length).toBeGreaterThan(0);
      for (const g of r.guard) {
        // this build has the guard (the bench's 501 path is for older builds under --ref)
        expect(g.available, JSON.stringify(g)).toBe(true);
        expect(g.source, JSON.stringify(g)).toMatchObject({ kind: 'guard' });
        expect(g.failed, g.setup).toBeGreaterThan(0);
      }
      expect(readFileSync(join(out, 'results.md'), 'utf8')).toContain('## Change feed');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 240_000);
});
