// Command-line flags of `portico`, applied on top of the config file.
import { parseArgs } from 'node:util';

export const USAGE = `Usage: portico [options]

Runs the Portico HTTP/1.1 reverse (and optionally forward) proxy.

Options:
  --config FILE          JSON config file (validated; created by the admin API on the first
                         accepted change when it does not exist yet: a missing file is an
                         error with --admin off or an etcd store)
  --listen HOST:PORT|off plain-HTTP proxy listener (default 127.0.0.1:8080; off: none)
  --tls-listen HOST:PORT HTTPS listener (repeatable); needs --tls-cert and --tls-key
  --tls-cert FILE        PEM certificate chain for the HTTPS listener(s) (repeatable: one per
                         name, chosen by SNI; the first is the default)
  --tls-key FILE         PEM private key of the --tls-cert at the same position
  --admin HOST:PORT|off  admin API listener (default 127.0.0.1:9090); beyond loopback every
                         request but /healthz and /readyz needs a token (docs/admin-security.md)
  --route PREFIX=URL     route a path prefix to an upstream, e.g. --route /api=http://127.0.0.1:3000
                         (repeatable; added after the config file's routes)
  --workers N|auto       data-plane processes sharing the listeners (default 1: one process);
                         auto = the machine's available parallelism
  --store etcd://HOST:PORT[,HOST:PORT...]/PREFIX | file
                         where the routes live (default file: the config file). With etcd, a fleet
                         of instances shares the routes under PREFIX and follows every change
  --store-cache FILE     with etcd: local copy of the last route table, used when the instance
                         starts while etcd is down (without it, such a start fails)
  --forward              enable the forward proxy (absolute-form and CONNECT) for loopback clients
  --log-level LEVEL      fatal|error|warn|info|debug|trace|silent (default info)
  --check                validate the configuration and exit
  --version              print the version and exit
  --help                 print this help and exit

Commands:
  portico routes list|get|add|rm ...   manage routes of a running proxy (see portico routes --help)
  portico store export|import ...      copy the routes between a file and etcd (portico store --help)

Exit codes: 0 ok; 1 runtime failure (e.g. port in use); 2 bad usage or invalid configuration.
Environment: PORTICO_ADMIN_TOKEN  the admin API's token named "admin" (role admin).
`;

export interface CliFlags {
  config?: string;
  listen?: string;
  tlsListen: string[];
  tlsCerts: Array<{ cert: string; key: string }>;
  admin?: string;
  routes: string[];
  forward: boolean;
  workers?: string;
  store?: string;
  storeCache?: string;
  logLevel?: string;
  check: boolean;
  version: boolean;
  help: boolean;
}

export function parseFlags(argv: string[]): CliFlags {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      listen: { type: 'string' },
      'tls-listen': { type: 'string', multiple: true },
      'tls-cert': { type: 'string', multiple: true },
      'tls-key': { type: 'string', multiple: true },
      admin: { type: 'string' },
      route: { type: 'string', multiple: true },
      forward: { type: 'boolean' },
      workers: { type: 'string' },
      store: { type: 'string' },
      'store-cache': { type: 'string' },
      'log-level': { type: 'string' },
      check: { type: 'boolean' },
      version: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) throw new Error(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const certs = values['tls-cert'] ?? [];
  const keys = values['tls-key'] ?? [];
  const tlsListen = values['tls-listen'] ?? [];
  if (certs.length !== keys.length) throw new Error(`--tls-cert and --tls-key come in pairs (got ${certs.length} certificate(s), ${keys.length} key(s))`);
  if (tlsListen.length > 0 && certs.length === 0) throw new Error('--tls-listen needs --tls-cert FILE --tls-key FILE');
  if (tlsListen.length === 0 && certs.length > 0) throw new Error('--tls-cert/--tls-key need --tls-listen HOST:PORT');
  return {
    config: values.config,
    listen: values.listen,
    tlsListen,
    tlsCerts: certs.map((cert, i) => ({ cert, key: keys[i] })),
    admin: values.admin,
    routes: values.route ?? [],
    forward: values.forward ?? false,
    workers: values.workers,
    store: values.store,
    storeCache: values['store-cache'],
    logLevel: values['log-level'],
    check: values.check ?? false,
    version: values.version ?? false,
    help: values.help ?? false,
  };
}

/** `/prefix=http://host:port/base` -> a route spec (ids cli-1, cli-2, ...). */
export function routeFromFlag(flag: string, index: number): { id: string; pathPrefix: string; upstreams: string[] } {
  const eq = flag.indexOf('=');
  if (eq <= 0) throw new Error(`--route ${JSON.stringify(flag)}: expected PREFIX=URL, e.g. /api=http://127.0.0.1:3000`);
  const pathPrefix = flag.slice(0, eq);
  if (!pathPrefix.startsWith('/')) throw new Error(`--route ${JSON.stringify(flag)}: the prefix must start with "/"`);
  return { id: `cli-${index + 1}`, pathPrefix, upstreams: [flag.slice(eq + 1)] };
}
