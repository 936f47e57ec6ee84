// CONNECT workload client: opens C tunnels through a forward proxy (CONNECT origin:port), then on each
// runs keep-alive GETs of a large body back to back for the duration, counting bytes and latency.
// With connect=false it talks to the origin directly (the "direct" reference). Own process; wrk cannot
// speak CONNECT. argv[2]: JSON { host, port, originHost, originPort, path, connections, durationSec,
// timeoutSec, connect }. Prints "BENCHJSON {...}" in the shape load.ts reads from wrk.
import { connect as tcpConnect, type Socket } from 'node:net';
import type { TunnelSpec as Spec } from './load.js';
import { percentile } from './percentiles.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
const authority = `${spec.originHost}:${spec.originPort}`;
const get = Buffer.from(`GET ${spec.path} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, 'latin1');
const CRLFCRLF = Buffer.from('\r\n\r\n');

const latUs: number[] = [];
let requests = 0;
let bytes = 0;
let non2xx = 0;
const errors = { connect: 0, read: 0, write: 0, timeout: 0 };
let stopAt = 0;

function tunnel(): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = tcpConnect({ host: spec.host, port: spec.port });
    s.setNoDelay(true);
    let phase: 'connect' | 'head' | 'body' = spec.connect ? 'connect' : 'head';
    let head: Buffer = Buffer.alloc(0);
    let left = 0;
    let sentAt = 0n;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(idle);
      s.destroy();
      resolve();
    };
    const idle = setTimeout(() => {
      errors.timeout++;
      finish();
    }, spec.timeoutSec * 1000);
    const send = (): void => {
      if (Date.now() >= stopAt) return finish();
      sentAt = process.hrtime.bigint();
      phase = 'head';
      s.write(get);
    };
    s.on('connect', () => {
      if (spec.connect) s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
      else send();
    });
    s.on('error', () => {
      if (phase === 'connect') errors.connect++;
      else errors.read++;
      finish();
    });
    s.on('close', () => {
      if (!finished && Date.now() < stopAt) errors.read++; // closed by the peer mid-run
      finish();
    });
    s.on('data', (b: Buffer) => {
      idle.refresh();
      let chunk: Buffer = b;
      while (chunk.length > 0 && !finished) {
        if (phase === 'body') {
          const take = Math.min(left, chunk.length);
          left -= take;
          bytes += take;
          chunk = chunk.subarray(take);
          if (left === 0) {
            requests++;
            latUs.push(Number(process.hrtime.bigint() - sentAt) / 1000);
            send();
          }
          continue;
        }
        head = head.length ? Buffer.concat([head, chunk]) : chunk;
        const end = head.indexOf(CRLFCRLF);
        if (end < 0) {
          if (head.length > 65536) {
            errors.read++;
            finish();
          }
          return;
        }
        const text = head.toString('latin1', 0, end);
        const rest = head.subarray(end + 4);
        head = Buffer.alloc(0);
        bytes += end + 4;
        const status = Number(text.slice(9, 12));
        if (phase === 'connect') {
          if (status !== 200) {
            errors.connect++;
            return finish();
          }
          send();
          chunk = rest;
          continue;
        }
        if (status < 200 || status > 299) non2xx++;
        const cl = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1] ?? NaN);
        if (!Number.isFinite(cl)) {
          errors.read++;
          return finish();
        }
        left = cl;
        phase = 'body';
        chunk = rest;
        if (left === 0) {
          requests++;
          latUs.push(Number(process.hrtime.bigint() - sentAt) / 1000);
          send();
        }
      }
    });
  });
}

const t0 = Date.now();
stopAt = t0 + spec.durationSec * 1000;
await Promise.all(Array.from({ length: spec.connections }, tunnel));
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
};
process.stdout.write(`BENCHJSON ${JSON.stringify(out)}\n`);
