// The index of a route table, kept across small changes: the RouteIndex built for an earlier
// table (the base, shared, never modified), the routes removed from it since, and a small
// RouteIndex of the routes added since. A change of a few routes on a 100,000-route table then
// costs work in proportion to the change (plus copying the route list), not a new index; once the
// changes since the base pass PATCH_LIMIT routes, the next table builds a new base.
//
// A lookup asks the base (skipping removed routes) and the patch, and takes whichever of the two
// answers comes first in the documented match order (precedes): each is the first match within
// its own routes, so the earlier of the two is the first match among all of them.
import type { MatchInput, Route } from './route.js';
import { RouteIndex, precedes, type IndexEntry } from './route-index.js';

/** Routes removed plus routes added since the base before the next table rebuilds it. */
export const PATCH_LIMIT = 256;

const NONE: ReadonlySet<Route> = new Set();

export class LayeredRouteIndex {
  readonly #base: RouteIndex;
  /** Routes whose base entries no longer count. */
  readonly #removed: ReadonlySet<Route>;
  /** Entries added since the base, and their index. */
  readonly #added: readonly IndexEntry[];
  readonly #patch: RouteIndex | undefined;

  private constructor(base: RouteIndex, removed: ReadonlySet<Route>, added: readonly IndexEntry[], patch: RouteIndex | undefined) {
    this.#base = base;
    this.#removed = removed;
    this.#added = added;
    this.#patch = patch;
  }

  /** A new base for `entries`; `onSameRequests` as for RouteIndex (it may throw). */
  static base(entries: readonly IndexEntry[], onSameRequests: (entry: IndexEntry, earlier: IndexEntry) => void): LayeredRouteIndex {
    return new LayeredRouteIndex(new RouteIndex(entries, onSameRequests), NONE, [], undefined);
  }

  /** Changes since the base, in routes (removed + added). */
  get patchSize(): number {
    return this.#removed.size + this.#added.length;
  }

  /** This index without `removed` and with `added`; undefined when an added route matches exactly
   *  the same requests as a route still there (the caller builds the table afresh, which names
   *  the two routes in its error). */
  patched(removed: readonly Route[], added: readonly IndexEntry[]): LayeredRouteIndex | undefined {
    const gone = new Set(removed);
    const allRemoved = new Set(this.#removed);
    for (const r of removed) allRemoved.add(r);
    for (const e of added) if (this.#base.sameRequestsAs(e.route, allRemoved) !== undefined) return undefined;
    const entries = [...this.#added.filter((e) => !gone.has(e.route)), ...added];
    let clash = false;
    const patch = new RouteIndex(entries, () => { clash = true; });
    return clash ? undefined : new LayeredRouteIndex(this.#base, allRemoved, entries, patch);
  }

  match(req: MatchInput): Route | undefined {
    const a = this.#base.best(req, this.#removed.size > 0 ? this.#removed : undefined);
    if (this.#patch === undefined) return a?.route;
    const b = this.#patch.best(req);
    if (a === undefined || b === undefined) return (a ?? b)?.route;
    return precedes(a, b) ? a.route : b.route;
  }
}
