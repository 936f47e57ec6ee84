// A raw byte tunnel between two sockets, for 101 Switching Protocols (WebSocket) and CONNECT:
// backpressure both ways (a side that cannot write pauses the other side's reads), half-close
// passed through, an idle timeout over both directions, and teardown when either side closes or
// resets.
import type net from 'node:net';

export interface TunnelOptions {
  idleMs: number;
  onClose?: (bytesUp: number, bytesDown: number) => void;
}

export function tunnel(client: net.Socket, upstream: net.Socket, options: TunnelOptions): void {
  let up = 0;
  let down = 0;
  let closed = false;
  const timer = setTimeout(() => finish(), options.idleMs);
  const finish = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    client.destroy();
    upstream.destroy();
    options.onClose?.(up, down);
  };
  const relay = (from: net.Socket, to: net.Socket, count: (n: number) => void) => {
    from.on('data', (chunk: Buffer) => {
      count(chunk.length);
      timer.refresh();
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => from.resume());
    from.on('end', () => { if (!to.destroyed) to.end(); if (client.readableEnded && upstream.readableEnded) finish(); });
    from.on('error', finish);
    from.on('close', finish);
  };
  relay(client, upstream, (n) => { up += n; });
  relay(upstream, client, (n) => { down += n; });
  client.resume();
  upstream.resume();
}
