// The difference between two route lists, in the form the history stores and serves: routes added
// (with their index in the new list), removed (with their index in the old list), changed (before
// and after, and which members differ), and, only when the routes present in both lists are not in
// the same relative order, both id orders. That is enough to go from either list to the other
// (applyDiff forward, undoDiff backward), so a revision's full route set is rebuilt from the one
// that runs by undoing the revisions after it, and each revision costs only what it changed.
import type { RouteSpec } from '../../src/routing/route-spec.js';
import { canonicalJson } from '../protocol/etag.js';

type Routes = ReadonlyArray<Readonly<RouteSpec>>;

export interface PlacedRoute {
  /** Position in the list that holds the route (added: the new list; removed: the old one). */
  index: number;
  route: Readonly<RouteSpec>;
}

export interface ChangedRoute {
  id: string;
  /** Top-level members whose values differ (added, removed or changed), sorted. */
  members: string[];
  before: Readonly<RouteSpec>;
  after: Readonly<RouteSpec>;
}

export interface RouteDiff {
  added: PlacedRoute[];
  removed: PlacedRoute[];
  changed: ChangedRoute[];
  /** Present when the routes kept by the change moved relative to each other (match-tie order):
   *  the whole id order before and after. */
  order?: { before: string[]; after: string[] };
}

/** Equal routes: the same object (a route the change kept) or the same canonical JSON. */
export function sameSpec(a: Readonly<RouteSpec>, b: Readonly<RouteSpec>): boolean {
  return a === b || canonicalJson(a) === canonicalJson(b);
}

export function changedMembers(before: Readonly<RouteSpec>, after: Readonly<RouteSpec>): string[] {
  const b = before as Record<string, unknown>;
  const a = after as Record<string, unknown>;
  const keys = new Set([...Object.keys(b), ...Object.keys(a)]);
  return [...keys].filter((k) => canonicalJson(b[k]) !== canonicalJson(a[k])).sort();
}

/** What changes `from` into `to`. */
export function diffRoutes(from: Routes, to: Routes): RouteDiff {
  const oldById = new Map(from.map((r, i) => [r.id, { r, i }]));
  const newById = new Map(to.map((r, i) => [r.id, { r, i }]));
  const removed: PlacedRoute[] = [];
  const changed: ChangedRoute[] = [];
  for (const [id, { r, i }] of oldById) {
    const now = newById.get(id);
    if (!now) removed.push({ index: i, route: r });
    else if (!sameSpec(r, now.r)) changed.push({ id, members: changedMembers(r, now.r), before: r, after: now.r });
  }
  const added: PlacedRoute[] = [];
  for (const [id, { r, i }] of newById) if (!oldById.has(id)) added.push({ index: i, route: r });
  const keptBefore = from.filter((r) => newById.has(r.id)).map((r) => r.id);
  const keptAfter = to.filter((r) => oldById.has(r.id)).map((r) => r.id);
  const reordered = keptBefore.some((id, i) => keptAfter[i] !== id);
  return {
    added, removed, changed,
    ...(reordered ? { order: { before: from.map((r) => r.id), after: to.map((r) => r.id) } } : {}),
  };
}

export function isEmptyDiff(d: RouteDiff): boolean {
  return d.added.length === 0 && d.removed.length === 0 && d.changed.length === 0 && d.order === undefined;
}

/** Rebuilds a list from its kept routes (in order), the routes to insert at their indices, and an
 *  explicit id order when the change reordered. */
function rebuild(kept: Array<Readonly<RouteSpec>>, inserted: PlacedRoute[], order: string[] | undefined): Array<Readonly<RouteSpec>> {
  if (order) {
    const byId = new Map<string, Readonly<RouteSpec>>();
    for (const r of kept) byId.set(r.id, r);
    for (const p of inserted) byId.set(p.route.id, p.route);
    return order.map((id) => {
      const r = byId.get(id);
      if (!r) throw new Error(`route history: route ${JSON.stringify(id)} of a stored order is missing`);
      return r;
    });
  }
  const out = kept.slice();
  for (const p of [...inserted].sort((a, b) => a.index - b.index)) out.splice(Math.min(p.index, out.length), 0, p.route);
  return out;
}

/** `from` with the diff applied: the `to` it was computed against. */
export function applyDiff(from: Routes, d: RouteDiff): Array<Readonly<RouteSpec>> {
  const gone = new Set(d.removed.map((p) => p.route.id));
  const replaced = new Map(d.changed.map((c) => [c.id, c.after]));
  const kept = from.filter((r) => !gone.has(r.id)).map((r) => replaced.get(r.id) ?? r);
  return rebuild(kept, d.added, d.order?.after);
}

/** `to` with the diff undone: the `from` it was computed against. */
export function undoDiff(to: Routes, d: RouteDiff): Array<Readonly<RouteSpec>> {
  const fresh = new Set(d.added.map((p) => p.route.id));
  const replaced = new Map(d.changed.map((c) => [c.id, c.before]));
  const kept = to.filter((r) => !fresh.has(r.id)).map((r) => replaced.get(r.id) ?? r);
  return rebuild(kept, d.removed, d.order?.before);
}
