// Peer: fastify 5 with @fastify/http-proxy 11 (reply-from over an undici pool, keep-alive by default),
// proxying every path to the upstream. Separate process; prints "listening on HOST:PORT".
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';
import { peerArgs, CLIENT_KEEP_ALIVE_MS } from './args.js';

const args = peerArgs();
const app = Fastify({ logger: false, keepAliveTimeout: CLIENT_KEEP_ALIVE_MS, bodyLimit: 64 * 1024 * 1024 });
await app.register(proxy, { upstream: args.upstream, prefix: '/', http2: false });
const addr = await app.listen({ host: args.host, port: args.port });
process.stdout.write(`fastify-http-proxy listening on ${addr.replace(/^https?:\/\//, '')}\n`);
process.on('SIGTERM', () => {
  void app.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});
