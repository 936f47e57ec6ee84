// The one-minute soak (`npm run soak -- --minutes 1`) from dist (built by `npm ci` via the prepare
// script; this test builds nothing): Portico as a real process under a steady load, every fault client,
// idle connections coming and going and route changes at once. The soak itself decides pass or fail
// (a crash, a failed well-formed request, descriptors or sockets not back to baseline; RSS growth is
// judged only from 3 minutes on: bench/soak-verdict.ts); this test checks its exit code and that every
// part of the run did happen, so a soak that silently skipped a fault cannot pass. No timing is asserted.
import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const soak = join(root, 'dist', 'bench', 'soak.js');
const ready = existsSync(soak) && existsSync(join(root, 'dist', 'admin', 'cli', 'portico.js'));

interface FaultStats {
  episodes: number;
  checked: number;
  failures: number;
}
interface SoakResults {
  passed: boolean;
  failures: string[];
  record: {
    steady?: { requests: number };
    churn?: { changes: number };
    idle?: { attempted: number; replaced: number };
    clients?: Record<string, FaultStats>;
    settle?: { settled: boolean };
  };
  samples: { fd?: { fds: number } }[];
}

describe('soak (npm run soak -- --minutes 1)', () => {
  it(
    'one minute of load and faults: no crash, no failed request, descriptors and sockets back to baseline',
    async () => {
      // a missing build fails here rather than skip the soak (npm ci builds dist/)
      expect(ready, 'dist/bench/soak.js or dist/admin/cli/portico.js is missing: run `npm run build`').toBe(true);
      const out = mkdtempSync(join(tmpdir(), 'portico-soak-test-'));
      try {
        const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          execFile(process.execPath, [soak, '--minutes', '1', '--out', out], { cwd: root, timeout: 280_000, maxBuffer: 16 << 20 }, (err, so, se) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: so, stderr: se }),
          );
        });
        const tail = `${stdout.slice(-6000)}\n${stderr.slice(-3000)}`;
        expect(code, `soak exited ${code}\n${tail}`).toBe(0);
        const r = JSON.parse(readFileSync(join(out, 'soak.json'), 'utf8')) as SoakResults;
        expect(r.passed, tail).toBe(true);
        expect(r.failures).toEqual([]);
        expect(r.record.steady?.requests ?? 0, 'steady load requests').toBeGreaterThan(0);
        expect(r.record.churn?.changes ?? 0, 'route changes').toBeGreaterThan(0);
        expect(r.record.idle?.attempted ?? 0, 'idle connections opened').toBeGreaterThan(0);
        expect(r.record.idle?.replaced ?? 0, 'idle connections replaced').toBeGreaterThan(0);
        const faults = ['reset-request', 'reset-response', 'slowloris-head', 'slowloris-body', 'aborted-upload', 'malformed', 'pipelined', 'burst', 'bad-upstreams'];
        for (const f of faults) expect(r.record.clients?.[f]?.episodes ?? 0, `${f} episodes`).toBeGreaterThan(0);
        expect(r.record.clients?.['burst']?.checked ?? 0, 'burst responses checked').toBeGreaterThan(0);
        expect(r.record.settle?.settled).toBe(true);
        expect(r.samples.length, 'samples').toBeGreaterThanOrEqual(6);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
    300_000,
  );
});
