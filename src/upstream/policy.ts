// Traffic policy: how a route treats its upstreams (timeouts, retries, active health checks,
// outlier ejection, limits, load balancing). One shape, written globally (`policy` in the
// configuration) and per route (`policy` in a route), merged field by field: a route's value wins,
// else the global one, else the built-in default. A few built-in defaults come from the older
// settings they replace, so configurations written before policy existed keep their meaning:
// timeouts.upstreamConnectMs / upstreamHeadMs / upstreamIdleMs and upstream.maxFails / ejectMs.
//
// Defaults, and why:
// - retries on for the two cases where a retry cannot do harm (nginx's `proxy_next_upstream error
//   timeout` is on by default for the same reason): a connection that could not be made (nothing
//   was sent), and an idempotent request (RFC 9110 §9.2.2) whose connection closed or timed out
//   before any response byte. 3 tries in all, at most 20% of a route's requests over 10 s (plus
//   a floor of 3 a second), bodies up to 64 KiB kept for replay (Envoy's budget and buffer limit).
// - outlier ejection after upstream.maxFails (3) consecutive failures, for upstream.ejectMs (10 s)
//   doubling per repeated ejection up to 5 minutes, never more than half of a route's upstreams
//   (Envoy's 10% would never eject one of two).
// - no active health checks until a path is given; no concurrency limit; round robin.

/** A policy as written (every member and field optional). */
export interface PolicySpec {
  timeouts?: {
    connectMs?: number;
    responseHeadMs?: number;
    idleMs?: number;
    requestMs?: number | null;
  };
  retries?: {
    maxTries?: number;
    perTryTimeoutMs?: number | null;
    onStatus?: number[];
    idempotencyKey?: boolean;
    maxBodyBytes?: number;
    budgetPercent?: number;
    budgetMinPerSecond?: number;
  };
  healthCheck?: {
    path?: string | null;
    intervalMs?: number;
    timeoutMs?: number;
    healthyThreshold?: number;
    unhealthyThreshold?: number;
    expectedStatuses?: number[];
    host?: string;
  };
  outlier?: {
    consecutiveFailures?: number;
    on5xx?: boolean;
    baseEjectionMs?: number;
    maxEjectionMs?: number;
    maxEjectionPercent?: number;
  };
  limits?: {
    maxConcurrentPerUpstream?: number | null;
    maxQueue?: number;
    queueTimeoutMs?: number;
  };
  loadBalancing?: {
    algorithm?: LoadBalancing;
    hashOn?: HashOn;
    slowStartMs?: number;
  };
}

export type LoadBalancing = 'round-robin' | 'least-request' | 'consistent-hash';
export type HashOn = { header: string } | { cookie: string } | { clientAddress: true };

/** A policy with every field resolved. */
export interface Policy {
  readonly timeouts: { readonly connectMs: number; readonly responseHeadMs: number; readonly idleMs: number; readonly requestMs: number | null };
  readonly retries: {
    readonly maxTries: number; readonly perTryTimeoutMs: number | null; readonly onStatus: readonly number[];
    readonly idempotencyKey: boolean; readonly maxBodyBytes: number; readonly budgetPercent: number; readonly budgetMinPerSecond: number;
  };
  readonly healthCheck: {
    readonly path: string | null; readonly intervalMs: number; readonly timeoutMs: number; readonly healthyThreshold: number;
    readonly unhealthyThreshold: number; readonly expectedStatuses: readonly number[]; readonly host: string | undefined;
  };
  readonly outlier: {
    readonly consecutiveFailures: number; readonly on5xx: boolean; readonly baseEjectionMs: number;
    readonly maxEjectionMs: number; readonly maxEjectionPercent: number;
  };
  readonly limits: { readonly maxConcurrentPerUpstream: number | null; readonly maxQueue: number; readonly queueTimeoutMs: number };
  readonly loadBalancing: { readonly algorithm: LoadBalancing; readonly hashOn: HashOn | undefined; readonly slowStartMs: number };
}

/** The older settings whose values are the built-in defaults of policy fields. */
export interface LegacyDefaults {
  upstreamConnectMs: number;
  upstreamHeadMs: number;
  upstreamIdleMs: number;
  maxFails: number;
  ejectMs: number;
}

const LEGACY: LegacyDefaults = { upstreamConnectMs: 10_000, upstreamHeadMs: 60_000, upstreamIdleMs: 60_000, maxFails: 3, ejectMs: 10_000 };

/** The built-in policy, given the older settings. */
export function builtInPolicy(legacy: LegacyDefaults = LEGACY): Policy {
  return {
    timeouts: { connectMs: legacy.upstreamConnectMs, responseHeadMs: legacy.upstreamHeadMs, idleMs: legacy.upstreamIdleMs, requestMs: null },
    retries: { maxTries: 3, perTryTimeoutMs: null, onStatus: [], idempotencyKey: false, maxBodyBytes: 64 * 1024, budgetPercent: 20, budgetMinPerSecond: 3 },
    healthCheck: { path: null, intervalMs: 5_000, timeoutMs: 2_000, healthyThreshold: 2, unhealthyThreshold: 3, expectedStatuses: [], host: undefined },
    outlier: { consecutiveFailures: legacy.maxFails, on5xx: false, baseEjectionMs: legacy.ejectMs, maxEjectionMs: 300_000, maxEjectionPercent: 50 },
    limits: { maxConcurrentPerUpstream: null, maxQueue: 1000, queueTimeoutMs: 5_000 },
    loadBalancing: { algorithm: 'round-robin', hashOn: undefined, slowStartMs: 0 },
  };
}

type Member = keyof Policy;
const MEMBERS: readonly Member[] = ['timeouts', 'retries', 'healthCheck', 'outlier', 'limits', 'loadBalancing'];

/** `base` with `spec`'s fields laid over it, member by member and field by field. The result
 *  is frozen; it is `base` itself when `spec` changes nothing (most routes). */
export function mergePolicy(base: Policy, spec: PolicySpec | undefined): Policy {
  if (spec === undefined) return base;
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const m of MEMBERS) {
    const over = spec[m] as Record<string, unknown> | undefined;
    const from = base[m] as unknown as Record<string, unknown>;
    if (over === undefined || Object.keys(over).length === 0) {
      out[m] = from;
      continue;
    }
    changed = true;
    out[m] = Object.freeze({ ...from, ...Object.fromEntries(Object.entries(over).filter(([, v]) => v !== undefined)) });
  }
  return changed ? Object.freeze(out) as unknown as Policy : base;
}

/** Whether a status is what the health check expects: the listed ones, else any 2xx or 3xx. */
export function expectedStatus(policy: Policy['healthCheck'], status: number): boolean {
  return policy.expectedStatuses.length > 0 ? policy.expectedStatuses.includes(status) : status >= 200 && status < 400;
}

const ms = (description: string) => ({ type: 'integer', minimum: 1, maximum: 86_400_000, description }) as const;
const token = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

/** The JSON Schema of a policy (global `policy` and a route's `policy`): no defaults here, they
 *  are resolved in code (mergePolicy over builtInPolicy), so a route names only what differs. */
export const policySchema = {
  type: 'object',
  additionalProperties: false,
  description: 'traffic policy (docs/traffic-policy.md); a route\'s policy overrides the global one field by field',
  properties: {
    timeouts: {
      type: 'object',
      additionalProperties: false,
      properties: {
        connectMs: ms('connect to an upstream (default: timeouts.upstreamConnectMs)'),
        responseHeadMs: ms('request sent -> response head (default: timeouts.upstreamHeadMs)'),
        idleMs: ms('silence between reads of a response body (default: timeouts.upstreamIdleMs)'),
        requestMs: { anyOf: [ms('whole request, head received -> response complete'), { type: 'null' }], description: 'whole-request deadline (504 before the response head; cut short after); null: none (default)' },
      },
    },
    retries: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxTries: { type: 'integer', minimum: 1, maximum: 10, description: 'tries in all, the first included (default 3; 1: no retries)' },
        perTryTimeoutMs: { anyOf: [ms('response head deadline of each try'), { type: 'null' }], description: 'default null: timeouts.responseHeadMs' },
        onStatus: { type: 'array', maxItems: 32, uniqueItems: true, items: { type: 'integer', minimum: 400, maximum: 599 }, description: 'response statuses retried on another upstream, idempotent requests only (default none)' },
        idempotencyKey: { type: 'boolean', description: 'also retry requests of any method that carry Idempotency-Key (default false)' },
        maxBodyBytes: { type: 'integer', minimum: 0, maximum: 16 * 1024 * 1024, description: 'request body kept for replay (default 65536); a larger body is not retried once sent' },
        budgetPercent: { type: 'integer', minimum: 0, maximum: 100, description: 'retries at most this share of the route\'s requests over 10 s (default 20)' },
        budgetMinPerSecond: { type: 'integer', minimum: 0, maximum: 10000, description: 'retries always allowed per second on top of the budget (default 3)' },
      },
    },
    healthCheck: {
      type: 'object',
      additionalProperties: false,
      properties: {
        path: { anyOf: [{ type: 'string', minLength: 1, maxLength: 2048, pattern: '^/[\\x21-\\x7e]*$' }, { type: 'null' }], description: 'probe path (GET); null: no active checks (default)' },
        intervalMs: ms('between probes of one upstream (default 5000)'),
        timeoutMs: ms('a probe without a response head by then fails (default 2000)'),
        healthyThreshold: { type: 'integer', minimum: 1, maximum: 100, description: 'consecutive passes that make an upstream healthy (default 2)' },
        unhealthyThreshold: { type: 'integer', minimum: 1, maximum: 100, description: 'consecutive failures that make it unhealthy (default 3)' },
        expectedStatuses: { type: 'array', maxItems: 64, uniqueItems: true, items: { type: 'integer', minimum: 100, maximum: 599 }, description: 'statuses that pass (default: any 2xx or 3xx)' },
        host: { type: 'string', minLength: 1, maxLength: 253, description: 'Host of the probe (default: the upstream\'s host:port)' },
      },
    },
    outlier: {
      type: 'object',
      additionalProperties: false,
      properties: {
        consecutiveFailures: { type: 'integer', minimum: 1, maximum: 1000, description: 'consecutive failures that eject an upstream (default: upstream.maxFails)' },
        on5xx: { type: 'boolean', description: 'count 5xx responses as failures (default false: connect errors, resets and timeouts only)' },
        baseEjectionMs: ms('first ejection; doubles on each repeat (default: upstream.ejectMs)'),
        maxEjectionMs: ms('longest ejection (default 300000)'),
        maxEjectionPercent: { type: 'integer', minimum: 0, maximum: 100, description: 'never eject more than this share of a route\'s upstreams (default 50)' },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxConcurrentPerUpstream: { anyOf: [{ type: 'integer', minimum: 1, maximum: 1_000_000 }, { type: 'null' }], description: 'requests in progress per upstream; null: no limit (default)' },
        maxQueue: { type: 'integer', minimum: 0, maximum: 1_000_000, description: 'requests waiting for a free upstream, per route (default 1000); beyond: 503' },
        queueTimeoutMs: ms('a queued request waits at most this long, then 503 (default 5000)'),
      },
    },
    loadBalancing: {
      type: 'object',
      additionalProperties: false,
      properties: {
        algorithm: { enum: ['round-robin', 'least-request', 'consistent-hash'], description: 'weighted round robin (default), least outstanding requests (two random choices), or consistent hashing on hashOn' },
        hashOn: {
          oneOf: [
            { type: 'object', additionalProperties: false, required: ['header'], properties: { header: { type: 'string', pattern: token, maxLength: 256 } } },
            { type: 'object', additionalProperties: false, required: ['cookie'], properties: { cookie: { type: 'string', pattern: token, maxLength: 256 } } },
            { type: 'object', additionalProperties: false, required: ['clientAddress'], properties: { clientAddress: { const: true } } },
          ],
          description: 'consistent-hash key: a header, a cookie or the client address',
        },
        slowStartMs: { type: 'integer', minimum: 0, maximum: 3_600_000, description: 'a returning or newly added upstream ramps to its full weight over this (default 0: at once)' },
      },
    },
  },
} as const;
