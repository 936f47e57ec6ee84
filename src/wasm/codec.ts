// The only module that touches WebAssembly: it loads the codec once per process, lays views over
// its fixed memory, bounds every length it copies in and hands out parser slots. Everything else
// talks to it through HeadReader, ChunkedDecoder and ParsedHead.
//
// Why one instance: an instance per connection costs ~20 µs and ~10 GiB of address space, and a
// process failed at ~13,000 instances (measured on Node 20 when the codec was designed). Memory
// is fixed (initial == maximum), so the views made here are never detached.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { instantiateSync } from '@assemblyscript/loader';
import { packageRoot } from '../package-root.js';
import { Capacity, HeadResult, DefaultLimit } from '../../asm/shared/constants.js';

export interface CodecExports {
  memory: WebAssembly.Memory;
  inputPointer(): number;
  resultPointer(): number;
  fieldsPointer(): number;
  spansPointer(): number;
  slotsPointer(): number;
  endPointer(): number;
  resetSlot(slot: number, maxLine: number, maxFields: number, maxHead: number): number;
  requestHead(slot: number, len: number): number;
  responseHead(slot: number, len: number, headRequest: number): number;
  continueHead(slot: number, len: number, kind: number): number;
  beginChunked(slot: number): number;
  chunked(slot: number, len: number): number;
  chunkLimits(maxSizeLine: number, maxTrailer: number): number;
}

export type Build = 'simd' | 'scalar' | 'debug';

const FILES: Record<Build, string> = { simd: 'portico.wasm', scalar: 'portico-scalar.wasm', debug: 'portico-debug.wasm' };

/** The build/ folder next to package.json. */
function buildDir(): string {
  const root = packageRoot();
  if (root === undefined) throw new Error('portico: cannot find the package root (build/ with the .wasm files)');
  return join(root, 'build');
}

export function wasmBytes(build: Build): Uint8Array<ArrayBuffer> {
  const file = join(buildDir(), FILES[build]);
  if (!existsSync(file)) throw new Error(`portico: ${file} is missing; run "npm run build" (the codec is built by npm install)`);
  return new Uint8Array(readFileSync(file));
}

/** Head limits, per connection kind; each is checked against the codec's fixed capacities. */
export interface HeadLimits {
  /** Longest start-line or field line, CRLF excluded (Twisted: 16384). */
  maxLine: number;
  /** Most field lines (Twisted: 500). */
  maxFields: number;
  /** Start-line plus field lines, CRLFs excluded (Twisted: 16384). */
  maxHead: number;
}

export const DEFAULT_HEAD_LIMITS: Readonly<HeadLimits> = Object.freeze({
  maxLine: DefaultLimit.LINE, maxFields: DefaultLimit.FIELDS, maxHead: DefaultLimit.HEAD,
});

/** The largest head the limits allow, CRLFs and one skipped leading empty line included. */
export function maxHeadBytes(l: HeadLimits): number {
  return l.maxHead + 2 * (l.maxFields + 1) + 2 + 2;
}

export function checkLimits(l: HeadLimits): void {
  if (!Number.isInteger(l.maxLine) || l.maxLine < 1) throw new RangeError('maxLine must be a positive integer');
  if (!Number.isInteger(l.maxFields) || l.maxFields < 0 || l.maxFields > Capacity.FIELDS) throw new RangeError(`maxFields must be an integer in 0..${Capacity.FIELDS}`);
  if (!Number.isInteger(l.maxHead) || l.maxHead < 1) throw new RangeError('maxHead must be a positive integer');
  if (maxHeadBytes(l) > Capacity.INPUT) throw new RangeError(`head limits allow heads of ${maxHeadBytes(l)} bytes; the codec input region holds ${Capacity.INPUT}`);
}

export class Codec {
  readonly exports: CodecExports;
  readonly build: Build;
  readonly u8: Uint8Array;
  readonly input: number;
  readonly result: Int32Array;
  readonly resultF64: Float64Array;
  readonly fields: Int32Array;
  readonly spans: Int32Array;
  /** Slots given back (reused first, last in first out); slots from #unused up were never used.
   *  Grows with the connections actually open, not with Capacity.SLOTS (a 256 KiB table filled
   *  at start-up before; issue 14, memory). */
  readonly #freeSlots: number[] = [];
  #unused = 0;

  constructor(build: Build) {
    const module = new WebAssembly.Module(wasmBytes(build));
    if (WebAssembly.Module.imports(module).length !== 0) throw new Error('portico: the codec module must have no imports');
    const { exports } = instantiateSync(module, {}) as unknown as { exports: CodecExports };
    this.exports = exports;
    this.build = build;
    const buffer = exports.memory.buffer;
    if (exports.endPointer() > buffer.byteLength) throw new Error('portico: codec regions exceed its memory');
    this.u8 = new Uint8Array(buffer);
    this.input = exports.inputPointer();
    this.result = new Int32Array(buffer, exports.resultPointer(), HeadResult.SIZE);
    this.resultF64 = new Float64Array(buffer, exports.resultPointer(), HeadResult.SIZE / 2);
    this.fields = new Int32Array(buffer, exports.fieldsPointer(), Capacity.FIELDS * 6);
    this.spans = new Int32Array(buffer, exports.spansPointer(), Capacity.SPANS * 3);
  }

  /** Copies src[start, end) to the start of the input region; returns the length copied,
   *  never more than the region holds. Linear memory must be written before each call because
   *  the region is shared by every connection. */
  copyIn(src: Uint8Array, start: number, end: number): number {
    const len = Math.min(end - start, Capacity.INPUT);
    if (len <= 32) {
      // a short read (a trickled head): a loop is cheaper than set() and its subarray
      const u8 = this.u8;
      for (let i = 0, o = this.input; i < len; i++) u8[o + i] = src[start + i];
    } else {
      this.u8.set(len === src.length && start === 0 ? src : src.subarray(start, start + len), this.input);
    }
    return len;
  }

  /** Takes a free parser slot configured with `limits`; throws when all are in use. */
  allocSlot(limits: HeadLimits): number {
    let slot = this.#freeSlots.pop();
    if (slot === undefined) {
      if (this.#unused === Capacity.SLOTS) throw new Error('portico: all codec parser slots are in use');
      slot = this.#unused++;
    }
    this.configureSlot(slot, limits);
    return slot;
  }

  configureSlot(slot: number, limits: HeadLimits): void {
    if (this.exports.resetSlot(slot, limits.maxLine, limits.maxFields, limits.maxHead) !== 0) throw new RangeError('portico: invalid slot or limits');
  }

  freeSlot(slot: number): void {
    this.#freeSlots.push(slot);
  }

  setChunkLimits(maxSizeLine: number, maxTrailer: number): void {
    if (this.exports.chunkLimits(maxSizeLine, maxTrailer) !== 0) throw new RangeError('portico: invalid chunk limits');
  }
}

let shared: Codec | undefined;

/** The SIMD build when this engine validates it, else the scalar build from the same source.
 *  PORTICO_WASM=scalar|simd|debug forces a build (tests run both). */
export function chooseBuild(): Build {
  const forced = process.env.PORTICO_WASM;
  if (forced === 'simd' || forced === 'scalar' || forced === 'debug') return forced;
  return WebAssembly.validate(wasmBytes('simd')) ? 'simd' : 'scalar';
}

/** The process-wide codec instance, loaded on first use. */
export function codec(): Codec {
  shared ??= new Codec(chooseBuild());
  return shared;
}
