// `workers`: a number, or 'auto' = the parallelism the machine offers this process.
import { availableParallelism } from 'node:os';

export const MAX_WORKERS = 256;

export function resolveWorkerCount(workers: number | 'auto'): number {
  return workers === 'auto' ? Math.min(MAX_WORKERS, Math.max(1, availableParallelism())) : workers;
}

/** `--workers` text -> the config value; throws a message naming the flag. */
export function workersFromFlag(text: string): number | 'auto' {
  if (text === 'auto') return 'auto';
  if (!/^[1-9][0-9]*$/.test(text) || Number(text) > MAX_WORKERS) {
    throw new Error(`--workers ${JSON.stringify(text)}: expected a number of processes from 1 to ${MAX_WORKERS}, or "auto"`);
  }
  return Number(text);
}
