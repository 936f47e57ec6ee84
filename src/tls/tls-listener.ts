// A TLS listener: node:tls terminates, the certificate comes from the listener's CertificateStore
// per handshake (SNICallback; the server's own context, used without SNI, follows the store's
// first certificate). TLS 1.2/1.3; ALPN offers `alpnProtocols` in the server's order of
// preference (the listener's `protocols`, src/server/listener-plan.ts). A failed handshake (bad client hello,
// plaintext HTTP sent to the port, no hello before the handshake deadline) costs that one
// connection and a debug log line: Node destroys the socket and reports it as tlsClientError.
import tls from 'node:tls';
import type { Logger } from 'pino';
import { SERVER_TLS_VERSIONS, type CertificateStore } from './certificate-store.js';

export interface TlsListenerOptions {
  id: string;
  handshakeTimeoutMs: number;
  logger: Logger;
  /** ALPN protocols offered, in preference order (OpenSSL picks the first the client also
   *  offers). */
  alpnProtocols: string[];
}

export function createTlsServer(store: CertificateStore, o: TlsListenerOptions, onSecureConnection: (socket: tls.TLSSocket) => void): tls.Server {
  const first = store.defaultPair();
  const server = tls.createServer({
    ...SERVER_TLS_VERSIONS,
    cert: first.cert,
    key: first.key,
    ALPNProtocols: o.alpnProtocols,
    SNICallback: (servername, cb) => cb(null, store.contextFor(servername)),
    handshakeTimeout: o.handshakeTimeoutMs,
    // no allowHalfOpen (the plain listener has it): a TLS client's close_notify + FIN ends the
    // connection; a half-open TLSSocket is not destroyed after our own end() and would linger
    noDelay: true,
  }, onSecureConnection);
  const unsubscribe = store.onChange(() => {
    const p = store.defaultPair();
    server.setSecureContext({ ...SERVER_TLS_VERSIONS, cert: p.cert, key: p.key });
  });
  server.on('close', unsubscribe);
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    o.logger.debug({ listener: o.id, client: socket.remoteAddress, reason: err.code ?? err.message }, 'TLS handshake failed');
    // Node leaves the socket open after ERR_TLS_HANDSHAKE_TIMEOUT: the deadline must close it
    socket.destroy();
  });
  return server;
}
