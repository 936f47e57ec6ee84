// Sockets that read into buffers Portico owns, instead of a new Buffer per read (issue 14).
//
// Node's default read path allocates 64 KiB of off-heap memory for every read: off-heap memory
// that only a garbage collection gives back, and that V8 counts against the old generation's
// limit since its last full collection. Relaying 1 MiB responses (bench workload (c)) or taking
// 64 KiB uploads (d) that way pushed the process into back-to-back mark-compacts (50-90 per 3 s)
// and several times the user CPU per request. With owned buffers a read allocates nothing.
//
// One contract, one vocabulary, for both sides of the proxy:
// - a read is delivered as a VIEW of an owned buffer, valid only during the call that gets it;
// - a reader that lets a view outlive the call (a write that did not go straight to the kernel
//   and waits in a socket's queue, by reference) calls `lend()`: the next read goes to another
//   buffer and the lent one is left to whoever holds it, collected like any other;
// - `detach()`: the socket became a tunnel (101, CONNECT): from then on its reads are emitted as
//   'data' events, as copies (the tunnel may queue them), for the tunnel's listeners;
// - `release()`: the socket closed; buffers of its own go back where they came from.
//
// Two policies, because the two sides read differently:
// - UpstreamReads (pooled upstream sockets, net.connect's public `onread` option): one buffer per
//   socket, 16 KiB, then 64 KiB once a read fills it (the pool keeps idle sockets; one that only
//   carried small responses should not hold 64 KiB).
// - ClientReads (accepted client sockets): between requests and while a head arrives, ONE buffer
//   SHARED by every connection of the process (reads are processed one at a time, so sharing is
//   safe as long as no view outlives its read: the connection copies what it keeps: the request
//   head, unprocessed pipelined bytes, body bytes that came with the head). Idle connections hold
//   no read memory. While a request body streams, a 64 KiB body buffer of the connection's own,
//   from a small free list. net.Server gives accepted sockets no `onread` option, so the same
//   fields are set on the accepted socket (found by their symbols' descriptions, as Node 20's
//   net.js names them) before its first read; where they are not found (another Node version)
//   the connection reads the usual way, with 'data' events. TLS sockets the same way (issue 23):
//   Node 20's TLSWrap decrypts into a stack buffer of its own and copies each read into the buffer
//   its stream listener gives, which useUserBuffer sets to ours (no allocation per read); bytes it
//   read before the connection installed the buffer (the handshake's last flight may carry a
//   request) wait in the socket's Readable and come as 'data'.
import type net from 'node:net';

/** The vocabulary every owned-read mechanism speaks (see the contract above). */
export interface OwnedReads {
  /** A view of the current buffer outlives its read: the next read must go elsewhere. */
  lend(): void;
  /** The socket became a tunnel: its reads are emitted as 'data' (copies) from now on. */
  detach(): void;
  /** The socket closed. */
  release(): void;
}

/** Hands a tunnel one read, as a copy, through the socket's Readable (push emits 'data' in
 *  flowing mode and buffers otherwise; the tunnel pauses and resumes the socket, which stops and
 *  starts the reads themselves). */
function emitAsData(socket: net.Socket, view: Buffer): void {
  socket.push(Buffer.from(view));
}

/** Counts for tests and the bench: the paths are taken, and how often buffers were lent. */
export const ownedReadStats = { clientInstalled: 0, bodyBuffersAllocated: 0, clientLent: 0, upstreamLent: 0 };

// --- upstream sockets ----------------------------------------------------------------------------

/** Node's default read size (libuv's suggestion): one read per 64 KiB. */
export const READ_BUFFER_BYTES = 64 * 1024;
/** An upstream socket starts with this much and moves to READ_BUFFER_BYTES once a read fills it. */
export const FIRST_READ_BUFFER_BYTES = 16 * 1024;

/** One upstream socket's reads (net.connect's `onread`): a buffer of its own. */
export class UpstreamReads implements OwnedReads {
  #buf: Buffer | undefined;
  #lent = false;
  /** The last read filled the buffer: the next one is full size. */
  #grow = false;
  #detached = false;
  #socket: net.Socket | undefined;

  /** Where each read goes (a view valid only during the call), until detach(). */
  onRead: (view: Buffer) => void = () => {};

  /** The `onread` option for net.connect. Node calls `buffer` once when the socket gets its
   *  handle and again after every read (the buffer it returns is where the next read lands). */
  readonly option: net.OnReadOpts = {
    buffer: () => this.#next(),
    callback: (n: number, buf: Uint8Array) => {
      if (n === buf.length && buf.length < READ_BUFFER_BYTES) this.#grow = true;
      const view = (buf as Buffer).subarray(0, n);
      if (this.#detached) emitAsData(this.#socket!, view);
      else this.onRead(view);
      return true;
    },
  };

  /** The socket the reads belong to (known once net.connect returned it). */
  attach(socket: net.Socket): void {
    this.#socket = socket;
  }

  lend(): void {
    if (this.#lent) return;
    this.#lent = true;
    ownedReadStats.upstreamLent++;
  }

  detach(): void {
    this.#detached = true;
  }

  release(): void {
    this.#buf = undefined;
  }

  #next(): Buffer {
    if (this.#buf === undefined || this.#lent || this.#grow) {
      // allocUnsafeSlow: a buffer of its own, not a slice of Node's shared pool
      const size = this.#grow || (this.#buf !== undefined && this.#buf.length === READ_BUFFER_BYTES) ? READ_BUFFER_BYTES : FIRST_READ_BUFFER_BYTES;
      this.#buf = Buffer.allocUnsafeSlow(size);
      this.#lent = false;
      this.#grow = false;
    }
    return this.#buf;
  }
}

// --- client sockets ------------------------------------------------------------------------------

/** Shared head reads: enough for ordinary heads, small enough to copy what must be kept. */
export const HEAD_READ_BYTES = 4 * 1024;
/** Body reads (Node's default read size). */
export const BODY_READ_BYTES = 64 * 1024;
/** Body buffers kept for reuse: more connections uploading at once allocate and drop theirs. */
const FREE_BODY_BUFFERS_MAX = 64;

const SHARED = Buffer.allocUnsafeSlow(HEAD_READ_BYTES);
const freeBodyBuffers: Buffer[] = [];

/** What a client connection's reads are delivered to. */
export interface ReadSink {
  /** bytes: a view valid only during the call. `shared`: it is in the shared head buffer. */
  read(bytes: Buffer, shared: boolean): void;
  /** Whether the next read should go to a body buffer (a request body is streaming). */
  readonly wantsBodyBuffer: boolean;
}

/** The socket's ClientReads, for the shared read callback. */
const READS = Symbol('portico.clientReads');

/** net.Socket's onread callback (`this` is the socket). */
function delivered(this: Record<symbol, unknown>, n: number, buf: Uint8Array): boolean {
  (this[READS] as ClientReads).deliver(n, buf);
  return true;
}

interface OnreadFields { kBuffer: symbol; kBufferCb: symbol; kBufferGen: symbol }
let fields: OnreadFields | null | undefined;

/** The symbols of net.Socket's onread fields, or null when this Node has none. */
function onreadFields(socket: net.Socket): OnreadFields | null {
  if (fields !== undefined) return fields;
  const own = Object.getOwnPropertySymbols(socket);
  const find = (name: string) => own.find((s) => s.description === name);
  const kBuffer = find('kBuffer');
  const kBufferCb = find('kBufferCb');
  const kBufferGen = find('kBufferGen');
  fields = kBuffer && kBufferCb && kBufferGen ? { kBuffer, kBufferCb, kBufferGen } : null;
  return fields;
}

/** One accepted connection's reads: the shared head buffer, or a body buffer of its own. */
export class ClientReads implements OwnedReads {
  readonly #socket: net.Socket;
  readonly #sink: ReadSink;
  /** The buffer the next (or current) read goes to. */
  #current: Buffer = SHARED;
  #body: Buffer | undefined;
  #lent = false;
  #detached = false;

  /** Installs owned reads on an accepted plain-TCP socket before its first read; undefined when
   *  this Node does not expose the fields (the socket keeps Node's own reads). */
  static install(socket: net.Socket, sink: ReadSink): ClientReads | undefined {
    const f = onreadFields(socket);
    const handle = (socket as unknown as { _handle: { useUserBuffer?(b: Uint8Array): void } | null })._handle;
    if (f === null || handle === null || typeof handle.useUserBuffer !== 'function') return undefined;
    const reads = new ClientReads(socket, sink);
    const s = socket as unknown as Record<symbol, unknown>;
    s[f.kBuffer] = SHARED;
    s[f.kBufferCb] = delivered; // called as a method of the socket: one function for all
    s[f.kBufferGen] = reads.#next; // called bare: one closure per connection
    s[READS] = reads;
    handle.useUserBuffer(SHARED);
    ownedReadStats.clientInstalled++;
    return reads;
  }

  private constructor(socket: net.Socket, sink: ReadSink) {
    this.#socket = socket;
    this.#sink = sink;
  }

  lend(): void {
    if (this.#current === SHARED || this.#lent) return;
    this.#lent = true;
    ownedReadStats.clientLent++;
  }

  detach(): void {
    this.#detached = true;
  }

  /** The body buffer goes back to the free list (unless lent). */
  release(): void {
    this.#giveBack();
  }

  /** A read of n bytes landed in buf. */
  deliver(n: number, buf: Uint8Array): void {
    const view = (buf as Buffer).subarray(0, n);
    if (this.#detached) emitAsData(this.#socket, view);
    else this.#sink.read(view, buf === SHARED);
  }

  /** Node asks where the next read goes (after each read). */
  readonly #next = (): Buffer => {
    if (!this.#detached && this.#sink.wantsBodyBuffer) {
      if (this.#body === undefined || this.#lent) {
        this.#lent = false;
        this.#body = freeBodyBuffers.pop() ?? newBodyBuffer();
      }
      this.#current = this.#body;
    } else {
      this.#giveBack();
      this.#current = SHARED;
    }
    return this.#current;
  };

  #giveBack(): void {
    const b = this.#body;
    this.#body = undefined;
    if (b !== undefined && !this.#lent && freeBodyBuffers.length < FREE_BODY_BUFFERS_MAX) freeBodyBuffers.push(b);
    this.#lent = false;
  }
}

function newBodyBuffer(): Buffer {
  ownedReadStats.bodyBuffersAllocated++;
  return Buffer.allocUnsafeSlow(BODY_READ_BYTES);
}
