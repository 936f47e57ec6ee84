// Where the forward proxy may connect (SSRF defence). A destination name is checked against
// denyHosts, then resolved ONCE; every resolved address is checked and the proxy connects to a
// checked address, never to the name again, so a DNS answer that changes between check and
// connect (DNS rebinding) cannot reach a denied address.
//
// Address rules, first match wins:
//   1. denyDestinations                                  -> denied
//   2. allowDestinations                                 -> allowed
//   3. a special-purpose range (loopback, private, link-local, unique-local, CGNAT, multicast,
//      unspecified, documentation, reserved... IANA special-purpose registries, RFC 6890) -> denied
//   4. anything else                                      -> allowed
// IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged as its IPv4 address; 6to4 (2002::/16), the NAT64
// well-known prefix (64:ff9b::/96) and IPv4-translated addresses (::ffff:0:a.b.c.d, RFC 2765
// section 2.1) are denied when the IPv4 address they embed would be.
import net from 'node:net';
import { AddressSet } from '../net/address-set.js';

/** Special-purpose ranges denied unless listed in allowDestinations, with the reason shown. */
const SPECIAL: Array<[label: string, cidrs: string[]]> = [
  ['unspecified ("this network")', ['0.0.0.0/8', '::/128']],
  ['loopback', ['127.0.0.0/8', '::1/128']],
  ['private (RFC 1918)', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']],
  ['shared (CGNAT, RFC 6598)', ['100.64.0.0/10']],
  ['link-local', ['169.254.0.0/16', 'fe80::/10']],
  ['unique-local (RFC 4193)', ['fc00::/7']],
  ['site-local (deprecated)', ['fec0::/10']],
  ['multicast', ['224.0.0.0/4', 'ff00::/8']],
  ['reserved or broadcast', ['240.0.0.0/4']],
  ['IETF protocol assignment', ['192.0.0.0/24']],
  ['documentation', ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32']],
  ['benchmarking', ['198.18.0.0/15', '2001:2::/48']],
  ['IPv4-compatible (deprecated)', ['::/96']],
  ['discard-only', ['100::/64']],
  ['Teredo', ['2001::/32']],
  ['local-use NAT64', ['64:ff9b:1::/48']],
  ['ORCHIDv2', ['2001:20::/28']],
];

const SPECIAL_SETS = SPECIAL.map(([label, cidrs]) => [label, new AddressSet(cidrs)] as const);

function specialLabel(address: string): string | undefined {
  for (const [label, set] of SPECIAL_SETS) if (set.has(address)) return label;
  return undefined;
}

/** The 16 bytes of an IPv6 address (dotted IPv4 tail allowed), or undefined. */
export function ipv6Bytes(address: string): Uint8Array | undefined {
  if (!net.isIPv6(address)) return undefined;
  let s = address.toLowerCase();
  const out = new Uint8Array(16);
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  let tail: number[] = [];
  if (v4) {
    tail = v4[1].split('.').map(Number);
    s = s.slice(0, -v4[1].length) + '0:0'; // placeholder groups, overwritten below
  }
  const [head, rest] = s.includes('::') ? s.split('::') : [s, undefined];
  const hs = head ? head.split(':') : [];
  const ts = rest === undefined ? [] : rest ? rest.split(':') : [];
  const groups = rest === undefined ? hs : [...hs, ...Array<string>(8 - hs.length - ts.length).fill('0'), ...ts];
  if (groups.length !== 8) return undefined;
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  if (v4) out.set(tail, 12);
  return out;
}

const dotted = (b: Uint8Array, at: number) => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

/** The address to judge and connect to: IPv4-mapped IPv6 becomes its IPv4 address. */
export function canonicalAddress(address: string): string {
  const b = ipv6Bytes(address);
  if (b && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return dotted(b, 12);
  return address;
}

/** The IPv4 address a 6to4 (2002:aabb:ccdd::/48), NAT64 (64:ff9b::a.b.c.d) or IPv4-translated
 *  (::ffff:0:a.b.c.d) address embeds. */
function embeddedIPv4(address: string): string | undefined {
  const b = ipv6Bytes(address);
  if (!b) return undefined;
  if (b[0] === 0x20 && b[1] === 0x02) return dotted(b, 2);
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && b.subarray(4, 12).every((x) => x === 0)) return dotted(b, 12);
  if (b.subarray(0, 8).every((x) => x === 0) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0) return dotted(b, 12);
  return undefined;
}

export interface DestinationRules {
  allowDestinations: readonly string[];
  denyDestinations: readonly string[];
  denyHosts: readonly string[];
}

export class DestinationPolicy {
  readonly #allow: AddressSet;
  readonly #deny: AddressSet;
  /** Exact names. */
  readonly #hosts = new Set<string>();
  /** '.example.com' entries: the domain and its subdomains; '*.example.com': subdomains only. */
  readonly #domains: Array<{ suffix: string; includeApex: boolean }> = [];

  constructor(rules: DestinationRules) {
    this.#allow = new AddressSet(rules.allowDestinations, '/forwardProxy/allowDestinations');
    this.#deny = new AddressSet(rules.denyDestinations, '/forwardProxy/denyDestinations');
    for (const raw of rules.denyHosts) {
      let h = raw.trim().toLowerCase();
      if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
      if (h.endsWith('.')) h = h.slice(0, -1);
      if (h.startsWith('*.')) this.#domains.push({ suffix: h.slice(1), includeApex: false });
      else if (h.startsWith('.')) this.#domains.push({ suffix: h, includeApex: true });
      else this.#hosts.add(h);
    }
  }

  /** Why this host name (as parsed from the target: lower case, no brackets, no trailing dot)
   *  is refused, or undefined. */
  checkHost(host: string): string | undefined {
    if (this.#hosts.has(host)) return `host ${host} is in denyHosts`;
    for (const d of this.#domains) {
      if (host.endsWith(d.suffix) || (d.includeApex && host === d.suffix.slice(1))) return `host ${host} is in denyHosts (${d.includeApex ? '' : '*'}${d.suffix})`;
    }
    return undefined;
  }

  /** Why a resolved address is refused, or undefined when the proxy may connect to it. Pass
   *  the canonical form (canonicalAddress). */
  checkAddress(address: string): string | undefined {
    if (this.#deny.has(address)) return `${address} is in denyDestinations`;
    if (this.#allow.has(address)) return undefined;
    const label = specialLabel(address);
    if (label) return `${address} is a ${label} address (not in allowDestinations)`;
    const v4 = embeddedIPv4(address);
    if (v4 !== undefined) {
      if (this.#deny.has(v4)) return `${address} embeds ${v4}, which is in denyDestinations`;
      if (this.#allow.has(v4)) return undefined;
      const l4 = specialLabel(v4);
      if (l4) return `${address} embeds ${v4}, a ${l4} address (not in allowDestinations)`;
    }
    return undefined;
  }
}
