// Builds the head relayed to the client from an upstream response head: an HTTP/1.1 status-line
// (whatever the upstream spoke; its reason phrase kept, or the standard one when empty), the upstream's
// end-to-end fields as received, our own framing (Content-Length, chunked, or close-delimited
// for HTTP/1.0 clients), Connection: close when we will close (keep-alive to an HTTP/1.0 client
// whose connection stays open), and Via (unless the `via` setting is off).
import { STATUS_CODES } from 'node:http';
import { FieldId } from '../../asm/shared/constants.js';
import type { ResponseHead } from '../http/response-head.js';
import { viaVersion } from '../http/request-head.js';
import { assembleHead } from '../http/head-bytes.js';
import { HOP_BY_HOP, mask } from '../http/hop-by-hop.js';

export type ClientFraming = 'none' | 'length' | 'chunked' | 'close';

export interface ResponseHeadInput {
  head: ResponseHead;
  framing: ClientFraming;
  contentLength: number;
  /** Keep the upstream's Content-Length (HEAD and 304: it describes the representation). */
  keepContentLength: boolean;
  /** 101 Switching Protocols: keep Upgrade, send Connection: upgrade. */
  upgrade: boolean;
  close: boolean;
  /** An HTTP/1.0 client whose connection stays open: say so (RFC 9112 §9.3; Twisted). */
  keepAlive?: boolean;
  /** Via pseudonym, or undefined to send no Via. */
  via: string | undefined;
}

const KEEP_CL = ~mask(FieldId.CONTENT_LENGTH);
const KEEP_UPGRADE = ~mask(FieldId.UPGRADE);

/** `body`: a whole small body that arrived with the head, sent in the same buffer. */
export function buildResponseHead(x: ResponseHeadInput, body?: Buffer): Buffer {
  const h = x.head;
  let drop = HOP_BY_HOP;
  if (x.keepContentLength) drop &= KEEP_CL;
  if (x.upgrade) drop &= KEEP_UPGRADE;
  const reason = h.reason || STATUS_CODES[h.status] || 'Unknown';
  const fields: Buffer[] = [];
  h.copyFields(drop, fields);
  let tail = '';
  if (x.framing === 'length') tail += `Content-Length: ${x.contentLength}\r\n`;
  else if (x.framing === 'chunked') tail += 'Transfer-Encoding: chunked\r\n';
  if (x.upgrade) tail += 'Connection: upgrade\r\n';
  else if (x.close) tail += 'Connection: close\r\n';
  else if (x.keepAlive) tail += 'Connection: keep-alive\r\n';
  if (x.via !== undefined) tail += `Via: ${viaVersion(h.version)} ${x.via}\r\n`;
  tail += '\r\n';
  return assembleHead(`HTTP/1.1 ${h.status} ${reason}\r\n`, fields, tail, body);
}
