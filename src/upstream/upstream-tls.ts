// TLS towards an https:// upstream: what a route asks for (CA bundle, SNI/verified name, client
// certificate, the explicit insecureSkipVerify opt-in) read and checked once when the route is
// compiled, so a bad file is a configuration error rather than a 502 on every request.
// Verification is on unless a route opts out; the verified name is the URL host unless
// `servername` overrides it.
import { createHash } from 'node:crypto';
import net from 'node:net';
import { checkKeyPair, readCaBundle, readKeyPair, type KeyPair } from '../tls/pem.js';

export interface UpstreamTlsSpec {
  /** PEM CA bundle file; default: `upstream.caFile`, else Node's CA store (+ NODE_EXTRA_CA_CERTS). */
  ca?: string;
  /** SNI and the name the certificate must carry; default: the URL host. */
  servername?: string;
  /** Client certificate and key files (mTLS). */
  cert?: string;
  key?: string;
  /** Accept any certificate. Only as an explicit opt-in; logged at start-up. */
  insecureSkipVerify?: boolean;
}

export interface UpstreamTls {
  /** `https://authority` plus the settings: differently configured routes never share a pooled
   *  connection (or a health record). */
  readonly poolKey: string;
  /** SNI sent and name verified; undefined for an IP literal without an override (no SNI for
   *  IP addresses, RFC 6066 §3; the IP is verified against the certificate's IP entries). */
  readonly servername: string | undefined;
  /** PEM CA bundle of the route, or undefined for the global/default one. */
  readonly ca: string | undefined;
  readonly clientPair: KeyPair | undefined;
  readonly insecureSkipVerify: boolean;
}

/** TLS settings for an https:// origin (`where`: JSON pointer of the route's upstreamTls). */
export function upstreamTls(host: string, authority: string, spec: UpstreamTlsSpec = {}, where = '/upstreamTls'): UpstreamTls {
  const ca = spec.ca ? readCaBundle(spec.ca, `${where}/ca`) : undefined;
  let clientPair: KeyPair | undefined;
  if (spec.cert && spec.key) {
    clientPair = readKeyPair(spec.cert, spec.key, where);
    checkKeyPair(clientPair, where);
  }
  const insecureSkipVerify = spec.insecureSkipVerify === true;
  const settings = [spec.ca, spec.servername, spec.cert, spec.key, insecureSkipVerify || undefined];
  const custom = settings.some((s) => s !== undefined);
  const suffix = custom ? `#${createHash('sha256').update(JSON.stringify(settings)).digest('base64url').slice(0, 12)}` : '';
  return {
    poolKey: `https://${authority}${suffix}`,
    servername: spec.servername ?? (net.isIP(host) ? undefined : host),
    ca,
    clientPair,
    insecureSkipVerify,
  };
}

/** The pool (and health) key of an origin: its authority, or for https its poolKey. */
export function originKey(origin: { authority: string; tls?: UpstreamTls }): string {
  return origin.tls?.poolKey ?? origin.authority;
}
