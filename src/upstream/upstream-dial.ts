// A connection to an upstream origin, for either pool (HTTP/1.1 sockets, ./pool.ts; HTTP/2
// sessions, ./h2-session-pool.ts): TCP, or TLS with verification on (unless the route opted out),
// SNI and the verified name from the URL host (or the route's servername), the ALPN protocol the
// pool speaks, TLS 1.2+, and the pool's last TLS session offered for resumption. Within one
// deadline: PRX_ERR_UPSTREAM_TIMEOUT past it, PRX_ERR_UPSTREAM_TLS for a failed handshake or
// verification (a 502 with the reason logged, never a plaintext retry), PRX_ERR_UPSTREAM_CONNECT
// for a refused or unreachable origin.
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { Origin } from './origin-url.js';
import type { UpstreamTls } from './upstream-tls.js';
import { ProxyError } from '../errors.js';
import type { Clock } from '../clock.js';

/** The client context of an https:// origin (CA, client certificate), made once per pool. */
export function upstreamSecureContext(t: UpstreamTls, caBundle: string | undefined): tls.SecureContext {
  return tls.createSecureContext({ minVersion: 'TLSv1.2', ca: t.ca ?? caBundle, cert: t.clientPair?.cert, key: t.clientPair?.key });
}

/** What a pool keeps between its TLS connections. */
export interface TlsDialState {
  readonly context: tls.SecureContext;
  /** The ALPN protocol the pool speaks ('http/1.1' or 'h2'): the only one offered. */
  readonly alpn: string;
  /** The newest session ticket the origin gave, offered on the next connection. */
  session: Buffer | undefined;
}

export interface DialOptions {
  connectMs: number;
  clock: Clock;
  logger: Logger | undefined;
  /** https:// origins. */
  tls: TlsDialState | undefined;
  /** Plain TCP: net.connect's `onread` (owned reads, src/net/owned-reads.ts). */
  onread?: net.OnReadOpts;
}

/** A connected (and for https, handshaken and verified) socket to `origin`. */
export function dialUpstream(origin: Origin, o: DialOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const t = origin.tls;
    const state = o.tls;
    const socket = t && state ? connectTls(origin, t, state) : net.connect({ host: origin.host, port: origin.port, noDelay: true, autoSelectFamily: true, ...(o.onread ? { onread: o.onread } : {}) });
    let tcpConnected = false;
    const timer = o.clock.deadline(() => {
      socket.destroy();
      reject(new ProxyError('PRX_ERR_UPSTREAM_TIMEOUT', `connect to ${origin.authority} timed out after ${o.connectMs} ms${tcpConnected ? ' (TLS handshake)' : ''}`));
    });
    timer.arm(o.connectMs);
    const onError = (e: Error) => {
      timer.cancel();
      socket.destroy();
      const code = (e as NodeJS.ErrnoException).code;
      if (t && tcpConnected) {
        const reason = `TLS with https://${origin.authority} failed: ${code ? `${code} (${e.message})` : e.message}`;
        o.logger?.warn({ upstream: origin.authority, servername: t.servername, reason }, 'upstream TLS handshake failed');
        reject(new ProxyError('PRX_ERR_UPSTREAM_TLS', reason));
        return;
      }
      reject(new ProxyError('PRX_ERR_UPSTREAM_CONNECT', `connect to ${origin.authority} failed: ${code ?? e.message}`));
    };
    socket.once('error', onError);
    socket.once('connect', () => { tcpConnected = true; });
    socket.once(t ? 'secureConnect' : 'connect', () => {
      timer.cancel();
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

function connectTls(origin: Origin, t: UpstreamTls, state: TlsDialState): tls.TLSSocket {
  // autoSelectFamily is passed on to net.Socket#connect (missing from @types/node's TLS options)
  const socket = tls.connect({
    host: origin.host,
    port: origin.port,
    servername: t.servername,
    secureContext: state.context,
    rejectUnauthorized: !t.insecureSkipVerify,
    ALPNProtocols: [state.alpn],
    session: state.session,
    autoSelectFamily: true,
  } as tls.ConnectionOptions);
  socket.setNoDelay(true);
  // TLS 1.3 tickets arrive after the handshake; keep the newest for the next connection
  socket.on('session', (session: Buffer) => { state.session = session; });
  return socket;
}
