// The listeners a configuration asks for: the main plain `listen` (unless it is false) and each
// entry of `listeners`, plain or TLS. TLS certificates are read and checked here, so a bad,
// unreadable or mismatched file is a configuration error that names the file and the setting.
// A TLS listener with `tls.acme` may have no certificates (the ACME CA's come later) and needs
// the top-level `acme` setting.
import type { Config, ListenerProtocol } from '../config/config.js';
import { parseHostPort } from '../config/config.js';
import { ProxyError } from '../errors.js';
import { CertificateStore } from '../tls/certificate-store.js';
import { readKeyPair } from '../tls/pem.js';

export interface ListenerPlan {
  id: string;
  listen: string;
  /** JSON pointer of the listener's settings. */
  where: string;
  tls?: { store: CertificateStore; handshakeTimeoutMs: number; watchFiles: boolean; watchIntervalMs: number; acme: boolean; acmeNames: string[] };
  redirectToHttps?: { port: number };
  /** What it speaks, in preference order: by ALPN on TLS ('h2', 'http/1.1'), on a plain listener
   *  'http/1.1' and perhaps 'h2c' (prior knowledge). */
  protocols: ListenerProtocol[];
}

/** TLS listeners offer HTTP/2 and HTTP/1.1 by default, HTTP/2 first (what nginx, Caddy and
 *  HAProxy do with h2 on); a plain listener speaks HTTP/2 only when it opts in (h2c). */
const DEFAULT_TLS_PROTOCOLS: ListenerProtocol[] = ['h2', 'http/1.1'];
const DEFAULT_PLAIN_PROTOCOLS: ListenerProtocol[] = ['http/1.1'];

/** The listener's protocols, checked against its TLS-ness: "h2" is HTTP/2 over TLS (ALPN), "h2c"
 *  HTTP/2 over plain TCP (RFC 9113 §3). */
function listenerProtocols(asked: ListenerProtocol[] | undefined, secure: boolean, where: string): ListenerProtocol[] {
  if (asked === undefined) return secure ? DEFAULT_TLS_PROTOCOLS : DEFAULT_PLAIN_PROTOCOLS;
  const wrong = secure ? 'h2c' : 'h2';
  if (asked.includes(wrong)) {
    const detail = secure
      ? '"h2c" is HTTP/2 without TLS; a TLS listener offers "h2" by ALPN'
      : '"h2" is HTTP/2 over TLS; a plain listener speaks HTTP/2 as "h2c" (prior knowledge)';
    throw new ProxyError('PRX_ERR_BAD_CONFIG', `${where}/protocols: ${detail}`, `${where}/protocols`);
  }
  return asked;
}

export function planListeners(config: Config): ListenerPlan[] {
  const plans: ListenerPlan[] = [];
  if (config.listen !== false) plans.push({ id: 'main', listen: config.listen, where: '/listen', protocols: DEFAULT_PLAIN_PROTOCOLS });
  let tlsCount = 0;
  let plainCount = 0;
  config.listeners.forEach((l, i) => {
    const where = `/listeners/${i}`;
    parseHostPort(l.listen, `${where}/listen`);
    if (l.tls && l.redirectToHttps) throw new ProxyError('PRX_ERR_BAD_CONFIG', `${where}/redirectToHttps is for plain listeners; this one is TLS`, `${where}/redirectToHttps`);
    const id = l.id ?? (l.tls ? `tls-${++tlsCount}` : `http-${++plainCount}`);
    if (plans.some((p) => p.id === id)) throw new ProxyError('PRX_ERR_BAD_CONFIG', `${where}/id: two listeners are named ${JSON.stringify(id)}`, `${where}/id`);
    const protocols = listenerProtocols(l.protocols, l.tls !== undefined, where);
    const plan: ListenerPlan = { id, listen: l.listen, where, protocols, ...(l.redirectToHttps ? { redirectToHttps: l.redirectToHttps } : {}) };
    if (l.tls) {
      const certs = `${where}/tls/certificates`;
      const { handshakeTimeoutMs, watchFiles, watchIntervalMs, acme = false, acmeNames = [] } = l.tls;
      if (acme && !config.acme) throw new ProxyError('PRX_ERR_BAD_CONFIG', `${where}/tls/acme needs the top-level "acme" setting (at least its "directory")`, `${where}/tls/acme`);
      if (!acme && acmeNames.length > 0) throw new ProxyError('PRX_ERR_BAD_CONFIG', `${where}/tls/acmeNames is for listeners with "acme": true`, `${where}/tls/acmeNames`);
      if (!acme && !l.tls.certificates?.length) throw new ProxyError('PRX_ERR_BAD_CONFIG', `${where}/tls needs "certificates" (or "acme": true)`, certs);
      const pairs = (l.tls.certificates ?? []).map((c, j) => readKeyPair(c.cert, c.key, `${certs}/${j}`));
      plan.tls = { store: new CertificateStore(id, pairs, certs, undefined, { acme }), handshakeTimeoutMs, watchFiles, watchIntervalMs, acme, acmeNames };
    }
    plans.push(plan);
  });
  if (plans.length === 0) throw new ProxyError('PRX_ERR_BAD_CONFIG', '/listen is false and /listeners is empty: nothing to listen on', '/listeners');
  return plans;
}
