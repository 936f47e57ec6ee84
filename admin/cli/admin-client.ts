// The admin API as `portico routes ...` calls it: one request with the bearer token, the JSON (or
// problem) answer, and a problem told in one line.

/** A mistake on the command line (exit 2). */
export class UsageError extends Error {}

interface Problem { title?: string; status?: number; detail?: string; pointer?: string; route?: string }

export interface Reply { status: number; body: unknown; headers: Headers }

/** `headers`: more request headers (a value may hold any Unicode: it is sent as UTF-8 bytes). */
export async function call(base: string, token: string | undefined, method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<Reply> {
  let url: URL;
  try {
    url = new URL(path, base.endsWith('/') ? base : `${base}/`);
  } catch {
    throw new UsageError(`--admin ${JSON.stringify(base)} is not a URL (e.g. http://127.0.0.1:9090)`);
  }
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  // fetch sends header values as bytes of latin1 strings: UTF-8 text goes as its bytes
  for (const [k, v] of Object.entries(extra)) headers[k] = Buffer.from(v, 'utf8').toString('latin1');
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text) {
    try { parsed = JSON.parse(text); } catch { parsed = text; }
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export function problemText(r: Reply, hasToken: boolean): string {
  const p = (r.body && typeof r.body === 'object' ? r.body : {}) as Problem;
  let s = p.detail ?? p.title ?? (typeof r.body === 'string' ? r.body : 'request failed');
  if (p.pointer) s += ` (at ${p.pointer}${p.route ? `, route ${p.route}` : ''})`;
  else if (p.route) s += ` (route ${p.route})`;
  if (r.status === 401 && !hasToken) s += '; pass --token or set PORTICO_ADMIN_TOKEN';
  return `${s} [HTTP ${r.status}]`;
}
