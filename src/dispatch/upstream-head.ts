// Builds the head a request is forwarded with, whichever front end received it: a new request-line
// (HTTP/1.1 upstream, whatever the client spoke), Host,
// the client's end-to-end fields as received, our framing field, Via (RFC 9110 §7.6.3: a proxy
// MUST add it; the `via` setting can turn it off) and, per the forwarding settings, X-Forwarded-* / Forwarded (RFC 7239) with the
// trusted-proxies rule: a trusted peer's values are kept and appended to, anyone else's replaced.
import { FieldId, HeadFlag } from '../../asm/shared/constants.js';
import { viaVersion, type RequestHead } from '../http/request-head.js';
import { assembleHead } from '../http/head-bytes.js';
import { HOP_BY_HOP, FORWARDING_FIELDS, mask, type FieldMask } from '../http/hop-by-hop.js';

export interface ForwardingPolicy {
  xForwarded: boolean;
  forwarded: boolean;
}

export interface RequestHeadInput {
  head: RequestHead;
  /** Upstream request-target. */
  target: string;
  /** Host value to send, or undefined to keep the client's Host line. */
  host: string | undefined;
  /** The Host the client asked for (for X-Forwarded-Host / Forwarded host=). */
  clientHost: string | undefined;
  /** 'length' with n, 'chunked', or 'none'. */
  framing: 'length' | 'chunked' | 'none';
  contentLength: number;
  /** Keep Upgrade and send `Connection: upgrade` (WebSocket through the route). */
  upgrade: boolean;
  /** Via pseudonym, or undefined to send no Via (the `via` setting is off). */
  via: string | undefined;
  /** The client's address as X-Forwarded-For gives it (plainAddress: IPv4-mapped unwrapped). */
  peer: string;
  peerTrusted: boolean;
  /** How the request reached us: 'https' on a TLS listener. */
  proto: 'http' | 'https';
  policy: ForwardingPolicy;
}

const DROP_BASE = HOP_BY_HOP;
const UPGRADE_BIT = mask(FieldId.UPGRADE);
const HOST_BIT = mask(FieldId.HOST);
const EXPECT_BIT = mask(FieldId.EXPECT);

function forwardedFor(address: string): string {
  // RFC 7239 §6: IPv6 addresses are quoted and bracketed
  return address.includes(':') ? `"[${address}]"` : address;
}

export function buildRequestHead(x: RequestHeadInput): Buffer {
  const h = x.head;
  let drop: FieldMask = DROP_BASE;
  if (x.upgrade) drop &= ~UPGRADE_BIT;
  if (x.host !== undefined) drop |= HOST_BIT;
  // RFC 9110 §10.1.1: an HTTP/1.0 request's Expect is ignored (and 1xx never reach 1.0 clients)
  if (h.version === 10) drop |= EXPECT_BIT;
  const replaceForwarding = !x.peerTrusted && (x.policy.xForwarded || x.policy.forwarded);
  if (replaceForwarding) drop |= FORWARDING_FIELDS;

  let start = `${h.method} ${x.target} HTTP/1.1\r\n`;
  if (x.host !== undefined) start += `Host: ${x.host}\r\n`;
  const fields: Buffer[] = [];
  h.copyFields(drop, fields);

  let tail = '';
  if (x.framing === 'length') tail += `Content-Length: ${x.contentLength}\r\n`;
  else if (x.framing === 'chunked') tail += 'Transfer-Encoding: chunked\r\n';
  if (x.upgrade) tail += 'Connection: upgrade\r\n';
  if (x.via !== undefined) tail += `Via: ${viaVersion(h.version)} ${x.via}\r\n`;
  const peer = x.peer;
  if (x.policy.xForwarded) {
    tail += `X-Forwarded-For: ${peer}\r\n`;
    const keepOthers = !replaceForwarding;
    if (!keepOthers || h.valuesById(FieldId.X_FORWARDED_PROTO).length === 0) tail += `X-Forwarded-Proto: ${x.proto}\r\n`;
    if ((!keepOthers || h.valuesById(FieldId.X_FORWARDED_HOST).length === 0) && x.clientHost) tail += `X-Forwarded-Host: ${x.clientHost}\r\n`;
  }
  if (x.policy.forwarded) {
    tail += `Forwarded: for=${forwardedFor(peer)}${x.clientHost ? `;host="${x.clientHost}"` : ''};proto=${x.proto}\r\n`;
  }
  tail += '\r\n';
  return assembleHead(start, fields, tail);
}

/** Protocols a client may switch to through the proxy. Only WebSocket: an h2c upgrade would
 *  open a raw HTTP/2 tunnel to the upstream that bypasses routing (Bishop Fox 2020, "h2c
 *  Smuggling"); such a request is forwarded as plain HTTP/1.1 with Upgrade removed. */
const UPGRADABLE = new Set(['websocket']);

/** Whether the client asked for a protocol upgrade the proxy will tunnel (RFC 9110 §7.8). */
export function wantsUpgrade(h: RequestHead): boolean {
  if (!h.has(HeadFlag.CONNECTION_UPGRADE) || !h.has(HeadFlag.HAS_UPGRADE)) return false;
  const protocols = h.valuesById(FieldId.UPGRADE).join(',').split(',').map((p) => p.trim().toLowerCase().split('/')[0]).filter(Boolean);
  return protocols.length > 0 && protocols.every((p) => UPGRADABLE.has(p));
}
