import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Xxh32, xxh32 } from '../../src/archive/xxhash32.js';
import { patternBytes } from './helpers.js';

describe('xxh32', () => {
  it('matches the reference test vectors', () => {
    // Values from the xxHash reference implementation (XXH32, seed 0 unless given).
    assert.equal(xxh32(Buffer.alloc(0)), 0x02cc5d05);
    assert.equal(xxh32(Buffer.from('a')), 0x550d7456);
    assert.equal(xxh32(Buffer.from('abc')), 0x32d153ff);
    assert.equal(xxh32(Buffer.from('Nobody inspects the spammish repetition')), 0xe2293b2f);
  });

  it('gives the same digest whatever the update boundaries and alignment', () => {
    const data = patternBytes(100_003, 5);
    const whole = xxh32(data);
    for (const step of [1, 3, 15, 16, 17, 4097]) {
      const h = new Xxh32();
      for (let off = 0; off < data.length; off += step) h.update(data.subarray(off, off + step));
      assert.equal(h.digest(), whole, `step ${step}`);
    }
    // Unaligned views of the same bytes.
    const shifted = Buffer.concat([Buffer.alloc(1), data]).subarray(1);
    assert.equal(xxh32(shifted), whole);
  });
});
