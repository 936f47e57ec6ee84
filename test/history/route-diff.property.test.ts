// The history keeps each revision as a diff and rebuilds older route sets by undoing newer diffs:
// for any sequence of route lists (added, removed, changed, reordered routes), the diff applied to
// the older list gives the newer one, undone gives the older one back, and the log rebuilds every
// kept revision exactly.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import { applyDiff, diffRoutes, undoDiff } from '../../admin/history/route-diff.js';
import { RevisionLog, recordOf, routesHash } from '../../admin/history/revision-log.js';

const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];

/** A route list: a subset of the ids in any order, each with one of a few upstreams and options. */
const routeList = fc.uniqueArray(fc.constantFrom(...ids), { maxLength: ids.length }).chain((chosen) =>
  fc.tuple(...chosen.map((id) => fc.record({
    port: fc.integer({ min: 1, max: 3 }),
    strip: fc.boolean(),
    host: fc.option(fc.constantFrom('x.example', 'y.example'), { nil: undefined }),
  }).map(({ port, strip, host }): RouteSpec => ({
    id, pathPrefix: `/${id}`, upstreams: [`http://127.0.0.1:${8080 + port}`], stripPrefix: strip, ...(host ? { host } : {}),
  })))));

const plain = (routes: ReadonlyArray<Readonly<RouteSpec>>) => JSON.parse(JSON.stringify(routes)) as RouteSpec[];

describe('route diffs', () => {
  it('apply(from, diff(from, to)) = to and undo(to, diff) = from, for any two lists', () => {
    fc.assert(fc.property(routeList, routeList, (from, to) => {
      const d = diffRoutes(from, to);
      expect(plain(applyDiff(from, d))).toEqual(plain(to));
      expect(plain(undoDiff(to, d))).toEqual(plain(from));
      // the diff survives a JSON round trip (it is what the history stores)
      const stored = JSON.parse(JSON.stringify(d)) as typeof d;
      expect(plain(undoDiff(to, stored))).toEqual(plain(from));
      // an order is stored only when kept routes moved relative to each other
      const kept = (a: RouteSpec[], b: RouteSpec[]) => a.filter((r) => b.some((x) => x.id === r.id)).map((r) => r.id).join();
      expect(d.order !== undefined).toBe(kept(from, to) !== kept(to, from));
    }), { numRuns: 500 });
  });

  it('names the members that changed', () => {
    const before: RouteSpec = { id: 'a', pathPrefix: '/a', upstreams: ['http://127.0.0.1:1'], stripPrefix: true };
    const after: RouteSpec = { id: 'a', pathPrefix: '/a', upstreams: ['http://127.0.0.1:2'], host: 'x.example' };
    expect(diffRoutes([before], [after]).changed).toEqual([{ id: 'a', members: ['host', 'stripPrefix', 'upstreams'], before, after }]);
  });

  it('a log of N revisions rebuilds each kept one; older ones are gone', () => {
    fc.assert(fc.property(fc.array(routeList, { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 8 }), (lists, keep) => {
      const log = new RevisionLog(keep);
      log.reconcile(lists[0], 1, { kind: 'file' });
      for (let i = 1; i < lists.length; i++) log.append(recordOf(lists[i - 1], lists[i], i + 1, i, { source: { kind: 'admin', token: 't' } }), lists[i]);
      for (let rev = 1; rev <= lists.length; rev++) {
        if (lists.length - rev < keep) {
          const got = log.routesAt(rev)!;
          expect(plain(got)).toEqual(plain(lists[rev - 1]));
          expect(routesHash(got)).toBe(log.find(rev)!.hash);
        } else {
          expect(() => log.routesAt(rev)).toThrow(/no longer kept/);
        }
      }
    }), { numRuns: 200 });
  });
});
