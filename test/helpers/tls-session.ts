// A TLS client that keeps its session: one GET on a new connection (Connection: close), offering
// the session of an earlier one (a ticket), and what came of it: whether the server resumed the
// session (a resumed handshake), the answer, and the session to offer next time. For the session
// resumption tests (docs/tls.md, "Session resumption").
import tls from 'node:tls';

export interface TlsGetResult {
  reused: boolean;
  status: number;
  body: string;
  /** The latest session ticket the server sent (undefined: none). */
  session: Buffer | undefined;
}

export interface TlsGetOptions {
  servername?: string;
  ca?: string;
  /** A session from an earlier connection (its ticket): the client offers to resume it. */
  session?: Buffer;
  maxVersion?: tls.SecureVersion;
  path?: string;
}

export function tlsGet(port: number, o: TlsGetOptions = {}): Promise<TlsGetResult> {
  return new Promise((resolve, reject) => {
    let session: Buffer | undefined;
    let reused = false;
    const chunks: Buffer[] = [];
    const socket = tls.connect({
      host: '127.0.0.1', port, servername: o.servername ?? 'localhost', ca: o.ca, rejectUnauthorized: o.ca !== undefined,
      session: o.session, maxVersion: o.maxVersion, ALPNProtocols: ['http/1.1'],
    }, () => {
      reused = socket.isSessionReused();
      socket.write(`GET ${o.path ?? '/'} HTTP/1.1\r\nHost: ${o.servername ?? 'localhost'}\r\nConnection: close\r\n\r\n`);
    });
    // TLS 1.3 tickets come after the handshake; TLS 1.2's within it
    socket.on('session', (s: Buffer) => { session = s; });
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.setTimeout(10_000, () => socket.destroy(new Error('tlsGet: timed out')));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ reused, status, body: text.slice(text.indexOf('\r\n\r\n') + 4), session });
    });
  });
}
