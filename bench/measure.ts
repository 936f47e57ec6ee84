// Wraps one run with /proc samples: the target's CPU time and peak RSS, the origin's CPU time, the load
// generator's CPU (children of this process the run waited for), and CPU used by anything else on the
// machine meanwhile (to flag runs disturbed by other work).
import { cpuTime, processTree, resetPeak, systemCpu, treeCpu, treeMemory } from './procstat.js';

export interface Measurement {
  wallSec: number;
  /** CPU seconds used by the target process and its children (all threads); undefined for direct. */
  targetCpuSec?: number;
  /** Of targetCpuSec, user mode and kernel (utime, stime). */
  targetUserSec?: number;
  targetSystemSec?: number;
  originCpuSec?: number;
  loadgenCpuSec?: number;
  /** Peak RSS of the target during the run (VmHWM after a reset; summed over its processes), bytes. */
  peakRssBytes?: number;
  /** false when VmHWM could not be reset, so the peak is since the process started. */
  peakReset: boolean;
  /** Average number of CPUs used by other processes during the run. */
  otherCpus?: number;
}

/** Other processes using more than this many CPUs on average mark a run as busy. */
export const BUSY_THRESHOLD_CPUS = 0.15;

export async function measured<T>(targetPid: number | undefined, originPid: number, fn: () => Promise<T>): Promise<{ value: T; m: Measurement }> {
  // the target with its child processes (workers)
  const peakReset = targetPid !== undefined ? processTree(targetPid).map(resetPeak).every(Boolean) : false;
  const tgt0 = targetPid !== undefined ? treeCpu(targetPid) : undefined;
  const org0 = cpuTime(originPid);
  const self0 = cpuTime('self');
  const sys0 = systemCpu();
  const t0 = performance.now();
  const value = await fn();
  const wallSec = (performance.now() - t0) / 1000;
  const tgt1 = targetPid !== undefined ? treeCpu(targetPid) : undefined;
  const mem = targetPid !== undefined ? treeMemory(targetPid) : undefined;
  const org1 = cpuTime(originPid);
  const self1 = cpuTime('self');
  const sys1 = systemCpu();
  const m: Measurement = { wallSec, peakReset };
  if (tgt0 && tgt1) {
    m.targetCpuSec = tgt1.self - tgt0.self;
    m.targetUserSec = tgt1.user - tgt0.user;
    m.targetSystemSec = tgt1.system - tgt0.system;
  }
  if (org0 && org1) m.originCpuSec = org1.self - org0.self;
  if (self0 && self1) m.loadgenCpuSec = self1.children - self0.children;
  if (mem) m.peakRssBytes = mem.hwm;
  if (sys0 && sys1 && self0 && self1) {
    const ours = (m.targetCpuSec ?? 0) + (m.originCpuSec ?? 0) + (m.loadgenCpuSec ?? 0) + (self1.self - self0.self);
    m.otherCpus = Math.max(0, (sys1.busy - sys0.busy - ours) / wallSec);
  }
  return { value, m };
}
