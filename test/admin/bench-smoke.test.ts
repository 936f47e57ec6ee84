// bench/admin-route-change runs end to end (tiny settings) and reports zero failures.
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './helpers.js';

const root = resolve(import.meta.dirname, '..', '..');
const script = join(root, 'dist', 'bench', 'admin-route-change.js');
const built = existsSync(script);

describe.skipIf(!built)(`bench/admin-route-change smoke${built ? '' : ' (skipped: dist/ is not built; npm run build)'}`, () => {
  it('applies route changes under load with no failed request', async () => {
    const tmp = tempDir();
    try {
      const out = join(tmp.dir, 'result.json');
      const { stdout } = await promisify(execFile)(process.execPath, [script, '--seconds', '1', '--connections', '4', '--routes', '5', '--min-changes', '20', '--json', out], { timeout: 60_000 });
      expect(stdout).toContain('time to apply');
      const r = JSON.parse(readFileSync(out, 'utf8')) as { changes: number; failedChanges: number; baseline: { failed: number }; duringChanges: { failed: number; ok: number } };
      expect(r.changes).toBeGreaterThanOrEqual(20);
      expect(r.failedChanges).toBe(0);
      expect(r.baseline.failed).toBe(0);
      expect(r.duringChanges.failed).toBe(0);
      expect(r.duringChanges.ok).toBeGreaterThan(0);
    } finally {
      tmp.cleanup();
    }
  });
});
