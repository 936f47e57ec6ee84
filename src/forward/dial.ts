// Resolving a destination once and connecting to the checked addresses, within one deadline
// (timeouts.upstreamConnectMs covers DNS and TCP connect, like the upstream pools).
import dns from 'node:dns';
import net from 'node:net';
import type { Clock } from '../clock.js';

/** When the dial must be done: `at` on `clock`'s scale. */
export interface DialDeadline {
  readonly clock: Clock;
  readonly at: number;
}

/** A timer on the deadline's clock that calls `onExpire` when the deadline passes. */
function armAt(deadline: DialDeadline, onExpire: () => void) {
  const timer = deadline.clock.deadline(onExpire);
  timer.arm(Math.max(0, deadline.at - deadline.clock.now()));
  return timer;
}

/** Resolves a host name to IP addresses (in the order to try them). */
export type Resolver = (host: string) => Promise<string[]>;

/** The system resolver (getaddrinfo: /etc/hosts, then DNS), as curl and node:net use it. */
export const systemResolver: Resolver = async (host) => {
  const all = await dns.promises.lookup(host, { all: true, verbatim: true });
  return all.map((a) => a.address);
};

export class DialError extends Error {
  constructor(readonly kind: 'resolve' | 'connect' | 'timeout', message: string) {
    super(message);
  }
}

/** Rejects with DialError('timeout') if `p` has not settled by `deadline`. */
export function withDeadline<T>(p: Promise<T>, deadline: DialDeadline, what: string, onLate?: (v: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = armAt(deadline, () => {
      done = true;
      reject(new DialError('timeout', `${what} timed out`));
    });
    p.then(
      (v) => { if (done) { onLate?.(v); return; } done = true; timer.cancel(); resolve(v); },
      (e: unknown) => { if (done) return; done = true; timer.cancel(); reject(e instanceof Error ? e : new Error(String(e))); },
    );
  });
}

export async function resolveHost(resolver: Resolver, host: string, deadline: DialDeadline): Promise<string[]> {
  let addresses: string[];
  try {
    addresses = await withDeadline(resolver(host), deadline, `resolving ${host}`);
  } catch (e) {
    if (e instanceof DialError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new DialError('resolve', `cannot resolve ${host}: ${code ?? (e as Error).message}`);
  }
  if (addresses.length === 0) throw new DialError('resolve', `cannot resolve ${host}: no addresses`);
  return addresses;
}

/** Opens a TCP connection to one address. */
export type Connector = (address: string, port: number) => net.Socket;

export const tcpConnector: Connector = (address, port) => net.connect({ host: address, port, noDelay: true });

/** Connects to the first address that accepts, trying them in order, all within `deadline`.
 *  Resolves with a connected socket (its connect-time listeners removed). `cancelled()` is polled
 *  between attempts (the client went away). */
export function connectFirst(connector: Connector, addresses: readonly string[], port: number, deadline: DialDeadline, cancelled: () => boolean): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let i = 0;
    let lastError = '';
    let current: net.Socket | undefined;
    const timer = armAt(deadline, () => {
      current?.destroy();
      current = undefined;
      reject(new DialError('timeout', `connect to ${addresses.slice(0, i).map((a) => fmt(a, port)).join(', ')} timed out`));
    });
    const next = (): void => {
      if (cancelled()) {
        timer.cancel();
        reject(new DialError('connect', 'the client went away'));
        return;
      }
      if (i >= addresses.length) {
        timer.cancel();
        reject(new DialError('connect', lastError));
        return;
      }
      const address = addresses[i++];
      const s = connector(address, port);
      current = s;
      const onError = (e: NodeJS.ErrnoException) => {
        s.destroy();
        if (current !== s) return;
        current = undefined;
        lastError = `connect to ${fmt(address, port)} failed: ${e.code ?? e.message}`;
        next();
      };
      s.once('error', onError);
      s.once('connect', () => {
        s.off('error', onError);
        s.on('error', () => {}); // until the tunnel takes it over; 'close' follows any error
        if (current !== s) { s.destroy(); return; } // timed out meanwhile
        timer.cancel();
        resolve(s);
      });
    };
    next();
  });
}

export const fmt = (address: string, port: number): string => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);
