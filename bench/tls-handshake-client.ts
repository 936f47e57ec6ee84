// Load generator of the tls-new and tls-resume workloads: C loops, each opening a new TLS
// connection per request (`GET path` with `Connection: close`, read to the end), for the duration.
// With resume=false every handshake is a full one (no session offered); with resume=true each
// loop offers the latest session the server gave it (a TLS 1.3 ticket, RFC 8446 §4.6.1; clients
// use each ticket once when the server renews it, and reuse the last one when it does not), so
// every handshake after the loop's first is a resumed one if the server accepts it. wrk cannot do
// either: it offers its last session again, which a server that does not renew tickets resumes on
// every other connection only, and nginx (which renews) on every one. Own process, own CPU time.
// argv[2]: JSON HandshakeSpec. Prints "BENCHJSON {...}" in the shape load.ts reads from wrk, plus
// `handshakes` and `resumed`.
import tls from 'node:tls';
import type { HandshakeSpec as Spec } from './load.js';
import { percentile } from './percentiles.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
const request = Buffer.from(`GET ${spec.path} HTTP/1.1\r\nHost: ${spec.hostHeader ?? `${spec.host}:${spec.port}`}\r\nConnection: close\r\n\r\n`, 'latin1');

const latUs: number[] = [];
let requests = 0;
let bytes = 0;
let non2xx = 0;
let handshakes = 0;
let resumed = 0;
const errors = { connect: 0, read: 0, write: 0, timeout: 0 };
let stopAt = 0;

/** One request on a new connection; resolves with the latest session the server sent. */
function once(session: Buffer | undefined): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sentAt = process.hrtime.bigint();
    let latest = session;
    let status = 0;
    let got = 0;
    let secure = false;
    let done = false;
    const s = tls.connect({
      host: spec.host, port: spec.port, servername: spec.servername, rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'], ...(spec.resume && session ? { session } : {}),
    }, () => {
      secure = true;
      handshakes++;
      if (s.isSessionReused()) resumed++;
      s.write(request);
    });
    if (spec.resume) s.on('session', (b: Buffer) => { latest = b; });
    const timer = setTimeout(() => { errors.timeout++; s.destroy(); }, spec.timeoutSec * 1000);
    s.on('data', (b: Buffer) => {
      if (got === 0) status = Number(b.toString('latin1', 9, 12));
      got += b.length;
    });
    s.on('error', () => {
      if (done) return;
      done = true;
      if (secure) errors.read++;
      else errors.connect++;
    });
    s.on('close', () => {
      clearTimeout(timer);
      if (!done && got > 0) {
        requests++;
        bytes += got;
        if (status < 200 || status > 299) non2xx++;
        latUs.push(Number(process.hrtime.bigint() - sentAt) / 1000);
      } else if (!done) {
        errors.read++;
      }
      done = true;
      resolve(latest);
    });
  });
}

async function loop(): Promise<void> {
  let session: Buffer | undefined;
  while (Date.now() < stopAt) session = await once(session);
}

const t0 = Date.now();
stopAt = t0 + spec.durationSec * 1000;
await Promise.all(Array.from({ length: spec.connections }, loop));
const seconds = (Date.now() - t0) / 1000;
latUs.sort((a, b) => a - b);
const out = {
  requests,
  duration_us: Math.round(seconds * 1e6),
  bytes,
  ...errors,
  status: non2xx,
  // 0, not NaN, for a run without a request: the runner reads numbers from this JSON
  p50: latUs.length ? Math.round(percentile(latUs, 50)) : 0,
  p99: latUs.length ? Math.round(percentile(latUs, 99)) : 0,
  max: Math.round(latUs[latUs.length - 1] ?? 0),
  handshakes,
  resumed,
};
process.stdout.write(`BENCHJSON ${JSON.stringify(out)}\n`);
