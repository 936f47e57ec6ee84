// The soak's misbehaving origins, in one process of their own (raw node:net, loopback):
//   reset: reads a request head, then resets the connection (TCP RST), in turns: before any response
//          byte, after half a response head, or after the head and part of the body.
//   stall: reads a request head and never answers; for a path containing "/body" it sends the head and
//          part of the body first. The connection stays open until the proxy gives up on it.
// Prints "reset listening on HOST:PORT" and "stall listening on HOST:PORT"; on the stdin line "stats"
// prints "UPSTREAMS {json}" (connections and requests seen, connections still open); exits when stdin
// closes.
import { createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';

const HOST = '127.0.0.1';
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const stats = { reset: { connections: 0, requests: 0, open: 0 }, stall: { connections: 0, requests: 0, open: 0 } };

/** Calls onHead with the request line of each request head that arrives (bodies are ignored). */
function onHeads(sock: Socket, onHead: (requestLine: string) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  sock.on('data', (b: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, b]) : b;
    for (let end = pending.indexOf(CRLFCRLF); end >= 0 && !sock.destroyed; end = pending.indexOf(CRLFCRLF)) {
      const head = pending.toString('latin1', 0, end);
      pending = pending.subarray(end + 4);
      onHead(head.split('\r\n', 1)[0]);
    }
    if (pending.length > 1 << 20) pending = pending.subarray(pending.length - 4);
  });
}

function track(kind: 'reset' | 'stall', sock: Socket): void {
  stats[kind].connections++;
  stats[kind].open++;
  sock.on('error', () => undefined);
  sock.on('close', () => stats[kind].open--);
}

let resetTurn = 0;
const resetServer = createServer((sock) => {
  track('reset', sock);
  onHeads(sock, () => {
    stats.reset.requests++;
    const turn = resetTurn++ % 3;
    if (turn === 1) sock.write('HTTP/1.1 200 OK\r\nContent-Le');
    else if (turn === 2) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(100));
    // Let the partial bytes leave before the RST (a reset discards unsent data).
    setImmediate(() => sock.resetAndDestroy());
  });
});

const stallServer = createServer((sock) => {
  track('stall', sock);
  onHeads(sock, (requestLine) => {
    stats.stall.requests++;
    if (requestLine.includes('/body')) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(100));
  });
});

function listen(name: string, server: Server): void {
  server.on('error', (err) => {
    process.stderr.write(`${name}: ${err.message}\n`);
    process.exit(1);
  });
  server.listen({ host: HOST, port: 0, backlog: 1024 }, () => {
    const a = server.address();
    process.stdout.write(`${name} listening on ${HOST}:${typeof a === 'object' && a ? a.port : 0}\n`);
  });
}

listen('reset', resetServer);
listen('stall', stallServer);
const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  if (line.trim() === 'stats') process.stdout.write(`UPSTREAMS ${JSON.stringify(stats)}\n`);
});
// stdin closes when the soak ends (or dies): nothing must outlive it.
commands.on('close', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
