// A small origin that `npm start` runs next to the proxy so the default config works on a fresh
// machine: it answers every request with a plain-text description of what it received.
import http from 'node:http';
import { parseHostPort } from '../config/config.js';

export function startDemoOrigin(listen: string): Promise<http.Server> {
  const { host, port } = parseHostPort(listen, '/demoOrigin/listen');
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const lines = [`Hello from the Portico demo origin.`, `${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      if (body.length) lines.push('', `(${body.length} body bytes)`);
      const text = lines.join('\n') + '\n';
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
