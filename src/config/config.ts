// The resolved configuration: the file's JSON validated against configSchema with every default
// filled in, plus the loader that names the bad field and why.
import { readFileSync, existsSync } from 'node:fs';
import type { ErrorObject } from 'ajv';
import type { RouteSpec } from '../routing/route-spec.js';
import { builtInPolicy, mergePolicy, type Policy, type PolicySpec } from '../upstream/policy.js';
import { createRequire } from 'node:module';
import { ProxyError } from '../errors.js';
import { parseJsonText } from './json-text.js';
import type { StoreConfig } from './store-schema.js';
import type { AdminConfig } from './admin-schema.js';
import type { AcmeConfig } from './acme-schema.js';
// configSchema compiled ahead of time (generate-validator.ts): no Ajv compile at start-up
import validateGenerated from './config-validator.generated.js';

export type { AdminConfig } from './admin-schema.js';

export interface TlsListenerConfig {
  /** Absent only with `acme`. */
  certificates?: Array<{ cert: string; key: string }>;
  handshakeTimeoutMs: number;
  watchFiles: boolean;
  watchIntervalMs: number;
  /** Certificates from the ACME CA of the top-level `acme` setting. */
  acme: boolean;
  acmeNames: string[];
}

/** A protocol a listener speaks: by ALPN on TLS ("h2", "http/1.1"); on a plain listener
 *  "http/1.1" and, opted in, "h2c" with prior knowledge. */
export type ListenerProtocol = 'h2' | 'http/1.1' | 'h2c';

export interface ListenerConfig {
  id?: string;
  listen: string;
  tls?: TlsListenerConfig;
  /** What the listener speaks (default: TLS ["h2", "http/1.1"], plain ["http/1.1"]). */
  protocols?: ListenerProtocol[];
  redirectToHttps?: { port: number };
}

export interface Config {
  listen: string | false;
  listeners: ListenerConfig[];
  admin: AdminConfig | false;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Data-plane processes; 1: one process, no cluster (resolve 'auto' with resolveWorkerCount). */
  workers: number | 'auto';
  proxyName: string;
  via: boolean;
  limits: {
    maxLineBytes: number; maxHeaderFields: number; maxHeadBytes: number; maxChunkSizeLineBytes: number;
    maxTrailerBytes: number; maxBodyBytes: number | null; pipelineBufferBytes: number; maxConnections: number;
  };
  timeouts: {
    idleMs: number; headMs: number; bodyIdleMs: number; abortMs: number; upstreamConnectMs: number;
    upstreamHeadMs: number; upstreamIdleMs: number; tunnelIdleMs: number; shutdownMs: number;
    workerAckMs: number;
  };
  http2: { maxConcurrentStreams: number; sendStallMs: number };
  upstream: {
    maxSockets: number; maxIdleSockets: number; idleSocketMs: number; maxRequestsPerSocket: number;
    maxFails: number; ejectMs: number; caFile?: string;
  };
  forwarding: { xForwarded: boolean; forwarded: boolean; trustedProxies: string[] };
  /** The global traffic policy (src/upstream/policy.ts): routes' own policies are laid over it. */
  policy: PolicySpec;
  notFoundStatus: 404 | 421 | 502 | 503;
  clientHalfClose: 'abort' | 'finish';
  routes: RouteSpec[];
  /** Automatic HTTPS (listeners with tls.acme); absent: none. */
  acme?: AcmeConfig;
  /** TLS session tickets on every TLS listener (src/tls/ticket-keys.ts). */
  sessionTickets: { enabled: boolean; keyRotationMs: number };
  /** Where the routes live: the config file (default) or etcd (see store-config.ts). */
  store: StoreConfig;
  /** The route history: revisions kept, and the change feed's heartbeat and follower bound. */
  history: { keep: number; heartbeatMs: number; maxSubscribers: number };
  forwardProxy: {
    enabled: boolean; listen?: string; allowClients: string[]; connectPorts: number[]; httpPorts: number[];
    allowDestinations: string[]; denyDestinations: string[]; denyHosts: string[];
    originateTls: boolean; httpsPorts: number[];
    auth?: { realm: string; users: Record<string, string> };
  };
  demoOrigin?: { listen?: string };
}

/** Ajv's validate function: true or false, the errors of the last call in `errors`. */
const validate = validateGenerated as { (data: unknown): boolean; errors?: ErrorObject[] | null };

const requireHere = createRequire(import.meta.url);

/** The known key closest to a misspelt one, if it is close enough to be what was meant. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const exact = known.find((k) => k.toLowerCase() === key.toLowerCase());
  if (exact) return exact;
  // loaded only for a misspelt key: a valid configuration (every start) does not need it
  const { closest, distance } = requireHere('fastest-levenshtein') as typeof import('fastest-levenshtein');
  const best = closest(key, [...known]);
  return best !== undefined && distance(key, best) <= Math.max(2, Math.floor(key.length / 4)) ? best : undefined;
}

function describeAlternatives(branches: unknown): string {
  if (!Array.isArray(branches)) return 'is invalid';
  const what = branches.map((b: Record<string, unknown>) => ('const' in b ? JSON.stringify(b.const) : b.type === 'object' ? 'an object' : (typeof b.type === 'string' ? b.type : 'a value')));
  return `must be ${what.join(' or ')}`;
}

/** "/limits/maxLineBytes must be <= 32768" style message for a schema error. */
export function describeSchemaError(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  // a schema may word its own type error (admin: "must be false or an object")
  const own = (e.parentSchema as { errorMessage?: string } | undefined)?.errorMessage;
  if (own && (e.keyword === 'type' || e.keyword === 'const')) return `${e.instancePath || '/'} ${own}`;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const guess = closestKey(key, known);
      return `${e.instancePath}/${key} is not a known setting${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : known.length ? ` (known here: ${known.join(', ')})` : ''}`;
    }
    case 'required': return `${e.instancePath}/${String(p.missingProperty)} is required`;
    case 'enum': return `${e.instancePath || '/'} must be one of ${JSON.stringify(p.allowedValues)}`;
    case 'minLength': return `${e.instancePath || '/'} is too short (at least ${String(p.limit)} characters)`;
    case 'maxLength': return `${e.instancePath || '/'} is too long (at most ${String(p.limit)} characters)`;
    case 'oneOf': case 'const': return `${e.instancePath || '/'} ${describeAlternatives(e.keyword === 'oneOf' ? e.schema : undefined)}`;
    default: return `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`;
  }
}

/** The error to show: the deepest one (inside a oneOf, the branch that got furthest names the
 *  actual problem, e.g. /admin/token rather than "/admin must be equal to constant"). */
function mostSpecific(errors: ErrorObject[]): ErrorObject {
  const depth = (e: ErrorObject) => (e.instancePath.match(/\//g) ?? []).length;
  const deepest = Math.max(...errors.map(depth));
  const candidates = errors.filter((e) => depth(e) === deepest);
  // a branch of the right type failed on a detail (minLength...): that detail; else, when the
  // value matched no branch's type, say what the alternatives are
  return candidates.find((e) => !['type', 'const', 'oneOf'].includes(e.keyword))
    ?? candidates.find((e) => e.keyword === 'oneOf') ?? candidates[0];
}

/** Validates raw JSON (mutated: defaults are filled in) and returns it as a Config. */
export function resolveConfig(raw: unknown): Config {
  const value = raw ?? {};
  if (!validate(value)) {
    const e = mostSpecific(validate.errors!);
    throw new ProxyError('PRX_ERR_BAD_CONFIG', describeSchemaError(e), e.instancePath || '/');
  }
  const config = value as unknown as Config;
  // Ajv fills no defaults inside a oneOf branch: the etcd store's (parseStoreUrl sets it for --store)
  if (config.store.type === 'etcd') config.store.timeoutMs ??= 2000;
  return config;
}

/** Reads and validates a config file. A missing file gives the defaults when `allowMissing`. */
export function loadConfigFile(path: string, allowMissing: boolean): Config {
  if (!existsSync(path)) {
    if (allowMissing) return resolveConfig({});
    throw new ProxyError('PRX_ERR_CONFIG_FILE', `config file ${path} does not exist`);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ProxyError('PRX_ERR_CONFIG_FILE', `cannot read ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseJsonText(text);
  } catch (e) {
    throw new ProxyError('PRX_ERR_BAD_CONFIG', `${path} is not valid JSON: ${(e as Error).message}`);
  }
  try {
    return resolveConfig(raw);
  } catch (e) {
    if (e instanceof ProxyError) throw new ProxyError(e.code, `${path}: ${e.message}`, e.path);
    throw e;
  }
}

/** Splits HOST:PORT ([v6]:PORT allowed; port 0: any free port). */
export function parseHostPort(s: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d+)$/.exec(s);
  if (!m) throw new ProxyError('PRX_ERR_BAD_CONFIG', `${what}: ${JSON.stringify(s)} is not HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)`);
  const port = Number(m[3]);
  if (m[3].length > 5 || port > 65535) throw new ProxyError('PRX_ERR_BAD_CONFIG', `${what}: port ${m[3]} in ${JSON.stringify(s)} is out of range (0-65535)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** The global traffic policy: the configuration's `policy` over the built-in one, whose defaults
 *  for timeouts and outlier ejection are the older settings (timeouts.upstream*, upstream.maxFails
 *  and ejectMs). */
export function globalPolicy(config: Config): Policy {
  const t = config.timeouts;
  const u = config.upstream;
  return mergePolicy(builtInPolicy({ upstreamConnectMs: t.upstreamConnectMs, upstreamHeadMs: t.upstreamHeadMs, upstreamIdleMs: t.upstreamIdleMs, maxFails: u.maxFails, ejectMs: u.ejectMs }), config.policy);
}
