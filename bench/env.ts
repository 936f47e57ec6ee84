// What the results were measured on: Node version, CPU model and count, kernel, memory, commit, and
// whether the machine was busy before the run started.
import { cpus, release, totalmem, platform } from 'node:os';
import { execFileSync } from 'node:child_process';
import { systemCpu, loadAverage } from './procstat.js';

export interface Environment {
  date: string;
  node: string;
  platform: string;
  kernel: string;
  cpuModel: string;
  cpuCount: number;
  memoryGiB: number;
  commit: string;
  /** Uncommitted changes in the work tree when the run started. */
  dirty: boolean;
  loadAverage: number[] | undefined;
  /** Share of all CPUs that was busy during a 1 s sample before the first run (0..1). */
  busyBefore: number | undefined;
}

function git(root: string, args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

/** Share of all CPUs busy over `ms` (0..1), from /proc/stat. */
export async function sampleBusy(ms: number): Promise<number | undefined> {
  const a = systemCpu();
  await new Promise((r) => setTimeout(r, ms));
  const b = systemCpu();
  if (!a || !b) return undefined;
  const busy = b.busy - a.busy;
  const all = busy + (b.idle - a.idle);
  return all > 0 ? busy / all : undefined;
}

export async function environment(root: string): Promise<Environment> {
  const c = cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: platform(),
    kernel: release(),
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    cpuCount: c.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    commit: git(root, ['rev-parse', '--short=12', 'HEAD']) || 'unknown',
    dirty: git(root, ['status', '--porcelain', '--untracked-files=no']) !== '',
    loadAverage: loadAverage(),
    busyBefore: await sampleBusy(1000),
  };
}
