// A raw byte tunnel between two sockets (or an HTTP/2 stream and a socket: CONNECT over HTTP/2,
// RFC 9113 §8.5), for 101 Switching Protocols (WebSocket) and CONNECT:
// backpressure both ways (a side that cannot write pauses the other side's reads), half-close
// passed through, an idle timeout over both directions, and teardown when either side closes or
// resets.
import type { Duplex } from 'node:stream';
import type { Clock } from '../clock.js';

export interface TunnelOptions {
  idleMs: number;
  clock: Clock;
}

export function tunnel(client: Duplex, upstream: Duplex, options: TunnelOptions): void {
  let closed = false;
  const idle = options.clock.deadline(() => finish());
  idle.arm(options.idleMs);
  const finish = () => {
    if (closed) return;
    closed = true;
    idle.cancel();
    client.destroy();
    upstream.destroy();
  };
  const relay = (from: Duplex, to: Duplex) => {
    from.on('data', (chunk: Buffer) => {
      idle.refresh();
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => from.resume());
    from.on('end', () => { if (!to.destroyed) to.end(); if (client.readableEnded && upstream.readableEnded) finish(); });
    from.on('error', finish);
    from.on('close', finish);
  };
  relay(client, upstream);
  relay(upstream, client);
  client.resume();
  upstream.resume();
}
