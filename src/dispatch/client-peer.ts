// The client end of one connection as forwarding fields and access control see it, worked out
// once per connection (the same for every request or stream on it) and only when first asked:
// an IPv4-mapped address unwrapped for X-Forwarded-For, and whether the peer is a trusted proxy
// whose forwarding fields are kept (a regex and a BlockList lookup, not per request).
import { plainAddress, type AddressSet } from '../net/address-set.js';

export class ClientPeer {
  readonly address: string | undefined;
  readonly #trustedProxies: AddressSet;
  #plain: string | undefined;
  #trusted: boolean | undefined;

  constructor(address: string | undefined, trustedProxies: AddressSet) {
    this.address = address;
    this.#trustedProxies = trustedProxies;
  }

  /** The address as X-Forwarded-For and Forwarded give it. */
  get plain(): string {
    return (this.#plain ??= plainAddress(this.address));
  }

  /** A trusted proxy: its X-Forwarded-* and Forwarded values are kept and appended to. */
  get trusted(): boolean {
    return (this.#trusted ??= this.#trustedProxies.has(this.address));
  }
}
