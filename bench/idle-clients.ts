// Workload (e) client: opens N keep-alive client connections to a target in batches, sends one small GET
// on each and leaves it idle, so the bench can read the target's RSS per idle connection. Runs as its own
// process (spawned through `sh -c 'ulimit -n ...; exec ...'` for the file-descriptor limit).
// argv[2]: JSON { host, port, path, hostHeader?, count, batch, timeoutSec, churnPerSec? }.
// Prints "OPENED {json}" once every batch is done; then, for each stdin line "count K", prints
// "OPEN#K n" (connections still open); exits when stdin closes.
// With churnPerSec (the soak), connections keep coming and going once all are open: every second the
// churnPerSec oldest are closed and as many new ones opened (one GET each); the stdin line "stats"
// prints "IDLE {json}" (open, replaced, closed by the server, failed and why).
import { connect, type Socket } from 'node:net';
import { execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';

interface Spec {
  host: string;
  port: number;
  path: string;
  hostHeader?: string;
  count: number;
  batch: number;
  timeoutSec: number;
  churnPerSec?: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;

function fdLimit(): number {
  try {
    const v = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
    return v === 'unlimited' ? Infinity : Number(v);
  } catch {
    return 1024;
  }
}

const open = new Set<Socket>();
let failed = 0;
let closedByServer = 0;
const failures = new Map<string, number>();
const request = Buffer.from(`GET ${spec.path} HTTP/1.1\r\nHost: ${spec.hostHeader ?? `${spec.host}:${spec.port}`}\r\n\r\n`, 'latin1');

function one(): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: spec.host, port: spec.port });
    let buf = '';
    let done = false;
    const fail = (why: string): void => {
      if (done) return;
      done = true;
      failed++;
      failures.set(why, (failures.get(why) ?? 0) + 1);
      s.destroy();
      resolve();
    };
    const timer = setTimeout(() => fail('timeout'), spec.timeoutSec * 1000);
    s.on('connect', () => s.write(request));
    s.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? 'error'));
    s.on('close', () => {
      if (done && open.delete(s)) closedByServer++;
      else fail('closed before response');
    });
    s.on('data', (b: Buffer) => {
      if (done) return;
      buf += b.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = Number(buf.slice(9, 12));
      const cl = Number(/\r\ncontent-length:\s*(\d+)/i.exec(buf.slice(0, end))?.[1] ?? NaN);
      if (!Number.isFinite(cl)) return fail('no content-length');
      if (buf.length - end - 4 < cl) return;
      clearTimeout(timer);
      if (status < 200 || status > 299) return fail(`status ${status}`);
      done = true;
      buf = '';
      open.add(s);
      resolve();
    });
  });
}

const limit = fdLimit();
const count = Math.max(0, Math.min(spec.count, Number.isFinite(limit) ? limit - 64 : spec.count));
const t0 = Date.now();
for (let started = 0; started < count; ) {
  const n = Math.min(spec.batch, count - started);
  await Promise.all(Array.from({ length: n }, one));
  started += n;
}
const result = {
  requested: spec.count,
  attempted: count,
  fdLimit: Number.isFinite(limit) ? limit : null,
  opened: open.size,
  failed,
  failures: Object.fromEntries(failures),
  seconds: (Date.now() - t0) / 1000,
};
process.stdout.write(`OPENED ${JSON.stringify(result)}\n`);

let replaced = 0;
let churning = false;
const churn = spec.churnPerSec
  ? setInterval(() => {
      if (churning) return; // the previous second's connections are still opening
      churning = true;
      let n = 0;
      for (const s of open) {
        if (n++ >= spec.churnPerSec!) break;
        open.delete(s);
        s.destroy();
      }
      // Up to twice the rate, so that connections the target closed (its idle timeout, when a busy
      // machine made us skip seconds) are made up for.
      const want = Math.max(0, Math.min(2 * spec.churnPerSec!, count - open.size));
      void Promise.all(Array.from({ length: want }, one)).then(() => {
        replaced += want;
        churning = false;
      });
    }, 1000)
  : undefined;

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const m = /^count (\d+)/.exec(line);
  if (m) process.stdout.write(`OPEN#${m[1]} ${open.size} closedByServer=${closedByServer}\n`);
  else if (line.trim() === 'stats') {
    process.stdout.write(`IDLE ${JSON.stringify({ open: open.size, replaced, closedByServer, failed, failures: Object.fromEntries(failures) })}\n`);
  }
});
rl.on('close', () => {
  if (churn) clearInterval(churn);
  for (const s of open) s.destroy();
  process.exit(0);
});
process.on('SIGTERM', () => process.exit(0));
