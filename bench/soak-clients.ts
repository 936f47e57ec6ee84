// The soak's hostile and checking clients, in one process of their own (raw node:net, loopback). Each
// fault runs as a loop of episodes (a few at a time, with a pause between) until the stdin line "stop":
//   reset-request    request head or part of a body, then TCP RST
//   reset-response   GET of a 1 MiB body, RST after its head or after 256 KiB
//   slowloris-head   a request head one field per second: the proxy must answer 408 or close
//   slowloris-body   a body one byte per second (abandoned after 20 s), or 100 bytes then silence
//                    (the proxy must give up: body idle timeout)
//   aborted-upload   POST announcing 8 MiB, 2 MiB sent, then close or RST
//   malformed        one malformed request per connection: must be refused (no 1xx/2xx/3xx) or closed
//   pipelined        well-formed requests in one write: GET and HEAD through the healthy route,
//                    OPTIONS * and a ".." path answered by the proxy, and HEAD of a ".." path (its 400
//                    must have no body);
//                    every response must arrive, in order, with the expected status and framing
//   burst            one write of a request to the healthy, dead or stalling route followed by
//                    `burst` OPTIONS * requests (the proxy answers those itself): all must be answered
//   bad-upstreams    one request per connection to the resetting or the stalling upstream: the proxy
//                    must answer 502/503/504 (or cut a response whose upstream died mid-body), and the
//                    client sometimes gives up first
// "Failed" is defined per fault above; a failure of a well-formed request (pipelined, burst, the head of
// reset-response) is reported apart from a hostile client's expectation (the proxy must not hang).
// argv[2]: JSON ClientSpec. Stdin "stats" prints "CLIENTS {json}"; "stop" stops every loop, closes
// every socket, prints "CLIENTS {json}" and exits (also when stdin closes).
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { ResponseReader, type ReadResponse } from './response-reader.js';

export interface ClientSpec {
  host: string;
  port: number;
  /** Path prefixes routed to the healthy origin, a refused port, the resetting and the stalling upstream. */
  routes: { healthy: string; dead: string; reset: string; stall: string };
  /** OPTIONS * requests behind the leading request of a burst. */
  burst: number;
  /** The proxy's head, body-idle and upstream timeouts (ms): how long a fault may take to be answered. */
  timeoutsMs: { head: number; bodyIdle: number; upstreamHead: number };
}

/** Episodes of one fault, what became of them, and the failures. */
export interface FaultStats {
  episodes: number;
  outcomes: Record<string, number>;
  /** Well-formed requests whose responses were checked (pipelined, burst). */
  checked: number;
  failures: number;
  /** The first few failures, verbatim. */
  samples: string[];
  /** true: a failure here is a failed well-formed request; false: the proxy mishandled a hostile client. */
  wellFormed: boolean;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as ClientSpec;
const HOST_FIELD = `Host: ${spec.host}:${spec.port}\r\n`;
const SMALL_BODY = 'hello, world\n';
/** How much longer than the proxy's own timeout a fault may take before it counts as a hang. */
const GRACE_MS = 20_000;

class Failure extends Error {}

let stopping = false;
const live = new Set<Socket>();
const stopWaiters = new Set<() => void>();

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (stopping) return resolve();
    const done = (): void => {
      clearTimeout(t);
      stopWaiters.delete(done);
      resolve();
    };
    const t = setTimeout(done, ms);
    stopWaiters.add(done);
  });
}

/** One client connection: its responses as they arrive, and how it ended. */
class Conn {
  readonly sock: Socket;
  readonly reader = new ResponseReader();
  readonly responses: ReadResponse[] = [];
  received = 0;
  closed = false;
  error: string | undefined;
  readonly #wake = new Set<() => void>();

  constructor() {
    this.sock = connect({ host: spec.host, port: spec.port, noDelay: true });
    live.add(this.sock);
    this.sock.on('data', (b: Buffer) => {
      this.received += b.length;
      try {
        this.responses.push(...this.reader.feed(b));
      } catch (e) {
        this.error ??= (e as Error).message;
        this.sock.destroy();
      }
      this.#notify();
    });
    this.sock.on('error', (e: NodeJS.ErrnoException) => {
      this.error ??= e.code ?? e.message;
    });
    this.sock.on('close', () => {
      live.delete(this.sock);
      this.closed = true;
      try {
        const last = this.reader.end();
        if (last) this.responses.push(last);
      } catch (e) {
        this.error ??= (e as Error).message;
      }
      this.#notify();
    });
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.sock.connecting) return resolve();
      this.sock.once('connect', () => resolve());
      this.sock.once('close', () => reject(new Failure(`could not connect: ${this.error ?? 'closed'}`)));
    });
  }

  send(method: string, bytes: string | Buffer): void {
    this.reader.expect(method);
    this.sock.write(bytes);
  }

  /** Waits until cond() holds, the connection closes, the run stops or ms pass. */
  wait(cond: () => boolean, ms: number): Promise<'ok' | 'closed' | 'timeout'> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        if (cond()) finish('ok');
        else if (this.closed) finish('closed');
        else if (stopping) finish('timeout');
        else return false;
        return true;
      };
      const finish = (r: 'ok' | 'closed' | 'timeout'): void => {
        clearTimeout(timer);
        this.#wake.delete(onWake);
        stopWaiters.delete(onWake);
        resolve(r);
      };
      const onWake = (): void => void check();
      const timer = setTimeout(() => finish('timeout'), ms);
      if (check()) return;
      this.#wake.add(onWake);
      stopWaiters.add(onWake);
    });
  }

  /** Hard close: the peer sees a TCP RST. */
  reset(): void {
    if (!this.sock.destroyed) this.sock.resetAndDestroy();
  }

  #notify(): void {
    for (const w of [...this.#wake]) w();
  }
}

function get(path: string, method = 'GET'): string {
  return `${method} ${path} HTTP/1.1\r\n${HOST_FIELD}\r\n`;
}

function post(path: string, length: number): string {
  return `POST ${path} HTTP/1.1\r\n${HOST_FIELD}Content-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n`;
}

/** Writes and resolves once the bytes are handed to the kernel (or the socket is gone). */
function write(c: Conn, data: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (c.sock.destroyed) return resolve();
    if (c.sock.write(data)) return resolve();
    const done = (): void => {
      c.sock.off('drain', done);
      c.sock.off('close', done);
      resolve();
    };
    c.sock.on('drain', done);
    c.sock.on('close', done);
  });
}

// --- the faults -----------------------------------------------------------------------------------

type Episode = () => Promise<string>;

interface Fault {
  name: string;
  concurrency: number;
  pauseMs: number;
  wellFormed: boolean;
  run: Episode;
}

const h = spec.routes;
let turn = 0;

async function resetRequest(): Promise<string> {
  const c = new Conn();
  await c.connected();
  if (turn++ % 2 === 0) {
    c.sock.write(`GET ${h.healthy}/small HTTP/1.1\r\n${HOST_FIELD}X-Partial: ye`);
    await sleep(20);
    c.reset();
    return 'RST inside the head';
  }
  c.sock.write(post(`${h.healthy}/upload`, 65536) + 'x'.repeat(4096));
  await sleep(20);
  c.reset();
  return 'RST inside the body';
}

async function resetResponse(): Promise<string> {
  const c = new Conn();
  await c.connected();
  const late = turn++ % 2 === 0;
  c.send('GET', get(`${h.healthy}/big`));
  const r = await c.wait(() => c.received >= (late ? 256 * 1024 : 1), spec.timeoutsMs.upstreamHead + GRACE_MS);
  if (r !== 'ok') {
    c.sock.destroy();
    if (stopping) return 'stopped';
    throw new Failure(`GET /big: ${r === 'closed' ? `closed before the response (${c.error ?? 'no error'})` : 'no response'}`);
  }
  if (!c.reader.buffered && !c.responses.length) throw new Failure('GET /big: no response head');
  const head = c.responses[0] ? `HTTP ${c.responses[0].status}` : 'head';
  c.reset();
  return late ? 'RST after 256 KiB' : `RST after the first bytes (${head === 'head' ? 'head' : head})`;
}

async function slowlorisHead(): Promise<string> {
  const c = new Conn();
  await c.connected();
  c.send('GET', `GET ${h.healthy}/small HTTP/1.1\r\n${HOST_FIELD}`);
  const deadline = Date.now() + spec.timeoutsMs.head + GRACE_MS;
  for (let i = 0; !c.closed && !stopping && Date.now() < deadline && c.responses.length === 0; i++) {
    c.sock.write(`X-Slow-${i}: ${'a'.repeat(8)}\r\n`);
    await c.wait(() => c.responses.length > 0, 1000);
  }
  if (stopping) {
    c.sock.destroy();
    return 'stopped';
  }
  await c.wait(() => false, 2000); // the close that follows the 408
  const status = c.responses[0]?.status;
  c.sock.destroy();
  if (status === undefined && !c.closed) throw new Failure(`a head sent one field per second was still accepted after ${spec.timeoutsMs.head + GRACE_MS} ms`);
  if (status !== undefined && status !== 408) throw new Failure(`slow head answered ${status}, expected 408`);
  return status === 408 ? '408' : 'closed without a response';
}

async function slowlorisBody(): Promise<string> {
  const c = new Conn();
  await c.connected();
  c.send('POST', post(`${h.healthy}/upload`, 100_000));
  if (turn++ % 2 === 0) {
    for (let i = 0; i < 20 && !c.closed && !stopping; i++) {
      c.sock.write('x');
      await c.wait(() => false, 1000);
    }
    const closed = c.closed;
    c.sock.destroy();
    return stopping ? 'stopped' : closed ? 'trickle: closed by the proxy' : 'trickle: abandoned after 20 s';
  }
  c.sock.write('x'.repeat(100));
  const r = await c.wait(() => false, spec.timeoutsMs.bodyIdle + GRACE_MS);
  c.sock.destroy();
  if (stopping) return 'stopped';
  if (r === 'timeout') throw new Failure(`a body that went silent was still waited for after ${spec.timeoutsMs.bodyIdle + GRACE_MS} ms`);
  return `silent body: ${c.responses[0] ? `${c.responses[0].status}, ` : ''}closed`;
}

const CHUNK = Buffer.alloc(256 * 1024, 'u');
async function abortedUpload(): Promise<string> {
  const c = new Conn();
  await c.connected();
  c.send('POST', post(`${h.healthy}/upload`, 8 * 1024 * 1024));
  for (let sent = 0; sent < 2 * 1024 * 1024 && !c.closed && !stopping; sent += CHUNK.length) await write(c, CHUNK);
  if (turn++ % 2 === 0) {
    c.reset();
    return 'RST after 2 MiB';
  }
  c.sock.destroy();
  return 'closed after 2 MiB';
}

/** Requests no server may accept: each must be answered 4xx/5xx (or the connection closed). */
const MALFORMED: string[] = [
  'GET / HTTP/9.9\r\nHost: a\r\n\r\n',
  'G(T / HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET / HTTP/1.1\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
  'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n',
  'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n',
  `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: a\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
  '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03',
  'GET http://[::1 HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET http://%zz/ HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET http://a:99999/ HTTP/1.1\r\nHost: a\r\n\r\n',
];
let malformedTurn = 0;
async function malformed(): Promise<string> {
  const i = malformedTurn++ % MALFORMED.length;
  const c = new Conn();
  await c.connected();
  c.send('GET', Buffer.from(MALFORMED[i], 'latin1'));
  const r = await c.wait(() => c.responses.length > 0, spec.timeoutsMs.head + GRACE_MS);
  c.sock.destroy();
  if (stopping) return 'stopped';
  const status = c.responses[0]?.status;
  if (status !== undefined && status < 400) throw new Failure(`malformed request #${i} answered ${status}: ${JSON.stringify(MALFORMED[i].slice(0, 60))}`);
  if (r === 'timeout') throw new Failure(`malformed request #${i} neither answered nor closed within ${spec.timeoutsMs.head + GRACE_MS} ms`);
  return status !== undefined ? String(status) : `closed (${c.error ?? 'no response'})`;
}

interface Expected {
  label: string;
  method: string;
  bytes: string;
  /** Accepted statuses. */
  status: number[];
  /** Exact body, when it is known. */
  body?: string;
}

const GET_SMALL: Expected = { label: 'GET /small', method: 'GET', bytes: get(`${h.healthy}/small`), status: [200], body: SMALL_BODY };
const HEAD_SMALL: Expected = { label: 'HEAD /small', method: 'HEAD', bytes: get(`${h.healthy}/small`, 'HEAD'), status: [200], body: '' };
const OPTIONS_STAR: Expected = { label: 'OPTIONS *', method: 'OPTIONS', bytes: get('*', 'OPTIONS'), status: [200], body: '' };
const DOT_DOT: Expected = { label: 'GET /a/../b', method: 'GET', bytes: get(`${h.healthy}/a/../b`), status: [400] };
const HEAD_DOT_DOT: Expected = { label: 'HEAD /a/../b', method: 'HEAD', bytes: get(`${h.healthy}/a/../b`, 'HEAD'), status: [400], body: '' };

/** Sends every request in one write and checks every response, in order. */
async function pipeline(requests: Expected[], waitMs: number): Promise<number> {
  const c = new Conn();
  await c.connected();
  for (const r of requests) c.reader.expect(r.method);
  c.sock.write(requests.map((r) => r.bytes).join(''));
  const r = await c.wait(() => c.responses.length >= requests.length, waitMs);
  c.sock.destroy();
  if (stopping && r !== 'ok') return -1;
  for (let i = 0; i < c.responses.length && i < requests.length; i++) {
    const got = c.responses[i];
    const want = requests[i];
    const where = `response ${i + 1} of ${requests.length} (${want.label})`;
    if (!want.status.includes(got.status)) throw new Failure(`${where}: status ${got.status}, expected ${want.status.join(' or ')}`);
    if (want.body !== undefined && got.body.toString('latin1') !== want.body) throw new Failure(`${where}: body ${JSON.stringify(got.body.toString('latin1').slice(0, 40))}, expected ${JSON.stringify(want.body)}`);
    if (got.close && i < requests.length - 1) throw new Failure(`${where}: Connection: close with ${requests.length - i - 1} requests unanswered`);
  }
  if (c.responses.length < requests.length) {
    const why = c.error ?? (r === 'closed' ? 'connection closed' : `nothing more within ${waitMs} ms`);
    throw new Failure(`${c.responses.length} of ${requests.length} pipelined responses, then ${why}`);
  }
  return requests.length;
}

async function pipelined(): Promise<string> {
  const group = [GET_SMALL, HEAD_SMALL, OPTIONS_STAR, DOT_DOT, HEAD_DOT_DOT];
  const requests = Array.from({ length: 20 }, () => group).flat();
  const n = await pipeline(requests, spec.timeoutsMs.upstreamHead + GRACE_MS);
  if (n < 0) return 'stopped';
  checkedBy.pipelined += n;
  return `${n} answered`;
}

async function burst(): Promise<string> {
  const leads: Expected[] = [
    { label: `GET ${h.dead}/x (refused port)`, method: 'GET', bytes: get(`${h.dead}/x`), status: [502, 503] },
    GET_SMALL,
    { label: `GET ${h.stall}/head (stalling upstream)`, method: 'GET', bytes: get(`${h.stall}/head`), status: [502, 503, 504] },
  ];
  const lead = leads[turn++ % leads.length];
  const requests = [lead, ...Array.from({ length: spec.burst }, () => OPTIONS_STAR)];
  const n = await pipeline(requests, spec.timeoutsMs.upstreamHead + GRACE_MS);
  if (n < 0) return 'stopped';
  checkedBy.burst += n;
  return `behind ${lead.label.split(' (')[0]}: ${n} answered`;
}

async function badUpstreams(): Promise<string> {
  const kind = turn++ % 4;
  const path = kind === 0 ? `${h.reset}/x` : kind === 3 ? `${h.stall}/body` : `${h.stall}/head`;
  const c = new Conn();
  await c.connected();
  c.send('GET', get(path));
  if (kind === 2) {
    await c.wait(() => false, 1000);
    c.reset();
    return 'stall: client gave up after 1 s';
  }
  const r = await c.wait(() => c.responses.length > 0, spec.timeoutsMs.upstreamHead + GRACE_MS);
  c.sock.destroy();
  if (stopping) return 'stopped';
  const name = kind === 0 ? 'reset' : kind === 3 ? 'stall in the body' : 'stall';
  const status = c.responses[0]?.status;
  if (status !== undefined) {
    if (![502, 503, 504].includes(status)) throw new Failure(`${path}: ${status}, expected 502, 503 or 504`);
    return `${name}: ${status}`;
  }
  if (r === 'closed' && c.reader.buffered > 0) return `${name}: response cut short`;
  throw new Failure(`${path}: ${r === 'closed' ? `closed without a response (${c.error ?? 'no error'})` : `no response within ${spec.timeoutsMs.upstreamHead + GRACE_MS} ms`}`);
}

const checkedBy = { pipelined: 0, burst: 0 };
const FAULTS: Fault[] = [
  { name: 'reset-request', concurrency: 2, pauseMs: 100, wellFormed: false, run: resetRequest },
  { name: 'reset-response', concurrency: 2, pauseMs: 200, wellFormed: true, run: resetResponse },
  { name: 'slowloris-head', concurrency: 10, pauseMs: 100, wellFormed: false, run: slowlorisHead },
  { name: 'slowloris-body', concurrency: 10, pauseMs: 100, wellFormed: false, run: slowlorisBody },
  { name: 'aborted-upload', concurrency: 1, pauseMs: 500, wellFormed: false, run: abortedUpload },
  { name: 'malformed', concurrency: 2, pauseMs: 100, wellFormed: false, run: malformed },
  { name: 'pipelined', concurrency: 1, pauseMs: 500, wellFormed: true, run: pipelined },
  { name: 'burst', concurrency: 1, pauseMs: 1000, wellFormed: true, run: burst },
  { name: 'bad-upstreams', concurrency: 4, pauseMs: 200, wellFormed: false, run: badUpstreams },
];

const stats = new Map<string, FaultStats>(
  FAULTS.map((f) => [f.name, { episodes: 0, outcomes: {}, checked: 0, failures: 0, samples: [], wellFormed: f.wellFormed }]),
);

async function loop(f: Fault): Promise<void> {
  const s = stats.get(f.name)!;
  while (!stopping) {
    let outcome: string;
    try {
      outcome = await f.run();
    } catch (e) {
      if (stopping) outcome = 'stopped';
      else {
        s.failures++;
        const msg = e instanceof Failure ? e.message : `client error: ${(e as Error).stack ?? String(e)}`;
        if (s.samples.length < 10) s.samples.push(`${new Date().toISOString()} ${msg}`);
        outcome = 'FAILED';
      }
    }
    if (outcome !== 'stopped') {
      s.episodes++;
      s.outcomes[outcome] = (s.outcomes[outcome] ?? 0) + 1;
    }
    await sleep(f.pauseMs);
  }
}

function snapshot(): Record<string, FaultStats> {
  stats.get('pipelined')!.checked = checkedBy.pipelined;
  stats.get('burst')!.checked = checkedBy.burst;
  return Object.fromEntries(stats);
}

const loops = FAULTS.flatMap((f) => Array.from({ length: f.concurrency }, () => loop(f)));

let stopped = false;
async function stop(): Promise<void> {
  if (stopped) return;
  stopped = true;
  stopping = true;
  for (const w of [...stopWaiters]) w();
  for (const s of live) s.destroy();
  await Promise.all(loops);
  process.stdout.write(`CLIENTS ${JSON.stringify(snapshot())}\n`);
  process.exit(0);
}

const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  if (line.trim() === 'stats') process.stdout.write(`CLIENTS ${JSON.stringify(snapshot())}\n`);
  else if (line.trim() === 'stop') void stop();
});
commands.on('close', () => void stop());
process.on('SIGTERM', () => process.exit(0));
