// Which process holds the server side of a loopback TCP connection (Linux /proc): how bench:history
// tells which worker of `portico --workers N` accepted a probe's connection, with nothing added to
// Portico's responses. /proc/net/tcp (and tcp6) give the socket's inode for the pair
// (server port, client port); /proc/PID/fd of each candidate tells who holds that inode.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** "0100007F:1F90" (address:port in hex) -> port. */
const portOf = (field: string): number => parseInt(field.slice(field.lastIndexOf(':') + 1), 16);

/** Inode of every established socket whose local port is `serverPort`, by its remote port. */
function inodesByClientPort(serverPort: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st ... inode (field 9); st 01 = ESTABLISHED
      if (f.length < 10 || f[3] !== '01' || portOf(f[1]) !== serverPort) continue;
      out.set(portOf(f[2]), f[9]);
    }
  }
  return out;
}

/** Socket inode -> pid, over the candidates' open descriptors. */
function holders(pids: readonly number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) out.set(m[1], pid);
      } catch { /* closed meanwhile */ }
    }
  }
  return out;
}

/** For each client port (connections to 127.0.0.1:serverPort that are still open), the pid among
 *  `pids` holding the accepted socket, or undefined when none of them does. One scan for all. */
export function ownersOf(serverPort: number, clientPorts: readonly number[], pids: readonly number[]): Array<number | undefined> {
  const inodes = inodesByClientPort(serverPort);
  const byInode = holders(pids);
  return clientPorts.map((p) => {
    const inode = inodes.get(p);
    return inode === undefined ? undefined : byInode.get(inode);
  });
}
