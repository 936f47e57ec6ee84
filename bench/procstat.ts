// Per-process CPU time and memory from /proc, and whole-machine CPU use from /proc/stat.
// Also the descriptors and TCP sockets a process holds. Linux only; every reader returns undefined
// where /proc is not available.
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

function clockTicks(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

/** Kernel clock ticks per second (USER_HZ), the unit of the /proc CPU counters. */
export const CLK_TCK = clockTicks();

function statFields(pid: number | 'self'): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    // rest[0] is field 3 (state), so field n is rest[n - 3].
    return s.slice(s.lastIndexOf(')') + 2).trim().split(/\s+/);
  } catch {
    return undefined;
  }
}

export interface CpuSample {
  /** utime + stime of the process (all threads), seconds. */
  self: number;
  /** utime: CPU in user mode (JavaScript, WebAssembly, libuv, GC), seconds. */
  user: number;
  /** stime: CPU in the kernel on the process's behalf (system calls, TCP), seconds. */
  system: number;
  /** cutime + cstime: CPU of children the process has waited for, seconds. */
  children: number;
  /** cutime and cstime separately. */
  childrenUser: number;
  childrenSystem: number;
}

export function cpuTime(pid: number | 'self'): CpuSample | undefined {
  const f = statFields(pid);
  if (!f) return undefined;
  const v = (n: number): number => Number(f[n - 3]) / CLK_TCK;
  return { self: v(14) + v(15), user: v(14), system: v(15), children: v(16) + v(17), childrenUser: v(16), childrenSystem: v(17) };
}

export interface MemSample {
  /** VmRSS, bytes. */
  rss: number;
  /** VmHWM (peak RSS since start or since resetPeak), bytes. */
  hwm: number;
}

export function memory(pid: number): MemSample | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => {
      const m = s.match(new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm'));
      return m ? Number(m[1]) * 1024 : NaN;
    };
    const rss = kb('VmRSS');
    const hwm = kb('VmHWM');
    if (!Number.isFinite(rss)) return undefined;
    return { rss, hwm: Number.isFinite(hwm) ? hwm : rss };
  } catch {
    return undefined;
  }
}

/** Reset VmHWM to the current RSS (writes 5 to /proc/PID/clear_refs; Linux >= 4.0). */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface SystemCpu {
  /** Seconds of CPU time (summed over CPUs) spent not idle. */
  busy: number;
  /** Seconds of CPU time (summed over CPUs) idle or waiting for I/O. */
  idle: number;
}

export function systemCpu(): SystemCpu | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest is already in user)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
    return { busy: (user + nice + system + irq + softirq + steal) / CLK_TCK, idle: (idle + iowait) / CLK_TCK };
  } catch {
    return undefined;
  }
}

export function loadAverage(): number[] | undefined {
  try {
    return readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/).slice(0, 3).map(Number);
  } catch {
    return undefined;
  }
}

/** TCP states as /proc/net/tcp numbers them (include/net/tcp_states.h). */
const TCP_STATES = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV'];

export interface FdSample {
  /** Open file descriptors (entries of /proc/PID/fd). */
  fds: number;
  /** Of those, sockets (links to socket:[inode]). */
  sockets: number;
  /** The process's TCP sockets by state (ESTABLISHED, CLOSE_WAIT, LISTEN...), from /proc/PID/net/tcp{,6}. */
  tcp: Record<string, number>;
}

/** The descriptors and sockets a process holds right now; undefined once it is gone. */
export function descriptors(pid: number): FdSample | undefined {
  let names: string[];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  const inodes = new Set<string>();
  for (const n of names) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${n}`));
      if (m) inodes.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  const tcp: Record<string, number> = {};
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    // "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...": state is field 3, inode field 9.
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9])) continue;
      const state = TCP_STATES[parseInt(f[3], 16)] ?? f[3];
      tcp[state] = (tcp[state] ?? 0) + 1;
    }
  }
  return { fds: names.length, sockets: inodes.size, tcp };
}

/** The process and its descendants (e.g. `portico --workers N`: the primary and its workers). */
export function processTree(pid: number): number[] {
  const parent = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [pid];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const f = statFields(Number(e));
    if (f) parent.set(Number(e), Number(f[1])); // field 4: ppid
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, ppid] of parent) if (ppid === tree[i]) tree.push(child);
  return tree;
}

/** CPU seconds of a process tree, user and kernel: every live member, plus the children the root
 *  has reaped (a worker that exited during the run). */
export function treeCpu(pid: number): { self: number; user: number; system: number } | undefined {
  const root = cpuTime(pid);
  if (!root) return undefined;
  let user = root.user + root.childrenUser;
  let system = root.system + root.childrenSystem;
  for (const p of processTree(pid).slice(1)) {
    const c = cpuTime(p);
    if (c) { user += c.user; system += c.system; }
  }
  return { self: user + system, user, system };
}

/** CPU seconds (user + kernel) of a process tree (see treeCpu). */
export function treeCpuTime(pid: number): number | undefined {
  return treeCpu(pid)?.self;
}

/** Memory of a process tree: RSS and peak RSS summed over its members. */
export function treeMemory(pid: number): MemSample | undefined {
  const root = memory(pid);
  if (!root) return undefined;
  for (const p of processTree(pid).slice(1)) {
    const m = memory(p);
    if (m) { root.rss += m.rss; root.hwm += m.hwm; }
  }
  return root;
}
