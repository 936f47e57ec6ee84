// The error-code registry (src/errors.ts) against docs/errors.md's table and the source, in both
// directions: every code in the registry is documented with its status, level and meaning, every
// documented code exists, and every PRX_* literal in src/ and admin/ is a registered code that is
// used somewhere.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES } from '../src/errors.js';

const root = join(import.meta.dirname, '..');

function documentedRows(): Map<string, string[]> {
  const doc = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
  const m = /<!-- error-codes:start -->\n([\s\S]*?)<!-- error-codes:end -->/.exec(doc);
  if (!m) throw new Error('docs/errors.md has no error-codes table');
  const rows = new Map<string, string[]>();
  for (const line of m[1].trim().split('\n').slice(2)) {
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    rows.set(cells[0].replace(/`/g, ''), cells.slice(1));
  }
  return rows;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith('.ts'))
    .map((d) => join(d.parentPath, d.name));
}

describe('error-code registry', () => {
  it('docs/errors.md documents every registered code, and only those, as the registry says', () => {
    const rows = documentedRows();
    const expected = new Map(Object.entries(ERROR_CODES).map(([code, i]) => [code, [String(i.status ?? '—'), i.level, i.message]]));
    expect(rows).toEqual(expected);
  });

  it('every PRX_* literal in src/ and admin/ is registered, and every registered code is used', () => {
    const used = new Set<string>();
    for (const f of [...sourceFiles('src'), ...sourceFiles('admin')]) {
      if (f.endsWith(join('src', 'errors.ts'))) continue;
      for (const m of readFileSync(f, 'utf8').matchAll(/'(PRX_[A-Z0-9_]+)'/g)) used.add(m[1]);
    }
    const registered = new Set(Object.keys(ERROR_CODES));
    expect([...used].filter((c) => !registered.has(c))).toEqual([]);
    expect([...registered].filter((c) => !used.has(c))).toEqual([]);
  });
});
