// Between HTTP/1.1 field lines (`Name: value\r\n`, how the request path carries extra fields,
// trailer sections and local answers' fields) and node:http2's header lists and objects.
import type { OutgoingHttpHeaders } from 'node:http2';

/** Adds field lines to a node:http2 headers object, names lower-case, repeated names as arrays. */
export function addFieldLines(lines: string, into: OutgoingHttpHeaders): OutgoingHttpHeaders {
  for (const line of lines.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    addField(into, line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return into;
}

/** Adds one field to a node:http2 headers object (a repeated name becomes an array). */
export function addField(into: OutgoingHttpHeaders, name: string, value: string): void {
  const prev = into[name];
  into[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value];
}

/** Field lines of a node:http2 raw header list ([name, value, ...]), pseudo-header fields left
 *  out; latin1, as node:http2 hands values over. */
export function fieldLinesOf(raw: readonly string[]): Buffer {
  let text = '';
  for (let i = 0; i < raw.length; i += 2) if (raw[i].charCodeAt(0) !== 0x3a) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return Buffer.from(text, 'latin1');
}
