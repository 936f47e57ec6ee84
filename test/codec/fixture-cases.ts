// Loads test/fixtures/codec/*.md and runs a case through the driver. Shared by the fixture test
// and the build-equivalence test.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Codec, HeadLimits } from '../../src/wasm/codec.js';
import { DEFAULT_HEAD_LIMITS } from '../../src/wasm/codec.js';
import { parseMarkdown, type MdCase } from './markdown.js';
import { drive, logOf, type RunOptions } from './harness.js';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/codec/', import.meta.url));

export function fixtureFiles(): string[] {
  return readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.md')).sort();
}

export function fixtureCases(file: string): MdCase[] {
  return parseMarkdown(join(FIXTURE_DIR, file), file, 'latin1');
}

/**
 * Meta keys of our fixtures:
 * - `type`: "request" | "response"
 * - `headRequest`: responses to a HEAD request
 * - `limits`: { maxLine, maxFields, maxHead } overriding the defaults (Twisted's numbers)
 * - `chunkLimits`: [maxSizeLine, maxTrailer]
 * - `splitEvery`: split at every offset up to this input length (default 4096), sampled above
 *   (see harness.ts splitOffsets)
 */
export function runOptionsOf(k: MdCase): RunOptions {
  const m = k.meta;
  const type = m.type === 'response' ? 'response' : 'request';
  const opts: RunOptions = { kind: type };
  if (m.headRequest === true) opts.headRequest = true;
  if (m.limits) opts.limits = { ...DEFAULT_HEAD_LIMITS, ...(m.limits as Partial<HeadLimits>) };
  if (m.chunkLimits) opts.chunkLimits = m.chunkLimits as [number, number];
  return opts;
}

export function runCase(c: Codec, k: MdCase, reads: readonly Buffer[]): string[] {
  const opts = runOptionsOf(k);
  return logOf(drive(c, reads, opts), opts.kind);
}

/** Rewrites the `log` block after each `http` block of a fixture file (CODEC_FIXTURES_UPDATE=1).
 *  `logs[i]` undefined keeps case i's block as written (e.g. folded with `${js}`). */
export function rewriteLogs(file: string, logs: Array<string[] | undefined>): void {
  const path = join(FIXTURE_DIR, file);
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: string[] = [];
  let n = 0;
  for (let i = 0; i < lines.length; i++) {
    out.push(lines[i]);
    if (!/^```http\s*$/.test(lines[i])) continue;
    i++;
    while (i < lines.length && !/^```\s*$/.test(lines[i])) out.push(lines[i++]);
    out.push(lines[i]);
    // skip blank lines and an existing log block
    let j = i + 1;
    while (j < lines.length && lines[j].trim() === '') j++;
    const log = logs[n++];
    if (/^```log\s*$/.test(lines[j] ?? '')) {
      if (!log) continue;
      j++;
      while (j < lines.length && !/^```\s*$/.test(lines[j])) j++;
      i = j;
    }
    out.push('', '```log', ...(log ?? []), '```');
  }
  writeFileSync(path, out.join('\n'));
}
