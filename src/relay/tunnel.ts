// A raw byte tunnel between two sockets, for 101 Switching Protocols (WebSocket) and CONNECT:
// backpressure both ways (a side that cannot write pauses the other side's reads), half-close
// passed through, an idle timeout over both directions, and teardown when either side closes or
// resets.
import type net from 'node:net';
import type { Clock } from '../clock.js';

export interface TunnelOptions {
  idleMs: number;
  clock: Clock;
}

export function tunnel(client: net.Socket, upstream: net.Socket, options: TunnelOptions): void {
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
  const relay = (from: net.Socket, to: net.Socket) => {
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
