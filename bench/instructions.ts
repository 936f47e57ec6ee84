// User-space instructions per request, counted by valgrind (callgrind), for a target under a fixed
// load: a number that does not move with what else the machine is doing, unlike CPU time. The
// target runs under `valgrind --tool=callgrind`; after a warm-up (the JIT has compiled the hot path)
// its counters are zeroed with callgrind_control, exactly N small GETs are sent on C keep-alive
// connections (one at a time on each), and the counters are dumped: the instructions counted,
// divided by N, are the target's user-space work per request. System calls are
// not counted (the kernel's work is the same for every target on node:net), nor is anything
// valgrind cannot see (the target runs ~50x slower under it: latency figures mean nothing here).
//
//   npm run bench:instructions -- [--requests N] [--connections C] [--targets portico,tcp-pipe,portico-ref]
//
// portico-ref runs the built checkout PORTICO_REF_ROOT names (before/after a change). The origin
// and the client run outside valgrind. Results: a Markdown table on stdout.
import { parseArgs } from 'node:util';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { freePort } from './ports.js';
import { porticoEntry, shebangNodeFlags } from './targets.js';
import { fileURLToPath } from 'node:url';

/** The checkout this file was built in (dist/bench/instructions.js). */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Target { name: string; args(port: number, origin: string): string[] }

const TARGETS: Record<string, Target> = {
  portico: { name: 'portico', args: (port, origin) => porticoArgs(ROOT, port, origin) },
  'portico-ref': {
    name: 'portico-ref',
    args: (port, origin) => {
      const ref = process.env['PORTICO_REF_ROOT'];
      if (!ref) throw new Error('portico-ref needs PORTICO_REF_ROOT (a built checkout)');
      return porticoArgs(ref, port, origin);
    },
  },
  'tcp-pipe': { name: 'tcp-pipe', args: (port, origin) => [join(ROOT, 'dist', 'bench', 'peers', 'tcp-pipe.js'), '--port', String(port), '--upstream', origin] },
};

function porticoArgs(root: string, port: number, origin: string): string[] {
  const entry = porticoEntry(root);
  return [...shebangNodeFlags(entry), entry, '--listen', `127.0.0.1:${port}`, '--admin', 'off', '--log-level', 'silent', '--route', `/=${origin}`];
}

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '5000' },
    connections: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3000' },
    targets: { type: 'string', default: 'portico,tcp-pipe' },
  },
});
const N = Number(values.requests);
const C = Number(values.connections);
const WARMUP = Number(values.warmup);

async function listening(port: number, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`target exited (${child.exitCode})`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error('target did not listen in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `total` GETs over `c` keep-alive connections, one at a time on each. */
async function load(port: number, total: number, c: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: c });
  let sent = 0;
  await Promise.all(Array.from({ length: c }, async () => {
    while (sent < total) {
      sent++;
      await new Promise<void>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/small', agent }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
        }).on('error', reject);
      });
    }
  }));
  agent.destroy();
}

/** The instructions of the dump callgrind_control --dump wrote (`cg.PID.1`: the counts since
 *  the --zero before the measured load). */
function collected(dir: string): number {
  const dump = readdirSync(dir).find((f) => f.endsWith('.1'));
  if (dump === undefined) throw new Error('callgrind wrote no dump');
  const m = /^summary: (\d+)/m.exec(readFileSync(join(dir, dump), 'utf8'));
  if (!m) throw new Error('no summary line in the callgrind dump');
  return Number(m[1]);
}

async function measure(t: Target, origin: string): Promise<number> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'portico-cg-'));
  const child = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${join(dir, 'cg.%p')}`, process.execPath, ...t.args(port, origin)], { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    await listening(port, child, 180_000);
    await load(port, WARMUP, C);
    execFileSync('callgrind_control', ['--zero', String(child.pid)], { stdio: 'ignore' });
    await load(port, N, C);
    execFileSync('callgrind_control', ['--dump', String(child.pid)], { stdio: 'ignore' });
    const perRequest = collected(dir) / N;
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    return perRequest;
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const body = Buffer.alloc(64, 'x');
  const origin = http.createServer((_req, res) => { res.writeHead(200, { 'content-length': body.length }); res.end(body); });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(origin.address() as net.AddressInfo).port}`;
  const rows: string[] = [];
  const results = new Map<string, number>();
  try {
    for (const name of values.targets.split(',')) {
      const t = TARGETS[name];
      if (!t) throw new Error(`unknown target ${name}`);
      const perRequest = await measure(t, url);
      results.set(name, perRequest);
      process.stderr.write(`${name}: ${Math.round(perRequest)} instructions per request\n`);
    }
  } finally {
    origin.close();
  }
  const base = results.get('tcp-pipe');
  rows.push(`| target | instructions per request (user space) |${base ? ' ÷ tcp-pipe |' : ''}`, `|---|---:|${base ? '---:|' : ''}`);
  for (const [name, n] of results) rows.push(`| ${name} | ${Math.round(n).toLocaleString('en')} |${base ? ` ${(n / base).toFixed(2)}× |` : ''}`);
  process.stdout.write(`\n${N} small GETs (64-byte bodies) on ${C} keep-alive connections after ${WARMUP} warm-up requests; node ${process.version}\n\n${rows.join('\n')}\n`);
}

await main();
