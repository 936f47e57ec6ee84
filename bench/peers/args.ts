// Command-line arguments shared by the peer servers: --upstream URL --host H --port P.
export interface PeerArgs {
  upstream: string;
  host: string;
  port: number;
}

export function peerArgs(argv = process.argv.slice(2)): PeerArgs {
  const get = (name: string, dflt?: string): string => {
    const i = argv.indexOf(name);
    const v = i >= 0 ? argv[i + 1] : undefined;
    if (v !== undefined) return v;
    if (dflt !== undefined) return dflt;
    throw new Error(`missing ${name}`);
  };
  return { upstream: get('--upstream'), host: get('--host', '127.0.0.1'), port: Number(get('--port', '0')) };
}

/** Client connections stay open while idle for a minute (workload e measures idle connections). */
export const CLIENT_KEEP_ALIVE_MS = 65_000;
