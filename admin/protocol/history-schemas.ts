// JSON Schemas of the route history's resources (GET /v1/revisions..., POST .../rollback, the
// events of GET /v1/changes), registered with the other shared schemas (schemas.ts): they validate
// nothing a client sends, they serialise the answers and name the OpenAPI components. Also what
// every write may carry for the history: the change message header and the guard's query members.

export const MESSAGE_HEADER = 'x-portico-change-message';
/** Longest change message, in characters. */
export const MAX_MESSAGE_CHARS = 1000;

export const GUARD_DEFAULTS = { maxErrorRate: 0.05, minRequests: 20 } as const;
export const MIN_GUARD_MS = 1_000;
export const MAX_GUARD_MS = 3_600_000;

/** The query members of a guarded write (added to every mutation's query schema). */
export const guardQueryProperties = {
  guard: {
    type: 'string', pattern: '^[0-9]{1,7}(ms|s|m|h)?$',
    description: 'watch the routes the change added or changed this long (e.g. 30s, 2m, 1h, 1500ms; a bare number is seconds; 1 s to 1 h) and roll the change back automatically if their failure rate (5xx generated or relayed, retried upstream connect failures) rises more than guardMaxErrorRate above their rate before the change. The answer\'s X-Portico-Guard header says what is watched until when; GET /v1/status shows it in progress',
  },
  guardMaxErrorRate: { type: 'number', minimum: 0, maximum: 1, description: `with guard: how far (0..1) the routes' failure share after the change may exceed their share before it; beyond, the change is rolled back (default ${GUARD_DEFAULTS.maxErrorRate})` },
  guardMinRequests: { type: 'integer', minimum: 1, maximum: 1_000_000, description: `with guard: requests a changed route (or the changed routes together) must have answered since the change before it can be rolled back (default ${GUARD_DEFAULTS.minRequests})` },
} as const;


const revisionNumber = { type: 'integer', minimum: 0 } as const;

export const ChangeSourceSchema = {
  $id: 'ChangeSource',
  title: 'ChangeSource',
  description: 'Where a revision came from.',
  type: 'object',
  required: ['kind'],
  properties: {
    kind: {
      enum: ['admin', 'rollback', 'guard', 'file', 'etcd', 'import'],
      description: 'admin: an admin API write; rollback: POST /v1/revisions/{rev}/rollback; guard: a guarded change rolled back automatically; file: the config file\'s routes as read at start (the first revision, or the file was edited while Portico did not run); etcd: written to etcd by something other than Portico; import: portico store import',
    },
    token: { type: 'string', description: 'admin, rollback: the name of the admin token used (`anonymous` where auth is off)' },
    instance: { type: 'string', description: 'the Portico process that made it (host:pid)' },
    to: { type: 'integer', description: 'rollback: the revision whose routes were restored' },
    guarded: { type: 'integer', description: 'guard: the revision that was undone' },
    reason: { type: 'string', description: 'guard: why (the 5xx rate measured against the limit)' },
    file: { type: 'string', description: 'import: the file imported' },
  },
} as const;

export const GuardRequestSchema = {
  $id: 'GuardRequest',
  title: 'GuardRequest',
  description: 'What a guarded write asked for (?guard=, guardMaxErrorRate, guardMinRequests).',
  type: 'object',
  required: ['windowMs', 'maxErrorRate', 'minRequests'],
  properties: {
    windowMs: { type: 'integer' },
    maxErrorRate: { type: 'number' },
    minRequests: { type: 'integer' },
  },
} as const;

/** Members every revision has (summary, routes, event). */
const revisionMeta = {
  revision: { type: 'integer', description: 'the revision number (ETag / X-Portico-Revision of the routes then)' },
  previous: { type: ['integer', 'null'], description: 'the revision it followed (null: the first the history knows)' },
  time: { type: 'string', format: 'date-time', description: 'when it was applied' },
  source: { $ref: 'ChangeSource#' },
  message: { type: 'string', description: 'X-Portico-Change-Message of the write' },
  routes: { type: 'integer', description: 'routes in the revision' },
  hash: { type: 'string', description: 'digest of the whole route set (SHA-256 of its canonical JSON, base64url, 22 characters)' },
  initial: { type: 'boolean', description: 'the first revision of the history (its diff is its whole route set)' },
  guard: { $ref: 'GuardRequest#' },
} as const;
const metaRequired = ['revision', 'previous', 'time', 'source', 'routes', 'hash'];

export const PlacedRouteSchema = {
  $id: 'PlacedRoute',
  title: 'PlacedRoute',
  type: 'object',
  required: ['index', 'route'],
  properties: {
    index: { type: 'integer', description: 'position in the route list that holds it (added: the newer; removed: the older)' },
    route: { $ref: 'Route#' },
  },
} as const;

export const ChangedRouteSchema = {
  $id: 'ChangedRoute',
  title: 'ChangedRoute',
  type: 'object',
  required: ['id', 'members', 'before', 'after'],
  properties: {
    id: { type: 'string' },
    members: { type: 'array', items: { type: 'string' }, description: 'the route members that differ (added, removed or changed)' },
    before: { $ref: 'Route#' },
    after: { $ref: 'Route#' },
  },
} as const;

/** The members of a diff (RouteDiff, route-diff.ts). */
const diffMembers = {
  added: { type: 'array', items: { $ref: 'PlacedRoute#' } },
  removed: { type: 'array', items: { $ref: 'PlacedRoute#' } },
  changed: { type: 'array', items: { $ref: 'ChangedRoute#' } },
  order: {
    type: 'object',
    required: ['before', 'after'],
    description: 'present when routes kept by the change moved relative to each other (match-tie order): the whole id order before and after',
    properties: { before: { type: 'array', items: { type: 'string' } }, after: { type: 'array', items: { type: 'string' } } },
  },
} as const;

export const RouteDiffSchema = {
  $id: 'RouteDiff',
  title: 'RouteDiff',
  description: 'What changes the routes of revision `from` into those of `to`. Applying it: drop `removed`, replace `changed` by their `after`, then (with `order`: arrange by order.after) insert `added` at their indices in increasing order.',
  type: 'object',
  required: ['from', 'to', 'added', 'removed', 'changed'],
  properties: {
    from: { ...revisionNumber, description: 'the older side (0: no routes)' },
    to: { ...revisionNumber, description: 'the newer side' },
    ...diffMembers,
  },
} as const;

export const RevisionSummarySchema = {
  $id: 'RevisionSummary',
  title: 'RevisionSummary',
  type: 'object',
  required: [...metaRequired, 'added', 'removed', 'changed', 'reordered'],
  properties: {
    ...revisionMeta,
    added: { type: 'integer', description: 'routes added' },
    removed: { type: 'integer', description: 'routes removed' },
    changed: { type: 'integer', description: 'routes changed' },
    reordered: { type: 'boolean', description: 'routes kept by the change moved relative to each other' },
  },
} as const;

export const RevisionPageSchema = {
  $id: 'RevisionPage',
  title: 'RevisionPage',
  description: 'Kept revisions, newest first.',
  type: 'object',
  required: ['current', 'keep', 'revisions'],
  properties: {
    current: { type: 'integer', description: 'the revision that runs' },
    oldest: { type: ['integer', 'null'], description: 'the oldest revision kept' },
    keep: { type: 'integer', description: 'how many revisions are kept (history.keep)' },
    revisions: { type: 'array', items: { $ref: 'RevisionSummary#' } },
    next: { type: 'string', description: 'the next page (also in Link: rel="next"); absent on the last page' },
  },
} as const;

export const RevisionRoutesSchema = {
  $id: 'RevisionRoutes',
  title: 'RevisionRoutes',
  description: 'A kept revision and its whole route set.',
  type: 'object',
  required: metaRequired,
  properties: {
    ...revisionMeta,
    routes: { type: 'array', items: { $ref: 'Route#' }, description: 'the route list of the revision, in order' },
  },
} as const;

export const RollbackSchema = {
  $id: 'Rollback',
  title: 'Rollback',
  type: 'object',
  required: ['revision', 'rolledBackTo', 'applied', 'dryRun', 'diff'],
  properties: {
    revision: { type: 'integer', description: 'the new revision (dry run: the one it would make; nothing to change: the current one)' },
    rolledBackTo: { type: 'integer', description: 'the revision whose routes the new one has' },
    applied: { type: 'boolean', description: 'false for a dry run, or when the routes already equal those of rolledBackTo' },
    dryRun: { type: 'boolean' },
    diff: { $ref: 'RouteDiff#' },
  },
} as const;

/** The data of a `revision` event of GET /v1/changes (not served as JSON: documented in OpenAPI). */
export const ChangeEventSchema = {
  $id: 'ChangeEvent',
  title: 'ChangeEvent',
  description: 'GET /v1/changes, event `revision` (SSE `id:` = revision): one applied revision, its metadata and its diff from `previous`.',
  type: 'object',
  required: [...metaRequired, 'added', 'removed', 'changed'],
  properties: { ...revisionMeta, ...diffMembers },
} as const;

export const ResetEventSchema = {
  $id: 'ResetEvent',
  title: 'ResetEvent',
  description: 'GET /v1/changes, event `reset` (SSE `id:` = revision): the whole current route set. Sent first when no Last-Event-ID is given, when the one given is older than the history keeps (or unknown), and when the history restarted.',
  type: 'object',
  required: ['revision', 'hash', 'routes', 'reason'],
  properties: {
    revision: { type: 'integer' },
    hash: { type: 'string' },
    reason: { enum: ['start', 'behind', 'history-restarted'], description: 'start: no Last-Event-ID; behind: the revision given is not kept (or not known); history-restarted: the history does not continue what was sent' },
    routes: { type: 'array', items: { $ref: 'Route#' } },
  },
} as const;

export const historySchemas = [
  ChangeSourceSchema, GuardRequestSchema, PlacedRouteSchema, ChangedRouteSchema, RouteDiffSchema, RevisionSummarySchema,
  RevisionPageSchema, RevisionRoutesSchema, RollbackSchema, ChangeEventSchema, ResetEventSchema,
];
