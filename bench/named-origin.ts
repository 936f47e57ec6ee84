// An origin that answers every request with its own name (200, text/plain): a probe through a
// proxy tells which upstream, and so which route table, served it. In the bench's own process,
// on loopback; used by bench/etcd-fleet.ts and bench/history.ts.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface NamedOrigin {
  name: string;
  url: string;
  /** Requests answered so far. */
  served(): number;
  close(): Promise<void>;
}

export async function startNamedOrigin(name: string): Promise<NamedOrigin> {
  const body = Buffer.from(name);
  let served = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      served++;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    name,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served: () => served,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
