// The module itself: no imports, the exported ABI, fixed memory and region layout, the binding
// errors (BAD_CALL, CHUNKED_NOT_ACTIVE), and the equivalence of the SIMD, scalar and debug builds
// (same source) on the fixture corpus and on random inputs.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import binaryen from 'assemblyscript/binaryen';
import { Capacity, ErrorCode, FieldEntry, HeadResult, SpanEntry, HeadKind } from '../../asm/shared/constants.js';
import { chooseBuild, wasmBytes, type Build } from '../../src/wasm/codec.js';
import { BUILDS, codecFor, drive, whole, bytewise, splitAt, logOf } from './harness.js';
import { fixtureFiles, fixtureCases, runCase } from './fixture-cases.js';
import { anyInput, options, cuts } from './arbitraries.js';

const RUNS = Number(process.env.CODEC_FC_RUNS ?? 300);

const ABI = [
  'beginChunked', 'chunkLimits', 'chunked', 'continueHead', 'endPointer', 'fieldsPointer', 'inputPointer', 'memory',
  'requestHead', 'resetSlot', 'responseHead', 'resultPointer', 'slotsPointer', 'spansPointer',
];

describe('the module', () => {
  for (const build of BUILDS) {
    describe(build, () => {
      const module = new WebAssembly.Module(wasmBytes(build));

      it('has zero imports', () => {
        expect(WebAssembly.Module.imports(module)).toEqual([]);
      });

      it('exports exactly the ABI', () => {
        expect(WebAssembly.Module.exports(module).map((e) => e.name).sort()).toEqual(ABI);
      });

      it('has fixed memory (initial == maximum) that holds the regions, laid out in order', () => {
        const c = codecFor(build);
        const x = c.exports;
        expect(() => x.memory.grow(1)).toThrow(RangeError);
        const input = x.inputPointer();
        expect(input % 64).toBe(0);
        expect(x.resultPointer()).toBe(input + Capacity.INPUT + 64); // 64 bytes of pad for v128 loads
        expect(x.fieldsPointer()).toBe(x.resultPointer() + HeadResult.SIZE * 4);
        expect(x.spansPointer()).toBe(x.fieldsPointer() + Capacity.FIELDS * FieldEntry.SIZE * 4);
        expect(x.slotsPointer()).toBe(x.spansPointer() + Capacity.SPANS * SpanEntry.SIZE * 4);
        expect(x.endPointer()).toBe(x.slotsPointer() + Capacity.SLOTS * Capacity.SLOT_BYTES);
        expect(x.endPointer()).toBeLessThanOrEqual(x.memory.buffer.byteLength);
      });

      it('refuses bad slots, lengths and limits with BAD_CALL', () => {
        const x = codecFor(build).exports;
        const BAD = -ErrorCode.BAD_CALL;
        for (const slot of [-1, Capacity.SLOTS, 0x7fffffff]) {
          expect(x.requestHead(slot, 0)).toBe(BAD);
          expect(x.responseHead(slot, 0, 0)).toBe(BAD);
          expect(x.continueHead(slot, 0, HeadKind.REQUEST)).toBe(BAD);
          expect(x.beginChunked(slot)).toBe(BAD);
          expect(x.chunked(slot, 0)).toBe(BAD);
          expect(x.resetSlot(slot, 1, 1, 1)).toBe(BAD);
        }
        for (const len of [-1, Capacity.INPUT + 1]) {
          expect(x.requestHead(0, len)).toBe(BAD);
          expect(x.responseHead(0, len, 0)).toBe(BAD);
          expect(x.continueHead(0, len, HeadKind.RESPONSE)).toBe(BAD);
          expect(x.chunked(0, len)).toBe(BAD);
        }
        expect(x.resetSlot(0, 0, 1, 1)).toBe(BAD);
        expect(x.resetSlot(0, 1, -1, 1)).toBe(BAD);
        expect(x.resetSlot(0, 1, Capacity.FIELDS + 1, 1)).toBe(BAD);
        expect(x.resetSlot(0, 1, 1, 0)).toBe(BAD);
        expect(x.resetSlot(0, 1, Capacity.FIELDS, 1)).toBe(0);
        expect(x.chunkLimits(0, 10)).toBe(BAD);
        expect(x.chunkLimits(10, -1)).toBe(BAD);
        expect(x.chunkLimits(1024, 65536)).toBe(0);
      });

      it('refuses a chunked call before beginChunked and after the last chunk with CHUNKED_NOT_ACTIVE', () => {
        const c = codecFor(build);
        const x = c.exports;
        expect(x.resetSlot(3, 100, 10, 100)).toBe(0);
        expect(x.chunked(3, 0)).toBe(-ErrorCode.CHUNKED_NOT_ACTIVE);
        expect(x.beginChunked(3)).toBe(0);
        const body = Buffer.from('0\r\n\r\nX');
        const n = c.copyIn(body, 0, body.length);
        expect(x.chunked(3, n)).toBe(5);
        expect(x.chunked(3, 1)).toBe(-ErrorCode.CHUNKED_NOT_ACTIVE);
        expect(x.resetSlot(3, 100, 10, 100)).toBe(0);
        expect(x.chunked(3, 1)).toBe(-ErrorCode.CHUNKED_NOT_ACTIVE);
      });
    });
  }

  it('the binding picks the SIMD build when the engine validates it, and PORTICO_WASM forces one', () => {
    const saved = process.env.PORTICO_WASM;
    try {
      delete process.env.PORTICO_WASM;
      expect(WebAssembly.validate(wasmBytes('simd'))).toBe(true);
      expect(chooseBuild()).toBe('simd');
      for (const b of ['scalar', 'debug', 'simd'] as const) {
        process.env.PORTICO_WASM = b;
        expect(chooseBuild()).toBe(b);
      }
    } finally {
      if (saved === undefined) delete process.env.PORTICO_WASM; else process.env.PORTICO_WASM = saved;
    }
  });

  it('the scalar build has no SIMD instruction and validates as MVP + the features Node 12+ has', () => {
    const features = binaryen.Features.MVP | binaryen.Features.MutableGlobals | binaryen.Features.SignExt
      | binaryen.Features.NontrappingFPToInt | binaryen.Features.BulkMemory;
    const scalar = binaryen.readBinary(wasmBytes('scalar'));
    const simd = binaryen.readBinary(wasmBytes('simd'));
    try {
      scalar.setFeatures(features);
      expect(scalar.validate()).toBe(1);
      expect(scalar.emitText()).not.toContain('v128');
      expect(simd.emitText()).toContain('v128'); // and the SIMD build does use SIMD
    } finally {
      scalar.dispose();
      simd.dispose();
    }
  });
});

describe('SIMD, scalar and debug builds give identical results', () => {
  const others: Build[] = BUILDS.filter((b) => b !== 'simd');

  for (const file of fixtureFiles()) {
    it(`on ${file}, whole, byte by byte and split`, () => {
      for (const k of fixtureCases(file)) {
        const reads = [whole(k.input), bytewise(k.input), splitAt(k.input, k.input.length >> 1), splitAt(k.input, 17, 33, 65)];
        for (const r of reads) {
          const ref = runCase(codecFor('simd'), k, r);
          for (const b of others) expect(runCase(codecFor(b), k, r), `${k.id} (${b})`).toEqual(ref);
        }
      }
    });
  }

  it('on random and mutated inputs', () => {
    fc.assert(
      fc.property(anyInput, options, cuts, (input, opts, cs) => {
        const reads = splitAt(input, ...cs.map((c) => c % (input.length + 1)));
        const ref = logOf(drive(codecFor('simd'), whole(input), opts), opts.kind);
        for (const b of BUILDS) {
          expect(logOf(drive(codecFor(b), whole(input), opts), opts.kind), b).toEqual(ref);
          expect(logOf(drive(codecFor(b), reads, opts), opts.kind), `${b} split`).toEqual(ref);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
