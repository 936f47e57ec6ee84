// An origin of `npm run bench:deploy` (bench/deploy.ts): a small node:http HTTP/1.1 server run as its
// own process, so that a deploy can kill it for real and start it again on the same port.
//   GET  any path        -> 200 "ok\n" (after --delay-ms; with --status S: S instead of 200)
//   POST /post/ID        -> reads the body, 200 (same delay and status); ID is written to --ids FILE
//                           as soon as the request head arrives, one line per request, with one
//                           write(2) each, so a SIGKILL a moment later loses nothing: an ID found twice
//                           in the file (every origin of a case appends to the same one) is a POST
//                           that reached an origin twice
//   GET  /health         -> like any GET, never delayed, counted apart (a proxy's health checks)
// Stdin commands: "stats TAG" prints `STATS TAG {"get":N,"post":N,"health":N}` (requests received,
// health checks apart; TAG tells the answers to successive questions apart); "status S" answers S from
// then on and prints "STATUS S" once it does.
// Stdin closing ends the process (nothing outlives the bench).
// SIGTERM stops it as a server being deployed should: stop accepting, close the idle keep-alive
// connections, answer the requests in progress with Connection: close, exit once every connection is
// closed (at most --drain-ms later; then it exits anyway).
// Usage: node dist/bench/deploy-origin.js --port P [--host 127.0.0.1] [--ids FILE] [--delay-ms MS]
//   [--status S] [--drain-ms MS]; prints "deploy-origin listening on HOST:PORT".
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { openSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    ids: { type: 'string' },
    'delay-ms': { type: 'string', default: '0' },
    status: { type: 'string', default: '200' },
    'drain-ms': { type: 'string', default: '10000' },
  },
  strict: true,
});

const delayMs = Number(values['delay-ms']);
let status = Number(values.status);
const idsFd = values.ids !== undefined ? openSync(values.ids, 'a') : undefined;
const stats = { get: 0, post: 0, health: 0 };
let draining = false;
const BODY = Buffer.from('ok\n');

function answer(req: IncomingMessage, res: ServerResponse, code: number): void {
  // Set at the moment of answering: a request that was delayed across a SIGTERM still learns that
  // this connection is closing.
  if (draining) res.setHeader('Connection', 'close');
  res.writeHead(code, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length });
  res.end(req.method === 'HEAD' ? undefined : BODY);
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '/';
  if (path === '/health') {
    stats.health++;
    answer(req, res, status);
    return;
  }
  const code = status;
  const wait = delayMs;
  if (req.method === 'POST') {
    stats.post++;
    if (idsFd !== undefined) writeSync(idsFd, `${path.slice(path.lastIndexOf('/') + 1)}\n`);
  } else stats.get++;
  const done = (): void => {
    if (wait > 0) setTimeout(() => answer(req, res, code), wait);
    else answer(req, res, code);
  };
  // Read the whole body first (like any real handler of a POST), then answer.
  req.on('error', () => undefined);
  req.resume();
  if (req.readableEnded) done();
  else req.once('end', done);
}

// keepAliveTimeout longer than every proxy's idle pool timeout, so that connections are closed here
// only by a deploy (a shorter one is a keep-alive race of its own, outside what this bench measures).
const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, handle);
server.on('clientError', (_err, socket) => socket.destroy());
server.on('error', (err) => {
  process.stderr.write(`deploy-origin: ${err.message}\n`);
  process.exit(1);
});
server.listen({ host: values.host, port: Number(values.port), backlog: 1024 }, () => {
  const a = server.address();
  process.stdout.write(`deploy-origin listening on ${values.host}:${typeof a === 'object' && a ? a.port : values.port}\n`);
});

process.on('SIGTERM', () => {
  if (draining) return;
  draining = true;
  // close() stops accepting and, since Node 19, closes the idle keep-alive connections; the ones with a
  // request in progress get Connection: close on their answer (answer above) and are closed after it.
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), Number(values['drain-ms'])).unref();
});

const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'stats') process.stdout.write(`STATS ${arg ?? '-'} ${JSON.stringify(stats)}\n`);
  else if (cmd === 'status' && arg !== undefined) {
    status = Number(arg);
    process.stdout.write(`STATUS ${status}\n`);
  }
});
commands.on('close', () => process.exit(0));
