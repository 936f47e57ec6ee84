// bench/etcd-fleet runs end to end (tiny settings): B follows every change, no failed request.
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../admin/helpers.js';

const script = join(resolve(import.meta.dirname, '..', '..'), 'dist', 'bench', 'etcd-fleet.js');
const built = existsSync(script);

describe.skipIf(!built)(`bench/etcd-fleet smoke${built ? '' : ' (skipped: dist/ is not built; npm run build)'}`, () => {
  it('measures write-on-A to traffic-on-B and B under streaming changes, with no failure', async () => {
    const tmp = tempDir();
    try {
      const out = join(tmp.dir, 'result.json');
      await promisify(execFile)(process.execPath, [script, '--changes', '3', '--seconds', '1', '--rounds', '1', '--connections', '2', '--rate', '5', '--json', out], { timeout: 100_000 });
      type Throughput = { errors: number; non2xx: number };
      const r = JSON.parse(readFileSync(out, 'utf8')) as {
        writeOnA_to_trafficOnB_ms: { n: number };
        throughputB: { baseline: Throughput; whileChanging: Throughput & { changesFailed: number; rps: number } };
      };
      expect(r.writeOnA_to_trafficOnB_ms.n).toBe(3);
      expect(r.throughputB.whileChanging.changesFailed).toBe(0);
      expect(r.throughputB.baseline.errors + r.throughputB.whileChanging.errors).toBe(0);
      expect(r.throughputB.baseline.non2xx + r.throughputB.whileChanging.non2xx).toBe(0);
      expect(r.throughputB.whileChanging.rps).toBeGreaterThan(0);
    } finally {
      tmp.cleanup();
    }
  }, 120_000);
});
