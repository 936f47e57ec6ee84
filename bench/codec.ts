// Codec micro-benchmark (`npm run bench:codec`, `npm run bench:codec -- --quick`).
//
// Parses the same messages with three parsers, each doing the work a proxy needs:
// - Portico's codec through its binding (src/wasm): HeadReader.feed per read, then the method,
//   target and Host strings from ParsedHead; chunked bodies through ChunkedDecoder, whose sink
//   gets a Buffer view per data span;
// - Node's own llhttp (the C++ HTTPParser binding behind node:http, as node:http drives it): it
//   builds every header string itself; the callback picks method, URL and Host out of them;
// - undici's llhttp WebAssembly build, driven directly as undici's client-h1.js does (copy each
//   read into its memory, llhttp_execute, callbacks into JS): minimal callbacks that build only
//   the URL and Host strings and a Buffer view per body span.
// Heads are read whole and split into 16/64/256/1024-byte reads; chunked bodies (64 B, 1 KiB and
// 8 KiB chunks) arrive in 64 KiB reads. Each measurement is warmed up, then run for 7 rounds
// (interleaved across the parsers, so a busy neighbour hurts them alike); the tables give medians
// and the ratios Portico/other. The tables replace the "Codec micro-benchmark" section of
// bench/RESULTS.md (`--no-write`: print only). About 35 s; `--quick` (3 rounds, short) about 3 s.
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { codec, DEFAULT_HEAD_LIMITS } from '../src/wasm/codec.js';
import { HeadReader } from '../src/wasm/head-reader.js';
import { ChunkedDecoder, type ChunkSink } from '../src/wasm/chunked-decoder.js';
import { HeadKind } from '../asm/shared/constants.js';

const require = createRequire(import.meta.url);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const WRITE = !args.includes('--no-write');
const ROUNDS = QUICK ? 3 : 7;
const ROUND_MS = QUICK ? 12 : 60;
const WARMUP_MS = QUICK ? 15 : 120;

// ---------------------------------------------------------------------------------------------
// Messages

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');

interface HeadCase { name: string; source: string; bytes: Buffer; method: string; target: string; host: string | undefined }

const HEADS: HeadCase[] = [
  {
    name: 'seanmonstar_httparse', source: 'httparse benches/parse.rs REQ',
    method: 'GET', target: '/wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg', host: 'www.kittyhell.com',
    bytes: crlf([
      'GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1',
      'Host: www.kittyhell.com',
      'User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9',
      'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
      'Accept-Language: ja,en-us;q=0.7,en;q=0.3',
      'Accept-Encoding: gzip,deflate',
      'Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7',
      'Keep-Alive: 115',
      'Connection: keep-alive',
      'Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; __utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; __utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|utmcct=/reader/|utmcmd=referral',
    ]),
  },
  {
    name: 'seanmonstar_httparse_short', source: 'httparse benches/parse.rs REQ_SHORT (HTTP/1.0, no keep-alive: one per connection)',
    method: 'GET', target: '/', host: 'example.com',
    bytes: crlf(['GET / HTTP/1.0', 'Host: example.com', 'Cookie: session=60; user_id=1']),
  },
  {
    name: 'nodejs_http_parser', source: 'nodejs/http-parser bench.c',
    method: 'GET', target: '/joyent/http-parser', host: 'github.com',
    bytes: crlf([
      'GET /joyent/http-parser HTTP/1.1',
      'Host: github.com',
      'DNT: 1',
      'Accept-Encoding: gzip, deflate, sdch',
      'Accept-Language: ru-RU,ru;q=0.8,en-US;q=0.6,en;q=0.4',
      'User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/39.0.2171.65 Safari/537.36',
      'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8',
      'Referer: https://github.com/joyent/http-parser',
      'Connection: keep-alive',
      'Cache-Control: max-age=0',
    ]),
  },
  {
    name: 'curl_get', source: 'curl 8 default GET',
    method: 'GET', target: '/', host: 'example.com',
    bytes: crlf(['GET / HTTP/1.1', 'Host: example.com', 'User-Agent: curl/8.5.0', 'Accept: */*']),
  },
  {
    name: 'browser_12_headers', source: 'a Chrome navigation, 12 fields',
    method: 'GET', target: '/docs/index.html?lang=en&ref=nav', host: 'www.example.org',
    bytes: crlf([
      'GET /docs/index.html?lang=en&ref=nav HTTP/1.1',
      'Host: www.example.org',
      'Connection: keep-alive',
      'Cache-Control: max-age=0',
      'sec-ch-ua: "Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
      'sec-ch-ua-mobile: ?0',
      'sec-ch-ua-platform: "Linux"',
      'Upgrade-Insecure-Requests: 1',
      'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
      'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
      'Accept-Encoding: gzip, deflate, br, zstd',
      'Accept-Language: en-US,en;q=0.9',
      'Cookie: session=3b1f0c9e; theme=dark',
    ]),
  },
];

const SPLITS = [0, 16, 64, 256, 1024]; // 0: whole

function split(b: Buffer, size: number): Buffer[] {
  if (size === 0 || size >= b.length) return [b];
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(Buffer.from(b.subarray(i, i + size)));
  return out;
}

const CHUNK_SIZES = [64, 1024, 8192];
const BODY_BYTES = 1 << 20;
const SOCKET_READ = 65536;

function chunkedMessage(chunk: number): { bytes: Buffer; body: number } {
  const head = crlf(['POST /upload HTTP/1.1', 'Host: example.com', 'Transfer-Encoding: chunked']);
  const payload = Buffer.alloc(chunk, 'x');
  const sizeLine = Buffer.from(chunk.toString(16) + '\r\n');
  const parts: Buffer[] = [head];
  for (let n = 0; n < BODY_BYTES; n += chunk) parts.push(sizeLine, payload, Buffer.from('\r\n'));
  parts.push(Buffer.from('0\r\n\r\n'));
  return { bytes: Buffer.concat(parts), body: BODY_BYTES };
}

// ---------------------------------------------------------------------------------------------
// Parsers: each returns a function that parses one message given as reads and returns a value
// derived from the strings it built (so nothing is optimised away).

interface Parsed { method: string; target: string; host: string | undefined; body: number }
/** `fresh`: the message starts a new connection (HTTP/1.0 without keep-alive ends its own). */
type Parse = (reads: readonly Buffer[], fresh: boolean) => Parsed;

function porticoParser(): Parse {
  const c = codec();
  const reader = new HeadReader(c, HeadKind.REQUEST, DEFAULT_HEAD_LIMITS);
  const decoder = new ChunkedDecoder(c, reader.slot);
  let body = 0;
  const sink: ChunkSink = { data: (b) => { body += b.length; }, trailer: () => {} };
  return (reads) => {
    let method = '';
    let target = '';
    let host: string | undefined;
    body = 0;
    let inBody = false;
    for (const r of reads) {
      let pos = 0;
      if (!inBody) {
        const n = reader.feed(r, 0, r.length);
        if (n === 0) continue;
        const h = reader.head!;
        method = h.method;
        target = h.target;
        host = h.host();
        pos = n;
        if (h.bodyKind !== 2) break;
        decoder.begin();
        inBody = true;
      }
      if (pos < r.length) decoder.decode(r, pos, r.length, sink);
    }
    return { method, target, host, body };
  };
}

interface HTTPParserCtor {
  new (): HTTPParserInstance;
  REQUEST: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}
interface HTTPParserInstance {
  [key: number]: unknown;
  initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void;
  execute(buf: Buffer): number | Error;
}

function nodeParser(): Parse {
  const { HTTPParser, methods } = require('node:_http_common') as { HTTPParser: HTTPParserCtor; methods: string[] };
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, 0, 0);
  let out: Parsed = { method: '', target: '', host: undefined, body: 0 };
  let partUrl = '';
  let partHeaders: string[] = [];
  p[HTTPParser.kOnHeaders] = (headers: string[], url: string) => { partHeaders = partHeaders.concat(headers); partUrl += url; };
  p[HTTPParser.kOnHeadersComplete] = (_maj: number, _min: number, headers: string[] | undefined, method: number, url: string | undefined) => {
    const hs = headers ?? partHeaders;
    let host: string | undefined;
    for (let i = 0; i < hs.length; i += 2) {
      if (hs[i].length === 4 && hs[i].toLowerCase() === 'host') { host = hs[i + 1]; break; }
    }
    out = { method: methods[method], target: url ?? partUrl, host, body: 0 };
    partUrl = '';
    partHeaders = [];
    return 0;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => { out.body += b.length; };
  p[HTTPParser.kOnMessageComplete] = () => {};
  return (reads, fresh) => {
    if (fresh) p.initialize(HTTPParser.REQUEST, {}, 0, 0); // what node:http does per connection
    for (const r of reads) {
      const e = p.execute(r);
      if (e instanceof Error) throw e;
    }
    return out;
  };
}

interface LlhttpExports {
  memory: WebAssembly.Memory;
  _initialize?: () => void;
  malloc(n: number): number;
  llhttp_alloc(type: number): number;
  llhttp_execute(p: number, ptr: number, len: number): number;
  llhttp_reset(p: number): void;
  llhttp_get_method(p: number): number;
  llhttp_get_error_reason(p: number): number;
}

function undiciParser(): Parse {
  const { METHODS } = require('undici/lib/llhttp/constants.js') as { METHODS: Record<string, number> };
  const names: string[] = [];
  for (const [name, n] of Object.entries(METHODS)) names[n] ??= name;
  // undici prefers its SIMD build and falls back to the plain one
  let bin = new Uint8Array(require('undici/lib/llhttp/llhttp_simd-wasm.js') as Buffer);
  if (!WebAssembly.validate(bin)) bin = new Uint8Array(require('undici/lib/llhttp/llhttp-wasm.js') as Buffer);
  // state of the message being parsed, kept the way undici keeps it (per parser, in JS)
  let mem = new Uint8Array(0);
  let memBuffer: ArrayBufferLike = new ArrayBuffer(0);
  let url = '';
  const field = new Uint8Array(64);
  let fieldLen = 0;
  let inValue = false;
  let isHost = false;
  let host: string | undefined;
  let body = 0;
  let method = '';
  const latin1 = (at: number, len: number) => Buffer.from(memBuffer, at, len).toString('latin1');
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bin), {
    env: {
      wasm_on_url: (_p: number, at: number, len: number) => { url += latin1(at, len); return 0; },
      wasm_on_status: () => 0,
      wasm_on_message_begin: () => { url = ''; host = undefined; body = 0; fieldLen = 0; inValue = false; return 0; },
      wasm_on_header_field: (_p: number, at: number, len: number) => {
        if (inValue) { fieldLen = 0; inValue = false; }
        for (let i = 0; i < len && fieldLen < 64; i++) field[fieldLen++] = mem[at + i];
        return 0;
      },
      wasm_on_header_value: (_p: number, at: number, len: number) => {
        if (!inValue) {
          inValue = true;
          isHost = fieldLen === 4 && (field[0] | 0x20) === 0x68 && (field[1] | 0x20) === 0x6f && (field[2] | 0x20) === 0x73 && (field[3] | 0x20) === 0x74;
          if (isHost) host = '';
        }
        if (isHost) host += latin1(at, len);
        return 0;
      },
      wasm_on_headers_complete: (p: number) => { method = names[x.llhttp_get_method(p)]; return 0; },
      wasm_on_body: (_p: number, at: number, len: number) => { body += Buffer.from(memBuffer, at, len).length; return 0; },
      wasm_on_message_complete: () => 0,
    },
  });
  const x = instance.exports as unknown as LlhttpExports; // the callbacks above run only once parsing starts
  x._initialize?.();
  const parser = x.llhttp_alloc(1); // TYPE.REQUEST
  let bufPtr = 0;
  let bufSize = 0;
  return (reads, fresh) => {
    if (fresh) x.llhttp_reset(parser);
    for (const r of reads) {
      if (r.length > bufSize) {
        bufSize = Math.ceil(r.length / 4096) * 4096;
        bufPtr = x.malloc(bufSize);
      }
      memBuffer = x.memory.buffer;
      mem = new Uint8Array(memBuffer);
      mem.set(r, bufPtr);
      const ret = x.llhttp_execute(parser, bufPtr, r.length);
      if (ret !== 0) throw new Error(`undici llhttp error ${ret}`);
    }
    return { method, target: url, host: host?.trim(), body };
  };
}

// ---------------------------------------------------------------------------------------------
// Measurement

const PARSERS = ['portico', 'node', 'undici'] as const;
type ParserName = (typeof PARSERS)[number];
const FACTORIES: Record<ParserName, () => Parse> = { portico: porticoParser, node: nodeParser, undici: undiciParser };
const LABEL: Record<ParserName, string> = { portico: 'Portico codec', node: "Node's llhttp", undici: 'undici llhttp (wasm)' };

let sinkValue = 0;

/** ns per message: `iters` messages, timed. */
function timeOnce(parse: Parse, reads: readonly Buffer[], fresh: boolean, iters: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) {
    const r = parse(reads, fresh);
    sinkValue += r.target.length + r.body;
  }
  return Number(process.hrtime.bigint() - t0) / iters;
}

/** Calibrates iterations to about ROUND_MS per round after warming up for WARMUP_MS. */
function calibrate(parse: Parse, reads: readonly Buffer[], fresh: boolean): number {
  let iters = 1;
  const end = Date.now() + WARMUP_MS;
  let ns = timeOnce(parse, reads, fresh, iters);
  while (Date.now() < end) {
    ns = timeOnce(parse, reads, fresh, iters);
    if (ns * iters < 2e6) iters *= 2;
  }
  return Math.max(1, Math.round((ROUND_MS * 1e6) / ns));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function measure(
  parsers: Record<ParserName, Parse>, reads: readonly Buffer[], fresh: boolean, check: (p: Parsed, who: ParserName) => void,
): Record<ParserName, number> {
  const iters = {} as Record<ParserName, number>;
  for (const name of PARSERS) {
    check(parsers[name](reads, fresh), name);
    iters[name] = calibrate(parsers[name], reads, fresh);
  }
  const samples: Record<ParserName, number[]> = { portico: [], node: [], undici: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? PARSERS : [...PARSERS].reverse();
    for (const name of order) samples[name].push(timeOnce(parsers[name], reads, fresh, iters[name]));
  }
  return { portico: median(samples.portico), node: median(samples.node), undici: median(samples.undici) };
}

function git(cmd: string[]): string {
  try {
    return execFileSync('git', cmd, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

const fmtNs = (ns: number) => (ns >= 10000 ? ns.toFixed(0) : ns >= 100 ? ns.toFixed(0) : ns.toFixed(1));
const fmtX = (x: number) => `${x.toFixed(2)}x`;
const geomean = (xs: number[]) => Math.exp(xs.reduce((a, b) => a + Math.log(b), 0) / xs.length);

function main(): void {
  const started = Date.now();
  const c = codec();
  // new parsers per measured case: an llhttp left in its closed state (after an HTTP/1.0
  // message) must not affect the next case
  const newParsers = () => ({ portico: FACTORIES.portico(), node: FACTORIES.node(), undici: FACTORIES.undici() });
  const lines: string[] = [];
  const log = (s = '') => { lines.push(s); console.log(s); };

  const cpu = cpus()[0]?.model.trim() ?? 'unknown';
  const commit = git(['rev-parse', '--short=12', 'HEAD']) || 'unknown';
  const codecDirty = git(['status', '--porcelain', '--', 'asm', 'src/wasm']) !== '';
  const command = `npm run bench:codec${QUICK ? ' -- --quick' : ''}`;
  log('## Codec micro-benchmark');
  log();
  log(`\`${command}\` (bench/codec.ts) on ${new Date().toISOString().slice(0, 10)}: Node ${process.version}, ${cpu} ` +
    `(${cpus().length} CPUs, shared with other work), commit ${commit}${codecDirty ? ' + uncommitted codec changes' : ''}, ` +
    `codec build \`${c.build}\`, ${ROUNDS} rounds per measurement (median), ${QUICK ? 'quick mode: indicative only' : `~${ROUND_MS} ms per round`}.`);
  log();
  log('Every parser does the work a proxy needs per message: method, target and Host as strings');
  log("(Node's llhttp builds every header string in C++; undici's wasm llhttp is driven with minimal");
  log('callbacks that build only the URL and Host strings; Portico copies the read into linear memory,');
  log('parses it in one call, copies the result table into a ParsedHead and slices target and Host from');
  log('one latin1 decode of the head\'s first bytes, a known method being a constant). "16 B" means the');
  log('head arrives as separate 16-byte Buffers. HTTP/1.0 without keep-alive ends its connection: the');
  log('llhttp parsers are re-initialized per message, as node:http does per connection.');
  log();
  log(`### Request heads: ns per message (lower is better) and Portico's speed-up`);
  log();
  log(`| request (bytes) | reads | ${LABEL.portico} | ${LABEL.node} | ${LABEL.undici} | vs Node | vs undici |`);
  log('|---|---|--:|--:|--:|--:|--:|');
  const vsNodeWhole: number[] = [];
  const vsNodeAll: number[] = [];
  const vsUndiciAll: number[] = [];
  for (const h of HEADS) {
    for (const s of SPLITS) {
      if (s !== 0 && s >= h.bytes.length) continue;
      const reads = split(h.bytes, s);
      // HTTP/1.0 without keep-alive ends its connection: the llhttp parsers are reset per message
      // (as node:http initializes a parser per connection); Portico's reader needs nothing
      const perConnection = h.bytes.includes('HTTP/1.0\r\n');
      const r = measure(newParsers(), reads, perConnection, (p, who) => {
        if (p.method !== h.method || p.target !== h.target || p.host !== h.host) {
          throw new Error(`${who} parsed ${h.name} wrong: ${JSON.stringify(p)}`);
        }
      });
      const vsNode = r.node / r.portico;
      const vsUndici = r.undici / r.portico;
      if (s === 0) vsNodeWhole.push(vsNode);
      vsNodeAll.push(vsNode);
      vsUndiciAll.push(vsUndici);
      log(`| ${s === 0 ? `${h.name} (${h.bytes.length})` : ''} | ${s === 0 ? 'whole' : `${s} B`} | ${fmtNs(r.portico)} | ${fmtNs(r.node)} | ${fmtNs(r.undici)} | ${fmtX(vsNode)} | ${fmtX(vsUndici)} |`);
    }
  }
  log(`| **geometric mean** | whole | | | | **${fmtX(geomean(vsNodeWhole))}** | |`);
  log(`| **geometric mean** | all | | | | **${fmtX(geomean(vsNodeAll))}** | **${fmtX(geomean(vsUndiciAll))}** |`);
  log();
  log(`### Chunked request bodies: GB/s of message bytes (1 MiB body, ${SOCKET_READ / 1024} KiB reads; higher is better)`);
  log();
  log(`| chunk size | message bytes | ${LABEL.portico} | ${LABEL.node} | ${LABEL.undici} | vs Node | vs undici |`);
  log('|---|--:|--:|--:|--:|--:|--:|');
  let chunked8k = 0;
  for (const size of CHUNK_SIZES) {
    const m = chunkedMessage(size);
    const reads = split(m.bytes, SOCKET_READ);
    const r = measure(newParsers(), reads, false, (p, who) => {
      if (p.body !== m.body || p.target !== '/upload') throw new Error(`${who} decoded the ${size}-byte chunks wrong: ${p.body}`);
    });
    const gbps = (ns: number) => m.bytes.length / ns; // bytes per ns = GB/s
    if (size === 8192) chunked8k = gbps(r.portico);
    log(`| ${size >= 1024 ? `${size / 1024} KiB` : `${size} B`} | ${m.bytes.length} | ${gbps(r.portico).toFixed(2)} | ${gbps(r.node).toFixed(2)} | ${gbps(r.undici).toFixed(2)} | ${fmtX(r.node / r.portico)} | ${fmtX(r.undici / r.portico)} |`);
  }
  log();
  log(breakdown());
  log();
  const headTarget = geomean(vsNodeWhole) >= 4;
  const chunkTarget = chunked8k >= 1;
  log(`Targets: request heads >= 4x Node's llhttp: ${headTarget ? 'met' : 'missed'} (geometric mean ${fmtX(geomean(vsNodeWhole))} ` +
    `read whole, ${fmtX(geomean(vsNodeAll))} over all read sizes); chunked >= 1 GB/s on 8 KiB chunks: ${chunkTarget ? 'met' : 'missed'} ` +
    `(${chunked8k.toFixed(2)} GB/s). Run time ${((Date.now() - started) / 1000).toFixed(0)} s.`);
  if (sinkValue === 0.5) console.log('');

  if (WRITE) writeResults(lines.join('\n'));
}

/** Where Portico's time goes on the first sample read whole: the module call alone (copy into
 *  linear memory + parse), then the ParsedHead, then the three strings. */
function breakdown(): string {
  const h = HEADS[0];
  const c = codec();
  const reader = new HeadReader(c, HeadKind.REQUEST, DEFAULT_HEAD_LIMITS);
  const b = h.bytes;
  const steps: Array<[string, () => number]> = [
    ['copy into linear memory + parse (one export call)', () => { c.copyIn(b, 0, b.length); return c.exports.requestHead(reader.slot, b.length); }],
    ['+ HeadReader.feed building the ParsedHead', () => reader.feed(b, 0, b.length)],
    ['+ method, target and Host strings', () => { reader.feed(b, 0, b.length); const p = reader.head!; return p.method.length + p.target.length + (p.host()?.length ?? 0); }],
  ];
  const rows = steps.map(([label, f]) => {
    const parse: Parse = () => ({ method: '', target: '', host: undefined, body: f() });
    const iters = calibrate(parse, [b], false);
    const xs: number[] = [];
    for (let i = 0; i < ROUNDS; i++) xs.push(timeOnce(parse, [b], false, iters));
    return `| ${label} | ${fmtNs(median(xs))} |`;
  });
  reader.release();
  return [`Where Portico's time goes (${h.name}, read whole; ns per message):`, '', '| step | cumulative ns |', '|---|--:|', ...rows].join('\n');
}

/** Replaces (or appends) the "## Codec micro-benchmark" section of bench/RESULTS.md. */
function writeResults(section: string): void {
  const file = join(ROOT, 'bench', 'RESULTS.md');
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const start = old.indexOf('## Codec micro-benchmark');
  let next = start < 0 ? -1 : old.indexOf('\n## ', start + 1);
  if (next >= 0) next += 1;
  const updated = start < 0
    ? `${old.trimEnd()}\n\n${section}\n`
    : `${old.slice(0, start)}${section}\n${next >= 0 ? '\n' + old.slice(next) : ''}`;
  writeFileSync(file, updated);
  console.log(`\nwritten to ${file}`);
}

main();
