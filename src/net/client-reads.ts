// Client connections read into buffers Portico owns instead of a new Buffer per read (issue 14).
//
// Node's default read path allocates 64 KiB of off-heap memory for every read. On uploads (bench
// workload (d), POST 64 KiB) that is most of what the process allocates, and V8 counts off-heap
// memory allocated since its last full collection against the old generation's limit: measured,
// a process that had served 1 MiB downloads just before went into back-to-back mark-compacts
// (30-60 per 3 s) and three to four times the user CPU per upload.
//
// Two kinds of buffer, chosen per connection before each read (Node asks for the next read's
// buffer after every read):
// - between requests and while a head arrives: one SHARED 4 KiB buffer for every connection of
//   the process. Idle connections therefore hold no read memory at all (10,000 idle keep-alive
//   connections cost nothing here), and reads are processed one at a time, so sharing is safe
//   as long as no view of it outlives the read: the channel copies what it keeps (the request
//   head, pipelined bytes it has not processed yet, body bytes that arrived with the head). A
//   4 KiB read holds any ordinary head; a longer one arrives over several reads, which the codec
//   scans incrementally anyway.
// - while a request body streams: a 64 KiB BODY buffer of the connection's own, taken from a
//   small free list and given back when the body is done. Body bytes go upstream as views of it;
//   if the upstream socket could not take them at once (they wait in its queue, by reference),
//   the buffer is lent: the next read gets another and the lent one is left to the queue.
//
// net.Socket has a public `onread` option for sockets it creates, but net.Server gives its
// accepted sockets none, so the same fields are set on the accepted socket (found by their
// symbols' descriptions, as Node 20's net.js names them) before its first read. Where they are
// not found (another Node version), the connection reads the usual way, with 'data' events.
import type net from 'node:net';
import { emitReadAsData } from './owned-reads.js';

/** Shared head reads: enough for ordinary heads, small enough to copy what must be kept. */
export const HEAD_READ_BYTES = 4 * 1024;
/** Body reads (Node's default read size). */
export const BODY_READ_BYTES = 64 * 1024;
/** Body buffers kept for reuse: more connections uploading at once allocate and drop theirs. */
const FREE_BODY_BUFFERS_MAX = 64;

const SHARED = Buffer.allocUnsafeSlow(HEAD_READ_BYTES);
const freeBodyBuffers: Buffer[] = [];

/** Connections given owned reads since the process started (tests check the path is taken). */
export const ownedReadStats = { installed: 0, bodyBuffersAllocated: 0, lent: 0 };

/** What a connection's reads are delivered to. */
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

/** One connection's owned reads. */
export class ClientReads {
  readonly #socket: net.Socket;
  readonly #sink: ReadSink;
  /** The buffer the next (or current) read goes to. */
  #current: Buffer = SHARED;
  #body: Buffer | undefined;
  #lent = false;
  /** The socket became a tunnel: reads are emitted as 'data' (copies) for its listeners. */
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
    ownedReadStats.installed++;
    return reads;
  }

  private constructor(socket: net.Socket, sink: ReadSink) {
    this.#socket = socket;
    this.#sink = sink;
  }

  /** A view of the current body buffer is still referenced (queued upstream): the next read
   *  must go elsewhere. */
  lend(): void {
    if (this.#current === SHARED || this.#lent) return;
    this.#lent = true;
    ownedReadStats.lent++;
  }

  /** The connection became a tunnel: its reads go to the socket's 'data' listeners. */
  detach(): void {
    this.#detached = true;
  }

  /** The connection closed: its body buffer goes back to the free list (unless lent). */
  release(): void {
    this.#giveBack();
  }

  /** A read of n bytes landed in buf. */
  deliver(n: number, buf: Uint8Array): void {
    const view = (buf as Buffer).subarray(0, n);
    if (this.#detached) emitReadAsData(this.#socket, view);
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
