// Which received fields a proxy must not forward (RFC 9110 §7.6.1): Connection and every field it
// names, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding (we re-frame), Upgrade
// (unless tunnelling), Proxy-Authorization and Proxy-Authenticate (credentials for this hop only).
// Content-Length is dropped too because every forwarded message is re-framed.
import { FieldId } from '../../asm/shared/constants.js';

/** A bit per FieldId. */
export type FieldMask = number;

export const mask = (...ids: FieldId[]): FieldMask => ids.reduce((m, id) => m | (1 << id), 0);

export const HOP_BY_HOP: FieldMask = mask(
  FieldId.CONNECTION, FieldId.KEEP_ALIVE, FieldId.PROXY_CONNECTION, FieldId.TE, FieldId.TRAILER,
  FieldId.TRANSFER_ENCODING, FieldId.UPGRADE, FieldId.PROXY_AUTHORIZATION, FieldId.PROXY_AUTHENTICATE,
  FieldId.CONTENT_LENGTH,
);

export const FORWARDING_FIELDS: FieldMask = mask(
  FieldId.FORWARDED, FieldId.X_FORWARDED_FOR, FieldId.X_FORWARDED_PROTO, FieldId.X_FORWARDED_HOST,
  FieldId.X_FORWARDED_PORT, FieldId.X_FORWARDED_OTHER,
);

export const has = (m: FieldMask, id: number): boolean => (m & (1 << id)) !== 0;
