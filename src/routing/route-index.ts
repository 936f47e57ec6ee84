// The index behind RouteTable.match: a lookup costs a few hash probes per path segment, not a
// walk over every route (nginx keeps server names in hashes and prefix locations in a tree;
// HAProxy's map_dom/map_beg and APISIX's radix tree do the same: cost by path length).
//
// It answers exactly what the ordered walk would (routes sorted by host class, then prefix
// length, then conditions, then order given; the first that matches wins):
//   1. host class: the exact host's routes (one hash probe), else the wildcards that are suffixes
//      of the host (one probe per '.' in the host), else the routes without a host;
//   2. within the class, the path's candidate prefixes from the longest down: the whole path and
//      every cut next to a '/' (a prefix matches on a segment boundary, prefixMatches in
//      path-mapping.ts), one hash probe each;
//   3. within one prefix, the few routes there in their order (conditional before
//      unconditional, then order given): the first whose method/header conditions hold.
// The buckets keyed by the exact prefix string are equivalent to a segment tree for this
// question and cost one Map entry per distinct prefix.
import type { MatchInput, Route } from './route.js';

/** A route as placed in the index, with what orders it against its peers. */
export interface IndexEntry {
  readonly route: Route;
  /** Order given: the position in the route list when the index was built; a route added by a
   *  small change later gets a number between its neighbours' (layered-route-index.ts). */
  readonly order: number;
  readonly conditional: boolean;
}

/** Do the route's method and header conditions hold for the request? */
function conditionsHold(r: Route, req: MatchInput): boolean {
  if (r.methods !== undefined && !r.methods.has(req.method)) return false;
  for (const [name, value] of r.headers) if (!req.header(name).includes(value)) return false;
  return true;
}

/** Is `a` tried before `b` when both sit on the same host class and prefix? */
function before(a: IndexEntry, b: IndexEntry): boolean {
  return a.conditional !== b.conditional ? a.conditional : a.order < b.order;
}

function hostRank(r: Route): number {
  return r.host === undefined ? 0 : r.wildcard ? 1 : 2;
}

/** Is `a` tried before `b` in the documented match order (host class, prefix length,
 *  conditions, order given)? Compares entries found in different indexes. */
export function precedes(a: IndexEntry, b: IndexEntry): boolean {
  const ra = a.route;
  const rb = b.route;
  if (hostRank(ra) !== hostRank(rb)) return hostRank(ra) > hostRank(rb);
  if (ra.pathPrefix.length !== rb.pathPrefix.length) return ra.pathPrefix.length > rb.pathPrefix.length;
  return before(a, b);
}

/** The routes of one host class (one exact host, one wildcard suffix, or no host) by prefix. */
export class PrefixBuckets {
  /** pathPrefix -> its routes, in the order they are tried. */
  readonly byPrefix = new Map<string, IndexEntry[]>();
  /** No prefix is longer: longer cuts of the path are not probed. */
  maxPrefixLength = 0;

  /** Adds `e`; returns an entry already there that matches exactly the same requests, if any. */
  add(e: IndexEntry): IndexEntry | undefined {
    const prefix = e.route.pathPrefix;
    let bucket = this.byPrefix.get(prefix);
    if (bucket === undefined) {
      bucket = [];
      this.byPrefix.set(prefix, bucket);
      if (prefix.length > this.maxPrefixLength) this.maxPrefixLength = prefix.length;
    }
    const same = bucket.find((o) => o.route.conditionKey === e.route.conditionKey);
    if (same !== undefined) return same;
    let at = bucket.length;
    while (at > 0 && before(e, bucket[at - 1])) at--;
    bucket.splice(at, 0, e);
    return undefined;
  }
}

/** Groups probed for one request (match is synchronous, so one scratch list serves all). */
const scratch: PrefixBuckets[] = [];

/** The first entry, in match order, among `groups[0..count)` whose prefix and conditions match
 *  (entries of routes in `skip` left out). */
function firstMatch(groups: readonly PrefixBuckets[], count: number, req: MatchInput, skip: ReadonlySet<Route> | undefined): IndexEntry | undefined {
  const path = req.path;
  let longest = 0;
  for (let g = 0; g < count; g++) longest = Math.max(longest, groups[g].maxPrefixLength);
  for (let cut = Math.min(path.length, longest); cut >= 0; cut--) {
    // a prefix of length `cut` matches on a segment boundary when it is the whole path, is
    // followed by '/', or ends with '/' (prefixMatches)
    if (cut !== path.length && path.charCodeAt(cut) !== 0x2f && (cut === 0 || path.charCodeAt(cut - 1) !== 0x2f)) continue;
    const prefix = cut === path.length ? path : path.slice(0, cut);
    let best: IndexEntry | undefined;
    for (let g = 0; g < count; g++) {
      const bucket = groups[g].byPrefix.get(prefix);
      if (bucket === undefined) continue;
      for (const e of bucket) {
        if (best !== undefined && !before(e, best)) break;
        if (skip !== undefined && skip.has(e.route)) continue;
        if (conditionsHold(e.route, req)) {
          best = e;
          break;
        }
      }
    }
    if (best !== undefined) return best;
  }
  return undefined;
}

export class RouteIndex {
  /** Lower-case exact host -> its routes. */
  readonly #exact = new Map<string, PrefixBuckets>();
  /** Wildcard suffix ('.example.com' for '*.example.com') -> its routes. */
  readonly #wildcard = new Map<string, PrefixBuckets>();
  /** Routes without a host. */
  readonly #anyHost = new PrefixBuckets();

  /** Indexes `entries` (in order given); `onSameRequests` is told of each entry that matches
   *  exactly the same requests as an earlier one (which stays; the later one is left out). */
  constructor(entries: Iterable<IndexEntry>, onSameRequests: (entry: IndexEntry, earlier: IndexEntry) => void) {
    for (const e of entries) {
      const same = this.#groupFor(e.route, true)!.add(e);
      if (same !== undefined) onSameRequests(e, same);
    }
  }

  #groupFor(r: Route, create: boolean): PrefixBuckets | undefined {
    if (r.host === undefined) return this.#anyHost;
    const map = r.wildcard ? this.#wildcard : this.#exact;
    let g = map.get(r.host);
    if (g === undefined && create) {
      g = new PrefixBuckets();
      map.set(r.host, g);
    }
    return g;
  }

  /** An entry here (not of a route in `skip`) that matches exactly the same requests as `r`. */
  sameRequestsAs(r: Route, skip: ReadonlySet<Route>): IndexEntry | undefined {
    const bucket = this.#groupFor(r, false)?.byPrefix.get(r.pathPrefix);
    return bucket?.find((e) => e.route.conditionKey === r.conditionKey && !skip.has(e.route));
  }

  /** The entry of the route `req` goes to (routes in `skip` left out). */
  best(req: MatchInput, skip?: ReadonlySet<Route>): IndexEntry | undefined {
    const host = req.host;
    const exact = this.#exact.get(host);
    if (exact !== undefined) {
      scratch[0] = exact;
      const e = firstMatch(scratch, 1, req, skip);
      if (e !== undefined) return e;
    }
    if (this.#wildcard.size > 0) {
      // '*.example.com' (stored as '.example.com') matches a host that ends with it and is
      // longer: every suffix of the host that starts at a '.' after its first character
      let count = 0;
      for (let dot = host.indexOf('.', 1); dot > 0; dot = host.indexOf('.', dot + 1)) {
        const g = this.#wildcard.get(host.slice(dot));
        if (g !== undefined) scratch[count++] = g;
      }
      if (count > 0) {
        const e = firstMatch(scratch, count, req, skip);
        if (e !== undefined) return e;
      }
    }
    scratch[0] = this.#anyHost;
    return firstMatch(scratch, 1, req, skip);
  }
}
