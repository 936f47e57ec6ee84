// Runs autocannon (the fallback load generator when wrk is not installed) in its own process, so that
// it does not share the bench process's event loop. argv[2] is a JSON LoadSpec; prints one line
// "BENCHJSON {...}" in the same shape load.ts reads from wrk.
import { createRequire } from 'node:module';
import type { LoadSpec } from './load.js';

interface Histogram {
  p50: number;
  p99: number;
  max: number;
  total: number;
}
interface AutocannonResult {
  requests: Histogram;
  latency: Histogram;
  throughput: Histogram;
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
const headers: Record<string, string> = {};
if (spec.hostHeader) headers['host'] = spec.hostHeader;
let body: string | undefined;
if (spec.bodyBytes > 0) {
  body = 'x'.repeat(spec.bodyBytes);
  headers['content-type'] = 'application/octet-stream';
}
const r = await autocannon({
  url: `http://${spec.host}:${spec.port}`,
  connections: spec.connections,
  duration: spec.durationSec,
  timeout: spec.timeoutSec,
  requests: [{ method: spec.method, path: spec.path, headers, body }],
  ...(spec.rate !== undefined ? { overallRate: spec.rate } : {}),
});
const out = {
  requests: r.requests.total,
  duration_us: Math.round(r.duration * 1e6),
  bytes: r.throughput.total,
  connect: r.errors - r.timeouts,
  read: 0,
  write: 0,
  status: r.non2xx,
  timeout: r.timeouts,
  p50: Math.round(r.latency.p50 * 1000),
  p99: Math.round(r.latency.p99 * 1000),
  max: Math.round(r.latency.max * 1000),
};
process.stdout.write(`BENCHJSON ${JSON.stringify(out)}\n`);
