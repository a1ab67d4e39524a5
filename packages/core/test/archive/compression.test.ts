import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCompressor, createDecompressor } from '../../src/archive/compression.js';
import { parseCompressionSpec } from '../../src/archive/compression-spec.js';
import { Recorder, feed, mixedData } from './helpers.js';

describe('createCompressor / createDecompressor', () => {
  const data = mixedData().subarray(0, 1_000_000);

  for (const option of ['gzip', 'gzip:9', 'lz4', 'zstd:level=5,long', 'zstd:workers=2']) {
    it(`round-trips ${option}`, async () => {
      const spec = parseCompressionSpec(option);
      const packed = new Recorder();
      await feed(createCompressor(spec, packed), data, 65_536);
      assert.ok(packed.rawBytes().length < data.length);
      const unpacked = new Recorder();
      await feed(createDecompressor(spec.method, unpacked), packed.rawBytes(), 12_345);
      assert.deepEqual(unpacked.rawBytes(), data);
    });
  }

  it('adds no stage for none', () => {
    const next = new Recorder();
    assert.equal(createCompressor(parseCompressionSpec('none'), next), next);
    assert.equal(createDecompressor('none', next), next);
  });
});
