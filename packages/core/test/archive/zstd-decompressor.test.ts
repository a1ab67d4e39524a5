import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArchiveFormatError } from '../../src/errors.js';
import { ZstdDecompressor } from '../../src/archive/zstd-decompressor.js';
import { Recorder, feed, haveCommand, mixedData, run } from './helpers.js';

async function unzstd(data: Buffer, slice = 65_536): Promise<Buffer> {
  const out = new Recorder();
  await feed(new ZstdDecompressor(out, { archiveName: 'base.tar.zst' }), data, slice);
  return out.rawBytes();
}

describe('ZstdDecompressor', { skip: !haveCommand('zstd') }, () => {
  const data = mixedData();
  const z = haveCommand('zstd') ? run('zstd', ['-c', '-3'], { input: data }) : Buffer.alloc(0);

  it('reads zstd output whole and in 321-byte slices', async () => {
    assert.deepEqual(await unzstd(z, z.length), data);
    assert.deepEqual(await unzstd(z, 321), data);
  });

  it('reads long-distance and multi-threaded output and concatenated frames', async () => {
    assert.deepEqual(await unzstd(run('zstd', ['-c', '--long=30', '-T2'], { input: data })), data);
    assert.deepEqual(await unzstd(Buffer.concat([z, z])), Buffer.concat([data, data]));
  });

  it('reads a frame whose output is an exact multiple of its output buffer (a 16 MB WAL segment)', async () => {
    const segment = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < segment.length; i += 8192) segment.write(`page ${i}`, i);
    const frame = run('zstd', ['-c', '-1'], { input: segment });
    assert.deepEqual(await unzstd(frame, frame.length), segment);
    assert.deepEqual(await unzstd(frame, 4096), segment);
  });

  it('fails when the input ends inside a frame', async () => {
    for (const cut of [2, 100, z.length - 1]) {
      await assert.rejects(unzstd(z.subarray(0, cut)), (err: unknown) => {
        assert.ok(err instanceof ArchiveFormatError);
        assert.equal(err.message, 'could not decompress "base.tar.zst": the data ends in the middle of a frame');
        return true;
      });
    }
  });

  it('fails on corrupt input', async () => {
    const bad = Buffer.from(z);
    bad[0] = 0;
    await assert.rejects(unzstd(bad), (err: unknown) => {
      assert.ok(err instanceof ArchiveFormatError);
      assert.equal(err.message, 'could not decompress "base.tar.zst": Unknown frame descriptor');
      return true;
    });
  });
});
