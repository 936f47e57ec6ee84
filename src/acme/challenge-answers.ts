// The answers to the ACME validations in progress, as the data plane serves them (the control
// plane, admin/acme/, orders certificates and fills this table through DataPlane.setAcmeChallenges;
// with workers every worker holds a copy):
//   - HTTP-01 (RFC 8555 §8.3): GET http://NAME/.well-known/acme-challenge/TOKEN is answered with
//     the key authorization by the dispatcher of every listener that serves routes, before
//     routing (and before a redirectToHttps listener's redirect: the CA asks over plain HTTP);
//   - TLS-ALPN-01 (RFC 8737 §3): a handshake for NAME that offers only "acme-tls/1" gets the
//     self-signed challenge certificate carrying the key authorization's digest.
// A request for a token that is not pending here falls through to the routes, so an ACME client
// running behind Portico (certbot --webroot on an upstream) keeps working.
import tls from 'node:tls';
import type { KeyPair } from '../tls/pem.js';
import type { LocalAnswer } from '../http/local-answer.js';
import { SERVER_TLS_VERSIONS } from '../tls/certificate-store.js';

/** The pending validations, serialisable (sent to workers). */
export interface AcmeChallengeSet {
  /** HTTP-01: token -> the name it validates and the key authorization to answer with. */
  http01: Record<string, { name: string; keyAuthorization: string }>;
  /** TLS-ALPN-01: name -> the challenge certificate and its key. */
  tlsAlpn01: Record<string, KeyPair>;
}

export const HTTP01_PREFIX = '/.well-known/acme-challenge/';

export function emptyChallengeSet(): AcmeChallengeSet {
  return { http01: {}, tlsAlpn01: {} };
}

export function sameChallengeSet(a: AcmeChallengeSet, b: AcmeChallengeSet): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class AcmeChallengeAnswers {
  #set: AcmeChallengeSet = emptyChallengeSet();
  #alpnContexts = new Map<string, tls.SecureContext>();

  /** Replaces every pending answer (a bad challenge certificate throws; nothing changes). */
  replace(set: AcmeChallengeSet): void {
    const contexts = new Map<string, tls.SecureContext>();
    for (const [name, pair] of Object.entries(set.tlsAlpn01)) {
      contexts.set(name.toLowerCase(), tls.createSecureContext({ ...SERVER_TLS_VERSIONS, cert: pair.cert, key: pair.key }));
    }
    this.#set = structuredClone(set);
    this.#alpnContexts = contexts;
  }

  current(): AcmeChallengeSet {
    return this.#set;
  }

  /** The HTTP-01 answer for a request, or undefined (not a pending token for this host: route it).
   *  `host`: the request's host without port, lower-cased. */
  answerHttp01(method: string, host: string, path: string): LocalAnswer | undefined {
    if (!path.startsWith(HTTP01_PREFIX) || (method !== 'GET' && method !== 'HEAD')) return undefined;
    const entry = this.#set.http01[path.slice(HTTP01_PREFIX.length)];
    if (entry === undefined || entry.name !== host.toLowerCase().replace(/\.$/, '')) return undefined;
    // RFC 8555 §8.3: the body is the key authorization; the CA trims trailing whitespace
    return { status: 200, body: entry.keyAuthorization, fields: 'Cache-Control: no-store\r\n' };
  }

  /** The TLS-ALPN-01 challenge certificate for `servername`, if one is pending. */
  tlsAlpn01Context(servername: string): tls.SecureContext | undefined {
    return this.#alpnContexts.get(servername.toLowerCase().replace(/\.$/, ''));
  }
}
