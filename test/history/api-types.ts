// The bodies of the route history's answers, as the history tests read them
// (admin/api/history-schemas.ts describes them).
import type { RouteSpec } from '../../src/routing/route-spec.js';

export interface Source { kind: string; token?: string; to?: number; guarded?: number; reason?: string; file?: string; instance?: string }

export interface Summary {
  revision: number; previous: number | null; time: string; source: Source; message?: string; routes: number; hash: string;
  initial?: boolean; added: number; removed: number; changed: number; reordered: boolean;
}

export interface Page { current: number; oldest: number | null; keep: number; revisions: Summary[]; next?: string }

export interface RevisionRoutes { revision: number; previous: number | null; source: Source; message?: string; hash: string; routes: RouteSpec[] }

export interface Placed { index: number; route: RouteSpec }
export interface Changed { id: string; members: string[]; before: RouteSpec; after: RouteSpec }
export interface Diff { from: number; to: number; added: Placed[]; removed: Placed[]; changed: Changed[]; order?: { before: string[]; after: string[] } }

export interface Rollback { revision: number; rolledBackTo: number; applied: boolean; dryRun: boolean; diff: Diff }

export interface RoutesBody { revision: number; routes: RouteSpec[] }

export interface ProblemBody { type: string; title: string; status: number; detail: string; in?: string; pointer?: string; code?: string }

/** The data of a `revision` event of GET /v1/changes. */
export interface ChangeEvent extends Omit<Diff, 'from' | 'to'> { revision: number; previous: number | null; source: Source; message?: string; routes: number; hash: string }

/** The data of a `reset` event. */
export interface ResetEvent { revision: number; hash: string; reason: string; routes: RouteSpec[] }

/** JSON text read as `T` (the tests check what they read). */
export function parseAs<T>(text: string): T {
  return JSON.parse(text) as T;
}

export interface GuardCounts { requests: number; errors: number }

/** A guard as GET /v1/status (`guards`, `recentGuards`) and the feed's `guard` events show it. */
export interface Guard {
  revision: number; routes: string[]; state: string; since: string; until: string; windowMs: number; maxErrorRate: number; minRequests: number;
  before: GuardCounts; after: GuardCounts; byRoute?: Record<string, { before: GuardCounts; after: GuardCounts }>; instances?: number; judge: string; endedAt?: string; by?: number; reason?: string;
}

export interface GuardStatus { revision: number; guards: Guard[]; recentGuards: Guard[] }
