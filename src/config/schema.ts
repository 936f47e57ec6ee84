// JSON Schema of the configuration file. Ajv validates it at start-up (`portico --check`), the
// admin API validates `PUT /v1/config` bodies with it, and docs/configuration.md is written from
// it. Every property has a default so a file may hold only what differs.
import { MAX_ROUTES, routeSpecSchema, PROXY_NAME_SCHEMA } from '../routing/route-spec.js';
import { policySchema } from '../upstream/policy.js';
import { storeConfigSchema } from './store-schema.js';
import { adminConfigSchema } from './admin-schema.js';
import { acmeConfigSchema } from './acme-schema.js';
import { filePath, hostPort, ms, tlsCertificatesProperties } from './schema-parts.js';

export { certificateList, filePath } from './schema-parts.js';
export { MIN_ADMIN_TOKEN_LENGTH } from './admin-schema.js';

const cidrList = { type: 'array', maxItems: 256, items: { type: 'string', minLength: 2, maxLength: 64 } } as const;

export const configSchema = {
  $id: 'portico:config',
  type: 'object',
  additionalProperties: false,
  properties: {
    listen: { anyOf: [hostPort, { const: false }], default: '127.0.0.1:8080', description: 'the main plain-HTTP listener; false: none (only `listeners`)' },
    listeners: {
      type: 'array',
      maxItems: 64,
      default: [],
      description: 'more listeners, each plain or TLS',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['listen'],
        properties: {
          id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'name in the admin API (default tls-N / http-N)' },
          listen: hostPort,
          tls: {
            type: 'object',
            additionalProperties: false,
            properties: {
              ...tlsCertificatesProperties,
              acme: { type: 'boolean', default: false, description: 'obtain and renew certificates from the ACME CA of the top-level `acme` setting for every route host that is an exact DNS name (and acmeNames); `certificates` become optional and keep priority for the names they cover' },
              acmeNames: { type: 'array', maxItems: 1000, uniqueItems: true, default: [], items: { type: 'string', minLength: 1, maxLength: 253 }, description: 'more names to obtain certificates for (with acme: true)' },
            },
          },
          protocols: {
            type: 'array',
            minItems: 1,
            maxItems: 3,
            uniqueItems: true,
            items: { enum: ['h2', 'http/1.1', 'h2c'] },
            description: 'what the listener speaks, in the server\'s order of preference: TLS listeners offer "h2" and "http/1.1" by ALPN (default both); a plain listener speaks "http/1.1" (default) and, when listed, "h2c" (HTTP/2 with prior knowledge: the connection preface decides). See docs/http2.md',
          },
          redirectToHttps: {
            type: 'object',
            additionalProperties: false,
            description: 'plain listener only: answer every request with 308 to https://host[:port]/same-target',
            properties: { port: { type: 'integer', minimum: 1, maximum: 65535, default: 443 } },
          },
        },
      },
    },
    admin: adminConfigSchema,
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    workers: {
      oneOf: [{ type: 'integer', minimum: 1, maximum: 256 }, { const: 'auto' }],
      default: 1,
      description: 'data-plane processes: 1 = one process (no cluster); N or "auto" (available parallelism) = a primary (admin API, config, supervision) and N workers sharing the listeners',
    },
    proxyName: { ...PROXY_NAME_SCHEMA, default: 'portico', description: 'pseudonym (received-by) in Via' },
    via: {
      type: 'boolean',
      default: true,
      description: 'add Via (RFC 9110 §7.6.3) to forwarded requests and relayed responses; routes may override. Off only for origins that treat Via specially, e.g. nginx, whose default gzip_proxied off stops compressing any request carrying Via',
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxLineBytes: { type: 'integer', minimum: 64, maximum: 32768, default: 16384 },
        maxHeaderFields: { type: 'integer', minimum: 1, maximum: 2048, default: 500 },
        maxHeadBytes: { type: 'integer', minimum: 64, maximum: 49152, default: 16384 },
        maxChunkSizeLineBytes: { type: 'integer', minimum: 16, maximum: 65536, default: 1024 },
        maxTrailerBytes: { type: 'integer', minimum: 0, maximum: 1048576, default: 65536 },
        maxBodyBytes: { type: ['integer', 'null'], minimum: 0, default: null, description: 'request body limit (413); null: none' },
        pipelineBufferBytes: { type: 'integer', minimum: 1024, maximum: 16777216, default: 16384 },
        maxConnections: { type: 'integer', minimum: 1, maximum: 1000000, default: 50000 },
      },
    },
    timeouts: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        idleMs: ms(60_000, 'client connection idle (no request in progress)'),
        headMs: ms(15_000, 'whole request head must arrive within this (slowloris)'),
        bodyIdleMs: ms(60_000, 'silence while a request body is arriving'),
        abortMs: ms(15_000, 'hard close after a graceful close that did not finish'),
        upstreamConnectMs: ms(10_000, 'TCP connect to an upstream (includes DNS)'),
        upstreamHeadMs: ms(60_000, 'request fully sent -> response head received'),
        upstreamIdleMs: ms(60_000, 'silence while a response body is arriving'),
        tunnelIdleMs: ms(300_000, 'silence on an upgraded (101) or CONNECT tunnel'),
        shutdownMs: ms(10_000, 'graceful shutdown deadline'),
        workerAckMs: ms(5_000, 'with workers: a worker that has not applied a route change by then is restarted'),
      },
    },
    http2: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'HTTP/2 client connections (docs/http2.md)',
      properties: {
        maxConcurrentStreams: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'SETTINGS_MAX_CONCURRENT_STREAMS: streams a client may have open at once on one connection' },
        sendStallMs: ms(60_000, 'a stream whose client takes none of its response (flow-control window held closed) for this long is reset'),
      },
    },
    upstream: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxSockets: { type: 'integer', minimum: 1, maximum: 100000, default: 256, description: 'per origin' },
        maxIdleSockets: { type: 'integer', minimum: 0, maximum: 100000, default: 64, description: 'per origin' },
        idleSocketMs: ms(4_000, 'close pooled sockets idle this long (shorter than typical origin keep-alive)'),
        maxRequestsPerSocket: { type: 'integer', minimum: 1, maximum: 1000000, default: 10000 },
        maxFails: { type: 'integer', minimum: 1, maximum: 1000, default: 3, description: 'consecutive failures that eject an upstream' },
        ejectMs: ms(10_000, 'how long an ejected upstream is skipped'),
        caFile: filePath("PEM CA bundle that https:// upstreams are verified against (default: Node's CA store, which honours NODE_EXTRA_CA_CERTS)"),
      },
    },
    forwarding: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        xForwarded: { type: 'boolean', default: true, description: 'set X-Forwarded-For/-Proto/-Host' },
        forwarded: { type: 'boolean', default: false, description: 'set RFC 7239 Forwarded' },
        trustedProxies: { ...cidrList, default: [], description: 'peers whose X-Forwarded-*/Forwarded are kept and appended to; others are replaced' },
      },
    },
    policy: { ...policySchema, default: {} },
    notFoundStatus: { type: 'integer', enum: [404, 421, 502, 503], default: 404 },
    clientHalfClose: {
      enum: ['abort', 'finish'],
      default: 'abort',
      description: 'a client that sends FIN while waiting for its response: "abort" cancels the upstream request and closes (nginx proxy_ignore_client_abort off; a client that half-closes after a complete request, e.g. nc -N, gets no response), "finish" treats it as a half-close and sends the response (a client that left holds an upstream connection until the response or upstreamHeadMs)',
    },
    acme: acmeConfigSchema,
    sessionTickets: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'TLS session resumption on every TLS listener (docs/tls.md): tickets under keys shared by the workers and, with an etcd store, by the fleet',
      properties: {
        enabled: { type: 'boolean', default: true, description: 'false: no session tickets (every connection a full handshake)' },
        keyRotationMs: { type: 'integer', minimum: 1000, maximum: 604_800_000, default: 43_200_000, description: 'a new ticket key this often; tickets under the previous one still resume while their sessions last (300 s)' },
      },
    },
    routes: { type: 'array', maxItems: MAX_ROUTES, default: [], items: routeSpecSchema },
    store: storeConfigSchema,
    history: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'the route history (docs/route-history.md): kept next to the config file, or under the etcd prefix',
      properties: {
        keep: { type: 'integer', minimum: 1, maximum: 10000, default: 100, description: 'revisions kept (the oldest are dropped)' },
        heartbeatMs: ms(15_000, 'GET /v1/changes: a comment line this often keeps idle followers (and their proxies) connected'),
        maxSubscribers: { type: 'integer', minimum: 1, maximum: 10000, default: 64, description: 'GET /v1/changes: followers at once (more get 503)' },
      },
    },
    forwardProxy: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: false },
        listen: { ...hostPort, description: 'a separate listener for the forward proxy; absent: the main listener serves both' },
        allowClients: { ...cidrList, default: ['127.0.0.0/8', '::1/128'] },
        connectPorts: { type: 'array', maxItems: 1024, items: { type: 'integer', minimum: 1, maximum: 65535 }, default: [443] },
        httpPorts: { type: 'array', maxItems: 1024, items: { type: 'integer', minimum: 1, maximum: 65535 }, default: [80, 8080] },
        originateTls: { type: 'boolean', default: false, description: 'fetch https:// absolute-form targets over verified TLS (default: 400, use CONNECT)' },
        httpsPorts: { type: 'array', maxItems: 1024, items: { type: 'integer', minimum: 1, maximum: 65535 }, default: [443] },
        allowDestinations: { ...cidrList, default: [], description: 'CIDRs allowed although private/loopback/link-local' },
        denyDestinations: { ...cidrList, default: [] },
        denyHosts: { type: 'array', maxItems: 10000, items: { type: 'string', minLength: 1, maxLength: 253 }, default: [] },
        auth: {
          type: 'object',
          additionalProperties: false,
          required: ['users'],
          properties: {
            realm: { type: 'string', maxLength: 128, default: 'portico' },
            users: { type: 'object', maxProperties: 10000, additionalProperties: { type: 'string', minLength: 1, maxLength: 512 } },
          },
        },
      },
    },
    demoOrigin: {
      type: 'object',
      additionalProperties: false,
      properties: { listen: hostPort },
      description: 'start the built-in demo origin (for npm start)',
    },
  },
} as const;
