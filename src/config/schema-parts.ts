// Pieces of JSON Schema that several settings share (schema.ts, admin-schema.ts, the admin API's
// /v1/tls bodies). No imports: every schema file may use them without an import cycle.

export const hostPort = { type: 'string', minLength: 3, maxLength: 300, description: 'HOST:PORT (IPv6 as [::1]:PORT)' } as const;
export const ms = (def: number, description: string) => ({ type: 'integer', minimum: 1, maximum: 86_400_000, default: def, description }) as const;
export const filePath = (description: string) => ({ type: 'string', minLength: 1, maxLength: 4096, description }) as const;
/** A TLS listener's certificates (config file and admin API): chosen by SNI, the first is the default. */
export const certificateList = <T extends object>(items: T) => ({
  type: 'array', minItems: 1, maxItems: 10000, description: 'chosen by SNI among the names in each certificate; the first is the default', items,
}) as const;

/** The settings of a TLS listener's certificates, for the proxy's listeners and the admin API's. */
export const tlsCertificatesProperties = {
  certificates: certificateList({
    type: 'object',
    additionalProperties: false,
    required: ['cert', 'key'],
    properties: { cert: filePath('PEM certificate chain file, leaf first'), key: filePath('PEM private key file') },
  }),
  handshakeTimeoutMs: ms(10_000, 'a TLS handshake must finish within this'),
  watchFiles: { type: 'boolean', default: true, description: 'reload the certificates when their files change' },
  watchIntervalMs: ms(5_000, 'how often the certificate files are checked'),
} as const;
