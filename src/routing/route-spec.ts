// The route as users write it (config file, admin API, --route flag), and its JSON Schema.
// The schema is the single source of truth for validation messages; semantic checks that a
// schema cannot express (URL syntax, duplicate ids) live in route-table.ts.

import type { UpstreamTlsSpec } from '../upstream/upstream-tls.js';
import { policySchema, type PolicySpec } from '../upstream/policy.js';

export interface UpstreamSpec {
  /** `http(s)://host[:port][/base/path]`; the base path is prefixed to every forwarded path. */
  url: string;
  /** Relative share of requests in weighted round robin (default 1). */
  weight?: number;
}

/** The protocol a route speaks to its upstreams. */
export type UpstreamProtocol = 'http/1.1' | 'h2' | 'h2c';

export interface RouteSpec {
  /** Unique id: letters, digits, `.`, `_`, `-`. */
  id: string;
  /** Exact host (`api.example.com`) or wildcard (`*.example.com`: subdomains only). Absent: any host. */
  host?: string;
  /** Path prefix matched on segment boundaries (`/api` matches `/api`, `/api/x`, not `/apix`). */
  pathPrefix: string;
  /** Only these methods match (absent: all). */
  methods?: string[];
  /** Only requests carrying these field values match (name → exact value). */
  headers?: Record<string, string>;
  /** One or more upstream origins, as URLs or weighted objects. */
  upstreams: Array<string | UpstreamSpec>;
  /** Remove the matched prefix before forwarding (default false). */
  stripPrefix?: boolean;
  /** Replace the matched prefix with this one (implies stripping). */
  rewritePrefix?: string;
  /** Send the client's Host upstream (default false: send the upstream's host[:port], as Twisted). */
  preserveHost?: boolean;
  /** Add Via to requests and responses of this route (absent: the global `via`). */
  via?: boolean;
  /** The pseudonym (received-by) in this route's Via (absent: the global `proxyName`). */
  proxyName?: string;
  /** How this route's https:// upstreams are verified and authenticated. */
  upstreamTls?: UpstreamTlsSpec;
  /** What the route speaks to its upstreams: HTTP/1.1 (default), HTTP/2 over TLS with ALPN h2
   *  (https:// upstreams), or HTTP/2 with prior knowledge (h2c, http:// upstreams): docs/http2.md. */
  upstreamProtocol?: UpstreamProtocol;
  /** Traffic policy over the global one, field by field (src/upstream/policy.ts). */
  policy?: PolicySpec;
}

/** A Via received-by pseudonym: a token (RFC 9110 §7.6.3), at most 64 characters. */
export const PROXY_NAME_SCHEMA = { type: 'string', pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$" } as const;

/** Most routes a table may hold: a lookup does not slow down as the table grows (RouteIndex), so
 *  the bound is about memory (about 3 KiB per route) and apply time, not lookup cost. */
export const MAX_ROUTES = 100_000;

export const ROUTE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

export const upstreamSpecSchema = {
  oneOf: [
    { type: 'string', minLength: 8, maxLength: 2048, description: 'http(s)://host[:port][/base]' },
    {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', minLength: 8, maxLength: 2048 },
        weight: { type: 'integer', minimum: 1, maximum: 1000, default: 1 },
      },
    },
  ],
} as const;

export const routeSpecSchema = {
  $id: 'portico:route',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'pathPrefix', 'upstreams'],
  properties: {
    id: { type: 'string', pattern: ROUTE_ID_PATTERN },
    host: { type: 'string', minLength: 1, maxLength: 253, pattern: '^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$' },
    pathPrefix: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^/[\\x21-\\x7e]*$' },
    methods: { type: 'array', minItems: 1, maxItems: 32, uniqueItems: true, items: { type: 'string', pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" } },
    headers: { type: 'object', maxProperties: 16, propertyNames: { pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }, additionalProperties: { type: 'string', maxLength: 1024 } },
    upstreams: { type: 'array', minItems: 1, maxItems: 64, items: upstreamSpecSchema },
    stripPrefix: { type: 'boolean', default: false },
    rewritePrefix: { type: 'string', maxLength: 2048, pattern: '^(/[\\x21-\\x7e]*)?$' },
    preserveHost: { type: 'boolean', default: false },
    via: { type: 'boolean', description: 'add Via on this route (absent: the global via)' },
    proxyName: { ...PROXY_NAME_SCHEMA, description: 'pseudonym in this route\'s Via (absent: the global proxyName)' },
    upstreamTls: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ca: { type: 'string', minLength: 1, maxLength: 4096, description: 'PEM CA bundle file (default: upstream.caFile, else Node\'s CA store)' },
        servername: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$', description: 'SNI and verified name (default: the URL host)' },
        cert: { type: 'string', minLength: 1, maxLength: 4096, description: 'client certificate file (mTLS); needs key' },
        key: { type: 'string', minLength: 1, maxLength: 4096, description: 'client key file (mTLS); needs cert' },
        insecureSkipVerify: { type: 'boolean', default: false, description: 'DANGER: accept any upstream certificate (no verification; logged at start-up)' },
      },
      dependencies: { cert: ['key'], key: ['cert'] },
    },
    upstreamProtocol: { enum: ['http/1.1', 'h2', 'h2c'], description: 'absent: HTTP/1.1 to the upstreams, or HTTP/2: "h2" over TLS (https:// upstreams, ALPN h2), "h2c" with prior knowledge (http:// upstreams); gRPC needs one of these. See docs/http2.md' },
    policy: policySchema,
  },
} as const;
