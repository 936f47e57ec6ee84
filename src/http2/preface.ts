// h2c with prior knowledge (RFC 9113 §3.3) on a plain listener that lists "h2c": a client that
// knows the server speaks HTTP/2 opens with the connection preface, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
// (§3.4), which no HTTP/1.1 request starts with (it reads as a request HTTP/1.1 servers refuse).
// The first bytes decide: as soon as they stop matching the preface the connection is HTTP/1.1;
// once all 24 match it is HTTP/2. They are put back on the socket (unshift) for whichever
// front end takes it, which reads them first. `Upgrade: h2c` (§3.1 of RFC 7540) is not
// supported: RFC 9113 §3.1 deprecates it; such a request is served as HTTP/1.1 (the proxy
// forwards it without Upgrade, src/dispatch/upstream-head.ts).
import type net from 'node:net';
import type { Clock } from '../clock.js';

export const CONNECTION_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Reads until the protocol is known, then calls `decided` with the socket paused and its first
 *  bytes back in it. A client that sends nothing (or a preface that stops half-way) for
 *  `idleMs` is closed, as an idle HTTP/1.1 connection would be. */
export function readPreface(socket: net.Socket, clock: Clock, idleMs: number, decided: (h2: boolean) => void): void {
  let got: Buffer | undefined;
  const deadline = clock.deadline(() => socket.destroy());
  deadline.arm(idleMs);
  const done = (h2: boolean) => {
    deadline.cancel();
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.pause();
    socket.unshift(got!);
    decided(h2);
  };
  const onData = (chunk: Buffer) => {
    got = got === undefined ? chunk : Buffer.concat([got, chunk]);
    const n = Math.min(got.length, CONNECTION_PREFACE.length);
    if (got.compare(CONNECTION_PREFACE, 0, n, 0, n) !== 0) done(false);
    else if (n === CONNECTION_PREFACE.length) done(true);
  };
  const onEnd = () => {
    deadline.cancel();
    socket.destroy();
  };
  socket.on('data', onData);
  socket.on('end', onEnd);
}
