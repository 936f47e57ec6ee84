// The top-level `acme` setting's type and JSON Schema: the ACME CA that TLS listeners with
// `"tls": { "acme": true }` obtain their certificates from (admin/acme/, docs/acme.md).

export type AcmeChallengeType = 'http-01' | 'tls-alpn-01';
export type AcmeKeyType = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-4096';

export interface AcmeConfig {
  /** The CA's directory URL (RFC 8555 §7.1.1), https:// only. */
  directory: string;
  /** Contact address given to the CA (expiry and policy mail). */
  email?: string;
  /** PEM CA bundle the ACME server's own TLS certificate is verified against (a private or test
   *  CA; default: Node's CA store). */
  caFile?: string;
  /** Challenge types that may be used, in preference order. */
  challenges: AcmeChallengeType[];
  /** When to renew: a duration before notAfter ("30d", "12h", "90m", "600s") or a share of the
   *  lifetime left ("33%"); absent: when a third of the lifetime is left. */
  renewBefore?: string;
  /** The certificates' key type. */
  keyType: AcmeKeyType;
  /** External account binding (RFC 8555 §7.3.4), for CAs that require one (ZeroSSL, Google). */
  externalAccountBinding?: { kid: string; hmacKey: string };
}

export const ACME_CHALLENGE_TYPES: readonly AcmeChallengeType[] = ['http-01', 'tls-alpn-01'];

export const acmeConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['directory'],
  description: 'automatic HTTPS: the ACME CA that listeners with "tls": { "acme": true } get their certificates from',
  properties: {
    directory: { type: 'string', minLength: 9, maxLength: 2048, pattern: '^https://[^\\s]+$', description: 'the ACME directory URL (https://), e.g. https://acme-v02.api.letsencrypt.org/directory' },
    email: { type: 'string', minLength: 3, maxLength: 254, pattern: '^[^@\\s:,]+@[^@\\s:,]+$', description: 'contact address given to the CA' },
    caFile: { type: 'string', minLength: 1, maxLength: 4096, description: "PEM CA bundle the ACME server's TLS certificate is verified against (a private or test CA; default: Node's CA store)" },
    challenges: {
      type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['http-01', 'tls-alpn-01'] }, default: ['http-01', 'tls-alpn-01'],
      description: 'challenge types that may be used, in preference order (http-01 needs a plain listener reachable on port 80, tls-alpn-01 the acme TLS listener on port 443)',
    },
    renewBefore: { type: 'string', maxLength: 16, pattern: '^[0-9]{1,9}(\\.[0-9]{1,3})?(d|h|m|s|%)$', description: 'renew this long before notAfter ("30d", "12h") or when this share of the lifetime is left ("33%"); default: a third of the lifetime' },
    keyType: { enum: ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-4096'], default: 'ec-p256', description: 'key type of the certificates' },
    externalAccountBinding: {
      type: 'object', additionalProperties: false, required: ['kid', 'hmacKey'],
      description: 'external account binding (RFC 8555 §7.3.4) for CAs that require one',
      properties: { kid: { type: 'string', minLength: 1, maxLength: 1024 }, hmacKey: { type: 'string', minLength: 1, maxLength: 1024 } },
    },
  },
} as const;
