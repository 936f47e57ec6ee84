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
//                                 [--mode plain|tls|tls-new|tls-resume]
//
// --mode (issue 23): plain (default) keep-alive GETs over HTTP; tls the same over TLS (Portico with
// a TLS listener, the bench certificate); tls-new a new TLS connection per GET with a full
// handshake; tls-resume the same with the previous connection's session offered (resumed
// handshakes). The tcp-pipe speaks no TLS: plain only.
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
import tls from 'node:tls';
import https from 'node:https';
import { freePort } from './ports.js';
import { porticoEntry, shebangNodeFlags } from './targets.js';
import { makeBenchCertificate } from './tls.js';
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

/** The TLS modes' certificate (made once, when a TLS mode runs). */
let certificate: { cert: string; key: string } | undefined;

function porticoArgs(root: string, port: number, origin: string): string[] {
  const entry = porticoEntry(root);
  const listen = certificate
    ? ['--listen', 'off', '--tls-listen', `127.0.0.1:${port}`, '--tls-cert', certificate.cert, '--tls-key', certificate.key]
    : ['--listen', `127.0.0.1:${port}`];
  return [...shebangNodeFlags(entry), entry, ...listen, '--admin', 'off', '--log-level', 'silent', '--route', `/=${origin}`];
}

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '5000' },
    connections: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3000' },
    targets: { type: 'string', default: 'portico,tcp-pipe' },
    mode: { type: 'string', default: 'plain' },
  },
});
type Mode = 'plain' | 'tls' | 'tls-new' | 'tls-resume';
const MODE = values.mode as Mode;
if (!['plain', 'tls', 'tls-new', 'tls-resume'].includes(MODE)) throw new Error(`--mode: plain, tls, tls-new or tls-resume, not ${MODE}`);
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

/** `total` GETs over `c` keep-alive connections, one at a time on each (--mode plain or tls). */
async function load(port: number, total: number, c: number): Promise<void> {
  if (MODE === 'tls-new' || MODE === 'tls-resume') return handshakes(port, total, c, MODE === 'tls-resume');
  const tlsMode = MODE === 'tls';
  const agent = tlsMode ? new https.Agent({ keepAlive: true, maxSockets: c, rejectUnauthorized: false }) : new http.Agent({ keepAlive: true, maxSockets: c });
  const get = tlsMode ? https.get : http.get;
  let sent = 0;
  await Promise.all(Array.from({ length: c }, async () => {
    while (sent < total) {
      sent++;
      await new Promise<void>((resolve, reject) => {
        get({ host: '127.0.0.1', port, path: '/small', agent }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
        }).on('error', reject);
      });
    }
  }));
  agent.destroy();
}

/** `total` GETs, each on a new TLS connection (`Connection: close`), `c` at a time: full
 *  handshakes, or with `resume` each loop offering the latest session it got (resumed ones). */
async function handshakes(port: number, total: number, c: number, resume: boolean): Promise<void> {
  let sent = 0;
  let resumed = 0;
  await Promise.all(Array.from({ length: c }, async () => {
    let session: Buffer | undefined;
    while (sent < total) {
      sent++;
      session = await new Promise<Buffer | undefined>((resolve, reject) => {
        let latest = session;
        let answer = '';
        const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], ...(resume && session ? { session } : {}) }, () => {
          if (s.isSessionReused()) resumed++;
          s.write('GET /small HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
        });
        s.on('session', (b: Buffer) => { latest = b; });
        s.on('data', (d: Buffer) => { answer += d.toString('latin1'); });
        s.on('error', reject);
        s.on('close', () => (answer.startsWith('HTTP/1.1 200') ? resolve(latest) : reject(new Error(`no 200: ${answer.slice(0, 40)}`))));
      });
    }
  }));
  if (resume && resumed < total - c) throw new Error(`only ${resumed} of ${total} handshakes resumed`);
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
  const certDir = MODE === 'plain' ? undefined : mkdtempSync(join(tmpdir(), 'portico-cg-cert-'));
  if (certDir) certificate = makeBenchCertificate(certDir);
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
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  }
  const base = results.get('tcp-pipe');
  rows.push(`| target | instructions per request (user space) |${base ? ' ÷ tcp-pipe |' : ''}`, `|---|---:|${base ? '---:|' : ''}`);
  for (const [name, n] of results) rows.push(`| ${name} | ${Math.round(n).toLocaleString('en')} |${base ? ` ${(n / base).toFixed(2)}× |` : ''}`);
  const how = MODE === 'plain' ? `on ${C} keep-alive connections` : MODE === 'tls' ? `on ${C} keep-alive TLS connections` : `each on a new TLS connection (${MODE === 'tls-new' ? 'full' : 'resumed'} handshakes), ${C} at a time`;
  process.stdout.write(`\n${N} small GETs (64-byte bodies) ${how} after ${WARMUP} warm-up requests; node ${process.version}\n\n${rows.join('\n')}\n`);
}

await main();
