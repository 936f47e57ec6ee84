// Responses the proxy makes itself (src/http/local-answer.ts), on an HTTP/2 stream: the same
// status, text body and extra fields as the HTTP/1.1 writer gives them (src/http1/local-response.ts),
// as one HEADERS frame and one DATA frame, none for HEAD (RFC 9110 §9.3.2). A gRPC request (its
// content-type is application/grpc...) gets what a gRPC client understands instead: a
// "Trailers-Only" response (HEADERS with :status 200 and grpc-status, END_STREAM), its status
// mapped from the HTTP one as gRPC's own proxies map them
// (https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md), the detail in
// grpc-message (percent-encoded, https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).
import { STATUS_CODES } from 'node:http';
import type http2 from 'node:http2';
import type { LocalAnswer } from '../http/local-answer.js';
import { addFieldLines } from '../http/field-lines.js';

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const enum GrpcStatus { UNKNOWN = 2, DEADLINE_EXCEEDED = 4, PERMISSION_DENIED = 7, RESOURCE_EXHAUSTED = 8, UNIMPLEMENTED = 12, INTERNAL = 13, UNAVAILABLE = 14, UNAUTHENTICATED = 16 }

/** http-grpc-status-mapping.md, plus 408 and 504 (timeouts) as DEADLINE_EXCEEDED, 413 and 431
 *  (limits) as RESOURCE_EXHAUSTED. */
function grpcStatusOf(status: number): GrpcStatus {
  switch (status) {
    case 400: return GrpcStatus.INTERNAL;
    case 401: return GrpcStatus.UNAUTHENTICATED;
    case 403: return GrpcStatus.PERMISSION_DENIED;
    case 404: return GrpcStatus.UNIMPLEMENTED;
    case 408: case 504: return GrpcStatus.DEADLINE_EXCEEDED;
    case 413: case 431: return GrpcStatus.RESOURCE_EXHAUSTED;
    case 429: case 502: case 503: return GrpcStatus.UNAVAILABLE;
    default: return GrpcStatus.UNKNOWN;
  }
}

/** Whether a request is a gRPC call (its content-type, https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md). */
export function isGrpc(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/grpc(?:[+;]|$)/i.test(contentType);
}

/** Percent-encodes a grpc-message (PROTOCOL-HTTP2.md: printable ASCII except %, as is). */
const grpcMessage = (s: string): string => s.replace(/[^\x20-\x24\x26-\x7e]/gu, (c) => encodeURIComponent(c)).replace(/%(?![0-9A-F]{2})/g, '%25');

export interface LocalRequest {
  readonly headRequest: boolean;
  readonly grpc: boolean;
}

/** Answers `stream` with `answer`. */
export function respondLocal(stream: http2.ServerHttp2Stream, answer: LocalAnswer, request: LocalRequest): void {
  if (stream.destroyed || stream.headersSent) return;
  const { status, detail = '', code, fields } = answer;
  if (request.grpc) {
    const message = detail === '' ? `${status} ${STATUS_CODES[status] ?? ''}`.trim() : `${detail} (${code})`;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(grpcStatusOf(status)), 'grpc-message': grpcMessage(message) }, { endStream: true });
    return;
  }
  const body = answer.body ?? (detail === '' ? '' : `${status} ${STATUS_CODES[status] ?? 'Error'}: ${detail} (${code})\n`);
  const headers: http2.OutgoingHttpHeaders = { ':status': status, 'content-length': Buffer.byteLength(body) };
  if (body !== '') headers['content-type'] = 'text/plain; charset=utf-8';
  if (fields !== undefined) addFieldLines(fields, headers);
  if (body === '' || request.headRequest) {
    stream.respond(headers, { endStream: true });
    return;
  }
  stream.respond(headers);
  stream.end(body);
}
