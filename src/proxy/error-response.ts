// Responses the proxy writes itself: parse errors (400/413/414/431/501/505), no route (404),
// upstream failures (502/503/504), timeouts (408). Always a short text body naming the reason and
// its stable code, `Connection: close` when the connection is closing.
import { STATUS_CODES } from 'node:http';

export function errorResponse(status: number, detail: string, code: string, close: boolean, extraFields = ''): Buffer {
  const body = `${status} ${STATUS_CODES[status] ?? 'Error'}: ${detail} (${code})\n`;
  return Buffer.from(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    extraFields +
    (close ? 'Connection: close\r\n' : '') +
    '\r\n' + body,
    'utf8',
  );
}
