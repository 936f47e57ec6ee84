// The certificates of one TLS listener, chosen per handshake by SNI: an exact name, else a
// wildcard for one label (RFC 6125 §6.4.3: `*.example.com` covers `a.example.com`, not
// `a.b.example.com` or `example.com`), else the first certificate (clients without SNI too).
// Names come from the certificate itself: its subjectAltName DNS entries, or its CN when it has
// none, as nginx and HAProxy's crt-list do.
//
// `replace` is the one seam for certificate changes (admin API, file watcher; later a broadcast to
// workers): it takes plain PEM pairs (serialisable), compiles them all first and swaps them in one
// step, so a bad pair changes nothing. Node's tls takes a SecureContext per handshake, so new
// handshakes use the new certificates and established connections keep theirs.
//
// A listener that asks for client certificates (the admin API's, admin/api/admin-tls.ts) gives the
// store the CA bundle to verify them against: it goes into every context, because OpenSSL verifies
// a client with the trust store of the context chosen for the handshake (the SNI one), not the
// server's first.
import tls from 'node:tls';
import { checkKeyPair, type KeyPair } from './pem.js';
import { ProxyError } from '../errors.js';

/** TLS 1.2 and 1.3 only (RFC 8996 deprecates 1.0 and 1.1). */
export const SERVER_TLS_VERSIONS = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' } as const;

export interface CertificateInfo {
  names: string[];
  subject: string;
  issuer: string;
  validFrom: string;
  validTo: string;
  fingerprint256: string;
  certFile?: string;
  keyFile?: string;
}

/** The CA bundle client certificates are verified against, and the file it came from. */
export interface ClientCa {
  pem: string;
  file?: string;
}

interface Entry {
  pair: KeyPair;
  info: CertificateInfo;
  context: tls.SecureContext;
}

function dnsNames(subjectAltName: string | undefined, subject: string): string[] {
  const san = (subjectAltName ?? '').split(', ').filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4).toLowerCase());
  if (san.length > 0) return san;
  const cn = /^CN=(.+)$/m.exec(subject);
  return cn ? [cn[1].toLowerCase()] : [];
}

function contextOptions(pair: KeyPair, clientCa: ClientCa | undefined): tls.SecureContextOptions {
  return { ...SERVER_TLS_VERSIONS, cert: pair.cert, key: pair.key, ...(clientCa ? { ca: clientCa.pem } : {}) };
}

function compile(pair: KeyPair, where: string, clientCa: ClientCa | undefined): Entry {
  const leaf = checkKeyPair(pair, where);
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext(contextOptions(pair, clientCa));
  } catch (e) {
    throw new ProxyError('PRX_ERR_TLS_FILE', `${pair.certFile ?? 'the certificate'}: ${(e as Error).message}`, where);
  }
  const info: CertificateInfo = {
    names: dnsNames(leaf.subjectAltName, leaf.subject),
    subject: leaf.subject.replace(/\n/g, ', '),
    issuer: leaf.issuer.replace(/\n/g, ', '),
    validFrom: new Date(leaf.validFrom).toISOString(),
    validTo: new Date(leaf.validTo).toISOString(),
    fingerprint256: leaf.fingerprint256,
    ...(pair.certFile ? { certFile: pair.certFile, keyFile: pair.keyFile } : {}),
  };
  return { pair: { ...pair }, info, context };
}

export class CertificateStore {
  readonly id: string;
  #entries: Entry[] = [];
  #exact = new Map<string, Entry>();
  /** '.example.com' -> the entry holding '*.example.com' */
  #wildcard = new Map<string, Entry>();
  readonly #listeners = new Set<() => void>();
  #clientCa: ClientCa | undefined;

  /** `where`: JSON pointer of the certificate list, for error messages. */
  constructor(id: string, pairs: KeyPair[], where = '', clientCa?: ClientCa) {
    this.id = id;
    this.replace(pairs, where, clientCa);
  }

  /** Compiles every pair, then swaps the set in; throws ProxyError (nothing changes) on a bad one.
   *  `clientCa`: a new client CA bundle (default: the one in use). */
  replace(pairs: KeyPair[], where = '', clientCa: ClientCa | undefined = this.#clientCa): CertificateInfo[] {
    if (pairs.length === 0) throw new ProxyError('PRX_ERR_TLS_FILE', 'a TLS listener needs at least one certificate', where);
    const entries = pairs.map((p, i) => compile(p, `${where}/${i}`, clientCa));
    const exact = new Map<string, Entry>();
    const wildcard = new Map<string, Entry>();
    for (const e of entries) {
      for (const n of e.info.names) {
        // the first certificate that names a host wins, as in nginx
        if (n.startsWith('*.')) { if (!wildcard.has(n.slice(1))) wildcard.set(n.slice(1), e); }
        else if (!exact.has(n)) exact.set(n, e);
      }
    }
    this.#entries = entries;
    this.#exact = exact;
    this.#wildcard = wildcard;
    this.#clientCa = clientCa;
    for (const l of this.#listeners) l();
    return this.list();
  }

  /** The context for a handshake that asked for `servername` (SNI). */
  contextFor(servername: string): tls.SecureContext {
    return this.#entryFor(servername).context;
  }

  #entryFor(servername: string): Entry {
    const name = servername.toLowerCase().replace(/\.$/, '');
    const exact = this.#exact.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    return (dot > 0 ? this.#wildcard.get(name.slice(dot)) : undefined) ?? this.#entries[0];
  }

  /** The certificate used without SNI (the first one). */
  defaultPair(): KeyPair {
    return this.#entries[0].pair;
  }

  /** Options of the server's own context (used without SNI): the first pair, the client CA. */
  defaultContextOptions(): tls.SecureContextOptions {
    return contextOptions(this.#entries[0].pair, this.#clientCa);
  }

  clientCa(): ClientCa | undefined {
    return this.#clientCa;
  }

  pairs(): KeyPair[] {
    return this.#entries.map((e) => e.pair);
  }

  list(): CertificateInfo[] {
    return this.#entries.map((e) => e.info);
  }

  /** Called after every successful replace. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
