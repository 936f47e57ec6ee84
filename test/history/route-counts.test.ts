// The per-route counts behind guarded changes (admin/guard/route-counts.ts): what counts as a
// failure, and the baseline taken from the remembered past of the totals.
import { describe, it, expect } from 'vitest';
import { MAX_BASELINE_MS, RouteCounter, RouteTotals, SNAPSHOT_MS, rate } from '../../admin/guard/route-counts.js';

const finished = (routeId: string | undefined, status: number) => ({ routeId, method: 'GET', status, durationMs: 1, aborted: false, protocol: 'http/1.1' as const });

describe('route counts', () => {
  it('a request failed when answered 5xx (generated or relayed); a retried connect failure is one more failed attempt; no route, no count', () => {
    const c = new RouteCounter();
    c.observer.requestFinished!(finished('api', 200));
    c.observer.requestFinished!(finished('api', 404));
    c.observer.requestFinished!(finished('api', 502));
    c.observer.requestFinished!(finished('api', 503));
    c.observer.retried!('api', 'connect');
    c.observer.retried!('api', 'timeout');
    c.observer.requestFinished!(finished(undefined, 500));
    expect(c.drain()).toEqual([['api', 5, 3]]);
    expect(c.drain()).toEqual([]);
  });

  it('the baseline is the span before a mark, as far back as the snapshots go (at most 5 minutes)', () => {
    let now = 1_000_000;
    const t = new RouteTotals(() => now);
    t.add([['api', 10, 0]]); // first snapshot: before these
    now += SNAPSHOT_MS;
    t.add([['api', 10, 1], ['other', 5, 5]]);
    now += SNAPSHOT_MS;
    t.add([['api', 10, 2]]);
    const mark = t.mark();
    expect(t.totalAt(mark, ['api'])).toEqual({ requests: 30, errors: 3 });
    // the last 5 s: since the snapshot taken 5 s ago (before the second and third batches)
    expect(t.recent(['api'], SNAPSHOT_MS, mark)).toEqual({ requests: 20, errors: 3 });
    // longer than the past: everything since the first snapshot
    expect(t.recent(['api', 'other'], 60_000, mark)).toEqual({ requests: 35, errors: 8 });
    expect(rate(t.recent(['api'], 60_000, mark))).toBeCloseTo(0.1);
    // counts after the mark are not in it
    t.add([['api', 100, 100]]);
    expect(t.recent(['api'], 60_000, mark)).toEqual({ requests: 30, errors: 3 });
    expect(t.total(['api'])).toEqual({ requests: 130, errors: 103 });
    expect(MAX_BASELINE_MS).toBe(300_000);
  });

  it('one process: the counter is pulled before every read', () => {
    const c = new RouteCounter();
    const t = new RouteTotals();
    t.pullFrom(c);
    c.count('api', 3, 1);
    expect(t.total(['api'])).toEqual({ requests: 3, errors: 1 });
    expect(t.mark().totals.get('api')).toEqual({ requests: 3, errors: 1 });
    // a removed route's totals are forgotten
    c.count('gone', 1, 0);
    t.retain(new Set(['api']));
    expect([...t.mark().totals.keys()]).toEqual(['api']);
  });
});
