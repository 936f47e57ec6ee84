// Peer: node-http-proxy 1.18.1 behind node:http, with a keep-alive upstream agent (without one it sends
// Connection: close and opens a TCP connection per request). Separate process; prints
// "listening on HOST:PORT".
import { createServer, Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { peerArgs, CLIENT_KEEP_ALIVE_MS } from './args.js';

interface HttpProxy {
  web(req: IncomingMessage, res: ServerResponse): void;
  on(ev: 'error', fn: (err: Error, req: IncomingMessage, res: unknown) => void): void;
}
interface HttpProxyModule {
  createProxyServer(opts: { target: string; agent: Agent; xfwd?: boolean }): HttpProxy;
}

const args = peerArgs();
const httpProxy = createRequire(import.meta.url)('http-proxy') as HttpProxyModule;
const agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024 });
const proxy = httpProxy.createProxyServer({ target: args.upstream, agent });
proxy.on('error', (_err, _req, res) => {
  const r = res as ServerResponse;
  if (typeof r.writeHead === 'function' && !r.headersSent) {
    r.writeHead(502, { 'content-length': '0' });
    r.end();
  } else if (typeof (r as { destroy?: () => void }).destroy === 'function') (r as { destroy: () => void }).destroy();
});
const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = CLIENT_KEEP_ALIVE_MS;
server.headersTimeout = CLIENT_KEEP_ALIVE_MS + 1000;
server.requestTimeout = 0;
server.listen(args.port, args.host, () => {
  const a = server.address();
  process.stdout.write(`node-http-proxy listening on ${args.host}:${typeof a === 'object' && a ? a.port : args.port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
