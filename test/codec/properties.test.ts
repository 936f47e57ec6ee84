// Property tests (fast-check) over random and mutated inputs, read through the binding and
// through the raw exports:
// - nothing but CodecError is ever thrown, no WebAssembly trap, no binding invariant broken;
// - whole reads, random splits and byte-by-byte reads give identical results;
// - the module never writes outside its regions: the static data below INPUT, the memory past
//   END, every parser slot but the one in use, and (raw exports) the INPUT region itself stay
//   byte-for-byte unchanged;
// - it never reads outside them in a way that matters: results do not depend on stale bytes
//   left in INPUT past the length, in the pad, or in the RESULT / FIELDS / SPANS regions.
// CODEC_FC_RUNS sets the number of runs per property (default 300; numRuns must be an integer:
// fast-check never stops with a fractional one).
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Capacity, ChunkResult, ErrorCode } from '../../asm/shared/constants.js';
import { ChunkedDecoder } from '../../src/wasm/chunked-decoder.js';
import { codecFor, defaultBuild, describeCrash, drive, whole, bytewise, splitAt, logOf } from './harness.js';
import { anyInput, options, cuts, httpish, mutated } from './arbitraries.js';

const RUNS = Number(process.env.CODEC_FC_RUNS ?? 300);
const codec = codecFor(defaultBuild());
const x = codec.exports;
const mem = () => new Uint8Array(x.memory.buffer);
const INPUT = x.inputPointer();
const RESULT = x.resultPointer();
const SLOTS = x.slotsPointer();
const END = x.endPointer();
const INPUT_END = RESULT; // INPUT plus its pad

// ---------------------------------------------------------------------------------------------

let staticData: Uint8Array;
let tail: Uint8Array;

beforeAll(() => {
  // other connections' parser state: any pattern the codec must leave alone
  mem().fill(0xa5, SLOTS, END);
  staticData = mem().slice(0, INPUT);
  tail = mem().slice(END);
});

function unchanged(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

function expectRegionsIntact(slotsBefore: Uint8Array, usedSlots: readonly number[]): void {
  const m = mem();
  expect(unchanged(m.subarray(0, INPUT), staticData), 'static data below INPUT').toBe(true);
  expect(unchanged(m.subarray(END), tail), 'memory past END').toBe(true);
  const used = [...new Set(usedSlots.filter((s) => s >= 0 && s < Capacity.SLOTS))].sort((a, b) => a - b);
  let from = 0;
  for (const s of [...used, Capacity.SLOTS]) {
    const to = s * Capacity.SLOT_BYTES;
    if (to > from) expect(unchanged(m.subarray(SLOTS + from, SLOTS + to), slotsBefore.subarray(from, to)), `slots ${from / 64}..${to / 64 - 1}`).toBe(true);
    from = (s + 1) * Capacity.SLOT_BYTES;
  }
}

/** Fills the input (with its pad) and the output regions with a pattern. */
function poison(kind: 'zero' | 'crlf' | 'random', seed: number): void {
  const m = mem();
  if (kind === 'zero') m.fill(0, INPUT, SLOTS);
  else if (kind === 'crlf') for (let i = INPUT; i < SLOTS; i++) m[i] = (i & 1) === 0 ? 0x0d : 0x0a;
  else { let v = seed | 1; for (let i = INPUT; i < SLOTS; i++) { v ^= v << 13; v ^= v >>> 17; v ^= v << 5; m[i] = v & 0xff; } }
}

describe('properties: random and mutated inputs through the binding', () => {
  it('never throw anything but CodecError, and give the same result however they are split', () => {
    fc.assert(
      fc.property(anyInput, options, cuts, (input, opts, cs) => {
        const base = drive(codec, whole(input), opts);
        expect(base.crash, describeCrash(base.crash)).toBeUndefined();
        const log = logOf(base, opts.kind);
        const split = drive(codec, splitAt(input, ...cs.map((c) => c % (input.length + 1))), opts);
        expect(split.crash).toBeUndefined();
        expect(logOf(split, opts.kind)).toEqual(log);
        if (input.length <= 400) expect(logOf(drive(codec, bytewise(input), opts), opts.kind)).toEqual(log);
      }),
      { numRuns: RUNS },
    );
  });

  it('never write outside the regions', () => {
    fc.assert(
      fc.property(anyInput, options, cuts, (input, opts, cs) => {
        const slotsBefore = mem().slice(SLOTS, END);
        const o1 = drive(codec, whole(input), opts);
        const o2 = drive(codec, splitAt(input, ...cs.map((c) => c % (input.length + 1))), opts);
        expect(o1.crash ?? o2.crash).toBeUndefined();
        expectRegionsIntact(slotsBefore, [o1.slot, o2.slot]);
      }),
      { numRuns: Math.max(20, Math.floor(RUNS / 3)) },
    );
  });

  it('give results that do not depend on stale bytes in the input, pad or output regions', () => {
    fc.assert(
      fc.property(anyInput, options, fc.integer(), (input, opts, seed) => {
        const logs = (['zero', 'crlf', 'random'] as const).map((p) => {
          poison(p, seed);
          return logOf(drive(codec, whole(input), opts), opts.kind).join('\n');
        });
        expect(logs[1]).toBe(logs[0]);
        expect(logs[2]).toBe(logs[0]);
      }),
      { numRuns: Math.max(20, Math.floor(RUNS / 2)) },
    );
  });
});

describe('properties: raw exports with random arguments', () => {
  type Call =
    | { f: 'resetSlot'; slot: number; a: number; b: number; c: number }
    | { f: 'requestHead' | 'chunked'; slot: number; len: number }
    | { f: 'responseHead' | 'continueHead'; slot: number; len: number; k: number }
    | { f: 'beginChunked'; slot: number }
    | { f: 'chunkLimits'; a: number; b: number };
  const slot = fc.oneof(fc.constantFrom(0, 1, 7, Capacity.SLOTS - 1), fc.constantFrom(-1, Capacity.SLOTS, 0x7fffffff, -0x80000000));
  const len = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constantFrom(Capacity.INPUT, Capacity.INPUT + 1, -1, 0x7fffffff));
  const small = fc.oneof(fc.integer({ min: -2, max: 100 }), fc.constantFrom(Capacity.FIELDS, Capacity.FIELDS + 1, 0x7fffffff));
  const call: fc.Arbitrary<Call> = fc.oneof(
    fc.record({ f: fc.constant('resetSlot' as const), slot, a: small, b: small, c: small }),
    fc.record({ f: fc.constantFrom('requestHead' as const, 'chunked' as const), slot, len }),
    fc.record({ f: fc.constantFrom('responseHead' as const, 'continueHead' as const), slot, len, k: fc.integer({ min: -1, max: 2 }) }),
    fc.record({ f: fc.constant('beginChunked' as const), slot }),
    fc.record({ f: fc.constant('chunkLimits' as const), a: small, b: fc.oneof(small, fc.constant(65536)) }),
  );

  it('never trap, never write INPUT, static data, the tail or slots they were not given', () => {
    fc.assert(
      fc.property(fc.oneof(httpish, mutated), fc.array(call, { minLength: 1, maxLength: 12 }), (input, calls) => {
        const m = mem();
        m.fill(0x41, INPUT, INPUT_END);
        m.set(input.subarray(0, 300), INPUT);
        const inputBefore = m.slice(INPUT, INPUT_END);
        const slotsBefore = m.slice(SLOTS, END);
        const used: number[] = [];
        for (const c of calls) {
          let r: number;
          switch (c.f) {
            case 'resetSlot': r = x.resetSlot(c.slot, c.a, c.b, c.c); break;
            case 'requestHead': r = x.requestHead(c.slot, c.len); break;
            case 'chunked': r = x.chunked(c.slot, c.len); break;
            case 'responseHead': r = x.responseHead(c.slot, c.len, c.k); break;
            case 'continueHead': r = x.continueHead(c.slot, c.len, c.k); break;
            case 'beginChunked': r = x.beginChunked(c.slot); break;
            case 'chunkLimits': r = x.chunkLimits(c.a, c.b); break;
          }
          expect(Number.isInteger(r)).toBe(true);
          if ('slot' in c) {
            const valid = c.slot >= 0 && c.slot < Capacity.SLOTS;
            if (!valid) expect(r).toBe(-ErrorCode.BAD_CALL);
            else used.push(c.slot);
          }
          if ('len' in c && (c.len < 0 || c.len > Capacity.INPUT)) expect(r).toBe(-ErrorCode.BAD_CALL);
        }
        expect(unchanged(mem().subarray(INPUT, INPUT_END), inputBefore), 'INPUT and its pad').toBe(true);
        expectRegionsIntact(slotsBefore, used);
        x.chunkLimits(1024, 65536);
      }),
      { numRuns: Math.max(20, Math.floor(RUNS / 3)) },
    );
  });
});

describe('chunked decoder at its capacities', () => {
  function decodeAll(reads: Buffer[]): { data: Buffer; trailer: Buffer; done: boolean; calls: number } {
    const slot = codec.allocSlot({ maxLine: 16384, maxFields: 500, maxHead: 16384 });
    try {
      const d = new ChunkedDecoder(codec, slot);
      d.begin();
      const data: Buffer[] = [];
      const trailer: Buffer[] = [];
      let calls = 0;
      for (const r of reads) {
        let pos = 0;
        while (pos < r.length && !d.done) { pos += d.decode(r, pos, r.length, { data: (b) => data.push(Buffer.from(b)), trailer: (b) => trailer.push(Buffer.from(b)) }); calls++; }
      }
      return { data: Buffer.concat(data), trailer: Buffer.concat(trailer), done: d.done, calls };
    } finally {
      codec.freeSlot(slot);
    }
  }

  it('decodes more chunks than the span table holds in one read', () => {
    const n = Capacity.SPANS * 2 + 17;
    const chunks = Array.from({ length: n }, (_, i) => String.fromCharCode(97 + (i % 26)));
    const body = Buffer.from(chunks.map((c) => `1\r\n${c}\r\n`).join('') + '0\r\nX: y\r\n\r\n', 'latin1');
    const r = decodeAll([body]);
    expect(r.done).toBe(true);
    expect(r.data.toString('latin1')).toBe(chunks.join(''));
    expect(r.trailer.toString('latin1')).toBe('X: y\r\n');
    // the span count is reported per call and stays within the table
    expect(codec.result[ChunkResult.SPAN_COUNT]).toBeLessThanOrEqual(Capacity.SPANS);
  });

  it('decodes a read larger than the input region', () => {
    const payload = Buffer.alloc(200_000, 'x');
    const body = Buffer.concat([Buffer.from(payload.length.toString(16) + '\r\n'), payload, Buffer.from('\r\n0\r\n\r\nNEXT')]);
    const r = decodeAll([body]);
    expect(r.done).toBe(true);
    expect(r.data.equals(payload)).toBe(true);
  });
});
