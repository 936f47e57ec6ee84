// The frame of a bench command (`npm run bench`, `npm run soak`): options (exit 2 with the usage on bad
// ones, 0 after --help), a scratch directory removed at the end, Ctrl-C handling, and every process the
// command started stopped by its pid at the end, whatever happened.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installSignalHandlers, stopAll, isInterrupted } from './procs.js';

export interface CommandContext<O> {
  opts: O;
  argv: string[];
  /** Repository root (where package.json is). */
  root: string;
  /** Scratch directory, removed at the end. */
  tmp: string;
}

/** Runs `body` and resolves with the process exit code (130 after Ctrl-C, 1 on an exception). */
export async function runCommand<O>(
  name: string,
  usage: string,
  parse: (argv: string[]) => O | 'help',
  body: (ctx: CommandContext<O>) => Promise<number>,
): Promise<number> {
  const argv = process.argv.slice(2);
  let opts: O | 'help';
  try {
    opts = parse(argv);
  } catch (e) {
    process.stderr.write(`${name}: ${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(usage);
    return 0;
  }
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const tmp = mkdtempSync(join(tmpdir(), `portico-${name}-`));
  const cleanTmp = (): void => rmSync(tmp, { recursive: true, force: true });
  installSignalHandlers(cleanTmp);
  try {
    return await body({ opts, argv, root, tmp });
  } catch (e) {
    if (isInterrupted()) return 130;
    process.stderr.write(`${name}: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  } finally {
    await stopAll();
    cleanTmp();
  }
}
