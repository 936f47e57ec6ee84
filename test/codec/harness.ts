// Shared helpers for the codec tests: a message driver that reads a byte stream through the real
// binding (HeadReader for heads, JS for Content-Length bodies, ChunkedDecoder for chunked
// bodies) exactly as a proxy connection does, a canonical text log of what it saw, and the read
// splitting strategies (whole, byte by byte, split at an offset). No mocks: every test runs the
// real .wasm builds.
import { Codec, DEFAULT_HEAD_LIMITS, type Build, type HeadLimits } from '../../src/wasm/codec.js';
import { HeadReader } from '../../src/wasm/head-reader.js';
import { ChunkedDecoder } from '../../src/wasm/chunked-decoder.js';
import { CodecError, CODEC_ERRORS } from '../../src/wasm/codec-error.js';
import type { ParsedHead } from '../../src/wasm/parsed-head.js';
import {
  BodyKind, DefaultLimit, ErrorCode, FieldId, HeadFlag, HeadKind, MethodId, TargetForm,
} from '../../asm/shared/constants.js';

export const BUILDS: readonly Build[] = ['simd', 'scalar', 'debug'];

const instances = new Map<Build, Codec>();

/** One instance per build per test process (tests compare builds side by side). */
export function codecFor(build: Build): Codec {
  let c = instances.get(build);
  if (!c) {
    c = new Codec(build);
    instances.set(build, c);
  }
  return c;
}

/** The build the tests use by default: PORTICO_WASM when set, else simd. */
export function defaultBuild(): Build {
  const f = process.env.PORTICO_WASM;
  return f === 'scalar' || f === 'debug' || f === 'simd' ? f : 'simd';
}

export interface RunOptions {
  kind: 'request' | 'response';
  limits?: HeadLimits;
  /** Responses: the request was HEAD (no body whatever the framing fields say). */
  headRequest?: boolean;
  /** [maxSizeLine, maxTrailer] for the chunked decoder (module-wide; restored after the run). */
  chunkLimits?: [number, number];
  /** Stop after this many messages (e.g. 1 to look at a single head). */
  maxMessages?: number;
}

export interface MessageOutcome {
  /** Offset in the stream where the head began. */
  start: number;
  head: ParsedHead;
  /** Offset just past the head's empty line. */
  headEnd: number;
  body: Buffer[];
  /** Lengths of the data spans the decoder returned (chunk sizes when read whole). */
  spans: number[];
  trailers: Buffer[];
  /** Offset just past the message (undefined while the message is unfinished). */
  end: number | undefined;
}

export interface Outcome {
  messages: MessageOutcome[];
  error: { code: ErrorCode; offset: number; phase: 'head' | 'body' } | undefined;
  /** What the driver was doing when the input ran out or it stopped. */
  state: 'idle' | 'head' | 'length' | 'chunked' | 'until-eof' | 'upgrade' | 'closed' | 'error';
  /** Bytes left unread when the driver stopped (upgrade, close, error, message limit). */
  rest: number;
  /** Unfinished head bytes held by the reader (state 'head'). */
  pending: number;
  /** Any exception other than CodecError (always a test failure). */
  crash: unknown;
  /** The parser slot the reader used. */
  slot: number;
}

/** True when the connection must not read another message after this one (RFC 9112 §9.3). */
function closesAfter(h: ParsedHead, kind: 'request' | 'response'): boolean {
  if (h.has(HeadFlag.CONNECTION_CLOSE)) return true;
  if (h.version === 10 && !h.has(HeadFlag.CONNECTION_KEEP_ALIVE)) return true;
  return kind === 'response' && h.bodyKind === BodyKind.CLOSE_DELIMITED;
}

function upgrades(h: ParsedHead, kind: 'request' | 'response'): 'now' | 'after-body' | false {
  if (kind === 'request') {
    if (h.methodId === MethodId.CONNECT) return 'now';
    if (h.has(HeadFlag.CONNECTION_UPGRADE) && h.has(HeadFlag.HAS_UPGRADE)) return 'after-body';
    return false;
  }
  return h.status === 101 ? 'now' : false;
}

/**
 * Reads `reads` (consecutive pieces of one byte stream) the way a proxy connection does and
 * returns everything it saw. Never throws: a CodecError becomes `error`, anything else `crash`.
 */
export function drive(c: Codec, reads: readonly Buffer[], opts: RunOptions): Outcome {
  const limits = opts.limits ?? DEFAULT_HEAD_LIMITS;
  const kind = opts.kind;
  const out: Outcome = { messages: [], error: undefined, state: 'idle', rest: 0, pending: 0, crash: undefined, slot: -1 };
  if (opts.chunkLimits) c.setChunkLimits(opts.chunkLimits[0], opts.chunkLimits[1]);
  const reader = new HeadReader(c, kind === 'request' ? HeadKind.REQUEST : HeadKind.RESPONSE, limits);
  out.slot = reader.slot;
  const decoder = new ChunkedDecoder(c, reader.slot);
  let state: Outcome['state'] = 'idle';
  let remaining = 0;
  let msg: MessageOutcome | undefined;
  let upgradeAfter = false;
  let abs = 0; // stream offset of reads[r][0]
  let headStart = 0;
  const total = reads.reduce((n, b) => n + b.length, 0);
  const sink = {
    data: (b: Buffer) => { msg!.body.push(Buffer.from(b)); msg!.spans.push(b.length); },
    trailer: (b: Buffer) => { msg!.trailers.push(Buffer.from(b)); },
  };
  const complete = (at: number): void => {
    msg!.end = at;
    const h = msg!.head;
    if (upgradeAfter) state = 'upgrade';
    else if (closesAfter(h, kind)) state = 'closed';
    else state = opts.maxMessages !== undefined && out.messages.length >= opts.maxMessages ? 'closed' : 'idle';
  };
  try {
    outer: for (const buf of reads) {
      let pos = 0;
      while (pos < buf.length) {
        if (state === 'idle' || state === 'head') {
          if (state === 'idle') headStart = abs + pos;
          let n: number;
          try {
            n = reader.feed(buf, pos, buf.length, opts.headRequest === true);
          } catch (e) {
            if (!(e instanceof CodecError)) throw e;
            out.error = { code: e.code, offset: headStart + e.offset, phase: 'head' };
            state = 'error';
            out.rest = total - headStart;
            break outer;
          }
          if (n === 0) { state = 'head'; pos = buf.length; continue; }
          pos += n;
          const h = reader.head!;
          msg = { start: headStart, head: h, headEnd: abs + pos, body: [], spans: [], trailers: [], end: undefined };
          out.messages.push(msg);
          const up = upgrades(h, kind);
          upgradeAfter = up === 'after-body';
          if (up === 'now') { msg.end = abs + pos; state = 'upgrade'; out.rest = total - (abs + pos); break outer; }
          switch (h.bodyKind) {
            case BodyKind.NONE: complete(abs + pos); break;
            case BodyKind.LENGTH:
              remaining = h.contentLength;
              if (remaining === 0) complete(abs + pos); else state = 'length';
              break;
            case BodyKind.CHUNKED: decoder.begin(); state = 'chunked'; break;
            case BodyKind.CLOSE_DELIMITED: state = 'until-eof'; break;
            default: throw new Error(`unknown body kind ${h.bodyKind}`);
          }
        } else if (state === 'length') {
          const n = Math.min(remaining, buf.length - pos);
          sink.data(buf.subarray(pos, pos + n));
          pos += n;
          remaining -= n;
          if (remaining === 0) complete(abs + pos);
        } else if (state === 'chunked') {
          let n: number;
          const at = abs + pos;
          try {
            n = decoder.decode(buf, pos, buf.length, sink);
          } catch (e) {
            if (!(e instanceof CodecError)) throw e;
            out.error = { code: e.code, offset: at + e.offset, phase: 'body' };
            state = 'error';
            out.rest = total - at;
            break outer;
          }
          pos += n;
          if (decoder.done) complete(abs + pos);
        } else if (state === 'until-eof') {
          sink.data(buf.subarray(pos));
          pos = buf.length;
        } else {
          out.rest = total - (abs + pos);
          break outer;
        }
      }
      abs += buf.length;
    }
  } catch (e) {
    out.crash = e;
  } finally {
    out.pending = reader.pendingLength;
    reader.release();
    if (opts.chunkLimits) c.setChunkLimits(DefaultLimit.CHUNK_SIZE_LINE, DefaultLimit.TRAILER);
  }
  out.state = state;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Read splitting

export function whole(b: Buffer): Buffer[] {
  return [b];
}

/** Every byte in its own read (a fresh Buffer each, as a socket would hand them over). */
export function bytewise(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i++) out.push(Buffer.from(b.subarray(i, i + 1)));
  return out;
}

export function splitAt(b: Buffer, ...offsets: number[]): Buffer[] {
  const out: Buffer[] = [];
  let last = 0;
  for (const o of [...offsets].sort((x, y) => x - y)) {
    if (o <= last || o >= b.length) continue;
    out.push(b.subarray(last, o));
    last = o;
  }
  out.push(b.subarray(last));
  return out;
}

/** Fixed-size reads (the benchmark's 16/64/256/1024-byte pattern). */
export function chunksOf(b: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(Buffer.from(b.subarray(i, i + size)));
  return out;
}

/**
 * Offsets at which to split an input in two. Every offset for inputs up to `every` bytes. Above
 * that (the limit cases: 16 KiB heads, 64 KiB trailers), where every offset would cost minutes:
 * the first and last 64 offsets, the three offsets around every LF (before the CR, between CR and
 * LF, after the LF), 17 consecutive offsets (every SIMD block alignment) at 16 places, and a
 * stride of length/256. Byte-by-byte reads cover every boundary of those inputs anyway.
 */
export function splitOffsets(b: Buffer, every = 4096): number[] {
  const n = b.length;
  if (n <= every) return Array.from({ length: Math.max(0, n - 1) }, (_, i) => i + 1);
  const set = new Set<number>();
  const add = (o: number) => { if (o > 0 && o < n) set.add(o); };
  for (let i = 1; i <= 64; i++) { add(i); add(n - i); }
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) { add(i - 1); add(i); add(i + 1); }
  for (let w = 0; w < 16; w++) {
    const base = Math.floor((n * w) / 16);
    for (let d = 0; d < 17; d++) add(base + d);
  }
  const stride = Math.max(1, Math.floor(n / 256));
  for (let i = stride; i < n; i += stride) add(i);
  return [...set].sort((x, y) => x - y);
}

// ---------------------------------------------------------------------------------------------
// Canonical log: everything a proxy would act on, with absolute offsets, identical however the
// input was split.

const PLAIN = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;

export function quote(s: string | Buffer): string {
  const str = typeof s === 'string' ? s : s.toString('latin1');
  if (PLAIN.test(str)) return `"${str}"`;
  let out = '"';
  for (let i = 0; i < str.length; i++) {
    const c = str.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20 || c >= 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += str[i];
  }
  return out + '"';
}

/** Runs of one character longer than 24 are written as `"c"{n}` outside quotes, so the logs of
 *  the limit cases stay readable: `"a"{16000}` means 16000 times "a". */
export function compact(s: string | Buffer): string {
  const str = typeof s === 'string' ? s : s.toString('latin1');
  if (str.length <= 24) return quote(str);
  const parts: string[] = [];
  let last = 0;
  let i = 0;
  const n = str.length;
  while (i < n) {
    const c = str.charCodeAt(i);
    if (i + 24 >= n || str.charCodeAt(i + 24) !== c || str.charCodeAt(i + 1) !== c) { i++; continue; }
    // a likely run: find its end with a native scan
    const other = new RegExp(`[^\\u${c.toString(16).padStart(4, '0')}]`, 'g');
    other.lastIndex = i;
    const j = other.exec(str)?.index ?? n;
    if (j - i > 24) {
      if (i > last) parts.push(quote(str.slice(last, i)));
      parts.push(`${quote(str[i])}{${j - i}}`);
      last = j;
      i = j;
    } else {
      i++;
    }
  }
  if (last < n || parts.length === 0) parts.push(quote(str.slice(last)));
  return parts.join('+');
}

const FLAG_NAMES: Array<[HeadFlag, string]> = [
  [HeadFlag.CONNECTION_CLOSE, 'close'],
  [HeadFlag.CONNECTION_KEEP_ALIVE, 'keep-alive'],
  [HeadFlag.CONNECTION_UPGRADE, 'upgrade'],
  [HeadFlag.EXPECT_CONTINUE, 'expect-continue'],
  [HeadFlag.EXPECT_OTHER, 'expect-other'],
  [HeadFlag.HAS_CONTENT_LENGTH, 'content-length'],
  [HeadFlag.HAS_TRANSFER_ENCODING, 'transfer-encoding'],
  [HeadFlag.CHUNKED, 'chunked'],
  [HeadFlag.HAS_UPGRADE, 'has-upgrade'],
  [HeadFlag.HAS_CONNECTION_LISTED, 'connection-listed'],
  [HeadFlag.TE_OTHER_CODINGS, 'te-other-codings'],
  [HeadFlag.HAS_TRAILER, 'has-trailer'],
];

export function flagNames(flags: number): string {
  const names = FLAG_NAMES.filter(([f]) => (flags & f) !== 0).map(([, n]) => n);
  const known = FLAG_NAMES.reduce((m, [f]) => m | f, 0);
  if (flags & ~known) names.push(`0x${(flags & ~known).toString(16)}`);
  return names.join(',') || '-';
}

const BODY_NAMES = ['none', 'length', 'chunked', 'until-close'];
const FORM_NAMES = ['none', 'origin', 'absolute', 'authority', 'asterisk'];

export function errorName(code: number): string {
  return (ErrorCode as unknown as Record<number, string>)[code] ?? `UNKNOWN_${code}`;
}

export function fieldIdName(id: number): string {
  return ((FieldId as unknown as Record<number, string>)[id] ?? String(id)).toLowerCase().replace(/_/g, '-');
}

/** The log lines of one outcome. Chunk boundaries are not part of it (they depend on the reads);
 *  body and trailer bytes are, concatenated per message. */
export function logOf(o: Outcome, kind: 'request' | 'response'): string[] {
  const lines: string[] = [];
  for (const m of o.messages) {
    const h = m.head;
    if (kind === 'request') {
      const form = FORM_NAMES[h.targetForm] ?? h.targetForm;
      const mid = h.methodId === MethodId.OTHER ? '' : ` id=${(MethodId as unknown as Record<number, string>)[h.methodId]}`;
      lines.push(`off=${m.start} request ${compact(h.method)}${mid} ${compact(h.target)} form=${form} HTTP/${h.version / 10 | 0}.${h.version % 10}`);
    } else {
      lines.push(`off=${m.start} response HTTP/${h.version / 10 | 0}.${h.version % 10} ${h.status} ${compact(h.reason)}`);
    }
    for (let i = 0; i < h.fieldCount; i++) {
      const id = h.fieldId(i);
      const extra = (id !== FieldId.OTHER ? ` id=${fieldIdName(id)}` : '') + (h.isConnectionListed(i) ? ' listed' : '');
      lines.push(`field ${compact(h.name(i))}: ${compact(h.value(i))}${extra}`);
    }
    const cl = h.has(HeadFlag.HAS_CONTENT_LENGTH) ? ` content-length=${h.contentLength}` : '';
    const host = kind === 'request' ? ` host=${h.hostIndex}` : '';
    lines.push(`off=${m.headEnd} head complete flags=${flagNames(h.flags)} body=${BODY_NAMES[h.bodyKind] ?? h.bodyKind}${cl}${host}`);
    const body = Buffer.concat(m.body);
    if (body.length > 0) lines.push(`body len=${body.length} ${compact(body)}`);
    const tr = Buffer.concat(m.trailers);
    if (tr.length > 0) lines.push(`trailers len=${tr.length} ${compact(tr)}`);
    if (m.end !== undefined) lines.push(`off=${m.end} message complete`);
  }
  if (o.error) lines.push(`off=${o.error.offset} error ${errorName(o.error.code)} (${o.error.phase})`);
  else if (o.state === 'head') lines.push(`incomplete head pending=${o.pending}`);
  else if (o.state === 'upgrade' || o.state === 'closed') lines.push(`${o.state} rest=${o.rest}`);
  else if (o.state !== 'idle') lines.push(`incomplete ${o.state}`);
  if (o.crash !== undefined) lines.push(`CRASH ${describeCrash(o.crash)}`);
  return lines;
}

export function errorInfoName(code: ErrorCode): string {
  return CODEC_ERRORS[code]?.name ?? 'HPE_UNKNOWN';
}

export { TargetForm, MethodId, BodyKind, HeadFlag, ErrorCode, HeadKind, DEFAULT_HEAD_LIMITS };

/** What a crash (anything the codec threw other than a CodecError) was, for a failure message. */
export function describeCrash(e: unknown): string {
  return e instanceof Error ? (e.stack ?? e.message) : JSON.stringify(e) ?? typeof e;
}
