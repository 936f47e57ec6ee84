// The load generator: wrk when installed (a Lua script sets method, body, request-target and Host, and
// its done() hook prints the summary as JSON), autocannon otherwise (in a child process; it may be the
// bottleneck on small machines, so the run warns). Both run as separate, bounded processes.
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnTracked, type Tracked } from './procs.js';
import { hasCommand, firstLine } from './targets.js';

export interface LoadSpec {
  host: string;
  port: number;
  /** Request-target: origin-form (/small) or absolute-form (http://127.0.0.1:P/small). */
  path: string;
  /** Host header; defaults to host:port. */
  hostHeader?: string;
  method: 'GET' | 'POST';
  /** Request body size (POST), 0 for none. */
  bodyBytes: number;
  connections: number;
  durationSec: number;
  timeoutSec: number;
  /** wrk threads (at most the connection count). */
  threads: number;
  /** Requests per second over all connections (a steady load, not a maximum); absent: as fast as possible. */
  rate?: number;
  /** Speak TLS to the target (wrk only). */
  https?: boolean;
  /** Send `Connection: close`: every request on a new connection (a new TLS handshake). */
  closeEach?: boolean;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  bytes: number;
  bytesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Socket errors: connect, read, write, timeout. */
  errors: number;
  errorDetail: { connect: number; read: number; write: number; timeout: number };
  /** Responses with status >= 400 (wrk) or not 2xx (autocannon). */
  non2xx: number;
  /** TLS handshakes completed and how many of them resumed a session (tls-handshake-client). */
  handshakes?: number;
  resumed?: number;
}

export type LoadTool = 'wrk' | 'autocannon';

export function pickTool(prefer?: string): { tool: LoadTool; warning?: string } {
  if (prefer === 'autocannon') return { tool: 'autocannon', warning: 'autocannon chosen with --load; it may be the bottleneck on small machines' };
  if (hasCommand('wrk')) return { tool: 'wrk' };
  return {
    tool: 'autocannon',
    warning: 'wrk is not installed; using autocannon, which runs on Node and may be the bottleneck on small machines (apt-get install -y wrk)',
  };
}

const LUA_DONE = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("\\nBENCHJSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"bytes\\":%d,\\"connect\\":%d,\\"read\\":%d,\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d,\\"p50\\":%d,\\"p99\\":%d,\\"max\\":%d}\\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`;

function luaString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function wrkScript(spec: LoadSpec): string {
  const lines = [`wrk.method = ${luaString(spec.method)}`, `wrk.path = ${luaString(spec.path)}`];
  if (spec.hostHeader) lines.push(`wrk.headers["Host"] = ${luaString(spec.hostHeader)}`);
  if (spec.rate !== undefined) {
    // wrk paces each connection with delay(): connections * 1000 / rate ms between its requests (a
    // little under the rate, since a request's own latency adds to the pause).
    lines.push(`delay = function() return ${Math.max(1, Math.round((spec.connections * 1000) / spec.rate))} end`);
  }
  if (spec.closeEach) lines.push('wrk.headers["Connection"] = "close"');
  if (spec.bodyBytes > 0) {
    lines.push(`wrk.body = string.rep("x", ${spec.bodyBytes})`);
    lines.push('wrk.headers["Content-Type"] = "application/octet-stream"');
  }
  return lines.join('\n') + '\n' + LUA_DONE;
}

interface RawSummary {
  requests: number;
  duration_us: number;
  bytes: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50: number;
  p99: number;
  max: number;
  handshakes?: number;
  resumed?: number;
}

let scriptSeq = 0;

/** Runs one load test; bounded by duration + timeout + 20 s, after which the generator is killed. */
export async function runLoad(tool: LoadTool, spec: LoadSpec, opts: { tmp: string; root: string; cpus?: string }): Promise<LoadResult> {
  let proc: Tracked;
  if (tool === 'wrk') {
    const script = join(opts.tmp, `wrk-${process.pid}-${++scriptSeq}.lua`);
    writeFileSync(script, wrkScript(spec));
    const threads = Math.max(1, Math.min(spec.threads, spec.connections));
    proc = spawnTracked('wrk', 'wrk', [
      '-t', String(threads),
      '-c', String(spec.connections),
      '-d', `${spec.durationSec}s`,
      '--timeout', `${spec.timeoutSec}s`,
      '-s', script,
      `${spec.https ? 'https' : 'http'}://${spec.host}:${spec.port}/`,
    ], { cpus: opts.cpus, nofile: 65536 });
  } else {
    proc = spawnTracked('autocannon', process.execPath, [join(opts.root, 'dist', 'bench', 'autocannon-child.js'), JSON.stringify(spec)], {
      cpus: opts.cpus,
      nofile: 65536,
    });
  }
  return finishLoad(proc, tool, spec);
}

export interface TunnelSpec {
  host: string;
  port: number;
  originHost: string;
  originPort: number;
  path: string;
  connections: number;
  durationSec: number;
  timeoutSec: number;
  /** false: talk to the origin directly (no CONNECT), the reference. */
  connect: boolean;
}

/** CONNECT tunnel throughput (bench/tunnel-client.ts), same result shape as runLoad. */
export async function runTunnel(spec: TunnelSpec, opts: { root: string; cpus?: string }): Promise<LoadResult> {
  const proc = spawnTracked('tunnel-client', process.execPath, [join(opts.root, 'dist', 'bench', 'tunnel-client.js'), JSON.stringify(spec)], {
    cpus: opts.cpus,
    nofile: 65536,
  });
  return finishLoad(proc, 'tunnel-client', spec);
}

/** The tls-new and tls-resume workloads' client (bench/tls-handshake-client.ts). */
export interface HandshakeSpec {
  host: string;
  port: number;
  path: string;
  hostHeader?: string;
  servername: string;
  connections: number;
  durationSec: number;
  timeoutSec: number;
  /** Offer the latest session on each new connection (resumed handshakes); false: full ones. */
  resume: boolean;
}

/** New TLS connections, one request each, full or resumed handshakes; same result shape as runLoad. */
export async function runHandshakes(spec: HandshakeSpec, opts: { root: string; cpus?: string }): Promise<LoadResult> {
  const proc = spawnTracked('tls-handshake-client', process.execPath, [join(opts.root, 'dist', 'bench', 'tls-handshake-client.js'), JSON.stringify(spec)], {
    cpus: opts.cpus,
    nofile: 65536,
  });
  return finishLoad(proc, 'tls-handshake-client', spec);
}

async function finishLoad(proc: Tracked, tool: string, spec: { durationSec: number; timeoutSec: number }): Promise<LoadResult> {
  const limit = (spec.durationSec + spec.timeoutSec + 20) * 1000;
  const timer = setTimeout(() => void proc.stop(1000), limit);
  const code = await proc.exited;
  clearTimeout(timer);
  const m = proc.output().match(/BENCHJSON (\{.*\})/);
  if (!m) throw new Error(`${tool} produced no summary (exit ${code}):\n${proc.output().slice(-2000)}`);
  const s = JSON.parse(m[1]) as RawSummary;
  const seconds = s.duration_us / 1e6 || spec.durationSec;
  const errorDetail = { connect: s.connect, read: s.read, write: s.write, timeout: s.timeout };
  return {
    requests: s.requests,
    seconds,
    rps: s.requests / seconds,
    bytes: s.bytes,
    bytesPerSec: s.bytes / seconds,
    p50Ms: s.p50 / 1000,
    p99Ms: s.p99 / 1000,
    maxMs: s.max / 1000,
    errors: s.connect + s.read + s.write + s.timeout,
    errorDetail,
    non2xx: s.status,
    ...(s.handshakes !== undefined ? { handshakes: s.handshakes, resumed: s.resumed ?? 0 } : {}),
  };
}

export function toolVersion(tool: LoadTool, root: string): string {
  if (tool === 'wrk') return firstLine('wrk', ['-v']).replace(/\s+Copyright.*$/, '') || 'wrk';
  try {
    return `autocannon ${(JSON.parse(readFileSync(join(root, 'node_modules', 'autocannon', 'package.json'), 'utf8')) as { version: string }).version}`;
  } catch {
    return 'autocannon';
  }
}
