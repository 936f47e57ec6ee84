// Sets of IP ranges (CIDR), for trusted proxies and the forward proxy's access control, on
// node:net's BlockList. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what a dual-stack listener
// reports for IPv4 peers) are checked as IPv4.
import net from 'node:net';
import { ProxyError } from '../errors.js';

export class AddressSet {
  readonly #list = new net.BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[], where = 'cidr') {
    cidrs.forEach((c, i) => {
      const [addr, bits] = c.split('/');
      const family = net.isIP(addr);
      if (family === 0) throw new ProxyError('PRX_ERR_BAD_CONFIG', `${where}/${i}: ${JSON.stringify(c)} is not an IP address or CIDR`, `${where}/${i}`);
      const max = family === 4 ? 32 : 128;
      const prefix = bits === undefined ? max : Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits))) {
        throw new ProxyError('PRX_ERR_BAD_CONFIG', `${where}/${i}: bad prefix length in ${JSON.stringify(c)}`, `${where}/${i}`);
      }
      this.#list.addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
    });
    this.size = cidrs.length;
  }

  has(address: string | undefined): boolean {
    if (!address || this.size === 0) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return this.#list.check(mapped[1], 'ipv4');
    const family = net.isIP(address);
    if (family === 0) return false;
    return this.#list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** The peer address as it should appear in X-Forwarded-For (IPv4-mapped IPv6 unwrapped). */
export function plainAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] : address;
}
