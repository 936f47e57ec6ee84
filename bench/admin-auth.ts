// Does a flood of wrong tokens slow the admin API for a valid one? (docs/admin-security.md,
// "Failed authentication".)
//
// The `portico` bin runs with its admin API on loopback (the default failedAuth budget); a child
// process floods it with wrong bearer tokens over --flood connections from each of --addresses
// client addresses (127.0.0.1, then 127.0.0.2, ...), while this process sends GET /v1/routes with
// the valid token from 127.0.0.1, one request at a time. Two phases of --seconds each, quiet then
// flooded. Reported: the valid requests' latency p50/p99/max and count in each phase, what the
// flood got (answers by status, the rate of wrong tokens it could try), and the portico process's
// peak RSS in each phase (VmHWM is not reset between phases: sampled VmRSS).
// --kind healthz floods GET /healthz instead (no credential, always 200): the cost of a flood of
// the cheapest valid requests, to compare with.
//
// Usage: node dist/bench/admin-auth.js [--seconds 5] [--flood 64] [--addresses 1] [--kind wrong-token|healthz] [--json FILE]
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { percentile } from './percentiles.js';

const self = fileURLToPath(import.meta.url);
const BIN = fileURLToPath(new URL('../admin/cli/portico.js', import.meta.url));
const TOKEN = 'bench-admin-token-0123456789';

// ---- child: the flood ---------------------------------------------------------------------
async function childFlood(url: string, connections: number, addresses: number, kind: string, seconds: number): Promise<void> {
  const pools = Array.from({ length: addresses }, (_, i) => new Pool(url, { connections, pipelining: 1, localAddress: `127.0.0.${i + 1}` }));
  const statuses: Record<string, number> = {};
  const deadline = Date.now() + seconds * 1000;
  let n = 0;
  await Promise.all(pools.flatMap((pool) => Array.from({ length: connections }, async () => {
    while (Date.now() < deadline) {
      try {
        const r = kind === 'healthz'
          ? await pool.request({ path: '/healthz', method: 'GET' })
          : await pool.request({ path: '/v1/routes', method: 'GET', headers: { authorization: `Bearer wrong-token-${n}` } });
        n++;
        await r.body.dump();
        statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1;
      } catch (e) {
        const k = (e as { code?: string }).code ?? 'error';
        statuses[k] = (statuses[k] ?? 0) + 1;
      }
    }
  })));
  await Promise.all(pools.map((p) => p.close()));
  process.stdout.write(`${JSON.stringify({ statuses, tries: n, seconds })}\n`);
}

/** Samples the process's resident set every 100 ms until stopped; resolves to the peak (KiB). */
function rssPeak(pid: number): { stop: () => number } {
  let peak = 0;
  const sample = () => {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m) peak = Math.max(peak, Number(m[1]));
  };
  sample();
  const timer = setInterval(sample, 100);
  return { stop: () => { clearInterval(timer); sample(); return peak; } };
}

// ---- parent ---------------------------------------------------------------------------------
async function validLatencies(url: string, seconds: number): Promise<number[]> {
  const pool = new Pool(url, { connections: 1 });
  const lat: number[] = [];
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const t = process.hrtime.bigint();
    const r = await pool.request({ path: '/v1/routes', method: 'GET', headers: { authorization: `Bearer ${TOKEN}` } });
    await r.body.dump();
    if (r.statusCode !== 200) throw new Error(`the valid token got ${r.statusCode}`);
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  await pool.close();
  return lat.sort((a, b) => a - b);
}

function summary(lat: number[]) {
  return { requests: lat.length, p50ms: +percentile(lat, 50).toFixed(2), p99ms: +percentile(lat, 99).toFixed(2), maxms: +lat[lat.length - 1].toFixed(2) };
}

async function startPortico(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-level', 'error'], {
    env: { ...process.env, PORTICO_ADMIN_TOKEN: TOKEN }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`portico did not start: ${err}`)), 20_000);
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /admin API on (http:\/\/[^\s,)]+)/.exec(err);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`portico exited (${code}): ${err}`)); });
  });
  return { child, url };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '5' }, flood: { type: 'string', default: '64' }, addresses: { type: 'string', default: '1' },
      kind: { type: 'string', default: 'wrong-token' }, json: { type: 'string' }, 'child-flood': { type: 'string' },
    },
  });
  const seconds = Number(values.seconds);
  const flood = Number(values.flood);
  const addresses = Number(values.addresses);
  if (values['child-flood']) return childFlood(values['child-flood'], flood, addresses, values.kind, seconds);
  // reads are open on loopback by default, but a token that is sent must be right: the flood's
  // wrong tokens are refused and counted as they would be on a listener with closed reads
  const { child, url } = await startPortico();
  try {
    await validLatencies(url, 1); // warm-up
    let rss = rssPeak(child.pid!);
    const quiet = summary(await validLatencies(url, seconds));
    const rssQuietKiB = rss.stop();
    const floodChild = spawn(process.execPath, [self, '--child-flood', url, '--flood', String(flood), '--addresses', String(addresses), '--kind', values.kind, '--seconds', String(seconds + 1)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let floodOut = '';
    floodChild.stdout.on('data', (d: Buffer) => { floodOut += d.toString(); });
    const floodDone = new Promise<void>((r) => floodChild.once('exit', () => r()));
    await new Promise((r) => setTimeout(r, 500)); // let the flood use up the budget
    rss = rssPeak(child.pid!);
    const flooded = summary(await validLatencies(url, seconds));
    const rssFloodedKiB = rss.stop();
    await floodDone;
    const floodReport = JSON.parse(floodOut.trim()) as { statuses: Record<string, number>; tries: number; seconds: number };
    const report = {
      node: process.version, kind: values.kind, floodConnections: flood, addresses, seconds,
      validAlone: quiet, validDuringFlood: flooded, rssQuietKiB, rssFloodedKiB,
      flood: { ...floodReport.statuses, triesPerSecond: Math.round(floodReport.tries / floodReport.seconds) },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
  } finally {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
  }
}

await main();
