// Parser slots: handed out lowest first, a freed slot is reused before a never-used one, and the
// last of Capacity.SLOTS is refused with a clear error. The free list grows only with the slots
// actually given back (issue 14: no table of every slot filled at start-up).
import { describe, expect, it } from 'vitest';
import { Capacity } from '../../asm/shared/constants.js';
import { Codec, DEFAULT_HEAD_LIMITS } from '../../src/wasm/codec.js';
import { defaultBuild } from './harness.js';

describe('codec parser slots', () => {
  it('are handed out in order, reused once freed, and refused past Capacity.SLOTS', () => {
    const codec = new Codec(defaultBuild());
    expect([0, 1, 2].map(() => codec.allocSlot(DEFAULT_HEAD_LIMITS))).toEqual([0, 1, 2]);
    codec.freeSlot(1);
    codec.freeSlot(0);
    expect(codec.allocSlot(DEFAULT_HEAD_LIMITS)).toBe(0);
    expect(codec.allocSlot(DEFAULT_HEAD_LIMITS)).toBe(1);
    expect(codec.allocSlot(DEFAULT_HEAD_LIMITS)).toBe(3);
    for (let i = 4; i < Capacity.SLOTS; i++) codec.allocSlot(DEFAULT_HEAD_LIMITS);
    expect(() => codec.allocSlot(DEFAULT_HEAD_LIMITS)).toThrow('all codec parser slots are in use');
    codec.freeSlot(12345);
    expect(codec.allocSlot(DEFAULT_HEAD_LIMITS)).toBe(12345);
  });
});
