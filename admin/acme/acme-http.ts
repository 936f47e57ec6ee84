// How acme-client talks to the CA. acme-client sends every request through one axios instance
// of its own (acme.axios, shared by the process), so its behaviour is set here, once:
//   - no retries inside a call: acme-client would sleep through a rate limit's Retry-After (hours,
//     at Let's Encrypt) inside the request, with the name's lock held; the manager schedules the
//     next attempt itself (./renewal.ts) and shows it in GET /v1/tls;
//   - a rate-limit answer (HTTP 429 or urn:ietf:params:acme:error:rateLimited, RFC 8555 §6.6)
//     becomes an AcmeCaError with its Retry-After (seconds or an HTTP date, RFC 9110 §10.2.3);
//     an unknown account (accountDoesNotExist: a CA that forgot it, e.g. a restarted test CA)
//     becomes one too, so the account can be registered again with the same key;
//   - a network failure becomes an error that says which request failed and why (acme-client's
//     own interceptor would turn it into "Cannot read properties of undefined");
//   - every request has a deadline (30 s), a User-Agent naming Portico (RFC 8555 §6.1), and, for
//     the origin of a directory configured with `acme.caFile`, an agent that trusts that CA.
import { createRequire } from 'node:module';
import https from 'node:https';
import type { AxiosAdapter, AxiosError, InternalAxiosRequestConfig } from 'axios';
import * as acme from 'acme-client';
import { packageVersion } from '../../src/package-root.js';

export const REQUEST_TIMEOUT_MS = 30_000;

const RATE_LIMITED = 'urn:ietf:params:acme:error:rateLimited';
const ACCOUNT_DOES_NOT_EXIST = 'urn:ietf:params:acme:error:accountDoesNotExist';

/** An answer of the CA that the manager acts on (rate limit, unknown account). */
export class AcmeCaError extends Error {
  readonly type: string;
  readonly status: number;
  /** When the CA said to come back (epoch ms), if it did. */
  readonly retryAt: number | undefined;

  constructor(type: string, status: number, detail: string, retryAt: number | undefined) {
    super(detail);
    this.name = 'AcmeCaError';
    this.type = type;
    this.status = status;
    this.retryAt = retryAt;
  }

  get rateLimited(): boolean {
    return this.type === RATE_LIMITED || this.status === 429;
  }

  get accountDoesNotExist(): boolean {
    return this.type === ACCOUNT_DOES_NOT_EXIST;
  }
}

/** The CA could not be reached (or did not answer in time). */
export class AcmeUnreachableError extends Error {
  override name = 'AcmeUnreachableError';
}

/** Retry-After as seconds or an HTTP date; epoch ms, or undefined. */
export function retryAfterTime(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const text = value.trim();
  if (/^[0-9]+$/.test(text)) return now + Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(now, date);
}

const trusted = new Map<string, https.Agent>();
let installed = false;

/** Trusts `caPem` (in place of Node's CA store) for requests to the origin of `directoryUrl`. */
export function trustForDirectory(directoryUrl: string, caPem: string | undefined): void {
  const origin = new URL(directoryUrl).origin;
  if (caPem === undefined) trusted.delete(origin);
  else trusted.set(origin, new https.Agent({ ca: caPem, keepAlive: true }));
}

/** The problem document (RFC 7807) of an answer. Inside the adapter the body is still the raw
 *  text: axios parses it only afterwards (transformResponse). */
function problemOf(e: AxiosError): { type: string; detail: string } {
  let data = e.response?.data as { type?: unknown; detail?: unknown } | string | Buffer | undefined;
  if (typeof data === 'string' || Buffer.isBuffer(data)) {
    try {
      data = JSON.parse(data.toString()) as { type?: unknown; detail?: unknown };
    } catch {
      data = undefined;
    }
  }
  if (typeof data !== 'object' || data === null || Buffer.isBuffer(data)) data = undefined;
  return {
    type: typeof data?.type === 'string' ? data.type : '',
    detail: typeof data?.detail === 'string' ? data.detail : `HTTP ${e.response?.status}`,
  };
}

/** Installs the behaviour above on acme-client's axios instance (idempotent). */
export function installAcmeHttp(): void {
  if (installed) return;
  installed = true;
  // acme-client's own axios (a dependency of it, not of Portico)
  const axios = createRequire(createRequire(import.meta.url).resolve('acme-client'))('axios') as typeof import('axios').default;
  const http = axios.getAdapter('http');
  const instance = acme.axios as unknown as { defaults: { adapter: unknown; acmeSettings: { retryMaxAttempts: number } } };
  instance.defaults.acmeSettings.retryMaxAttempts = 0;
  const userAgent = `portico/${packageVersion() ?? '0'} acme-client/5`;
  const adapter: AxiosAdapter = async (config: InternalAxiosRequestConfig) => {
    const url = config.url ?? '';
    let origin = '';
    try { origin = new URL(url).origin; } catch { /* acme-client only asks for absolute URLs */ }
    const agent = trusted.get(origin);
    if (agent) config.httpsAgent = agent;
    if (!config.timeout) config.timeout = REQUEST_TIMEOUT_MS;
    config.headers.set('User-Agent', userAgent);
    try {
      return await http(config);
    } catch (e) {
      const err = e as AxiosError;
      // acme-client makes axios treat every answer as an error and sorts them out in its own
      // interceptor: answers pass through, except the two the manager acts on. These errors
      // carry no `config`, so acme-client's interceptor passes them on unchanged.
      if (err.response) {
        const { type, detail } = problemOf(err);
        if (err.response.status === 429 || type === RATE_LIMITED || type === ACCOUNT_DOES_NOT_EXIST) {
          throw new AcmeCaError(type, err.response.status, `${detail} (${config.method?.toUpperCase()} ${url})`, retryAfterTime(err.response.headers['retry-after']));
        }
        throw err;
      }
      throw new AcmeUnreachableError(`the ACME server did not answer ${config.method?.toUpperCase()} ${url}: ${err.code ?? err.message}`);
    }
  };
  instance.defaults.adapter = adapter;
}
