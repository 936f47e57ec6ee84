// The resolved configuration: the file's JSON validated against configSchema with every default
// filled in, plus the loader that names the bad field and why.
import { readFileSync, existsSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { configSchema } from './schema.js';
import type { RouteSpec } from '../routing/route-spec.js';
import { ProxyError } from '../errors.js';

export interface AdminConfig { listen: string; token?: string }

export interface Config {
  listen: string;
  admin: AdminConfig | false;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Data-plane processes; 1: one process, no cluster (resolve 'auto' with resolveWorkerCount). */
  workers: number | 'auto';
  proxyName: string;
  limits: {
    maxLineBytes: number; maxHeaderFields: number; maxHeadBytes: number; maxChunkSizeLineBytes: number;
    maxTrailerBytes: number; maxBodyBytes: number | null; pipelineBufferBytes: number; maxConnections: number;
  };
  timeouts: {
    idleMs: number; headMs: number; bodyIdleMs: number; abortMs: number; upstreamConnectMs: number;
    upstreamHeadMs: number; upstreamIdleMs: number; tunnelIdleMs: number; shutdownMs: number;
    workerAckMs: number;
  };
  upstream: {
    maxSockets: number; maxIdleSockets: number; idleSocketMs: number; maxRequestsPerSocket: number;
    maxFails: number; ejectMs: number;
  };
  forwarding: { xForwarded: boolean; forwarded: boolean; trustedProxies: string[] };
  notFoundStatus: 404 | 421 | 502 | 503;
  routes: RouteSpec[];
  forwardProxy: {
    enabled: boolean; listen?: string; allowClients: string[]; connectPorts: number[]; httpPorts: number[];
    allowDestinations: string[]; denyDestinations: string[]; denyHosts: string[];
    auth?: { realm: string; users: Record<string, string> };
  };
  demoOrigin?: { listen?: string };
}

const ajv = new Ajv({ allErrors: false, useDefaults: true, strict: false });
const validate = ajv.compile(configSchema);

/** "/limits/maxLineBytes: must be <= 32768" style message for the first schema error. */
export function describeSchemaError(e: ErrorObject): string {
  let where = e.instancePath || '/';
  if (e.keyword === 'additionalProperties') where += `/${(e.params as { additionalProperty: string }).additionalProperty}`;
  if (e.keyword === 'required') where += `/${(e.params as { missingProperty: string }).missingProperty}`;
  const what = e.keyword === 'additionalProperties' ? 'is not a known setting'
    : e.keyword === 'required' ? 'is required'
    : e.keyword === 'enum' ? `must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`
    : e.message ?? 'is invalid';
  return `${where} ${what}`;
}

/** Validates raw JSON (mutated: defaults are filled in) and returns it as a Config. */
export function resolveConfig(raw: unknown): Config {
  const value = raw ?? {};
  if (!validate(value)) {
    const e = validate.errors![0];
    throw new ProxyError('PRX_ERR_BAD_CONFIG', describeSchemaError(e), e.instancePath || '/');
  }
  return value as unknown as Config;
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
    raw = JSON.parse(text);
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

/** Splits HOST:PORT ([v6]:PORT allowed). */
export function parseHostPort(s: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ProxyError('PRX_ERR_BAD_CONFIG', `${what}: ${JSON.stringify(s)} is not HOST:PORT`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
