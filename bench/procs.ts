// Every process the bench starts goes through spawnTracked, so it can be stopped by its pid: at the end
// of a workload, on errors, on Ctrl-C (SIGINT/SIGTERM handlers) and, as a last resort, on exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** CPU list for taskset -c (only when taskset exists; the caller checks). */
  cpus?: string;
  /** Raise the open-file limit before exec (sh -c 'ulimit -n ...; exec ...'). */
  nofile?: number;
  /** Keep at most this many bytes of stdout+stderr (default 256 KiB). */
  keepBytes?: number;
  /** Leave stdin open as a pipe (the child reads commands from it). */
  stdinPipe?: boolean;
}

export interface Tracked {
  name: string;
  pid: number;
  child: ChildProcess;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string>;
  hasExited(): boolean;
  output(): string;
  /** Resolves with the first stdout/stderr line matching re; rejects on exit or timeout. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Map<number, Tracked>();
let interrupted = false;

/** Thrown by spawnTracked once Ctrl-C was pressed: nothing new starts while everything is stopped. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

export function isInterrupted(): boolean {
  return interrupted;
}

export function liveProcesses(): Tracked[] {
  return [...live.values()];
}

export function spawnTracked(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): Tracked {
  if (interrupted) throw new Interrupted();
  let file = cmd;
  let argv = args;
  if (opts.cpus !== undefined || opts.nofile !== undefined) {
    // "$0" "$@" keeps every argument exactly as given; exec keeps the pid.
    const pre: string[] = [];
    if (opts.nofile !== undefined) {
      const n = Math.floor(opts.nofile);
      pre.push(`ulimit -n ${n} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true`);
    }
    const exec = opts.cpus !== undefined ? `exec taskset -c ${opts.cpus} "$0" "$@"` : 'exec "$0" "$@"';
    file = 'sh';
    argv = ['-c', [...pre, exec].join('; '), cmd, ...args];
  }
  const child = spawn(file, argv, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: [opts.stdinPipe ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    // spawn failures surface as an 'error' event; make them synchronous for the caller.
    throw new Error(`could not start ${name} (${cmd})`);
  }
  const pid = child.pid;
  const keep = opts.keepBytes ?? 256 * 1024;
  let out = '';
  let exitedFlag = false;
  const watchers = new Set<(chunk: string) => void>();
  let partial = '';
  const onData = (b: Buffer): void => {
    const s = b.toString('utf8');
    out += s;
    if (out.length > keep) out = out.slice(out.length - keep);
    partial += s;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    if (partial.length > 65536) partial = partial.slice(-65536);
    for (const line of lines) for (const w of watchers) w(line);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  child.on('error', () => undefined);
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      exitedFlag = true;
      live.delete(pid);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  const t: Tracked = {
    name,
    pid,
    child,
    exited,
    hasExited: () => exitedFlag,
    output: () => out,
    waitForLine(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        // Lines already seen count too.
        for (const line of out.split('\n')) {
          const m = line.match(re);
          if (m) return resolve(m);
        }
        const cleanup = (): void => {
          watchers.delete(w);
          clearTimeout(timer);
        };
        const w = (line: string): void => {
          const m = line.match(re);
          if (m) {
            cleanup();
            resolve(m);
          }
        };
        watchers.add(w);
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${name}: no line matching ${re} within ${timeoutMs} ms; output:\n${tail(out)}`));
        }, timeoutMs);
        void exited.then((code) => {
          if (!watchers.has(w)) return;
          cleanup();
          reject(new Error(`${name} exited (${code}) before printing ${re}; output:\n${tail(out)}`));
        });
      });
    },
    async stop(graceMs = 3000) {
      if (exitedFlag) return;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      const timer = setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  live.set(pid, t);
  return t;
}

function tail(s: string): string {
  const lines = s.trimEnd().split('\n');
  return lines.slice(-20).join('\n');
}

export async function stopAll(): Promise<void> {
  await Promise.all(liveProcesses().map((p) => p.stop(2000)));
}

let installed = false;
/** Ctrl-C and SIGTERM stop every started process by its pid, then exit; exit kills any leftovers. */
export function installSignalHandlers(onSignal?: () => void): void {
  if (installed) return;
  installed = true;
  let stopping = false;
  const handler = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    interrupted = true;
    process.stderr.write(`\nbench: ${sig}, stopping ${live.size} process(es)...\n`);
    onSignal?.();
    const force = setTimeout(() => process.exit(130), 5000);
    force.unref();
    void stopAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.on('exit', () => {
    for (const p of live.values()) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
}

/** Resolves once something accepts TCP connections on host:port. */
export async function waitForPort(host: string, port: number, timeoutMs: number, proc?: Tracked): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc?.hasExited()) throw new Error(`${proc.name} exited before listening on ${port}; output:\n${tail(proc.output())}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) {
      throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms${proc ? `; ${proc.name} output:\n${tail(proc.output())}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
