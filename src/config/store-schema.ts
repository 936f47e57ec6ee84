// The `store` setting's type and JSON Schema (no imports: schema.ts and config.ts use it).
//   file (default): the config file's `routes`, persisted by the admin API (today's behaviour);
//   etcd: routes under a key prefix in an etcd cluster shared by a fleet of instances.

export interface EtcdStoreConfig {
  type: 'etcd';
  /** HOST:PORT of each etcd member (the client spreads calls and fails over). */
  endpoints: string[];
  /** Key prefix, e.g. /portico (routes under PREFIX/routes/ID, their order in PREFIX/order). */
  prefix: string;
  /** TLS to etcd: PEM files (ca alone: server-authenticated TLS; cert+key: mutual TLS). */
  tls?: { ca: string; cert?: string; key?: string };
  /** etcd user (the password may come from PORTICO_ETCD_PASSWORD instead). */
  auth?: { username: string; password?: string };
  /** Local copy of the last applied route table; an instance that restarts while etcd is down
   *  starts from it (absent: such an instance refuses to start). */
  cacheFile?: string;
  /** Deadline of each etcd call made for an admin write (the whole write answers within ~2x). */
  timeoutMs: number;
}

export type StoreConfig = { type: 'file' } | EtcdStoreConfig;

export const storeConfigSchema = {
  default: { type: 'file' },
  description: 'where the routes live: the config file (default) or etcd',
  oneOf: [
    { type: 'object', additionalProperties: false, required: ['type'], properties: { type: { const: 'file' } } },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'endpoints', 'prefix'],
      properties: {
        type: { const: 'etcd' },
        endpoints: { type: 'array', minItems: 1, maxItems: 32, items: { type: 'string', minLength: 3, maxLength: 300, description: 'HOST:PORT' } },
        prefix: { type: 'string', pattern: '^/[!-~]*[^/]$', maxLength: 256, description: 'key prefix, e.g. /portico' },
        tls: {
          type: 'object',
          additionalProperties: false,
          required: ['ca'],
          properties: { ca: { type: 'string', minLength: 1 }, cert: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } },
        },
        auth: {
          type: 'object',
          additionalProperties: false,
          required: ['username'],
          properties: { username: { type: 'string', minLength: 1, maxLength: 256 }, password: { type: 'string', minLength: 1, maxLength: 512 } },
        },
        cacheFile: { type: 'string', minLength: 1, description: 'local copy of the last table (start-up while etcd is down)' },
        timeoutMs: { type: 'integer', minimum: 100, maximum: 60_000, default: 2000, description: 'deadline of each etcd call of an admin write' },
      },
    },
  ],
} as const;
