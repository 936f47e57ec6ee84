// HTTP/2 written by hand (RFC 9113 §4, §6; HPACK RFC 7541 §6.2.2 literals only), for tests that
// must send what a well-behaved client never would: floods, resets, oversized header blocks,
// CONTINUATION chains, zero windows. It reads back the frames the server sends, decodes only the
// frame headers and the payloads of control frames (RST_STREAM, GOAWAY, SETTINGS, WINDOW_UPDATE,
// PING), so a test checks the error code RFC 9113 names without trusting node:http2 as a client.
import net from 'node:net';
import tls from 'node:tls';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const enum FrameType { DATA = 0, HEADERS = 1, PRIORITY = 2, RST_STREAM = 3, SETTINGS = 4, PUSH_PROMISE = 5, PING = 6, GOAWAY = 7, WINDOW_UPDATE = 8, CONTINUATION = 9 }
/** Frame flags (RFC 9113 §6): END_STREAM and ACK share a bit, on different frame types. */
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;
export const enum Setting { HEADER_TABLE_SIZE = 1, ENABLE_PUSH = 2, MAX_CONCURRENT_STREAMS = 3, INITIAL_WINDOW_SIZE = 4, MAX_FRAME_SIZE = 5, MAX_HEADER_LIST_SIZE = 6, ENABLE_CONNECT_PROTOCOL = 8 }
/** RFC 9113 §7. */
export const enum ErrorCode { NO_ERROR = 0, PROTOCOL_ERROR = 1, INTERNAL_ERROR = 2, FLOW_CONTROL_ERROR = 3, SETTINGS_TIMEOUT = 4, STREAM_CLOSED = 5, FRAME_SIZE_ERROR = 6, REFUSED_STREAM = 7, CANCEL = 8, COMPRESSION_ERROR = 9, CONNECT_ERROR = 10, ENHANCE_YOUR_CALM = 11, INADEQUATE_SECURITY = 12, HTTP_1_1_REQUIRED = 13 }

export function frame(type: FrameType, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` holds the bits above it. */
function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let v = value - max;
  while (v >= 128) { out.push((v & 0x7f) | 0x80); v = Math.floor(v / 128); }
  out.push(v);
  return out;
}

/** A header block of literal fields without indexing, new names, no Huffman (RFC 7541 §6.2.2):
 *  what the server's decoder sees is exactly these bytes. */
export function headerBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00]), Buffer.from(hpackInt(n.length, 7, 0)), n, Buffer.from(hpackInt(v.length, 7, 0)), v);
  }
  return Buffer.concat(parts);
}

export const settingsFrame = (entries: ReadonlyArray<readonly [Setting, number]> = []): Buffer => {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, v], i) => { p.writeUInt16BE(id, i * 6); p.writeUInt32BE(v, i * 6 + 2); });
  return frame(FrameType.SETTINGS, 0, 0, p);
};
export const settingsAck = (): Buffer => frame(FrameType.SETTINGS, Flag.ACK, 0);
export const headersFrame = (streamId: number, block: Buffer, o: { endStream?: boolean; endHeaders?: boolean } = {}): Buffer =>
  frame(FrameType.HEADERS, (o.endStream ? Flag.END_STREAM : 0) | (o.endHeaders === false ? 0 : Flag.END_HEADERS), streamId, block);
export const continuationFrame = (streamId: number, block: Buffer, endHeaders: boolean): Buffer =>
  frame(FrameType.CONTINUATION, endHeaders ? Flag.END_HEADERS : 0, streamId, block);
export const dataFrame = (streamId: number, data: Buffer | string, endStream = false): Buffer =>
  frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, typeof data === 'string' ? Buffer.from(data) : data);
export const rstStreamFrame = (streamId: number, code: ErrorCode): Buffer => {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, streamId, p);
};
export const pingFrame = (data = Buffer.alloc(8), ack = false): Buffer => frame(FrameType.PING, ack ? Flag.ACK : 0, 0, data);
export const windowUpdateFrame = (streamId: number, increment: number): Buffer => {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(increment);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, p);
};
export const goawayFrame = (lastStreamId: number, code: ErrorCode): Buffer => {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastStreamId);
  p.writeUInt32BE(code, 4);
  return frame(FrameType.GOAWAY, 0, 0, p);
};

/** The pseudo-header fields of a GET (or `method`) for `path` at `authority`. */
export const requestFields = (path = '/', o: { method?: string; authority?: string; scheme?: string } = {}): Array<[string, string]> => [
  [':method', o.method ?? 'GET'], [':scheme', o.scheme ?? 'https'], [':authority', o.authority ?? 'localhost'], [':path', path],
];

export interface ReceivedFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** The error code of a RST_STREAM or GOAWAY frame. */
export const errorCodeOf = (f: ReceivedFrame): number => (f.type === FrameType.GOAWAY ? f.payload.readUInt32BE(4) : f.payload.readUInt32BE(0));
/** The last-stream-id of a GOAWAY. */
export const lastStreamIdOf = (f: ReceivedFrame): number => f.payload.readUInt32BE(0) & 0x7fffffff;

/** A raw HTTP/2 client connection: writes what it is told, reads and records every frame. */
export class RawH2Client {
  readonly socket: net.Socket;
  readonly frames: ReceivedFrame[] = [];
  closed = false;
  #buf = Buffer.alloc(0);
  #waiters: Array<() => void> = [];
  /** Answer the server's SETTINGS with an ACK (a well-behaved peer); off to hold them unacked. */
  ackSettings = true;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => { this.#buf = Buffer.concat([this.#buf, d]); this.#parse(); this.#wake(); });
    socket.on('close', () => { this.closed = true; this.#wake(); });
    socket.on('error', () => {});
  }

  /** h2c with prior knowledge on a plain port, or h2 over TLS (ALPN h2) when `tlsOptions` given.
   *  Sends the preface and `settings` (an empty SETTINGS by default) unless `preface` is false. */
  static async connect(port: number, o: { tls?: tls.ConnectionOptions; settings?: Buffer; preface?: boolean } = {}): Promise<RawH2Client> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = o.tls
        ? tls.connect({ port, host: '127.0.0.1', ALPNProtocols: ['h2'], ...o.tls }, () => resolve(s))
        : net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
      s.once('error', reject);
    });
    const c = new RawH2Client(socket);
    if (o.preface !== false) c.send(PREFACE, o.settings ?? settingsFrame());
    return c;
  }

  send(...chunks: Buffer[]): void {
    if (!this.socket.destroyed) this.socket.write(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  }

  /** Resolves once a frame matches (or the connection closed, or `ms` passed): the frame or undefined. */
  async waitFor(match: (f: ReceivedFrame) => boolean, ms = 5000): Promise<ReceivedFrame | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      const f = this.frames.find(match);
      if (f || this.closed || Date.now() >= deadline) return f;
      await new Promise<void>((r) => { this.#waiters.push(r); setTimeout(r, Math.max(1, deadline - Date.now())); });
    }
  }

  /** The connection's GOAWAY, once it comes. */
  goaway(ms = 5000): Promise<ReceivedFrame | undefined> {
    return this.waitFor((f) => f.type === FrameType.GOAWAY, ms);
  }

  /** The RST_STREAM of `streamId`, once it comes. */
  reset(streamId: number, ms = 5000): Promise<ReceivedFrame | undefined> {
    return this.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === streamId, ms);
  }

  async waitClose(ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise<void>((r) => { this.#waiters.push(r); setTimeout(r, Math.max(1, deadline - Date.now())); });
    return this.closed;
  }

  destroy(): void { this.socket.destroy(); }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  #parse(): void {
    while (this.#buf.length >= 9) {
      const len = this.#buf.readUIntBE(0, 3);
      if (this.#buf.length < 9 + len) return;
      const f: ReceivedFrame = { type: this.#buf[3], flags: this.#buf[4], streamId: this.#buf.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(this.#buf.subarray(9, 9 + len)) };
      this.#buf = this.#buf.subarray(9 + len);
      this.frames.push(f);
      if (f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0 && this.ackSettings) this.send(settingsAck());
    }
  }
}
