// The package's root folder (where package.json is), found once by walking up from this file,
// which runs from src/ (tests, tsx) or dist/src/ (the built command).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | null | undefined;

/** The folder holding package.json, or undefined when there is none within five levels. */
export function packageRoot(): string | undefined {
  if (root === undefined) {
    root = null;
    let dir = dirname(fileURLToPath(import.meta.url));
    for (let i = 0; i < 5; i++, dir = dirname(dir)) {
      if (existsSync(join(dir, 'package.json'))) { root = dir; break; }
    }
  }
  return root ?? undefined;
}

/** package.json's version, or undefined when it cannot be read. */
export function packageVersion(): string | undefined {
  const dir = packageRoot();
  if (dir === undefined) return undefined;
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}
