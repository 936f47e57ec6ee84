// Peer: a raw Node TCP pipe, no HTTP at all: every client connection gets its own upstream connection
// and bytes are copied both ways with socket.pipe. It is the floor for any proxy on node:net (issue 14:
// what Node's socket and stream machinery costs per request, before any parsing). Separate process;
// prints "listening on HOST:PORT".
import { createServer, connect } from 'node:net';
import { peerArgs } from './args.js';

const args = peerArgs();
const upstream = new URL(args.upstream);
const server = createServer({ noDelay: true }, (client) => {
  const origin = connect({ host: upstream.hostname, port: Number(upstream.port), noDelay: true });
  client.pipe(origin).pipe(client);
  // Either side failing or closing ends both (a pipe has no request boundaries to recover at).
  const end = (): void => {
    client.destroy();
    origin.destroy();
  };
  client.on('error', end).on('close', end);
  origin.on('error', end).on('close', end);
});
server.listen(args.port, args.host, () => {
  const a = server.address();
  if (a && typeof a === 'object') process.stdout.write(`tcp-pipe listening on ${a.address}:${a.port}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
