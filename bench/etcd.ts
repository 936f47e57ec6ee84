// Command line of a single-member etcd on loopback (Debian's etcd-server, etcd 3.4), shared by the
// etcd store tests (test/helpers/etcd.ts) and bench/etcd-fleet.ts. Ports and data dir are the
// caller's (free ports from the OS; a temporary directory).
import { join } from 'node:path';

/** `tls`: serve clients over TLS with this PEM certificate and key (and, with `clientCa`, require
 *  client certificates signed by it). */
export function etcdArgs(dir: string, clientPort: number, peerPort: number, tls?: { cert: string; key: string; clientCa?: string }): string[] {
  const client = `${tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    '--name', 'portico', '--data-dir', join(dir, 'data'),
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `portico=${peer}`, '--initial-cluster-state', 'new',
    '--logger', 'zap', '--log-level', 'error',
    ...(tls ? ['--cert-file', tls.cert, '--key-file', tls.key] : []),
    ...(tls?.clientCa ? ['--client-cert-auth', '--trusted-ca-file', tls.clientCa] : []),
  ];
}
