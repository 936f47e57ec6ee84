// The codec's own fixture corpus (test/fixtures/codec/*.md): valid and invalid requests and
// responses, every limit exactly at and one past its value, and the request smuggling shapes
// (test/fixtures/codec/smuggling.md). Each case is read whole, byte by byte
// and split in two at every offset; all must produce the same log (accept/reject and error code
// with its offset, start-line, fields, flags, Content-Length, body bytes, trailers and where each
// message ends), and the whole read must produce the case's `log` block. Inputs longer than 4 KiB
// (the 16 KiB and 64 KiB limit cases) are split at a sample of offsets instead of every one (see
// harness.ts splitOffsets: every offset around each line end, the first and last 64, every block
// alignment at 16 places, a stride); byte-by-byte reading still covers every boundary.
//
// CODEC_FIXTURES_UPDATE=1 rewrites the `log` blocks that differ from the whole read (review the
// diff!); blocks that still match are kept as written (limits.md folds its long runs of field
// lines with `${js}`).
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../asm/shared/constants.js';
import { codecFor, defaultBuild, whole, bytewise, splitAt, splitOffsets, errorName } from './harness.js';
import { expandJs } from './markdown.js';
import { fixtureFiles, fixtureCases, runCase, rewriteLogs } from './fixture-cases.js';

const UPDATE = process.env.CODEC_FIXTURES_UPDATE === '1';
const build = defaultBuild();
const codec = codecFor(build);
const errorsSeen = new Set<string>();

for (const file of fixtureFiles()) {
  describe(`${file} (${build})`, () => {
    const cases = fixtureCases(file);
    const logs: Array<string[] | undefined> = [];
    afterAll(() => { if (UPDATE) rewriteLogs(file, logs); });
    for (const k of cases) {
      it(k.name, () => {
        const base = runCase(codec, k, whole(k.input));
        const expected = k.log.flatMap((l) => expandJs(l).split('\n'));
        logs.push(base.join('\n') === expected.join('\n') ? undefined : base);
        for (const l of base) {
          const m = / error (\w+) /.exec(l);
          if (m) errorsSeen.add(m[1]);
        }
        if (!UPDATE) expect(base, 'whole read').toEqual(expected);
        const joined = base.join('\n');
        const by = runCase(codec, k, bytewise(k.input));
        expect(by, 'byte by byte').toEqual(base);
        const every = typeof k.meta.splitEvery === 'number' ? k.meta.splitEvery : 4096;
        for (const at of splitOffsets(k.input, every)) {
          const split = runCase(codec, k, splitAt(k.input, at));
          if (split.join('\n') !== joined) expect(split, `split at ${at}`).toEqual(base);
        }
      });
    }
  });
}

describe('fixture coverage', () => {
  // Every error code a byte stream can produce appears in some fixture. BAD_CALL and
  // CHUNKED_NOT_ACTIVE are binding errors, covered by exports.test.ts.
  it('has a case for every reachable ErrorCode', () => {
    const reachable = Object.values(ErrorCode)
      .filter((v): v is number => typeof v === 'number' && v !== ErrorCode.OK && v !== ErrorCode.BAD_CALL && v !== ErrorCode.CHUNKED_NOT_ACTIVE)
      .map(errorName);
    expect(reachable.filter((n) => !errorsSeen.has(n))).toEqual([]);
  });
});
