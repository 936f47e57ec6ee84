// TLS for the admin API's listener (admin.tls): the proxy's own certificate machinery
// (src/tls/: a CertificateStore chosen by SNI, reloaded by a CertificateWatcher when the files
// change), and optionally client certificates verified against admin.tls.clientCertificates.ca.
// A verified certificate whose subject CN is listed in `clients` is a credential of its own (that
// role, that name, no token needed); with `required: true` no connection is made without a
// verified certificate, and a token may still be needed for the role.
// No Fastify here: the start-up checks (admin/cli/preflight.ts) load the files with this too.
import type { ServerOptions } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { AdminRole, AdminTlsConfig } from '../../src/config/admin-schema.js';
import { CertificateStore } from '../../src/tls/certificate-store.js';
import { readCaBundle, readKeyPair } from '../../src/tls/pem.js';
import { tlsServerOptions } from '../../src/tls/tls-listener.js';
import type { Principal } from './credentials.js';

export const ADMIN_TLS_LISTENER_ID = 'admin';

export interface AdminTls {
  store: CertificateStore;
  /** For Fastify's `https` option. */
  serverOptions: ServerOptions;
  /** Verified client certificates by subject CN (empty: none are credentials). */
  clients: ReadonlyMap<string, AdminRole>;
  handshakeTimeoutMs: number;
  watchFiles: boolean;
  watchIntervalMs: number;
}

/** Reads and checks every file of admin.tls; throws ProxyError PRX_ERR_TLS_FILE naming the setting. */
export function loadAdminTls(config: AdminTlsConfig): AdminTls {
  const where = '/admin/tls/certificates';
  const pairs = config.certificates.map((c, i) => readKeyPair(c.cert, c.key, `${where}/${i}`));
  const cc = config.clientCertificates;
  const clientCa = cc ? { pem: readCaBundle(cc.ca, '/admin/tls/clientCertificates/ca'), file: cc.ca } : undefined;
  const store = new CertificateStore(ADMIN_TLS_LISTENER_ID, pairs, where, clientCa);
  return {
    store,
    serverOptions: {
      ...tlsServerOptions(store, config.handshakeTimeoutMs),
      // ask for a certificate only where one is wanted; verify it against the CA in every case
      requestCert: cc !== undefined,
      rejectUnauthorized: cc?.required ?? false,
    },
    clients: new Map((cc?.clients ?? []).map((c) => [c.commonName, c.role])),
    handshakeTimeoutMs: config.handshakeTimeoutMs,
    watchFiles: config.watchFiles,
    watchIntervalMs: config.watchIntervalMs,
  };
}

export interface CertificateCredential {
  principal?: Principal;
  /** Why a certificate the client sent is not a credential (for the 401's detail). */
  refused?: string;
}

/** The credential a connection's client certificate gives, if any. */
export function certificateCredential(socket: Socket, clients: ReadonlyMap<string, AdminRole>): CertificateCredential {
  const s = socket as Partial<TLSSocket>;
  if (clients.size === 0 || !s.encrypted || typeof s.getPeerCertificate !== 'function') return {};
  const cert = s.getPeerCertificate();
  // no certificate sent: an empty object
  if (!cert || !cert.subject) return {};
  const cn = cert.subject.CN;
  if (!s.authorized) return { refused: `the client certificate${typeof cn === 'string' ? ` (CN=${cn})` : ''} was not accepted: ${String(s.authorizationError ?? 'unverified')}` };
  if (typeof cn !== 'string') return { refused: 'the client certificate has no single subject CN to identify it by' };
  const role = clients.get(cn);
  if (role === undefined) return { refused: `the client certificate CN=${cn} is not in admin.tls.clientCertificates.clients` };
  return { principal: { name: cn, role } };
}
