import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCompressor, createDecompressor, decompressedOutputOwned } from '../../src/archive/compression.js';
import type { Streamer } from '../../src/archive/streamer.js';
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

  it('decompressedOutputOwned: lz4 and gzip never write a buffer again once passed on; zstd does', async () => {
    // Kept without a copy, as TarParser keeps what it is handed over.
    for (const method of ['gzip', 'lz4', 'zstd'] as const) {
      const packed = new Recorder();
      await feed(createCompressor(parseCompressionSpec(method), packed), data, 65_536);
      const kept: Buffer[] = [];
      const keeper: Streamer = { content: async (_m, chunk) => { kept.push(chunk); }, finalize: async () => {}, dispose: async () => {} };
      await feed(createDecompressor(method, keeper), packed.rawBytes(), 12_345);
      assert.equal(Buffer.concat(kept).equals(data), decompressedOutputOwned(method, false), method);
    }
    assert.equal(decompressedOutputOwned('none', true), true);
    assert.equal(decompressedOutputOwned('none', false), false);
  });
});
