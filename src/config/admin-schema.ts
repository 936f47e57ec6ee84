// The `admin` setting: where the admin API listens, who may use it (tokens with roles, client
// certificates), whether reads need a credential, TLS, and how failed authentications are slowed.
// Reference: docs/admin-security.md.
//
// `admin` is an object or false. It is written as one schema of type object-or-boolean (not as a
// oneOf of the two) because Ajv fills in defaults only outside oneOf/anyOf: with a oneOf,
// `{ "admin": { "token": "..." } }` came out without its default `listen`.
import { filePath, hostPort, ms, tlsCertificatesProperties } from './schema-parts.js';

/** Shortest admin token accepted (from the file, a token file or PORTICO_ADMIN_TOKEN). */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/** What a credential allows: `read` every GET/HEAD, `admin` everything. */
export type AdminRole = 'admin' | 'read';

export interface AdminTokenConfig {
  /** Recorded with every change it makes (access log, route history); never the token itself. */
  name: string;
  role: AdminRole;
  token?: string;
  /** A file holding the token (read at start-up; surrounding white space ignored). */
  tokenFile?: string;
}

export interface AdminClientCertificatesConfig {
  /** PEM CA bundle client certificates are verified against (watched with the certificates). */
  ca: string;
  /** true: the TLS handshake fails without a valid client certificate. */
  required: boolean;
  /** Verified certificates whose subject CN is listed act with that role, without a token. */
  clients: Array<{ commonName: string; role: AdminRole }>;
}

export interface AdminTlsConfig {
  certificates: Array<{ cert: string; key: string }>;
  handshakeTimeoutMs: number;
  watchFiles: boolean;
  watchIntervalMs: number;
  clientCertificates?: AdminClientCertificatesConfig;
}

export interface FailedAuthConfig {
  /** Failed authentications an address may make before its answers are slowed. */
  burst: number;
  /** One failure of the budget is regained every refillMs. */
  refillMs: number;
  /** Over the budget, a failure is answered (429) after this long. */
  delayMs: number;
}

export interface AdminConfig {
  listen: string;
  /** The token named "admin" (role admin); or env PORTICO_ADMIN_TOKEN. */
  token?: string;
  tokens: AdminTokenConfig[];
  /** GET/HEAD without a credential; absent: true on a loopback listener, false elsewhere. */
  openReads?: boolean;
  /** false: /metrics answers without a credential (Prometheus scrapers often have none). */
  metricsAuth: boolean;
  tls?: AdminTlsConfig;
  failedAuth: FailedAuthConfig;
}

const role = { enum: ['admin', 'read'], description: 'admin: every endpoint; read: GET and HEAD only (a mutation answers 403)' } as const;
const tokenValue = { type: 'string', minLength: MIN_ADMIN_TOKEN_LENGTH, maxLength: 512 } as const;

export const adminConfigSchema = {
  type: ['object', 'boolean'],
  // for messages (describeSchemaError in config.ts): a value of another type, or true
  errorMessage: 'must be false or an object',
  if: { type: 'boolean' },
  then: { const: false, errorMessage: 'must be false or an object' },
  default: {},
  additionalProperties: false,
  description: 'the admin API (docs/admin-security.md); false: none',
  properties: {
    listen: { ...hostPort, default: '127.0.0.1:9090' },
    token: { ...tokenValue, description: 'the token named "admin" (role admin); or env PORTICO_ADMIN_TOKEN' },
    tokens: {
      type: 'array',
      maxItems: 256,
      default: [],
      description: 'more tokens, each with a name (recorded with the changes it makes) and a role',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'role'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$', description: 'recorded in the access log and route history (never the token)' },
          role,
          token: tokenValue,
          tokenFile: filePath('a file holding the token (white space around it is ignored)'),
        },
      },
    },
    openReads: { type: 'boolean', description: 'GET/HEAD without a credential; default: true on a loopback listener, false elsewhere' },
    metricsAuth: { type: 'boolean', default: true, description: 'false: GET /metrics answers without a credential' },
    tls: {
      type: 'object',
      additionalProperties: false,
      required: ['certificates'],
      properties: {
        ...tlsCertificatesProperties,
        clientCertificates: {
          type: 'object',
          additionalProperties: false,
          required: ['ca'],
          description: 'ask clients for a certificate signed by `ca`',
          properties: {
            ca: filePath('PEM CA bundle client certificates are verified against'),
            required: { type: 'boolean', default: false, description: 'true: no connection without a valid client certificate' },
            clients: {
              type: 'array',
              maxItems: 1024,
              default: [],
              description: 'verified certificates with this subject CN act with this role, without a token',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['commonName', 'role'],
                properties: { commonName: { type: 'string', pattern: '^[ -~]{1,64}$' }, role },
              },
            },
          },
        },
      },
    },
    failedAuth: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'per client address: failed authentications beyond the budget are answered late (429)',
      properties: {
        burst: { type: 'integer', minimum: 1, maximum: 10_000, default: 10, description: 'failures at full speed' },
        refillMs: ms(6_000, 'one failure of the budget is regained every refillMs'),
        // at most 5 s: the admin API closes a connection silent for 10 s (admin/api/app.ts)
        delayMs: { type: 'integer', minimum: 0, maximum: 5_000, default: 1_000, description: 'a failure over the budget is answered after this long (at most 5000)' },
      },
    },
  },
} as const;
