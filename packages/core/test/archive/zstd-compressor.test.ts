import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ZstdCompressor } from '../../src/archive/zstd-compressor.js';
import { ZstdDecompressor } from '../../src/archive/zstd-decompressor.js';
import { Recorder, feed, haveCommand, mixedData, run } from './helpers.js';

async function zstd(data: Buffer, options: ConstructorParameters<typeof ZstdCompressor>[1] = {}): Promise<Buffer> {
  const out = new Recorder();
  await feed(new ZstdCompressor(out, options), data, 100_001);
  return out.rawBytes();
}

async function unzstd(data: Buffer): Promise<Buffer> {
  const out = new Recorder();
  await feed(new ZstdDecompressor(out), data, 40_000);
  return out.rawBytes();
}

describe('ZstdCompressor', () => {
  const data = mixedData();

  for (const options of [{}, { level: 1 }, { level: 19 }, { level: -5 }, { workers: 2 }, { longDistance: true }]) {
    it(`writes zstd that zstd -d reads (${JSON.stringify(options)})`, async () => {
      const z = await zstd(data, options);
      assert.deepEqual(await unzstd(z), data);
      if (haveCommand('zstd')) assert.deepEqual(run('zstd', ['-dc', '--long=31'], { input: z }), data);
    });
  }

  it('higher levels compress better', async () => {
    assert.ok((await zstd(data, { level: 19 })).length < (await zstd(data, { level: 1 })).length);
  });

  it('handles empty input', async () => {
    assert.deepEqual(await unzstd(await zstd(Buffer.alloc(0))), Buffer.alloc(0));
  });
});
