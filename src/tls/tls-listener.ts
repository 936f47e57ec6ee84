// A TLS listener: node:tls terminates, the certificate comes from the listener's CertificateStore
// per handshake (SNICallback; the server's own context, used without SNI, follows the store's
// first certificate). TLS 1.2/1.3, ALPN http/1.1 only. A failed handshake (bad client hello,
// plaintext HTTP sent to the port, no hello before the handshake deadline) costs that one
// connection and a debug log line: Node destroys the socket and reports it as tlsClientError.
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { CertificateStore } from './certificate-store.js';

export interface TlsListenerOptions {
  id: string;
  handshakeTimeoutMs: number;
  logger: Logger;
}

/** Options of a TLS server on the store: its certificates chosen per handshake (SNI), the first
 *  one without SNI; also for the admin API's HTTPS server (admin/api/admin-tls.ts). */
export function tlsServerOptions(store: CertificateStore, handshakeTimeoutMs: number): tls.TlsOptions {
  return {
    ...store.defaultContextOptions(),
    ALPNProtocols: ['http/1.1'],
    SNICallback: (servername, cb) => cb(null, store.contextFor(servername)),
    handshakeTimeout: handshakeTimeoutMs,
    // no allowHalfOpen (the plain listener has it): a TLS client's close_notify + FIN ends the
    // connection; a half-open TLSSocket is not destroyed after our own end() and would linger
    noDelay: true,
  };
}

/** Keeps the server's own context on the store's first certificate as the store changes, and
 *  closes every connection whose handshake fails. */
export function followCertificateStore(server: tls.Server, store: CertificateStore, o: TlsListenerOptions): void {
  const unsubscribe = store.onChange(() => server.setSecureContext(store.defaultContextOptions()));
  server.on('close', unsubscribe);
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    o.logger.debug({ listener: o.id, client: socket.remoteAddress, reason: err.code ?? err.message }, 'TLS handshake failed');
    // Node leaves the socket open after ERR_TLS_HANDSHAKE_TIMEOUT: the deadline must close it
    socket.destroy();
  });
}

export function createTlsServer(store: CertificateStore, o: TlsListenerOptions, onSecureConnection: (socket: tls.TLSSocket) => void): tls.Server {
  const server = tls.createServer(tlsServerOptions(store, o.handshakeTimeoutMs), onSecureConnection);
  followCertificateStore(server, store, o);
  return server;
}
