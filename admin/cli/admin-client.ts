// The admin API as `portico routes ...` calls it: where it is (URL, token, TLS files), one request
// with the bearer token, the JSON (or problem) answer, and a refusal or an unreachable API told in
// one line.
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import http from 'node:http';
import https from 'node:https';

/** A mistake on the command line (exit 2). */
export class UsageError extends Error {}

interface Problem { title?: string; status?: number; detail?: string; pointer?: string; route?: string }

export interface Reply { status: number; body: unknown; headers: IncomingHttpHeaders }

/** One response header as a string (undefined when absent). */
export function responseHeader(reply: Reply, name: string): string | undefined {
  const v = reply.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

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

/** `extra`: more request headers (a value may hold any Unicode: it is sent as its UTF-8 bytes). */
export async function call(endpoint: AdminEndpoint, method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<Reply> {
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
  // node:http writes header values as latin1: UTF-8 text goes as its bytes
  for (const [k, v] of Object.entries(extra)) headers[k] = Buffer.from(v, 'utf8').toString('latin1');
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
        resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { name: 'TimeoutError' })));
    req.on('error', reject);
    // a Buffer, not a string: Node writes a string body together with the head, in the body's
    // encoding (UTF-8), which would re-encode the latin1 header bytes above
    req.end(payload === undefined ? undefined : Buffer.from(payload, 'utf8'));
  });
}

/** Why the admin API could not be reached, in words (a certificate problem says what to pass). */
export function unreachableText(e: unknown, endpoint: AdminEndpoint): string {
  const err = e as NodeJS.ErrnoException & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return `timed out after ${CALL_TIMEOUT_MS / 1000} s`;
  const code = err.code ?? err.cause?.code;
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME/.test(code)) {
    return `${code}: the admin API's certificate is not trusted${endpoint.ca ? ' by --cacert' : ' (pass --cacert FILE, the CA that issued it)'} or does not name ${new URL(endpoint.base).hostname}`;
  }
  return code ?? err.cause?.message ?? err.message;
}

export function problemText(r: Reply, hasToken: boolean): string {
  const p = (r.body && typeof r.body === 'object' ? r.body : {}) as Problem;
  let s = p.detail ?? p.title ?? (typeof r.body === 'string' ? r.body : 'request failed');
  if (p.pointer) s += ` (at ${p.pointer}${p.route ? `, route ${p.route}` : ''})`;
  else if (p.route) s += ` (route ${p.route})`;
  if (r.status === 401 && !hasToken) s += '; pass --token-file FILE (or --token, or set PORTICO_ADMIN_TOKEN)';
  return `${s} [HTTP ${r.status}]`;
}

