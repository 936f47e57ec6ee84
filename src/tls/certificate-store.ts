// The certificates of one TLS listener, chosen per handshake by SNI: an exact name, else a
// wildcard for one label (RFC 6125 §6.4.3: `*.example.com` covers `a.example.com`, not
// `a.b.example.com` or `example.com`), else the first certificate (clients without SNI too).
// Names come from the certificate itself: its subjectAltName DNS entries, or its CN when it has
// none, as nginx and HAProxy's crt-list do.
//
// Two lists: the configured certificates (files in the config, or the admin API's upload) and,
// on a listener with `tls.acme`, the certificates issued by the ACME CA (admin/acme/). The
// configured ones come first, so a certificate configured by hand keeps priority over an issued
// one for the same name. A name the ACME manager looks after but has no certificate for yet
// (`names` of replaceIssued) gets no certificate at all: its handshakes fail (the listener logs
// them at warn) rather than present another name's certificate.
//
// `replace` and `replaceIssued` are the seams for certificate changes (admin API, file watcher,
// ACME; with workers, the primary's broadcast): they take plain PEM pairs (serialisable), compile
// them all first and swap them in one step, so a bad pair changes nothing. Node's tls takes a
// SecureContext per handshake, so new handshakes use the new certificates and established
// connections keep theirs.
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
  /** 'acme': issued by the ACME CA (absent: configured). */
  source?: 'acme';
}

/** The CA bundle client certificates are verified against, and the file it came from. */
export interface ClientCa {
  pem: string;
  file?: string;
}

/** The ACME-issued certificates of a listener and every name the ACME manager looks after for it
 *  (with or without a certificate yet). */
export interface IssuedCertificates {
  pairs: KeyPair[];
  names: string[];
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

/** SNI names compare lower-cased, without a trailing dot. */
export function normalizeServerName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function contextOptions(pair: KeyPair | undefined, clientCa: ClientCa | undefined): tls.SecureContextOptions {
  return { ...SERVER_TLS_VERSIONS, ...(pair ? { cert: pair.cert, key: pair.key } : {}), ...(clientCa ? { ca: clientCa.pem } : {}) };
}

function compile(pair: KeyPair, where: string, clientCa: ClientCa | undefined, source?: 'acme'): Entry {
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
    ...(source ? { source } : {}),
  };
  return { pair: { ...pair }, info, context };
}

/** Exact names and one-label wildcards ('.example.com' for '*.example.com') of some entries; the
 *  first entry that names a host wins, as in nginx. */
function index(entries: Entry[]): { exact: Map<string, Entry>; wildcard: Map<string, Entry> } {
  const exact = new Map<string, Entry>();
  const wildcard = new Map<string, Entry>();
  for (const e of entries) {
    for (const n of e.info.names) {
      if (n.startsWith('*.')) { if (!wildcard.has(n.slice(1))) wildcard.set(n.slice(1), e); }
      else if (!exact.has(n)) exact.set(n, e);
    }
  }
  return { exact, wildcard };
}

export class CertificateStore {
  readonly id: string;
  /** The listener has `tls.acme`: it may start without configured certificates. */
  readonly acme: boolean;
  #configured: Entry[] = [];
  #issued: Entry[] = [];
  /** Every name the ACME manager looks after on this listener. */
  #managed = new Set<string>();
  #exact = new Map<string, Entry>();
  /** '.example.com' -> the entry holding '*.example.com' */
  #wildcard = new Map<string, Entry>();
  readonly #listeners = new Set<() => void>();
  #clientCa: ClientCa | undefined;

  /** `where`: JSON pointer of the certificate list, for error messages. */
  constructor(id: string, pairs: KeyPair[], where = '', clientCa?: ClientCa, options: { acme?: boolean } = {}) {
    this.id = id;
    this.acme = options.acme === true;
    this.replace(pairs, where, clientCa);
  }

  /** Compiles every configured pair, then swaps the set in; throws ProxyError (nothing changes)
   *  on a bad one. `clientCa`: a new client CA bundle (default: the one in use). */
  replace(pairs: KeyPair[], where = '', clientCa: ClientCa | undefined = this.#clientCa): CertificateInfo[] {
    if (pairs.length === 0 && !this.acme) throw new ProxyError('PRX_ERR_TLS_FILE', 'a TLS listener needs at least one certificate (or "acme": true)', where);
    const configured = pairs.map((p, i) => compile(p, `${where}/${i}`, clientCa));
    // the issued ones carry the client CA too
    if (clientCa !== this.#clientCa) this.#issued = this.#issued.map((e, i) => compile(e.pair, `/issued/${i}`, clientCa, 'acme'));
    this.#configured = configured;
    this.#clientCa = clientCa;
    this.#reindex();
    return this.list();
  }

  /** Swaps in the ACME-issued certificates and the names looked after (all compiled first;
   *  throws ProxyError and changes nothing on a bad pair). */
  replaceIssued(issued: IssuedCertificates): CertificateInfo[] {
    this.#issued = issued.pairs.map((p, i) => compile(p, `/issued/${i}`, this.#clientCa, 'acme'));
    this.#managed = new Set(issued.names.map(normalizeServerName));
    this.#reindex();
    return this.list();
  }

  #reindex(): void {
    // configured first: a certificate configured by hand wins over an issued one for its names
    const { exact, wildcard } = index([...this.#configured, ...this.#issued]);
    this.#exact = exact;
    this.#wildcard = wildcard;
    for (const l of this.#listeners) l();
  }

  /** The context for a handshake that asked for `servername` (SNI); undefined when there is none
   *  to offer (a name looked after by ACME without a certificate yet, or no certificate at all). */
  contextFor(servername: string): tls.SecureContext | undefined {
    return this.#entryFor(servername)?.context;
  }

  /** An ACME name of this listener that has no certificate yet (its handshakes fail). */
  awaitsCertificate(servername: string): boolean {
    const name = normalizeServerName(servername);
    return this.#managed.has(name) && this.#entryFor(name) === undefined;
  }

  #entryFor(servername: string): Entry | undefined {
    const name = normalizeServerName(servername);
    const exact = this.#exact.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    const wildcard = dot > 0 ? this.#wildcard.get(name.slice(dot)) : undefined;
    if (wildcard) return wildcard;
    // another name's certificate would only fail the client's check: say "no certificate yet"
    if (this.#managed.has(name)) return undefined;
    return this.#configured[0] ?? this.#issued[0];
  }

  /** Whether a handshake's certificate depends on its SNI name: more than one certificate, or
   *  ACME names (a name awaiting its certificate is refused). With one certificate and no ACME,
   *  every handshake gets the first one, the server's own context. */
  choosesBySni(): boolean {
    return this.acme || this.#configured.length + this.#issued.length > 1;
  }

  /** Whether a configured certificate (not an issued one) covers `name`, exactly or by wildcard. */
  configuredCovers(name: string): boolean {
    const n = normalizeServerName(name);
    const dot = n.indexOf('.');
    return this.#configured.some((e) => e.info.names.includes(n) || (dot > 0 && e.info.names.includes(`*${n.slice(dot)}`)));
  }

  /** The certificate used without SNI: the first configured one, else the first issued one. */
  defaultPair(): KeyPair | undefined {
    return (this.#configured[0] ?? this.#issued[0])?.pair;
  }

  /** Options of the server's own context (used without SNI): the first pair, the client CA. */
  defaultContextOptions(): tls.SecureContextOptions {
    return contextOptions(this.defaultPair(), this.#clientCa);
  }

  clientCa(): ClientCa | undefined {
    return this.#clientCa;
  }

  /** The configured pairs (what the admin API and the file watcher replace). */
  pairs(): KeyPair[] {
    return this.#configured.map((e) => e.pair);
  }

  /** The ACME-issued pairs and the names looked after. */
  issued(): IssuedCertificates {
    return { pairs: this.#issued.map((e) => e.pair), names: [...this.#managed] };
  }

  /** Configured certificates, then issued ones. */
  list(): CertificateInfo[] {
    return [...this.#configured, ...this.#issued].map((e) => e.info);
  }

  /** Called after every successful replace or replaceIssued. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
