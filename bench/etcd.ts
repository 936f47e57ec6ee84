// Command line of a single-member etcd on loopback (Debian's etcd-server, etcd 3.4), shared by the
// etcd store tests (test/helpers/etcd.ts) and bench/etcd-fleet.ts. Ports and data dir are the
// caller's (free ports from the OS; a temporary directory).
import { join } from 'node:path';

export function etcdArgs(dir: string, clientPort: number, peerPort: number): string[] {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    '--name', 'portico', '--data-dir', join(dir, 'data'),
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `portico=${peer}`, '--initial-cluster-state', 'new',
    '--logger', 'zap', '--log-level', 'error',
  ];
}
