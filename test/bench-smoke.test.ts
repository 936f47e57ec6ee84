// Keeps the bench suite from rotting: runs `npm run bench -- --smoke` from dist (built by `npm ci` via
// the prepare script; this test builds nothing) and checks that every target that was not skipped has a
// result row per workload with traffic and no errors. Numbers are not asserted: CI machines are noisy.
import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const main = join(root, 'dist', 'admin', 'cli', 'portico.js');
const runner = join(root, 'dist', 'bench', 'run.js');
const ready = existsSync(main) && existsSync(runner);

interface Row {
  workload: string;
  target: string;
  rps: { median: number };
  errors: number;
  non2xx: number;
}
interface Results {
  targets: { name: string; skipped?: string }[];
  workloads: { id: string; skipped?: string }[];
  summary: Row[];
  notes: string[];
}

describe('bench smoke (npm run bench -- --smoke)', () => {
  it(
    'runs workloads a, c, d against every available target with traffic and no errors',
    async () => {
      // a missing build fails here rather than skip the smoke run (npm ci builds dist/)
      expect(ready, 'dist/admin/cli/portico.js or dist/bench/run.js is missing: run `npm run build`').toBe(true);
      const out = mkdtempSync(join(tmpdir(), 'portico-bench-smoke-'));
      try {
        const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          execFile(process.execPath, [runner, '--smoke', '--out', out], { cwd: root, timeout: 100_000, maxBuffer: 16 << 20 }, (err, so, se) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: so, stderr: se }),
          );
        });
        expect(code, `bench exited ${code}\n${stdout}\n${stderr}`).toBe(0);
        const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Results;
        const reverseTargets = ['direct', 'portico', 'node-http-proxy', 'fastify-http-proxy', 'nginx', 'haproxy', 'twisted'];
        const expected = results.targets.filter((t) => !t.skipped && reverseTargets.includes(t.name)).map((t) => t.name);
        // Portico and the npm peers are always there after npm ci.
        expect(expected).toEqual(expect.arrayContaining(['direct', 'portico', 'node-http-proxy', 'fastify-http-proxy']));
        expect(results.workloads.map((w) => w.id)).toEqual(['a', 'c', 'd']);
        for (const w of ['a', 'c', 'd']) {
          for (const t of expected) {
            const row = results.summary.find((r) => r.workload === w && r.target === t);
            expect(row, `no result for (${w}) ${t}; notes:\n${results.notes.join('\n')}`).toBeDefined();
            expect(row!.rps.median, `(${w}) ${t} req/s`).toBeGreaterThan(0);
            expect(row!.errors, `(${w}) ${t} socket errors`).toBe(0);
            expect(row!.non2xx, `(${w}) ${t} non-2xx responses`).toBe(0);
          }
        }
        for (const f of ['results.md', 'chart.svg']) expect(existsSync(join(out, f)), f).toBe(true);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
