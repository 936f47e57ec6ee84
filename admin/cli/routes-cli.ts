// `portico routes list|get|add|rm|history|diff|rollback`: a small client of the admin API, so
// nobody has to hand-write curl (the history commands: ./history-cli.ts). Talks to --admin URL (default $PORTICO_ADMIN_URL or http://127.0.0.1:9090) with the bearer
// token from --token-file, --token or $PORTICO_ADMIN_TOKEN; over https:// it verifies the admin
// API's certificate against --cacert (else the system's CAs) and may present --cert/--key.
import { parseArgs } from 'node:util';
import { UsageError, adminEndpoint, call, problemText, responseHeader, unreachableText, type AdminEndpoint, type Reply } from './admin-client.js';
import { HISTORY_COMMANDS, HISTORY_OPTIONS_USAGE, HISTORY_OPTION_USE, HISTORY_USAGE, historyOptions, runHistoryCommand } from './history-cli.js';

export const EXIT_OK = 0;
/** The admin API answered with an error (not found, conflict, invalid route, bad token...). */
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;
/** The admin API could not be reached (not running, wrong --admin, timeout). */
export const EXIT_UNREACHABLE = 3;

export const ROUTES_USAGE = `Usage: portico routes <command> [options]

Manage the routes of a running portico through its admin API.

Commands:
  list                       list the routes (a table; --json for JSON)
  get ID                     print one route as JSON
  add --id ID --prefix PATH --upstream URL [--upstream URL ...]
      [--host HOST] [--strip] [--rewrite PATH] [--preserve-host] [--method METHOD ...]
                             create a route (an upstream may be URL or URL,WEIGHT)
  rm ID                      delete a route
${HISTORY_USAGE}

Options:
  --admin URL       admin API address (default $PORTICO_ADMIN_URL or http://127.0.0.1:9090)
  --token-file FILE bearer token read from FILE (kept out of argv and shell history)
  --token TOKEN     bearer token (default $PORTICO_ADMIN_TOKEN); add/rm/rollback need an admin token, and
                    list/get a read or admin token unless the admin API has open reads
  --cacert FILE     https:// admin API: PEM CA bundle to verify its certificate with
  --cert FILE       https:// admin API: PEM client certificate to present (with --key)
  --key FILE        the private key of --cert
  --json            print JSON instead of a table or a sentence
  --dry-run         add/rm/rollback: validate and show what would change, change nothing
${HISTORY_OPTIONS_USAGE}
  -h, --help        print this help

Examples:
  portico routes add --id api --prefix /api --upstream http://127.0.0.1:3000 --strip
  portico routes list
  portico routes rm api --message "api moved to the new cluster"
  portico routes history
  portico routes rollback 41

Exit codes: 0 ok; 1 the admin API refused the request; 2 bad usage; 3 the admin API cannot be reached.
`;

export interface ClientIo {
  env: NodeJS.ProcessEnv;
  out: (s: string) => void;
  err: (s: string) => void;
}

const defaultIo: ClientIo = {
  env: process.env,
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

interface RouteJson {
  id: string; host?: string; pathPrefix: string; methods?: string[]; headers?: Record<string, string>;
  upstreams: Array<string | { url: string; weight?: number }>; stripPrefix?: boolean; rewritePrefix?: string; preserveHost?: boolean;
}

function upstreamArg(s: string): string | { url: string; weight: number } {
  const m = /^(.*),(\d+)$/.exec(s);
  if (!m) return s;
  return { url: m[1], weight: Number(m[2]) };
}

function upstreamText(u: RouteJson['upstreams'][number]): string {
  return typeof u === 'string' ? u : u.weight !== undefined && u.weight !== 1 ? `${u.url} (x${u.weight})` : u.url;
}

/** A fixed-width table (no colours, fit for pipes). */
export function routesTable(routes: RouteJson[]): string {
  const rows = routes.map((r) => [
    r.id,
    r.host ?? '*',
    r.pathPrefix,
    r.upstreams.map(upstreamText).join(', '),
    [
      r.rewritePrefix !== undefined ? `rewrite=${r.rewritePrefix}` : r.stripPrefix ? 'strip' : '',
      r.methods ? `methods=${r.methods.join('|')}` : '',
      r.headers && Object.keys(r.headers).length ? `headers=${Object.keys(r.headers).join('|')}` : '',
      r.preserveHost ? 'preserve-host' : '',
    ].filter(Boolean).join(' '),
  ]);
  const head = ['ID', 'HOST', 'PREFIX', 'UPSTREAMS', 'OPTIONS'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

/** A line saying that a guard watches the change (X-Portico-Guard), or nothing. */
function guarded(reply: Reply): string {
  const g = responseHeader(reply, 'x-portico-guard');
  return g ? `guarded: ${g}\n` : '';
}

export async function runRoutesClient(argv: string[], io: ClientIo = defaultIo): Promise<number> {
  let values: Record<string, string | boolean | string[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        admin: { type: 'string' },
        token: { type: 'string' },
        'token-file': { type: 'string' },
        cacert: { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        json: { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        id: { type: 'string' },
        prefix: { type: 'string' },
        upstream: { type: 'string', multiple: true },
        host: { type: 'string' },
        strip: { type: 'boolean' },
        rewrite: { type: 'string' },
        'preserve-host': { type: 'boolean' },
        method: { type: 'string', multiple: true },
        ...historyOptions,
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    io.err(`portico routes: ${(e as Error).message}\n\n${ROUTES_USAGE}`);
    return EXIT_USAGE;
  }
  if (values.help || positionals.length === 0) {
    (values.help ? io.out : io.err)(ROUTES_USAGE);
    return values.help ? EXIT_OK : EXIT_USAGE;
  }
  const [command, ...rest] = positionals;
  let endpoint: AdminEndpoint;
  try {
    endpoint = adminEndpoint(values, io.env);
  } catch (e) {
    io.err(`portico routes: ${(e as Error).message}\n(portico routes --help for usage)\n`);
    return EXIT_USAGE;
  }
  const json = values.json === true;
  // a write's query (dry run, guard) and headers (the change message)
  const writeQuery = new URLSearchParams();
  if (values['dry-run'] === true) writeQuery.set('dryRun', 'true');
  if (typeof values.guard === 'string') writeQuery.set('guard', values.guard);
  const dry = writeQuery.size ? `?${writeQuery}` : '';
  const dryRun = values['dry-run'] === true;
  const writeHeaders: Record<string, string> = typeof values.message === 'string' ? { 'x-portico-change-message': values.message } : {};
  const print = (v: unknown) => io.out(JSON.stringify(v, null, 2) + '\n');

  try {
    const onlyFor = (allowed: string[]) => {
      const routeFlags = ['id', 'prefix', 'upstream', 'host', 'strip', 'rewrite', 'preserve-host', 'method'];
      for (const f of routeFlags) if (values[f] !== undefined && !allowed.includes(f)) throw new UsageError(`--${f} is only for "add"`);
      if (values['dry-run'] && !['add', 'rm', 'rollback'].includes(command)) throw new UsageError('--dry-run is only for "add", "rm" and "rollback"');
      for (const [f, commands] of Object.entries(HISTORY_OPTION_USE)) {
        if (values[f] !== undefined && !commands.includes(command)) throw new UsageError(`--${f} is only for ${commands.map((x) => `"${x}"`).join(', ')}`);
      }
    };
    const one = (): string => {
      if (rest.length !== 1) throw new UsageError(`"${command}" takes one route id, e.g. portico routes ${command} api`);
      return rest[0];
    };
    let reply: Reply;
    switch (command) {
      case 'list': {
        onlyFor([]);
        if (rest.length) throw new UsageError('"list" takes no arguments');
        reply = await call(endpoint, 'GET', 'v1/routes');
        if (reply.status !== 200) break;
        const body = reply.body as { revision: number; routes: RouteJson[] };
        if (json) print(body);
        else io.out(body.routes.length ? routesTable(body.routes) : `no routes (revision ${body.revision})\n`);
        return EXIT_OK;
      }
      case 'get': {
        onlyFor([]);
        const id = one();
        reply = await call(endpoint, 'GET', `v1/routes/${encodeURIComponent(id)}`);
        if (reply.status !== 200) break;
        print(reply.body);
        return EXIT_OK;
      }
      case 'add': {
        onlyFor(['id', 'prefix', 'upstream', 'host', 'strip', 'rewrite', 'preserve-host', 'method']);
        if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])} (use --id, --prefix, --upstream)`);
        const missing = ['id', 'prefix', 'upstream'].filter((f) => values[f] === undefined);
        if (missing.length) throw new UsageError(`"add" needs ${missing.map((f) => `--${f}`).join(', ')}`);
        const route: RouteJson = {
          id: values.id as string,
          ...(values.host !== undefined ? { host: values.host as string } : {}),
          pathPrefix: values.prefix as string,
          ...(values.method !== undefined ? { methods: (values.method as string[]).map((m) => m.toUpperCase()) } : {}),
          upstreams: (values.upstream as string[]).map(upstreamArg),
          ...(values.strip ? { stripPrefix: true } : {}),
          ...(values.rewrite !== undefined ? { rewritePrefix: values.rewrite as string } : {}),
          ...(values['preserve-host'] ? { preserveHost: true } : {}),
        };
        reply = await call(endpoint, 'POST', `v1/routes${dry}`, route, writeHeaders);
        if (reply.status === 201) {
          if (json) print(reply.body);
          else io.out(`added route ${route.id}: ${route.host ?? '*'}${route.pathPrefix} -> ${route.upstreams.map(upstreamText).join(', ')}\n${guarded(reply)}`);
          return EXIT_OK;
        }
        if (reply.status === 200 && dryRun) {
          if (json) print(reply.body);
          else io.out(`dry run: route ${route.id} is valid and would be added (revision ${(reply.body as { revision: number }).revision}); nothing changed\n`);
          return EXIT_OK;
        }
        break;
      }
      case 'rm': {
        onlyFor([]);
        const id = one();
        reply = await call(endpoint, 'DELETE', `v1/routes/${encodeURIComponent(id)}${dry}`, undefined, writeHeaders);
        if (reply.status === 204) {
          if (json) print({ removed: id });
          else io.out(`removed route ${id}\n${guarded(reply)}`);
          return EXIT_OK;
        }
        if (reply.status === 200 && dryRun) {
          if (json) print(reply.body);
          else io.out(`dry run: route ${id} would be removed; nothing changed\n`);
          return EXIT_OK;
        }
        break;
      }
      default: {
        if (!HISTORY_COMMANDS.includes(command)) throw new UsageError(`unknown command ${JSON.stringify(command)} (list, get, add, rm, history, diff, rollback)`);
        onlyFor([]);
        const done = await runHistoryCommand(command, { endpoint, json, dryRun, values, rest, out: io.out });
        if (typeof done === 'number') return done;
        reply = done;
      }
    }
    io.err(`portico routes ${command}: ${problemText(reply, endpoint.token !== undefined)}\n`);
    return EXIT_REFUSED;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`portico routes: ${e.message}\n(portico routes --help for usage)\n`);
      return EXIT_USAGE;
    }
    io.err(`portico routes: cannot reach the admin API at ${endpoint.base}: ${unreachableText(e, endpoint)} (is portico running? see --admin)\n`);
    return EXIT_UNREACHABLE;
  }
}
