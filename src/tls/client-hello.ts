// Reads the server name (SNI) and the ALPN protocol list out of a TLS ClientHello before the TLS
// stack sees it. Node chooses a handshake's certificate in SNICallback, before ALPN is known (and
// the ALPNCallback of Node 20.16+ cannot change the certificate), but an ACME TLS-ALPN-01
// validation (RFC 8737 §3) must be answered with a special certificate exactly when the client
// offers "acme-tls/1". So a listener that answers those reads the ClientHello first, with this
// parser, and then hands the untouched bytes to node:tls.
//
// Wire format (RFC 8446 §5.1 records, §4.1.2 ClientHello, §4.2 extensions; the same layout in TLS
// 1.2, RFC 5246 §7.4.1.2):
//   record:      type(1)=22 handshake | legacy_version(2) | length(2) | fragment
//   handshake:   msg_type(1)=1 client_hello | length(3) | body        (may span several records)
//   body:        legacy_version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2>
//                compression_methods<1..2^8-1> extensions<0..2^16-1>
//   extension:   type(2) | length(2) | data
//   server_name (type 0, RFC 6066 §3):   list<2> of { name_type(1)=0 host_name | name<2> }
//   ALPN (type 16, RFC 7301 §3.1):        list<2> of protocol names<1>
// Anything else (not a handshake record, a malformed hello) is "not a ClientHello": the caller
// passes the bytes on and OpenSSL answers them as it always did.

const RECORD_HEADER = 5;
const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
/** A ClientHello is at most 2^16 + a few bytes (its extensions block has a 2-byte length);
 *  more than this is no ClientHello we will read. */
export const MAX_CLIENT_HELLO_BYTES = 70_000;

export interface ClientHello {
  /** The host_name of the server_name extension, lower-cased; undefined without SNI. */
  serverName: string | undefined;
  /** The protocols the client offers (ALPN), in its order; [] without the extension. */
  alpn: string[];
}

export type ClientHelloResult =
  | { kind: 'incomplete' }
  | { kind: 'not-client-hello' }
  | { kind: 'client-hello'; hello: ClientHello };

const INCOMPLETE = { kind: 'incomplete' } as const;
const NOT_HELLO = { kind: 'not-client-hello' } as const;

/** Parses the ClientHello at the start of `data` (the bytes a client sent first, possibly only
 *  part of them: 'incomplete' asks for more). */
export function parseClientHello(data: Buffer): ClientHelloResult {
  // reassemble the handshake message from as many handshake records as it takes
  const fragments: Buffer[] = [];
  let have = 0;
  let need = -1;
  for (let off = 0; ;) {
    if (data.length - off < RECORD_HEADER) return data.length > MAX_CLIENT_HELLO_BYTES ? NOT_HELLO : INCOMPLETE;
    if (data[off] !== CONTENT_HANDSHAKE || data[off + 1] !== 3) return NOT_HELLO;
    const length = data.readUInt16BE(off + 3);
    if (length === 0) return NOT_HELLO;
    if (data.length - off - RECORD_HEADER < length) return data.length > MAX_CLIENT_HELLO_BYTES ? NOT_HELLO : INCOMPLETE;
    const fragment = data.subarray(off + RECORD_HEADER, off + RECORD_HEADER + length);
    fragments.push(fragment);
    have += fragment.length;
    off += RECORD_HEADER + length;
    if (need < 0 && have >= 4) {
      const first = fragments.length === 1 ? fragments[0] : Buffer.concat(fragments);
      if (first[0] !== HANDSHAKE_CLIENT_HELLO) return NOT_HELLO;
      need = 4 + first.readUIntBE(1, 3);
      if (need > MAX_CLIENT_HELLO_BYTES) return NOT_HELLO;
    }
    if (need >= 0 && have >= need) break;
  }
  const message = fragments.length === 1 ? fragments[0] : Buffer.concat(fragments);
  const hello = readBody(message.subarray(4, need));
  return hello ? { kind: 'client-hello', hello } : NOT_HELLO;
}

/** A bounds-checked reader over one buffer: every read past the end makes `ok` false. */
class Reader {
  ok = true;
  #off = 0;
  constructor(private readonly buf: Buffer) {}

  get left(): number {
    return this.buf.length - this.#off;
  }

  u8(): number {
    if (this.left < 1) { this.ok = false; return 0; }
    return this.buf[this.#off++];
  }

  u16(): number {
    if (this.left < 2) { this.ok = false; return 0; }
    const v = this.buf.readUInt16BE(this.#off);
    this.#off += 2;
    return v;
  }

  bytes(n: number): Buffer {
    if (this.left < n) { this.ok = false; return Buffer.alloc(0); }
    const v = this.buf.subarray(this.#off, this.#off + n);
    this.#off += n;
    return v;
  }
}

function readBody(body: Buffer): ClientHello | undefined {
  const r = new Reader(body);
  r.bytes(2 + 32); // legacy_version, random
  r.bytes(r.u8()); // legacy_session_id
  r.bytes(r.u16()); // cipher_suites
  r.bytes(r.u8()); // legacy_compression_methods
  if (!r.ok) return undefined;
  const hello: ClientHello = { serverName: undefined, alpn: [] };
  if (r.left === 0) return hello; // no extensions (an old TLS 1.2 client)
  const extensions = new Reader(r.bytes(r.u16()));
  if (!r.ok) return undefined;
  while (extensions.left > 0) {
    const type = extensions.u16();
    const data = extensions.bytes(extensions.u16());
    if (!extensions.ok) return undefined;
    if (type === EXT_SERVER_NAME) {
      const name = readServerName(data);
      if (name === null) return undefined;
      hello.serverName = name;
    } else if (type === EXT_ALPN) {
      const alpn = readAlpn(data);
      if (alpn === undefined) return undefined;
      hello.alpn = alpn;
    }
  }
  return hello;
}

/** The host_name entry; undefined when the list has none; null when malformed. */
function readServerName(data: Buffer): string | undefined | null {
  const r = new Reader(data);
  const list = new Reader(r.bytes(r.u16()));
  if (!r.ok) return null;
  let name: string | undefined;
  while (list.left > 0) {
    const type = list.u8();
    const value = list.bytes(list.u16());
    if (!list.ok) return null;
    if (type === 0 && name === undefined) name = value.toString('latin1').toLowerCase();
  }
  return name;
}

function readAlpn(data: Buffer): string[] | undefined {
  const r = new Reader(data);
  const list = new Reader(r.bytes(r.u16()));
  if (!r.ok) return undefined;
  const out: string[] = [];
  while (list.left > 0) {
    const name = list.bytes(list.u8());
    if (!list.ok || name.length === 0) return undefined;
    out.push(name.toString('latin1'));
  }
  return out;
}
