// RouteTable.match (the index, src/routing/route-index.ts) against the linear matcher it replaced
// (test/helpers/linear-route-matcher.ts): for random tables and random requests both choose the
// same route, and building a table rejects exactly the lists the old duplicate check rejected.
// The alphabets are tiny on purpose, so hosts, wildcards and prefixes collide, nest and share
// segments. The last block checks that these generators are strong enough: each of a few
// plausible mistakes in the matching rules is caught.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { RouteTable } from '../../src/routing/route-table.js';
import type { MatchInput, Route } from '../../src/routing/route.js';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import { ProxyError } from '../../src/errors.js';
import { prefixMatches } from '../../src/routing/path-mapping.js';
import { linearMatch, linearOrder } from '../helpers/linear-route-matcher.js';

// ROUTE_FC_RUNS sets the number of tables per property (default 400).
const RUNS = Number(process.env.ROUTE_FC_RUNS ?? 400);

const label = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('a', 'b') }, { weight: 1, arbitrary: fc.constant('ab') });
const hostName = fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => l.join('.'));
const specHost = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: hostName },
  { weight: 3, arbitrary: hostName.map((h) => `*.${h}`) },
  { weight: 1, arbitrary: hostName.map((h) => h.toUpperCase()) }, // compiled to lower case
);
/** Request hosts: the same names, plus what a Host header can hold that no route names. */
const requestHost = fc.oneof(
  { weight: 6, arbitrary: hostName },
  { weight: 1, arbitrary: fc.constantFrom('', 'A.b', 'a.b.', '.a.b', '..b', 'a..b', '[::1]', '[::ffff:1.2.3.4]', '1.2.3.4', '*.a') },
);
const segment = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('a', 'b') }, { weight: 1, arbitrary: fc.constantFrom('ab', '', '%2f') });
const segments = fc.array(segment, { maxLength: 4 });
/** Prefixes as the schema allows them ('/' first), with and without a trailing '/'. */
const prefix = fc.oneof(
  { weight: 20, arbitrary: fc.tuple(segments, fc.boolean()).map(([s, slash]) => '/' + s.join('/') + (slash && s.length > 0 ? '/' : '')) },
  // not what the schema allows, but RouteTable.build does not depend on it
  { weight: 1, arbitrary: fc.constantFrom('', 'a', 'a/') },
);
const requestPath = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(segments, fc.boolean()).map(([s, slash]) => '/' + s.join('/') + (slash ? '/' : '')) },
  { weight: 1, arbitrary: fc.constantFrom('', '*', 'a', 'a/b', '//', '/a//b') },
);
const METHODS = ['GET', 'POST', 'PUT'];
const specMethods = fc.option(fc.subarray(METHODS, { minLength: 1 }), { nil: undefined, freq: 2 });
const headerName = fc.constantFrom('x', 'y', 'X');
const headerValue = fc.constantFrom('1', '2');
const specHeaders = fc.option(fc.dictionary(headerName, headerValue, { minKeys: 1, maxKeys: 2 }), { nil: undefined, freq: 2 });

type Shape = Pick<RouteSpec, 'host' | 'pathPrefix' | 'methods' | 'headers'>;
const shapeFrom = (host: fc.Arbitrary<string | undefined>, pathPrefix: fc.Arbitrary<string>): fc.Arbitrary<Shape> =>
  fc.record({ host, pathPrefix, methods: specMethods, headers: specHeaders }, { requiredKeys: ['pathPrefix'] });
const shape = shapeFrom(specHost, prefix);

/** Every name a host falls under: 'a.b.c' -> 'a.b.c', 'b.c', 'c'. */
const hostFamily = (h: string): string[] => h.split('.').map((_, i, l) => l.slice(i).join('.'));
/** Every prefix a path prefix nests in, with and without a trailing '/': '/a/b' -> '/a/b', '/a/', '/a', '/'. */
const prefixFamily = (p: string): string[] => {
  const out = new Set<string>([p]);
  for (let i = p.lastIndexOf('/'); i >= 0; i = p.lastIndexOf('/', i - 1)) {
    out.add(p.slice(0, i + 1));
    if (i > 0) out.add(p.slice(0, i));
    if (i === 0) break;
  }
  return [...out];
};
/** A route shape drawn mostly from a few related hosts and prefixes (and the names they nest
 *  in), so that several routes compete for the same requests. */
const relatedShape = fc.tuple(fc.array(hostName, { minLength: 1, maxLength: 3 }), fc.array(prefix, { minLength: 1, maxLength: 3 })).map(([hosts, prefixes]) => {
  const names = [...new Set(hosts.flatMap(hostFamily))];
  const paths = [...new Set(prefixes.flatMap(prefixFamily))];
  const host = fc.oneof(
    { weight: 3, arbitrary: specHost },
    { weight: 4, arbitrary: fc.constantFrom(...names) },
    { weight: 4, arbitrary: fc.constantFrom(...names).map((h) => `*.${h}`) },
  );
  return shapeFrom(host, fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...paths) }, { weight: 1, arbitrary: prefix }));
});

const specs = (shapes: Shape[]): RouteSpec[] => shapes.map((s, i) => ({ id: `r${i}`, ...s, upstreams: ['http://127.0.0.1:9'] }));

interface Req { host: string; path: string; method: string; headers: Array<[string, string]> }
const request: fc.Arbitrary<Req> = fc.record({
  host: requestHost,
  path: requestPath,
  method: fc.constantFrom(...METHODS, 'DELETE'),
  headers: fc.array(fc.tuple(fc.constantFrom('x', 'y'), headerValue), { maxLength: 3 }),
});
/** A request aimed at one of the table's routes: its host (a subdomain for a wildcard), its
 *  prefix with a bit more path, some of its header values: most requests land near several
 *  routes at once. */
function requestNear(shapes: Shape[]): fc.Arbitrary<Req> {
  if (shapes.length === 0) return request;
  return fc.tuple(fc.constantFrom(...shapes), request, fc.constantFrom('', '/', 'a', '/a', '/a/b', 'b/', '/'), fc.constantFrom('a', 'b', 'a.b')).map(([s, random, more, sub]) => ({
    host: s.host === undefined ? random.host : s.host.startsWith('*.') ? `${sub}${s.host.slice(1)}` : s.host.toLowerCase(),
    path: s.pathPrefix + more,
    method: s.methods && random.method !== 'DELETE' ? s.methods[0] : random.method,
    headers: [...Object.entries(s.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v] as [string, string]).slice(random.headers.length % 2), ...random.headers],
  }));
}
const requestsFor = (shapes: Shape[]) => fc.array(fc.oneof({ weight: 1, arbitrary: request }, { weight: 3, arbitrary: requestNear(shapes) }), { minLength: 1, maxLength: 30 });

const matchInput = (r: Req): MatchInput => ({
  host: r.host, path: r.path, method: r.method,
  header: (name) => r.headers.filter(([n]) => n === name).map(([, v]) => v),
});

/** The duplicate check as it was before the index: one key per route, the first repeat throws. */
function oldDuplicate(table: readonly Route[]): { index: number; id: string; other: string } | undefined {
  const seen = new Map<string, string>();
  for (const [i, r] of table.entries()) {
    const key = JSON.stringify([r.host, r.wildcard, r.pathPrefix, r.methods ? [...r.methods].sort() : null, r.headers]);
    const other = seen.get(key);
    if (other !== undefined) return { index: i, id: r.id, other };
    seen.set(key, r.id);
  }
  return undefined;
}

/** The shapes without those that repeat an earlier one's host, prefix and conditions, so every
 *  generated table builds (the last property below checks that rejection against the old check). */
function withoutDuplicates(shapes: Shape[]): Shape[] {
  const out: Shape[] = [];
  for (const s of shapes) {
    try {
      RouteTable.build(specs([...out, s]), 1);
      out.push(s);
    } catch (e) {
      if (!(e instanceof ProxyError) || e.code !== 'PRX_ERR_BAD_ROUTE') throw e;
    }
  }
  return out;
}

/** One admin API change: at a place, remove some routes, insert some (an id already in the
 *  table now and then). */
type Edit = { at: number; remove: number; insert: Shape[]; reuseId: number | undefined };
const editOf = (sh: fc.Arbitrary<Shape>): fc.Arbitrary<Edit> =>
  fc.record({ at: fc.nat(), remove: fc.nat({ max: 2 }), insert: fc.array(sh, { maxLength: 2 }), reuseId: fc.option(fc.nat(), { nil: undefined, freq: 6 }) });

/** A table, changes to it, and requests near its routes, all from one family of shapes. */
const world = relatedShape.chain((sh) => fc.tuple(fc.array(sh, { maxLength: 24 }).map(withoutDuplicates), fc.array(editOf(sh), { minLength: 1, maxLength: 12 })))
  .chain(([shapes, edits]) => fc.tuple(fc.constant(shapes), fc.constant(edits), requestsFor([...shapes, ...edits.flatMap((e) => e.insert)])));
const tableAndRequests = world.map(([shapes, , reqs]) => [shapes, reqs] as const);

type Matcher = (ordered: readonly Route[], req: MatchInput) => Route | undefined;

/** Does `matcher` (over the oracle's order) choose what the oracle chooses? */
function sameChoice(t: RouteTable, reqs: Req[], matcher: Matcher, order = linearOrder): boolean {
  const ordered = order(t.routes);
  const expected = linearOrder(t.routes);
  return reqs.every((r) => matcher(ordered, matchInput(r))?.id === linearMatch(expected, matchInput(r))?.id);
}

describe('route index against the linear matcher (property)', () => {
  it('chooses the same route for random tables and requests', () => {
    fc.assert(
      fc.property(tableAndRequests, ([shapes, reqs]) => {
        const t = RouteTable.build(specs(shapes), 1);
        const ordered = linearOrder(t.routes);
        for (const r of reqs) expect(t.match(matchInput(r))?.id).toBe(linearMatch(ordered, matchInput(r))?.id);
      }),
      { numRuns: RUNS },
    );
  });

  it('chooses the same route after a change built on the previous table (reordered, replaced, removed routes)', () => {
    fc.assert(
      fc.property(tableAndRequests, fc.array(shape, { maxLength: 4 }), fc.nat(), ([shapes, reqs], added, seed) => {
        const first = specs(shapes);
        const t1 = RouteTable.build(first, 1);
        // the running specs (as the admin API passes them on), rotated, one dropped, some added
        const kept = t1.routes.map((r) => r.spec as RouteSpec);
        const rotated = kept.length ? [...kept.slice(seed % kept.length), ...kept.slice(0, seed % kept.length)] : [];
        if (rotated.length > 1) rotated.splice(seed % rotated.length, 1);
        const next = [...rotated, ...added.map((s, i) => ({ id: `n${i}`, ...s, upstreams: ['http://127.0.0.1:9'] }))];
        let t2: RouteTable;
        try {
          t2 = RouteTable.next(t1, next, 2);
        } catch (e) {
          expect((e as ProxyError).code).toBe('PRX_ERR_BAD_ROUTE');
          return;
        }
        for (const r of t2.routes) if (t1.get(r.id)?.spec === r.spec) expect(t1.get(r.id)).toBe(r);
        const ordered = linearOrder(t2.routes);
        for (const r of reqs) expect(t2.match(matchInput(r))?.id).toBe(linearMatch(ordered, matchInput(r))?.id);
      }),
      { numRuns: Math.max(20, Math.floor(RUNS / 2)) },
    );
  });

  // One admin API change replaces, adds or removes a few routes and passes the rest on as the
  // same objects: the table then reuses the previous index (a patch on it); a long run of such
  // changes also crosses PATCH_LIMIT and, inserting again and again at one place, the point
  // where order numbers between neighbours run out. Each table must match as the oracle does,
  // and fail (or not) exactly as a table built from scratch.
  function applyEdits(shapes: Shape[], edits: Edit[], reqs: Req[], check: (t: RouteTable, r: Req) => void): void {
    let t = RouteTable.build(specs(shapes), 1);
    let serial = 0;
    for (const e of edits) {
      const running = t.routes.map((r) => r.spec as RouteSpec);
      const at = running.length ? e.at % (running.length + 1) : 0;
      const inserted = e.insert.map((s) => ({ id: `e${serial++}`, ...s, upstreams: ['http://127.0.0.1:9'] }));
      if (e.reuseId !== undefined && inserted.length > 0 && running.length > 0) inserted[0].id = running[e.reuseId % running.length].id;
      running.splice(at, e.remove, ...inserted);
      let fresh: RouteTable | ProxyError;
      try {
        fresh = RouteTable.build(running, t.revision + 1);
      } catch (err) {
        fresh = err as ProxyError;
      }
      let next: RouteTable;
      try {
        next = RouteTable.next(t, running, t.revision + 1);
      } catch (err) {
        expect(fresh).toBeInstanceOf(ProxyError);
        expect([(err as ProxyError).code, (err as ProxyError).path, (err as ProxyError).message]).toEqual([(fresh as ProxyError).code, (fresh as ProxyError).path, (fresh as ProxyError).message]);
        continue;
      }
      expect(fresh).toBeInstanceOf(RouteTable);
      expect(next.routes.map((r) => r.id)).toEqual(running.map((s) => s.id));
      for (const r of next.routes) expect(next.get(r.id)).toBe(r);
      for (const r of t.routes) if (!running.some((s) => s.id === r.id)) expect(next.get(r.id)).toBeUndefined();
      t = next;
      const ordered = linearOrder(t.routes);
      for (const r of reqs) check(t, r);
      for (const r of reqs) expect(t.match(matchInput(r))?.id).toBe(linearMatch(ordered, matchInput(r))?.id);
    }
    expect(t.get('no-such-route')).toBeUndefined();
  }

  it('chooses the same route after each of a run of small changes (a patched index)', () => {
    fc.assert(
      fc.property(world, ([shapes, edits, reqs]) => {
        applyEdits(shapes, edits, reqs, () => {});
      }),
      { numRuns: Math.max(20, Math.floor(RUNS / 4)) },
    );
  });

  it('keeps choosing the same route through hundreds of changes at one place (PATCH_LIMIT, order numbers running out)', () => {
    const shapes: Shape[] = [{ pathPrefix: '/' }, { pathPrefix: '/a' }, { host: '*.a', pathPrefix: '/a' }, { host: 'b.a', pathPrefix: '/' }];
    const reqs: Req[] = ['/', '/a', '/a/b', '/b'].flatMap((path) => ['b.a', 'a.a', 'x'].map((host) => ({ host, path, method: 'GET', headers: [['x', '1']] as Array<[string, string]> })));
    // always insert after the second route (order numbers halve towards 1 and run out after about
    // 50 inserts): routes with the same host, prefix and a condition
    // that holds for GET (each a different method list), so only the order between them decides
    const edits: Edit[] = Array.from({ length: 400 }, (_, i) => ({ at: 2, remove: i % 3 === 2 ? 1 : 0, insert: [{ pathPrefix: '/a', methods: ['GET', `M${i}`] }], reuseId: undefined }));
    applyEdits(shapes, edits, reqs, () => {});
  });

  it('rejects exactly the lists the old duplicate check rejected, naming the same routes', () => {
    fc.assert(
      fc.property(fc.array(shape, { maxLength: 12 }), (shapes) => {
        const list = specs(shapes);
        const reference = RouteTable.build(list.map((s, i) => ({ ...s, pathPrefix: `/unique/${i}` })), 1);
        // compile the same routes (same hosts, prefixes and conditions) without the check
        const compiled = reference.routes.map((r, i) => ({ ...r, pathPrefix: list[i].pathPrefix }));
        const dup = oldDuplicate(compiled);
        let error: ProxyError | undefined;
        try {
          RouteTable.build(list, 1);
        } catch (e) {
          error = e as ProxyError;
        }
        if (dup === undefined) expect(error).toBeUndefined();
        else {
          expect(error?.code).toBe('PRX_ERR_BAD_ROUTE');
          expect(error?.path).toBe(`/routes/${dup.index}`);
          expect(error?.message).toBe(`route ${JSON.stringify(dup.id)} matches exactly the same requests as ${JSON.stringify(dup.other)}`);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('the generators catch mistakes in the matching rules', () => {
  // Each mutant is the oracle with one rule changed; fast-check must find a table and requests
  // where it chooses differently. If a mutant survives, the generators are too weak to trust.
  const hostRank = (r: Route): number => (r.host === undefined ? 0 : r.wildcard ? 1 : 2);
  const conditional = (r: Route): number => Number(r.methods !== undefined || r.headers.length > 0);
  const sortBy = (cmp: (a: Route, b: Route, given: Map<Route, number>) => number) => (routes: readonly Route[]): readonly Route[] => {
    const given = new Map(routes.map((r, i) => [r, i]));
    return [...routes].sort((a, b) => cmp(a, b, given));
  };
  const mutants: Record<string, { matcher?: Matcher; order?: (routes: readonly Route[]) => readonly Route[] }> = {
    'later routes first on ties': { order: sortBy((a, b, g) => hostRank(b) - hostRank(a) || b.pathPrefix.length - a.pathPrefix.length || conditional(b) - conditional(a) || g.get(b)! - g.get(a)!) },
    'conditions not preferred': { order: sortBy((a, b, g) => hostRank(b) - hostRank(a) || b.pathPrefix.length - a.pathPrefix.length || g.get(a)! - g.get(b)!) },
    'wildcard as good as exact': { order: sortBy((a, b, g) => Math.min(hostRank(b), 1) - Math.min(hostRank(a), 1) || b.pathPrefix.length - a.pathPrefix.length || conditional(b) - conditional(a) || g.get(a)! - g.get(b)!) },
    'host before prefix length ignored': { order: sortBy((a, b, g) => b.pathPrefix.length - a.pathPrefix.length || hostRank(b) - hostRank(a) || conditional(b) - conditional(a) || g.get(a)! - g.get(b)!) },
    'a prefix ending in / needs a / after it': {
      matcher: (ordered, req) => linearMatch(ordered.filter((r) => !(r.pathPrefix.endsWith('/') && req.path.length > r.pathPrefix.length && req.path[r.pathPrefix.length] !== '/')), req),
    },
    'a wildcard matches its bare domain': {
      matcher: (ordered, req) => linearMatch(ordered, req) ?? ordered.find((r) => r.wildcard && '.' + req.host === r.host && prefixMatches(req.path, r.pathPrefix) && (r.methods?.has(req.method) ?? true) && r.headers.every(([k, v]) => req.header(k).includes(v))),
    },
    'only the first header value counts': {
      matcher: (ordered, req) => linearMatch(ordered, { ...req, header: (n) => req.header(n).slice(0, 1) }),
    },
  };
  for (const [name, m] of Object.entries(mutants)) {
    it(`catches: ${name}`, () => {
      const out = fc.check(
        fc.property(tableAndRequests, ([shapes, reqs]) =>
          sameChoice(RouteTable.build(specs(shapes), 1), reqs, m.matcher ?? linearMatch, m.order)),
        { numRuns: RUNS * 5 },
      );
      expect(out.failed).toBe(true);
    });
  }
});
