// What makes a soak run fail, decided from what the run recorded (pure functions, no I/O):
//   crash        Portico exited before the run ended
//   failed       a well-formed request failed: the steady load saw a socket error (connect, read,
//                write: including a connection closed before its response), a timeout (no response
//                within the load's timeout) or a non-2xx status from the healthy route; an idle client's
//                GET was not answered 2xx; a pipelined or burst request was not answered, answered out of
//                order, with a wrong status or wrong framing; the head of a GET the client resets later
//                never came; an admin route change was not applied (201/204)
//   hostile      the proxy mishandled a hostile client (accepted a malformed request, or never answered
//                or closed a slow or stalled one within its own timeout plus 20 s)
//   leak         once the load stopped and a settle period passed, descriptors or sockets were not back to
//                the baseline (plus a small tolerance), or a TCP socket was left in CLOSE_WAIT
//   rss          the peak RSS after warm-up grew past 10% of the peak RSS during warm-up
import type { FaultStats } from './soak-clients.js';
import type { LoadResult } from './load.js';
import type { ChurnResult } from './route-churn.js';
import type { FdSample } from './procstat.js';

/** Descriptors (and sockets) above the baseline that still count as "back to baseline": the scrape of
 *  /metrics or a route change finishing at that moment, or a pooled upstream socket inside its 4 s idle
 *  timeout, may hold one or two for a moment. A leak of one per connection would be thousands. */
export const FD_TOLERANCE = 4;
/** RSS may grow this much (ratio) after warm-up. */
export const RSS_GROWTH_LIMIT = 0.1;

export interface IdleCycle {
  requested: number;
  attempted: number;
  opened: number;
  failed: number;
  failures: Record<string, number>;
  openSeconds: number;
}

export interface SettleResult {
  baseline: FdSample;
  /** The last sample of the settle period. */
  final: FdSample | undefined;
  settled: boolean;
  seconds: number;
}

export interface RssJudgement {
  judged: boolean;
  /** Seconds into the load phase where warm-up ended. */
  warmupEndSec: number;
  warmupPeakBytes: number;
  afterPeakBytes: number;
  /** afterPeak / warmupPeak - 1 */
  growth: number;
  note?: string;
}

export interface SoakRecord {
  crash?: string;
  steady?: LoadResult;
  steadyError?: string;
  churn?: ChurnResult;
  idleCycles: IdleCycle[];
  clients?: Record<string, FaultStats>;
  settle?: SettleResult;
  rss?: RssJudgement;
}

/** Peak RSS per second of the load phase (VmHWM read and reset every second). */
export interface RssPoint {
  sec: number;
  peakBytes: number;
}

/**
 * Warm-up is the first 20% of the load phase, and at least until the first round of 10,000 idle
 * connections has opened and closed: that round is the largest transient, and a warm-up without it would
 * compare a later round's peak with a quieter start. When that round ends after the middle of the load
 * phase there is too little left to compare, and RSS is not judged (said in the note).
 */
export function judgeRss(points: RssPoint[], loadSec: number, firstIdleCycleEndSec: number | undefined): RssJudgement {
  const warmupEndSec = Math.max(0.2 * loadSec, firstIdleCycleEndSec ?? 0);
  const before = points.filter((p) => p.sec < warmupEndSec).map((p) => p.peakBytes);
  const after = points.filter((p) => p.sec >= warmupEndSec).map((p) => p.peakBytes);
  const warmupPeakBytes = before.length ? Math.max(...before) : NaN;
  const afterPeakBytes = after.length ? Math.max(...after) : NaN;
  const growth = afterPeakBytes / warmupPeakBytes - 1;
  const r: RssJudgement = { judged: true, warmupEndSec, warmupPeakBytes, afterPeakBytes, growth };
  if (firstIdleCycleEndSec === undefined) return { ...r, judged: false, note: 'no round of idle connections completed: warm-up never ended' };
  if (warmupEndSec > 0.5 * loadSec) return { ...r, judged: false, note: `warm-up (first idle round) lasted ${warmupEndSec.toFixed(0)} s, past half the load phase` };
  if (!before.length || !after.length) return { ...r, judged: false, note: 'no RSS samples' };
  return r;
}

export function verdict(rec: SoakRecord): string[] {
  const out: string[] = [];
  if (rec.crash) out.push(`crash: ${rec.crash}`);
  const s = rec.steady;
  if (rec.steadyError) out.push(`failed: steady load did not report: ${rec.steadyError}`);
  else if (s) {
    if (s.requests === 0) out.push('failed: the steady load completed no request');
    if (s.errors > 0) out.push(`failed: steady load: ${s.errors} socket errors ${JSON.stringify(s.errorDetail)} in ${s.requests} requests`);
    if (s.non2xx > 0) out.push(`failed: steady load: ${s.non2xx} non-2xx responses from the healthy route`);
  }
  for (const [i, c] of rec.idleCycles.entries()) {
    if (c.failed > 0) out.push(`failed: idle round ${i + 1}: ${c.failed} of ${c.attempted} GETs failed ${JSON.stringify(c.failures)}`);
  }
  if (rec.churn && rec.churn.failed > 0) out.push(`failed: ${rec.churn.failed} of ${rec.churn.changes} admin route changes failed (first: ${rec.churn.firstError ?? '?'})`);
  for (const [name, f] of Object.entries(rec.clients ?? {})) {
    if (f.failures > 0) out.push(`${f.wellFormed ? 'failed' : 'hostile'}: ${name}: ${f.failures} of ${f.episodes} episodes failed; first: ${f.samples[0] ?? '?'}`);
  }
  const st = rec.settle;
  if (st) {
    const f = st.final;
    if (!f) out.push('leak: descriptors could not be read after the load');
    else if (!st.settled) {
      out.push(
        `leak: ${st.seconds.toFixed(0)} s after the load stopped: ${f.fds} descriptors and ${f.sockets} sockets, baseline ${st.baseline.fds} and ` +
          `${st.baseline.sockets} (+${FD_TOLERANCE} allowed); TCP states ${JSON.stringify(f.tcp)}`,
      );
    }
  }
  const r = rec.rss;
  if (r?.judged && r.growth > RSS_GROWTH_LIMIT) {
    out.push(
      `rss: peak RSS after warm-up ${(r.afterPeakBytes / 2 ** 20).toFixed(1)} MiB is ${(r.growth * 100).toFixed(1)}% above the warm-up peak ` +
        `${(r.warmupPeakBytes / 2 ** 20).toFixed(1)} MiB (limit ${RSS_GROWTH_LIMIT * 100}%)`,
    );
  }
  return out;
}

/** Back to baseline: descriptors and sockets within the tolerance, and no socket left in CLOSE_WAIT. */
export function isSettled(baseline: FdSample, now: FdSample): boolean {
  return now.fds <= baseline.fds + FD_TOLERANCE && now.sockets <= baseline.sockets + FD_TOLERANCE && !now.tcp['CLOSE_WAIT'];
}
