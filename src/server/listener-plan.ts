// The listeners a configuration asks for: the main plain `listen` (unless it is false) and each
// entry of `listeners`, plain or TLS. TLS certificates are read and checked here, so a bad,
// unreadable or mismatched file is a configuration error that names the file and the setting.
import type { Config } from '../config/config.js';
import { parseHostPort } from '../config/config.js';
import { ProxyError } from '../errors.js';
import { CertificateStore } from '../tls/certificate-store.js';
import { readKeyPair } from '../tls/pem.js';

export interface ListenerPlan {
  id: string;
  listen: string;
  /** JSON pointer of the listener's settings. */
  where: string;
  tls?: { store: CertificateStore; handshakeTimeoutMs: number; watchFiles: boolean; watchIntervalMs: number };
  redirectToHttps?: { port: number };
}

export function planListeners(config: Config): ListenerPlan[] {
  const plans: ListenerPlan[] = [];
  if (config.listen !== false) plans.push({ id: 'main', listen: config.listen, where: '/listen' });
  let tlsCount = 0;
  let plainCount = 0;
  config.listeners.forEach((l, i) => {
    const where = `/listeners/${i}`;
    parseHostPort(l.listen, `${where}/listen`);
    if (l.tls && l.redirectToHttps) throw new ProxyError('PRX_ERR_BAD_CONFIG', `${where}/redirectToHttps is for plain listeners; this one is TLS`, `${where}/redirectToHttps`);
    const id = l.id ?? (l.tls ? `tls-${++tlsCount}` : `http-${++plainCount}`);
    if (plans.some((p) => p.id === id)) throw new ProxyError('PRX_ERR_BAD_CONFIG', `${where}/id: two listeners are named ${JSON.stringify(id)}`, `${where}/id`);
    const plan: ListenerPlan = { id, listen: l.listen, where, ...(l.redirectToHttps ? { redirectToHttps: l.redirectToHttps } : {}) };
    if (l.tls) {
      const certs = `${where}/tls/certificates`;
      const pairs = l.tls.certificates.map((c, j) => readKeyPair(c.cert, c.key, `${certs}/${j}`));
      const { handshakeTimeoutMs, watchFiles, watchIntervalMs } = l.tls;
      plan.tls = { store: new CertificateStore(id, pairs, certs), handshakeTimeoutMs, watchFiles, watchIntervalMs };
    }
    plans.push(plan);
  });
  if (plans.length === 0) throw new ProxyError('PRX_ERR_BAD_CONFIG', '/listen is false and /listeners is empty: nothing to listen on', '/listeners');
  return plans;
}
