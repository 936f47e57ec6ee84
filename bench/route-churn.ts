// Workload (f): route changes through Portico's admin API while load runs. Each step adds a route
// (POST /v1/routes -> 201) and removes the previous one (DELETE /v1/routes/ID -> 204).

export interface ChurnResult {
  changes: number;
  failed: number;
  /** Admin API round-trip per change, milliseconds. */
  p50Ms: number;
  maxMs: number;
  firstError?: string;
}

async function call(url: string, token: string, method: string, body?: unknown, timeoutMs = 5000): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, text: await res.text() };
}

function route(id: string, upstream: string): unknown {
  return { id, pathPrefix: `/${id}`, upstreams: [upstream], stripPrefix: false };
}

/** undefined when POST and DELETE work; otherwise why workload f is skipped. */
export async function probeAdmin(adminUrl: string, token: string, upstream: string): Promise<string | undefined> {
  try {
    const add = await call(`${adminUrl}/v1/routes`, token, 'POST', route('benchprobe', upstream));
    if (add.status !== 201) return `POST /v1/routes answered ${add.status} ${add.text.slice(0, 120)}`;
    const del = await call(`${adminUrl}/v1/routes/benchprobe`, token, 'DELETE');
    if (del.status !== 204) return `DELETE /v1/routes/benchprobe answered ${del.status} ${del.text.slice(0, 120)}`;
    return undefined;
  } catch (e) {
    return `admin API unreachable: ${(e as Error).message}`;
  }
}

/** Changes routes at about `perSecond` changes per second until stop() is called; a change not answered
 *  within timeoutMs counts as failed. */
export function startChurn(adminUrl: string, token: string, upstream: string, perSecond: number, tag: string, timeoutMs = 5000): { stop(): Promise<ChurnResult> } {
  let stopped = false;
  const times: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  const interval = 1000 / perSecond;
  const record = (ok: boolean, ms: number, what: string): void => {
    times.push(ms);
    if (!ok) {
      failed++;
      firstError ??= what;
    }
  };
  const loop = (async () => {
    let prev: string | undefined;
    for (let i = 0; !stopped; i++) {
      const t0 = performance.now();
      const id = `bench${tag}x${i}`;
      try {
        if (i % 2 === 0 || prev === undefined) {
          const r = await call(`${adminUrl}/v1/routes`, token, 'POST', route(id, upstream), timeoutMs);
          record(r.status === 201, performance.now() - t0, `POST ${r.status} ${r.text.slice(0, 80)}`);
          if (r.status === 201) prev = id;
        } else {
          const r = await call(`${adminUrl}/v1/routes/${prev}`, token, 'DELETE', undefined, timeoutMs);
          record(r.status === 204, performance.now() - t0, `DELETE ${r.status} ${r.text.slice(0, 80)}`);
          prev = undefined;
        }
      } catch (e) {
        record(false, performance.now() - t0, (e as Error).message);
      }
      const wait = interval - (performance.now() - t0);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    if (prev !== undefined) await call(`${adminUrl}/v1/routes/${prev}`, token, 'DELETE').catch(() => undefined);
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      const sorted = [...times].sort((a, b) => a - b);
      return {
        changes: times.length,
        failed,
        p50Ms: sorted[Math.floor(sorted.length / 2)] ?? 0,
        maxMs: sorted[sorted.length - 1] ?? 0,
        ...(firstError !== undefined ? { firstError } : {}),
      };
    },
  };
}
