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
//   rss          RSS at the end of the load grew past 10% of RSS right after warm-up (see judgeRss)
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

/** The idle connections: `attempted` opened at first, then `replaced` closed and opened anew. */
export interface IdleRecord {
  requested: number;
  attempted: number;
  /** Seconds into the load phase when all were first open. */
  openAtSec: number;
  replaced: number;
  /** Closed by Portico (its idle timeout, when the replacement falls behind on a busy machine). */
  closedByServer: number;
  /** GETs (one per connection) that failed, and why. */
  failed: number;
  failures: Record<string, number>;
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
  /** Length of the two windows compared, seconds. */
  windowSec: number;
  /** Median of the per-second peak RSS in the window right after warm-up. */
  afterWarmupBytes: number;
  /** Median of the per-second peak RSS in the last window of the load phase. */
  finalBytes: number;
  /** final / afterWarmup - 1 */
  growth: number;
  note?: string;
}

export interface SoakRecord {
  crash?: string;
  steady?: LoadResult;
  steadyError?: string;
  churn?: ChurnResult;
  idle?: IdleRecord;
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
 * Warm-up is the first 20% of the load phase, at least 60 s, and at least until 10 s after the idle
 * connections were all open. RSS "growth" compares two windows of the same length (20% of the load
 * phase, at least 60 s): the one right after warm-up and the last one. Each is the median of the
 * per-second peak RSS in it: under this load V8's heap is a sawtooth (garbage piles up for tens of
 * seconds, then a full collection drops it), so single peaks swing by a third with the moment of the
 * last collection, while a leak lifts the whole window. A window must span several collections, so a
 * run shorter than 3 minutes does not judge RSS (the note says so; the one-minute test run checks
 * everything else).
 */
export function judgeRss(points: RssPoint[], loadSec: number, idleOpenAtSec: number | undefined): RssJudgement {
  const warmupEndSec = Math.max(60, 0.2 * loadSec, (idleOpenAtSec ?? loadSec) + 10);
  const windowSec = Math.max(60, 0.2 * loadSec);
  const median = (from: number, to: number): number => {
    const v = points.filter((p) => p.sec >= from && p.sec < to).map((p) => p.peakBytes).sort((a, b) => a - b);
    return v.length ? v[Math.floor(v.length / 2)] : NaN;
  };
  const afterWarmupBytes = median(warmupEndSec, warmupEndSec + windowSec);
  const finalBytes = median(loadSec - windowSec, loadSec + 1);
  const r: RssJudgement = { judged: true, warmupEndSec, windowSec, afterWarmupBytes, finalBytes, growth: finalBytes / afterWarmupBytes - 1 };
  if (idleOpenAtSec === undefined) return { ...r, judged: false, note: 'the idle connections never were all open: warm-up never ended' };
  if (warmupEndSec + windowSec > loadSec - windowSec) return { ...r, judged: false, note: `a ${loadSec} s load phase is too short for a ${warmupEndSec.toFixed(0)} s warm-up and two ${windowSec.toFixed(0)} s windows (3 minutes or more are judged)` };
  if (!Number.isFinite(r.growth)) return { ...r, judged: false, note: 'no RSS samples' };
  return r;
}

export function verdict(rec: SoakRecord): string[] {
  // After a crash every other check fails with it (refused connections, missing responses): only the
  // crash is the finding.
  if (rec.crash) return [`crash: ${rec.crash}`];
  const out: string[] = [];
  const s = rec.steady;
  if (rec.steadyError) out.push(`failed: steady load did not report: ${rec.steadyError}`);
  else if (s) {
    if (s.requests === 0) out.push('failed: the steady load completed no request');
    if (s.errors > 0) out.push(`failed: steady load: ${s.errors} socket errors ${JSON.stringify(s.errorDetail)} in ${s.requests} requests`);
    if (s.non2xx > 0) out.push(`failed: steady load: ${s.non2xx} non-2xx responses from the healthy route`);
  }
  const idle = rec.idle;
  if (!idle) out.push('failed: the idle connections were not opened');
  else if (idle.failed > 0) out.push(`failed: idle connections: ${idle.failed} of ${idle.attempted + idle.replaced} GETs failed ${JSON.stringify(idle.failures)}`);
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
      `rss: RSS in the last ${r.windowSec.toFixed(0)} s (median of per-second peaks) ${(r.finalBytes / 2 ** 20).toFixed(1)} MiB is ` +
        `${(r.growth * 100).toFixed(1)}% above the ${(r.afterWarmupBytes / 2 ** 20).toFixed(1)} MiB right after warm-up (limit ${RSS_GROWTH_LIMIT * 100}%)`,
    );
  }
  return out;
}

/** Back to baseline: descriptors and sockets within the tolerance, and no socket left in CLOSE_WAIT. */
export function isSettled(baseline: FdSample, now: FdSample): boolean {
  return now.fds <= baseline.fds + FD_TOLERANCE && now.sockets <= baseline.sockets + FD_TOLERANCE && !now.tcp['CLOSE_WAIT'];
}
