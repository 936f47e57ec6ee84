// A TLS listener: node:tls terminates, the certificate comes from the listener's CertificateStore
// per handshake (SNICallback; the server's own context, used without SNI, follows the store's
// first certificate). TLS 1.2/1.3; ALPN offers the listener's `protocols` in the server's order
// of preference (src/server/listener-plan.ts; http/1.1 only for the admin API). A failed
// handshake (bad client hello, plaintext HTTP sent to the port, no hello before the handshake
// deadline) costs that one connection and a debug log line: Node destroys the socket and reports
// it as tlsClientError. A name the ACME manager looks after without a certificate yet fails its
// handshakes with a warn line (at most one a minute per name).
//
// With `answerTlsAlpn01` (a listener with `tls.acme`), the listener reads each connection's
// ClientHello itself before node:tls does (./client-hello.ts): Node picks the certificate in
// SNICallback, before the offered ALPN protocols are known, and the ALPNCallback of Node 20.16+
// cannot change it; but a TLS-ALPN-01 validation (RFC 8737 §3) must get the challenge certificate
// exactly when it offers "acme-tls/1". So the listener is a plain net.Server: it reads until the
// ClientHello is complete (bounded in size and by the handshake deadline), puts the bytes back
// (socket.unshift) and gives the socket to a tls.Server that never listens itself
// (server.emit('connection'): TLSSocket first feeds what is buffered on the socket to OpenSSL):
// the usual one, or, for "acme-tls/1", a second one that presents the challenge certificate,
// offers only "acme-tls/1" and closes once the handshake is done (RFC 8737 §3: no application
// data). Bytes that are no ClientHello go to the usual server untouched, which fails them as
// before.
import net from 'node:net';
import tls from 'node:tls';
import { constants } from 'node:crypto';
import type { Logger } from 'pino';
import { SERVER_TLS_VERSIONS, type CertificateStore } from './certificate-store.js';
import { parseClientHello } from './client-hello.js';
import { sessionIdContext, type TicketKeyRing } from './ticket-keys.js';

/** RFC 8737 §6.2: the ALPN protocol id of a TLS-ALPN-01 validation. */
export const ACME_TLS_ALPN = 'acme-tls/1';
/** The ALPN protocols offered by default (a listener's `protocols` may add h2). */
export const DEFAULT_ALPN = ['http/1.1'];
/** A name without a certificate is warned about at most this often. */
const MISSING_WARN_MS = 60_000;

export interface TlsListenerOptions {
  id: string;
  handshakeTimeoutMs: number;
  logger: Logger;
  /** ALPN protocols offered, in preference order (OpenSSL picks the first the client also
   *  offers; default http/1.1 only). */
  alpnProtocols?: string[];
  /** The TLS-ALPN-01 challenge certificate pending for a name, if any: makes the listener read
   *  each ClientHello first (see above). */
  answerTlsAlpn01?: (servername: string) => tls.SecureContext | undefined;
  /** Session resumption: tickets under these keys (shared by the workers and the fleet:
   *  ./ticket-keys.ts), or false: no tickets. Absent: Node's defaults (per-process keys; the
   *  admin API's listener). */
  sessionTickets?: TicketKeyRing | false;
}

/** The server options of `o.sessionTickets`: sessions resume on any process with the same
 *  listener id and ticket keys. No session cache either way: Node keeps none unless a server
 *  listens for 'newSession', which Portico does not (a per-process cache would not be shared by
 *  the workers or the fleet; tickets are). */
function sessionOptions(o: Pick<TlsListenerOptions, 'id' | 'sessionTickets'>): tls.TlsOptions {
  if (o.sessionTickets === undefined) return {};
  if (o.sessionTickets === false) return { secureOptions: constants.SSL_OP_NO_TICKET };
  return { sessionIdContext: sessionIdContext(o.id) };
}

/** The SNI choice: the store's context for the name, else a failed handshake (warned about, at
 *  most once a minute per name, when the name awaits its ACME certificate). */
function sniCallback(store: CertificateStore, o: { id: string; logger: Logger } | undefined): tls.TlsOptions['SNICallback'] {
  const lastWarned = new Map<string, number>();
  return (servername, cb) => {
    const context = store.contextFor(servername);
    if (context) return cb(null, context);
    if (o && store.awaitsCertificate(servername)) {
      const now = Date.now();
      if ((lastWarned.get(servername) ?? 0) + MISSING_WARN_MS <= now) {
        lastWarned.set(servername, now);
        o.logger.warn({ listener: o.id, servername, code: 'PRX_TLS_NO_CERTIFICATE' }, 'TLS handshake refused: no certificate for this name yet (ACME issuance pending; see GET /v1/tls)');
      }
    }
    cb(new Error(`no certificate for ${servername}`), undefined);
  };
}

/** Options of a TLS server on the store: its certificates chosen per handshake (SNI), the first
 *  one without SNI; also for the admin API's HTTPS server (admin/api/admin-tls.ts). `warn`: where
 *  a handshake refused for a name awaiting its ACME certificate is logged. */
export function tlsServerOptions(store: CertificateStore, handshakeTimeoutMs: number, alpnProtocols: string[] = DEFAULT_ALPN, warn?: { id: string; logger: Logger }): tls.TlsOptions {
  return {
    ...store.defaultContextOptions(),
    ALPNProtocols: alpnProtocols,
    SNICallback: sniCallback(store, warn),
    handshakeTimeout: handshakeTimeoutMs,
    // no allowHalfOpen (the plain listener has it): a TLS client's close_notify + FIN ends the
    // connection; a half-open TLSSocket is not destroyed after our own end() and would linger
    noDelay: true,
  };
}

/** Turns the server's SNICallback off and on again, where this Node allows it. With an
 *  SNICallback, Node pauses every full handshake at OpenSSL's certificate callback, calls into
 *  JavaScript (loadSNI, the callback, requestOCSP) and switches the handshake to the returned
 *  context; with one certificate that context is the server's own, so a listener with one
 *  certificate and no ACME names does without (~30 µs of JavaScript per full handshake in the
 *  tls-new profile, bench/RESULTS.md). Node 20 reads the callback per connection from a field of
 *  the server named by the symbol 'snicallback' (tlsConnectionListener); where it is not found the
 *  callback stays on. Returns undefined then. */
function sniSwitch(server: tls.Server): ((on: boolean) => void) | undefined {
  const key = Object.getOwnPropertySymbols(server).find((s) => s.description === 'snicallback');
  const fields = server as unknown as Record<symbol, unknown>;
  const callback = key ? fields[key] : undefined;
  if (key === undefined || typeof callback !== 'function') return undefined;
  return (on) => { fields[key] = on ? callback : undefined; };
}

/** Keeps the server's own context on the store's first certificate as the store changes, and
 *  closes every connection whose handshake fails; returns the function that stops following. */
export function followCertificateStore(server: tls.Server, store: CertificateStore, o: TlsListenerOptions): () => void {
  const tickets = o.sessionTickets || undefined;
  // setSecureContext resets the session id context to Node's default unless given again
  const freshContext = () => server.setSecureContext({ ...store.defaultContextOptions(), ...sessionOptions(o) });
  tickets?.install(server, freshContext);
  const sni = sniSwitch(server);
  sni?.(store.choosesBySni());
  const unsubscribe = store.onChange(() => {
    freshContext();
    // a new server context: the ticket keys go on it too
    tickets?.install(server, freshContext);
    sni?.(store.choosesBySni());
  });
  server.on('close', unsubscribe);
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    o.logger.debug({ listener: o.id, client: socket.remoteAddress, reason: err.code ?? err.message }, 'TLS handshake failed');
    // Node leaves the socket open after ERR_TLS_HANDSHAKE_TIMEOUT: the deadline must close it
    socket.destroy();
  });
  return unsubscribe;
}

/** The listener's server: a tls.Server, or with `answerTlsAlpn01` a net.Server in front of one. */
export function createTlsServer(store: CertificateStore, o: TlsListenerOptions, onSecureConnection: (socket: tls.TLSSocket) => void): net.Server {
  const server = tls.createServer({ ...tlsServerOptions(store, o.handshakeTimeoutMs, o.alpnProtocols, o), ...sessionOptions(o) }, onSecureConnection);
  const unsubscribe = followCertificateStore(server, store, o);
  const answer = o.answerTlsAlpn01;
  if (!answer) return server;

  const challenges = tls.createServer({
    ...SERVER_TLS_VERSIONS,
    ALPNProtocols: [ACME_TLS_ALPN],
    SNICallback: (servername, cb) => {
      const context = answer(servername);
      if (context) cb(null, context);
      else cb(new Error(`no TLS-ALPN-01 challenge pending for ${servername}`), undefined);
    },
    handshakeTimeout: o.handshakeTimeoutMs,
  }, (socket) => {
    o.logger.info({ listener: o.id, servername: socket.servername, client: socket.remoteAddress }, 'ACME TLS-ALPN-01 validation answered');
    socket.end();
  });
  challenges.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    o.logger.debug({ listener: o.id, client: socket.remoteAddress, reason: err.code ?? err.message }, 'ACME TLS-ALPN-01 handshake failed');
    socket.destroy();
  });

  const front = net.createServer({ noDelay: true }, (socket) => {
    let buffered: Buffer = Buffer.alloc(0);
    const deadline = setTimeout(() => socket.destroy(), o.handshakeTimeoutMs);
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const result = parseClientHello(buffered);
      if (result.kind === 'incomplete') return;
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      clearTimeout(deadline);
      socket.unshift(buffered);
      const hello = result.kind === 'client-hello' ? result.hello : undefined;
      // RFC 8737 §3: the validation offers "acme-tls/1" (only); normal clients never do
      if (hello?.alpn.includes(ACME_TLS_ALPN)) challenges.emit('connection', socket);
      else server.emit('connection', socket);
    };
    const onEnd = () => { clearTimeout(deadline); socket.destroy(); };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', () => clearTimeout(deadline));
  });
  front.on('close', unsubscribe);
  return front;
}
