// A single-member etcd (bench/etcd.ts's command line) as a tracked child process of the bench,
// on free loopback ports, its data in `dir`. Used by bench/etcd-fleet.ts and bench/history.ts.
import { etcdArgs } from './etcd.js';
import { freePort } from './ports.js';
import { spawnTracked, waitForPort, type Tracked } from './procs.js';

export interface EtcdProcess {
  proc: Tracked;
  /** host:port of its client URL. */
  endpoint: string;
}

export async function startEtcd(dir: string, timeoutMs = 30_000): Promise<EtcdProcess> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const proc = spawnTracked('etcd', 'etcd', etcdArgs(dir, clientPort, peerPort));
  await waitForPort('127.0.0.1', clientPort, timeoutMs, proc);
  return { proc, endpoint: `127.0.0.1:${clientPort}` };
}
