// The names the ACME manager obtains certificates for: on each TLS listener with `tls.acme`, every
// route `host` that is an exact DNS name, plus the listener's `acmeNames`. Skipped, with the
// reason (logged at warn, shown in GET /v1/tls):
//   - wildcards: a CA issues them only after a DNS-01 challenge (RFC 8555 §8.4 with a DNS zone
//     Portico does not control), which is not implemented;
//   - IP addresses (RFC 8738 identifiers are not offered by the common CAs), `localhost` and
//     `*.localhost` (RFC 6761 §6.3), single-label names: no public CA issues for them;
//   - names a configured certificate of that listener already covers (exactly or by wildcard):
//     the certificate configured by hand is what is served for them.
import net from 'node:net';
import type { TlsListenerView } from '../../src/contract/data-plane.js';
import type { RouteSpec } from '../../src/routing/route-spec.js';

export interface SkippedName {
  name: string;
  listeners: string[];
  reason: string;
  /** Worth a warning (false: covered by a configured certificate, as intended). */
  warn: boolean;
}

export interface NamePlan {
  /** name -> the acme listeners that serve it, sorted by name. */
  names: Map<string, string[]>;
  skipped: SkippedName[];
}

/** RFC 1035 §2.3.1 labels (letters, digits, inner hyphens; up to 63 octets), 253 octets in all. */
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** Why a name cannot get a certificate from an ACME CA, or undefined when it can. */
export function unsupportedReason(name: string): string | undefined {
  if (name.startsWith('*.')) return 'a wildcard name: a CA issues those only after a DNS-01 challenge, which Portico does not do (configure a certificate file for it)';
  if (net.isIP(name.replace(/^\[|\]$/g, '')) !== 0) return 'an IP address: ACME CAs issue certificates for DNS names (configure a certificate file for it)';
  if (name === 'localhost' || name.endsWith('.localhost')) return 'a localhost name (RFC 6761): no public CA issues for it';
  if (!name.includes('.')) return 'a single-label name: no public CA issues for it';
  if (!DNS_NAME.test(name)) return 'not a valid DNS name';
  return undefined;
}

export function planNames(routes: ReadonlyArray<Readonly<RouteSpec>>, listeners: TlsListenerView[]): NamePlan {
  const names = new Map<string, string[]>();
  const skipped = new Map<string, SkippedName>();
  const skip = (name: string, listener: string, reason: string, warn: boolean) => {
    const key = `${name}\n${reason}`;
    const s = skipped.get(key) ?? { name, listeners: [], reason, warn };
    if (!s.listeners.includes(listener)) s.listeners.push(listener);
    skipped.set(key, s);
  };
  const hosts = routes.flatMap((r) => (r.host === undefined ? [] : [r.host]));
  for (const l of listeners) {
    if (l.acmeNames === undefined) continue;
    for (const raw of new Set([...hosts, ...l.acmeNames])) {
      const name = raw.toLowerCase().replace(/\.$/, '');
      const why = unsupportedReason(name);
      if (l.store.configuredCovers(name)) skip(name, l.id, 'covered by a configured certificate of this listener (it keeps priority)', false);
      else if (why !== undefined) skip(name, l.id, why, true);
      else {
        const on = names.get(name) ?? [];
        if (!on.includes(l.id)) on.push(l.id);
        names.set(name, on);
      }
    }
  }
  return {
    names: new Map([...names].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))),
    skipped: [...skipped.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}
