// `portico routes list|get|add|rm`: a small client of the admin API, so nobody has to hand-write
// curl. Talks to --admin URL (default $PORTICO_ADMIN_URL or http://127.0.0.1:9090) with the bearer
// token from --token-file, --token or $PORTICO_ADMIN_TOKEN; over https:// it verifies the admin
// API's certificate against --cacert (else the system's CAs) and may present --cert/--key.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { parseArgs } from 'node:util';

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

Options:
  --admin URL       admin API address (default $PORTICO_ADMIN_URL or http://127.0.0.1:9090)
  --token-file FILE bearer token read from FILE (kept out of argv and shell history)
  --token TOKEN     bearer token (default $PORTICO_ADMIN_TOKEN); add/rm need an admin token, and
                    list/get a read or admin token unless the admin API has open reads
  --cacert FILE     https:// admin API: PEM CA bundle to verify its certificate with
  --cert FILE       https:// admin API: PEM client certificate to present (with --key)
  --key FILE        the private key of --cert
  --json            print JSON instead of a table or a sentence
  --dry-run         add/rm: validate and show what would change, change nothing
  -h, --help        print this help

Examples:
  portico routes add --id api --prefix /api --upstream http://127.0.0.1:3000 --strip
  portico routes list
  portico routes rm api

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

class UsageError extends Error {}

interface Problem { title?: string; status?: number; detail?: string; pointer?: string; route?: string }
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

interface Reply { status: number; body: unknown }

/** How to reach the admin API: its URL, the token, and the TLS files (PEM text, already read). */
export interface AdminEndpoint {
  base: string;
  token: string | undefined;
  ca?: string;
  cert?: string;
  key?: string;
}

const CALL_TIMEOUT_MS = 10_000;

/** Reads a file named by a flag, or says which flag and why not (exit 2). */
function readFlagFile(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--${flag} ${file}: cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The admin API endpoint from the flags and the environment (the token and TLS files read now). */
export function adminEndpoint(values: Record<string, unknown>, env: NodeJS.ProcessEnv): AdminEndpoint {
  const base = (values.admin as string | undefined) ?? env.PORTICO_ADMIN_URL ?? 'http://127.0.0.1:9090';
  if (values.token !== undefined && values['token-file'] !== undefined) throw new UsageError('--token and --token-file: give one of them');
  let token = (values.token as string | undefined) ?? env.PORTICO_ADMIN_TOKEN ?? undefined;
  const tokenFile = values['token-file'] as string | undefined;
  if (tokenFile !== undefined) {
    // a file written by `echo` or an editor ends with a newline that is not part of the token
    token = readFlagFile('token-file', tokenFile).trim();
    if (token === '') throw new UsageError(`--token-file ${tokenFile} is empty`);
  }
  const tlsFlags = ['cacert', 'cert', 'key'].filter((f) => values[f] !== undefined);
  if (tlsFlags.length && !/^https:/i.test(base)) throw new UsageError(`--${tlsFlags[0]} is for an admin API over TLS: give an https:// --admin URL (not ${base})`);
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError('--cert and --key go together');
  const file = (f: string) => (values[f] === undefined ? undefined : readFlagFile(f, values[f] as string));
  return { base, token, ca: file('cacert'), cert: file('cert'), key: file('key') };
}

async function call(endpoint: AdminEndpoint, method: string, path: string, body?: unknown): Promise<Reply> {
  let url: URL;
  try {
    url = new URL(path, endpoint.base.endsWith('/') ? endpoint.base : `${endpoint.base}/`);
  } catch {
    throw new UsageError(`--admin ${JSON.stringify(endpoint.base)} is not a URL (e.g. http://127.0.0.1:9090)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--admin ${JSON.stringify(endpoint.base)}: http:// or https:// only`);
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
  if (endpoint.token) headers.authorization = `Bearer ${endpoint.token}`;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const secure = url.protocol === 'https:';
  const options: https.RequestOptions = {
    method, headers, timeout: CALL_TIMEOUT_MS,
    ...(secure ? { ca: endpoint.ca, cert: endpoint.cert, key: endpoint.key } : {}),
  };
  return new Promise<Reply>((resolve, reject) => {
    const req = (secure ? https : http).request(url, options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('error', reject);
      res.on('end', () => {
        let parsed: unknown = undefined;
        if (text) {
          try { parsed = JSON.parse(text); } catch { parsed = text; }
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { name: 'TimeoutError' })));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Why the admin API could not be reached, in words (a certificate problem says what to pass). */
function unreachableText(e: unknown, endpoint: AdminEndpoint): string {
  const err = e as NodeJS.ErrnoException & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return `timed out after ${CALL_TIMEOUT_MS / 1000} s`;
  const code = err.code ?? err.cause?.code;
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME/.test(code)) {
    return `${code}: the admin API's certificate is not trusted${endpoint.ca ? ' by --cacert' : ' (pass --cacert FILE, the CA that issued it)'} or does not name ${new URL(endpoint.base).hostname}`;
  }
  return code ?? err.cause?.message ?? err.message;
}

function problemText(r: Reply, hasToken: boolean): string {
  const p = (r.body && typeof r.body === 'object' ? r.body : {}) as Problem;
  let s = p.detail ?? p.title ?? (typeof r.body === 'string' ? r.body : 'request failed');
  if (p.pointer) s += ` (at ${p.pointer}${p.route ? `, route ${p.route}` : ''})`;
  else if (p.route) s += ` (route ${p.route})`;
  if (r.status === 401 && !hasToken) s += '; pass --token-file FILE (or --token, or set PORTICO_ADMIN_TOKEN)';
  return `${s} [HTTP ${r.status}]`;
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
  const dry = values['dry-run'] === true ? '?dryRun=true' : '';
  const print = (v: unknown) => io.out(JSON.stringify(v, null, 2) + '\n');

  try {
    const onlyFor = (allowed: string[]) => {
      const routeFlags = ['id', 'prefix', 'upstream', 'host', 'strip', 'rewrite', 'preserve-host', 'method'];
      for (const f of routeFlags) if (values[f] !== undefined && !allowed.includes(f)) throw new UsageError(`--${f} is only for "add"`);
      if (values['dry-run'] && !['add', 'rm'].includes(command)) throw new UsageError('--dry-run is only for "add" and "rm"');
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
        reply = await call(endpoint, 'POST', `v1/routes${dry}`, route);
        if (reply.status === 201) {
          if (json) print(reply.body);
          else io.out(`added route ${route.id}: ${route.host ?? '*'}${route.pathPrefix} -> ${route.upstreams.map(upstreamText).join(', ')}\n`);
          return EXIT_OK;
        }
        if (reply.status === 200 && dry) {
          if (json) print(reply.body);
          else io.out(`dry run: route ${route.id} is valid and would be added (revision ${(reply.body as { revision: number }).revision}); nothing changed\n`);
          return EXIT_OK;
        }
        break;
      }
      case 'rm': {
        onlyFor([]);
        const id = one();
        reply = await call(endpoint, 'DELETE', `v1/routes/${encodeURIComponent(id)}${dry}`);
        if (reply.status === 204) {
          if (json) print({ removed: id });
          else io.out(`removed route ${id}\n`);
          return EXIT_OK;
        }
        if (reply.status === 200 && dry) {
          if (json) print(reply.body);
          else io.out(`dry run: route ${id} would be removed; nothing changed\n`);
          return EXIT_OK;
        }
        break;
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)} (list, get, add, rm)`);
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
