// Reads from an upstream socket into a buffer the pool owns (net.Socket's `onread` option), instead
// of a new Buffer per read (issue 14). Node's default read path allocates a 64 KiB ArrayBuffer for
// every read: off-heap memory that only a garbage collection gives back. Relaying 1 MiB responses
// that is 16 allocations per response, and measured on the bench's workload (c) it pushed V8 into
// a mode of back-to-back mark-compacts ("external memory pressure"): 50-90 per 3 s and five times
// the user CPU per request of the same process when it did not. With an owned buffer a read costs
// no allocation at all.
//
// The contract that makes it safe: a view of the buffer given to the reader is valid only during
// that call. A reader that lets a view outlive it (a write to a client that did not go straight to
// the kernel and sits in the socket's queue) calls lend(), and the next read gets a fresh buffer;
// the lent one is left to whoever holds it and collected like any other.
import type net from 'node:net';

/** The read size Node uses by default (libuv's suggested size): one read per 64 KiB. */
export const READ_BUFFER_BYTES = 64 * 1024;
/** A socket starts with this much and moves to READ_BUFFER_BYTES once a read fills it: the pool
 *  keeps up to maxIdleSockets sockets per origin, and one that only ever carried small responses
 *  should not hold 64 KiB. */
export const FIRST_READ_BUFFER_BYTES = 16 * 1024;

/** A socket whose owned reads now belong to a tunnel (101, CONNECT): each read is emitted as
 *  'data' for the tunnel's listeners, as a copy, since the tunnel may queue it. Readable#push
 *  emits 'data' in flowing mode and buffers otherwise (the tunnel pauses and resumes the socket,
 *  which stops and starts the reads themselves). */
export function emitReadAsData(socket: net.Socket, view: Buffer): void {
  socket.push(Buffer.from(view));
}

export class OwnedReadBuffer {
  #buf: Buffer | undefined;
  #lent = false;
  /** The last read filled the buffer: the next one is full size. */
  #grow = false;
  /** Times a buffer was lent (for tests and the bench). */
  lentCount = 0;

  /** Where each read goes: a view of the owned buffer, valid only during the call. */
  onRead: (view: Buffer) => void = () => {};

  /** The `onread` option for net.connect. Node calls `buffer` once when the socket gets its
   *  handle and again after every read (the buffer it returns is where the next read lands). */
  readonly option: net.OnReadOpts = {
    buffer: () => this.#next(),
    callback: (n: number, buf: Uint8Array) => {
      if (n === buf.length && buf.length < READ_BUFFER_BYTES) this.#grow = true;
      this.onRead((buf as Buffer).subarray(0, n));
      return true;
    },
  };

  /** A view of the current buffer is still referenced: the next read must not overwrite it. */
  lend(): void {
    if (this.#lent) return;
    this.#lent = true;
    this.lentCount++;
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
