// A strict reader of the HTTP/1.1 responses on one client connection, for the soak's checking clients:
// feed it the bytes as they arrive and it returns every complete response, matched in order to the
// requests sent (their methods decide framing: a response to HEAD, and 1xx/204/304, has no body,
// RFC 9112 §6.3). Content-Length and chunked bodies; a body without either runs to the close. Anything
// that is not a well-formed response throws, so a desynchronised stream (e.g. a body where HEAD
// allows none) is an error, not a silently skipped byte.

export interface ReadResponse {
  status: number;
  /** Field names lower-cased; repeated fields joined with ", ". */
  fields: Map<string, string>;
  body: Buffer;
  /** The server announced `Connection: close`: nothing more will be answered on this connection. */
  close: boolean;
}

const CRLF = Buffer.from('\r\n', 'latin1');
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const MAX_HEAD = 64 * 1024;

export class ResponseReader {
  #buf: Buffer = Buffer.alloc(0);
  readonly #methods: string[] = [];

  /** Records a request written on the connection (its response is expected in this order). */
  expect(method: string): void {
    this.#methods.push(method);
  }

  /** Requests written whose response has not arrived yet. */
  get outstanding(): number {
    return this.#methods.length;
  }

  /** Bytes received that do not yet form a complete response. */
  get buffered(): number {
    return this.#buf.length;
  }

  /** Adds bytes; returns the responses they complete. Throws on malformed or unexpected bytes. */
  feed(chunk: Buffer): ReadResponse[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const out: ReadResponse[] = [];
    for (;;) {
      const r = this.#next();
      if (!r) return out;
      out.push(r);
    }
  }

  /** The connection closed: a body delimited by the close is complete now; returns it if so. */
  end(): ReadResponse | undefined {
    if (this.#buf.length === 0) return undefined;
    const head = this.#head();
    if (!head || head.framing !== 'close') throw new Error(`connection closed inside a response (${this.#buf.length} bytes unread)`);
    const body = this.#buf.subarray(head.size);
    this.#buf = Buffer.alloc(0);
    this.#methods.shift();
    return { status: head.status, fields: head.fields, body, close: true };
  }

  #head(): { status: number; fields: Map<string, string>; size: number; framing: 'none' | 'length' | 'chunked' | 'close'; length: number } | undefined {
    const end = this.#buf.indexOf(CRLFCRLF);
    if (end < 0) {
      if (this.#buf.length > MAX_HEAD) throw new Error('response head longer than 64 KiB');
      if (this.#buf.length >= 5 && this.#buf.toString('latin1', 0, 5) !== 'HTTP/') throw new Error(`not a response: ${JSON.stringify(this.#buf.toString('latin1', 0, 40))}`);
      return undefined;
    }
    if (this.#methods.length === 0) throw new Error(`a response nobody asked for: ${JSON.stringify(this.#buf.toString('latin1', 0, 40))}`);
    const lines = this.#buf.toString('latin1', 0, end).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) [^\r\n]*$/.exec(lines[0] ?? '');
    if (!m) throw new Error(`bad status line ${JSON.stringify((lines[0] ?? '').slice(0, 60))}`);
    const status = Number(m[1]);
    const fields = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const c = line.indexOf(':');
      if (c <= 0 || /[\s]/.test(line.slice(0, c))) throw new Error(`bad field line ${JSON.stringify(line.slice(0, 60))}`);
      const name = line.slice(0, c).toLowerCase();
      const value = line.slice(c + 1).trim();
      fields.set(name, fields.has(name) ? `${fields.get(name)}, ${value}` : value);
    }
    const method = this.#methods[0];
    const size = end + 4;
    if (method === 'HEAD' || status < 200 || status === 204 || status === 304) return { status, fields, size, framing: 'none', length: 0 };
    if (/\bchunked\b/i.test(fields.get('transfer-encoding') ?? '')) return { status, fields, size, framing: 'chunked', length: 0 };
    const cl = fields.get('content-length');
    if (cl !== undefined) {
      if (!/^\d+$/.test(cl)) throw new Error(`bad Content-Length ${JSON.stringify(cl)}`);
      return { status, fields, size, framing: 'length', length: Number(cl) };
    }
    return { status, fields, size, framing: 'close', length: 0 };
  }

  #next(): ReadResponse | undefined {
    const head = this.#head();
    if (!head) return undefined;
    let body: Buffer;
    let used: number;
    if (head.framing === 'none' || head.framing === 'length') {
      if (this.#buf.length < head.size + head.length) return undefined;
      body = this.#buf.subarray(head.size, head.size + head.length);
      used = head.size + head.length;
    } else if (head.framing === 'chunked') {
      const parsed = dechunk(this.#buf, head.size);
      if (!parsed) return undefined;
      ({ body, used } = parsed);
    } else return undefined; // delimited by the close: end() completes it
    this.#buf = this.#buf.subarray(used);
    if (head.status >= 100 && head.status < 200) return this.#next(); // interim: the final one follows
    this.#methods.shift();
    const close = /\bclose\b/i.test(head.fields.get('connection') ?? '');
    return { status: head.status, fields: head.fields, body, close };
  }
}

/** A complete chunked body starting at `from`, or undefined when more bytes are needed. */
function dechunk(buf: Buffer, from: number): { body: Buffer; used: number } | undefined {
  const parts: Buffer[] = [];
  let off = from;
  for (;;) {
    const eol = buf.indexOf(CRLF, off);
    if (eol < 0) return undefined;
    const size = parseInt(buf.toString('latin1', off, eol).split(';')[0].trim(), 16);
    if (!Number.isFinite(size) || size < 0) throw new Error('bad chunk size');
    off = eol + 2;
    if (size === 0) {
      const end = buf.indexOf(CRLFCRLF, off - 2); // trailers, then an empty line
      if (end < 0) return undefined;
      return { body: Buffer.concat(parts), used: end + 4 };
    }
    if (buf.length < off + size + 2) return undefined;
    parts.push(buf.subarray(off, off + size));
    off += size + 2;
  }
}
